"""Turn a YAML file into a validated `Pipeline`, or a `SpecError` naming file, line, column and field."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.spec.alerts import TIME_OF_DAY
from akko_orchestrator.spec.models import (
    DURATION,
    IDENT,
    PARTITION,
    PERCENT,
    TABLE,
    Pipeline,
    PythonStep,
    Step,
)
from akko_orchestrator.spec.yaml_source import Loc, SpecSource, format_loc

SPEC_SUFFIXES = (".yaml", ".yml")


def load_spec(path: Path, display_path: str | None = None) -> tuple[Pipeline, SpecSource]:
    """Read and validate one spec file; raises `SpecError` with every schema issue found."""
    source = SpecSource.read(path, display_path)
    if not isinstance(source.data, dict):
        what = "the file is empty" if source.data is None else f"the file holds {_kind_of(source.data)}"
        reason = f"{what}; a pipeline spec is a YAML mapping with `pipeline:`, `owner:`, `team:` and `steps:`"
        raise SpecError([SpecIssue(source.display, 1, 1, "", reason, "start from `akko new NAME`")])
    try:
        return Pipeline.model_validate(source.data), source
    except ValidationError as exc:
        raise SpecError(_issues_from(exc, source)) from None


def _issues_from(
    exc: ValidationError, source: SpecSource, root: type[BaseModel] = Pipeline
) -> list[SpecIssue]:
    """Located issues of a document validated by `root` (a spec: `Pipeline`; akko.yaml: config/alerts.py)."""
    issues: dict[tuple[Loc, str], SpecIssue] = {}
    union_locs: dict[Loc, int] = {}
    for error in exc.errors(include_url=False):
        loc, via_union = _clean_loc(error["loc"], source.data, missing=error["type"] == "missing")
        issue = _issue_for(error, loc, source, root)
        if via_union:
            union_locs[loc] = union_locs.get(loc, 0) + 1
            if union_locs[loc] > 1:  # the value matches no member of a union: one message, not one per member
                issue = _union_issue(loc, error, source, root)
                issues.pop((loc, "union"), None)
        issues.setdefault((loc, issue.reason if not via_union else "union"), issue)
    return _drop_shallow_union_duplicates(list(issues.values()))


def _union_issue(loc: Loc, error: dict[str, Any], source: SpecSource, root: type[BaseModel]) -> SpecIssue:
    field = _field_info(loc, source.data, root)
    expected = field.description.rstrip(".") if field is not None and field.description else None
    reason = f"{_describe(error['input'])} is not allowed here"
    return source.issue(loc, reason + (f"; expected {expected}" if expected else ""))


def _drop_shallow_union_duplicates(issues: list[SpecIssue]) -> list[SpecIssue]:
    """A value that matches no member of a union yields one error per member; keep the most specific."""
    fields = [issue.field for issue in issues]
    return [
        issue
        for issue in issues
        if not any(
            other != issue.field and other.startswith((issue.field + ".", issue.field + "["))
            for other in fields
        )
        or issue.field == ""
    ]


def _clean_loc(raw: tuple[Any, ...], data: Any, missing: bool = False) -> tuple[Loc, bool]:
    """Drop pydantic's union/discriminator tags so the path matches the YAML document.

    A part that is not in the document is a tag (`sql` for a step of kind sql, `str` or `AssetSchedule` for a
    union member), except the last part of a `missing` error, which names the absent field.
    """
    loc: list[str | int] = []
    node, parent, via_union = data, None, False
    for index, part in enumerate(raw):
        last = index == len(raw) - 1
        if isinstance(parent, list) and isinstance(node, dict) and node.get("kind") == part:
            parent = None  # the step's kind tag: errors under it belong to the step
            continue
        if isinstance(node, dict) and part in node or isinstance(node, list) and _has_index(node, part):
            parent, node = node, node[part]
        elif not (last and missing and isinstance(node, dict)):
            via_union = True
            continue
        loc.append(part)
    return tuple(loc), via_union


def _has_index(node: list[Any], part: Any) -> bool:
    return isinstance(part, int) and 0 <= part < len(node)


def _issue_for(error: dict[str, Any], loc: Loc, source: SpecSource, root: type[BaseModel]) -> SpecIssue:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], source.data, root)
        return source.issue(loc, "unknown field", _did_you_mean(str(loc[-1]), allowed), key=True)
    if kind == "missing":
        where = f"to {format_loc(loc[:-1])}" if loc[:-1] else "at the top level"
        return source.issue(loc, "required field is missing", f"add `{loc[-1]}:` {where}")
    if kind == "union_tag_invalid":
        value = error["input"].get("kind") if isinstance(error["input"], dict) else None
        hint = _did_you_mean(str(value), _step_kinds(), always=False)
        return source.issue(
            loc + ("kind",), f"unknown step kind {_shown(value)}; expected one of {_kinds_text()}", hint
        )
    if kind == "union_tag_not_found":
        return source.issue(
            loc, f"every step needs `kind`: one of {_kinds_text()}", "add `kind: sql`, for example"
        )
    reason, hint = _reason(error)
    # A model's own check (e.g. `merge` without `keys`) concerns the whole mapping: point at its key.
    on_mapping = kind == "value_error" and isinstance(error["input"], dict)
    return source.issue(loc, reason, hint, key=on_mapping)


def _did_you_mean(word: str, allowed: list[str], always: bool = True) -> str | None:
    close = _close_matches(word, allowed, n=1) if len(word) <= 100 else []
    if close:
        return f"did you mean `{close[0]}`?"
    return f"allowed: {', '.join(sorted(allowed))}" if always and allowed else None


def _step_kinds() -> list[str]:
    members = typing.get_args(typing.get_args(Step)[0])
    return [kind for model in members for kind in typing.get_args(model.model_fields["kind"].annotation)]


def _kinds_text() -> str:
    return ", ".join(_step_kinds())


def _pattern_of(model: type[BaseModel], name: str) -> str | None:
    return next((m.pattern for m in model.model_fields[name].metadata if getattr(m, "pattern", None)), None)


# What a pattern means, in words: (what the value should be, how to write one).
_PATTERNS = {
    IDENT: ("a valid id", "use lowercase letters, digits and underscores, starting with a letter"),
    TABLE: ("a table name", "write `namespace.table` in lowercase, e.g. `demo.sales`"),
    DURATION: ("a duration", "write a number followed by ms, s, m, h or d, e.g. `30s`, `5m`, `2h`"),
    PARTITION: (
        "a partition field",
        "use `column`, `year|month|day|hour(column)`, `bucket(16, column)` or `truncate(10, column)`",
    ),
    _pattern_of(PythonStep, "function"): (
        "a function reference",
        "write `module:function`, e.g. `my_functions:build`",
    ),
    PERCENT: ("a percentage", "write a number followed by %, e.g. `10%`"),
    TIME_OF_DAY: ("a UTC time of day", "write HH:MM on 24 hours, e.g. `06:00`"),
}
_KINDS = {
    dict: "a mapping",
    list: "a list",
    str: "text",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}
_TYPE_REASONS = {
    "list_type": ("expected a list", "write `[a, b]`, or one `- item` per line"),
    "dict_type": ("expected a mapping", "write `key: value` lines, indented under the field"),
    "model_type": ("expected a mapping", "write `key: value` lines, indented under the field"),
    "model_attributes_type": ("expected a mapping", "write `key: value` lines, indented under the field"),
    "string_type": ("expected text", None),
    "int_type": ("expected a whole number", None),
    "int_parsing": ("expected a whole number", None),
    "int_from_float": ("expected a whole number", None),
    "int_parsing_size": ("expected a whole number of a sensible size", None),
    "bool_type": ("expected true or false", None),
    "bool_parsing": ("expected true or false", None),
    "date_type": ("expected a date", "write YYYY-MM-DD, e.g. 2024-01-31"),
    "date_parsing": ("expected a date", "write YYYY-MM-DD, e.g. 2024-01-31"),
    "date_from_datetime_parsing": ("expected a date", "write YYYY-MM-DD, e.g. 2024-01-31"),
    "date_from_datetime_inexact": ("expected a date without a time", "write YYYY-MM-DD, e.g. 2024-01-31"),
}


def _reason(error: dict[str, Any]) -> tuple[str, str | None]:
    """pydantic's message for one error, reworded to say what is wrong with the value and how to fix it."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERNS:
        what, hint = _PATTERNS[ctx["pattern"]]
        return f"{_shown(value)} is not {what}", hint
    if kind in _TYPE_REASONS:
        reason, hint = _TYPE_REASONS[kind]
        return f"{reason}, got {_describe(value)}", hint
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{_shown(value)} is not allowed; expected {ctx.get('expected')}", _did_you_mean(
            str(value), options, always=False
        )
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty", None
    return error["msg"].removeprefix("Value error, "), None


def _describe(value: Any) -> str:
    """`text 'abc'`, `a number 5`; containers by kind only (their content is elsewhere in the file)."""
    kind = _kind_of(value)
    return kind if value is None or isinstance(value, dict | list) else f"{kind} {_shown(value)}"


def _shown(value: Any, limit: int = 60) -> str:
    """A value as quoted in a message: its repr, cut to `limit` characters (a spec may hold a megabyte)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 12]}... ({len(text):,} characters)"


def _kind_of(value: Any) -> str:
    if value is None:
        return "an empty value"
    return next((name for cls, name in _KINDS.items() if type(value) is cls), type(value).__name__)


def _field_info(loc: Loc, data: Any, root: type[BaseModel]) -> FieldInfo | None:
    """The pydantic field a document path leads to (None for list items or unknown paths)."""
    if not loc or isinstance(loc[-1], int):
        return None
    model = _model_at(loc[:-1], data, root)
    return model.model_fields.get(str(loc[-1])) if model is not None else None


def _allowed_keys(loc: Loc, data: Any, root: type[BaseModel]) -> list[str]:
    model = _model_at(loc, data, root)
    return list(model.model_fields) if model is not None else []


def _model_at(loc: Loc, data: Any, root: type[BaseModel]) -> type[BaseModel] | None:
    """The model class that validates the mapping at `loc` (steps resolved by their `kind`)."""
    annotation: Any = root
    node = data
    for part in loc:
        model = _resolve(annotation, node)
        node = node[part] if isinstance(node, dict | list) and _contains(node, part) else None
        if isinstance(part, int):
            annotation = _element(annotation)
        elif _is_model(model) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:
            return None
    model = _resolve(annotation, node)
    return model if _is_model(model) else None


def _contains(node: dict[Any, Any] | list[Any], part: Any) -> bool:
    return part in node if isinstance(node, dict) else _has_index(node, part)


def _element(annotation: Any) -> Any:
    """list[X] -> X, dict[K, X] -> X (through Optional and Annotated)."""
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) in (list, dict):
            return typing.get_args(arg)[-1]
        if typing.get_origin(arg) is typing.Annotated:
            return _element(typing.get_args(arg)[0])
    return None


def _resolve(annotation: Any, node: Any) -> Any:
    """The model class an annotation means for this YAML node (picks the union member by `kind`)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _resolve(args[0], node)
    if origin in (typing.Union, types.UnionType):
        models = [m for m in (_resolve(arg, node) for arg in args) if _is_model(m)]
        kind = node.get("kind") if isinstance(node, dict) else None
        for candidate in models:
            field = candidate.model_fields.get("kind")
            if field is not None and kind in typing.get_args(field.annotation):
                return candidate
        return models[0] if len(models) == 1 else None
    return annotation


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def find_spec_files(root: Path) -> list[Path]:
    """Spec files under a folder (or the file itself), sorted for deterministic output. A dbt project inside the
    folder (a folder holding dbt_project.yml, e.g. pipelines/dbt/banking) holds dbt's YAML, not specs."""
    if root.is_file():
        return [root]
    dbt_projects = [p.parent for p in root.rglob("dbt_project.yml")]
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix in SPEC_SUFFIXES and p.is_file() and not any(p.is_relative_to(d) for d in dbt_projects)
    )


def _close_matches(word: str, candidates, n: int = 1) -> list[str]:
    import difflib  # deferred: only error messages need it, and parse time counts every import

    return difflib.get_close_matches(word, list(candidates), n=n)

"""Turn a YAML file into a validated `Pipeline`, or a `SpecError` naming file, line, column and field."""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from akko_orchestrator.errors import SpecError, SpecIssue
from akko_orchestrator.spec.models import Pipeline
from akko_orchestrator.spec.yaml_source import Loc, SpecSource

SPEC_SUFFIXES = (".yaml", ".yml")


def load_spec(path: Path, display_path: str | None = None) -> tuple[Pipeline, SpecSource]:
    """Read and validate one spec file; raises `SpecError` with every schema issue found."""
    source = SpecSource.read(path, display_path)
    if not isinstance(source.data, dict):
        raise SpecError([source.issue((), "a pipeline spec is a YAML mapping with `pipeline:` and `steps:`")])
    try:
        return Pipeline.model_validate(source.data), source
    except ValidationError as exc:
        raise SpecError(_issues_from(exc, source)) from None


def _issues_from(exc: ValidationError, source: SpecSource) -> list[SpecIssue]:
    issues: dict[tuple[Loc, str], SpecIssue] = {}
    for error in exc.errors(include_url=False):
        loc, via_union = _clean_loc(error["loc"], source.data)
        issue = _issue_for(error, loc, source)
        issues.setdefault((loc, issue.reason if not via_union else "union"), issue)
    return _drop_shallow_union_duplicates(list(issues.values()))


def _drop_shallow_union_duplicates(issues: list[SpecIssue]) -> list[SpecIssue]:
    """A value that matches no member of a union yields one error per member; keep the most specific."""
    fields = [issue.field for issue in issues]
    return [
        issue
        for issue in issues
        if not any(other != issue.field and other.startswith(issue.field + ".") for other in fields)
        or issue.field == ""
    ]


def _clean_loc(raw: tuple[Any, ...], data: Any) -> tuple[Loc, bool]:
    """Drop pydantic's union/discriminator tags so the path matches the YAML document."""
    loc: list[str | int] = []
    node, parent, via_union = data, None, False
    for index, part in enumerate(raw):
        last = index == len(raw) - 1
        is_step_tag = isinstance(parent, list) and isinstance(node, dict) and node.get("kind") == part
        if is_step_tag and not last:
            parent = None
            continue
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and part < len(node)
        ):
            parent, node = node, node[part]
        elif not last or not isinstance(node, dict):
            via_union = True
            continue
        loc.append(part)
    return tuple(loc), via_union


def _issue_for(error: dict[str, Any], loc: Loc, source: SpecSource) -> SpecIssue:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1], source.data)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"did you mean `{close[0]}`?" if close else f"allowed: {', '.join(sorted(allowed))}"
        return source.issue(loc, "unknown field", hint, key=True)
    if kind == "missing":
        return source.issue(loc, "field required")
    if kind == "union_tag_invalid":
        return source.issue(loc + ("kind",), f"unknown step kind; expected one of {_step_kinds()}")
    if kind == "union_tag_not_found":
        return source.issue(loc, f"every step needs `kind`: one of {_step_kinds()}")
    message = error["msg"].removeprefix("Value error, ")
    return source.issue(loc, message)


def _step_kinds() -> str:
    return "ingest, sql, python"


def _allowed_keys(loc: Loc, data: Any) -> list[str]:
    annotation: Any = Pipeline
    node = data
    for part in loc:
        model = _resolve(annotation, node)
        node = node[part] if isinstance(node, dict | list) else None
        if isinstance(part, int):
            annotation = _element(annotation)
        elif _is_model(model) and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:
            return []
    model = _resolve(annotation, node)
    return list(model.model_fields) if _is_model(model) else []


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
    """Spec files under a folder (or the file itself), sorted for deterministic output."""
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file())

"""Generate the spec reference (docs/spec-reference.md) and the JSON Schema file from the spec models.

    uv run python -m akko_orchestrator.spec.reference           # rewrite both files in the current folder
    uv run python -m akko_orchestrator.spec.reference --check   # exit 1 if either is out of date

Every model reachable from `Pipeline` is documented in order of discovery: its docstring, the rules its validators
enforce, and one table row per field (type, default, description). A field without a description is an error, so
the reference cannot silently fall behind the models. Output is deterministic: same models, same bytes.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from annotated_types import Ge, Le, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from akko_orchestrator.spec import models
from akko_orchestrator.spec.models import Pipeline
from akko_orchestrator.spec.reference_text import EXAMPLES, FIELD_NOTES, FORMATS, MODEL_NOTES, RULES
from akko_orchestrator.spec.scaffold import scaffold
from akko_orchestrator.spec.schema import json_schema_text

REFERENCE_PATH = Path("docs/spec-reference.md")
SCHEMA_PATH = Path("schemas/pipeline.schema.json")
REGENERATE = "uv run python -m akko_orchestrator.spec.reference"


def example_pipeline(snippet: str) -> str:
    """A whole spec around one example step, so examples can be validated as written."""
    steps = "".join(f"  {line}\n" if line else "\n" for line in snippet.splitlines())
    return f"pipeline: example\nowner: docs\nteam: demo\nsteps:\n{steps}"


def render_reference() -> str:
    out = [
        "# Pipeline spec reference",
        "",
        f"<!-- Generated from src/akko_orchestrator/spec/models.py by `{REGENERATE}`. Do not edit. -->",
        "",
        "A pipeline spec is one YAML file under the project's `pipelines/` folder; it becomes one Airflow DAG. "
        "Unknown fields are errors (with a *did you mean*). `akko validate` checks every spec; `akko schema` "
        f"prints the JSON Schema (committed as `{SCHEMA_PATH}`) for editor completion; `akko new NAME` writes a "
        "spec that validates.",
        "",
        "## A complete spec",
        "",
        "```yaml",
        scaffold("daily_sales", "demo", "data-engineering").rstrip("\n"),
        "```",
        "",
    ]
    out += _step_kinds_section()
    out += _models_section()
    out += _formats_section()
    out += _checks_section()
    return "\n".join(out).rstrip("\n") + "\n"


def _step_kinds_section() -> list[str]:
    out = ["## Step kinds", "", "| `kind` | model | what it does |", "|---|---|---|"]
    for model in _step_models():
        kind = typing.get_args(model.model_fields["kind"].annotation)[0]
        out.append(f"| `{kind}` | [{model.__name__}](#{_anchor(model.__name__)}) | {_cell(_doc(model))} |")
    out += ["", "### Examples", ""]
    for title, snippet in EXAMPLES.items():
        out += [f"{title}:", "", "```yaml", snippet.rstrip("\n"), "```", ""]
    return out


def _models_section() -> list[str]:
    out = ["## Models", ""]
    common = _common_step_fields()
    for model in _reachable_models():
        out += [f"### {model.__name__}", "", _doc(model), ""]
        for rule in RULES.get(model.__name__, []):
            out.append(f"- {rule}")
        if model.__name__ in RULES:
            out.append("")
        fields = model.model_fields
        if model in _step_models():
            out += [f"Also every [step field](#{_anchor('Fields of every step')}).", ""]
            fields = {k: v for k, v in fields.items() if k not in common}
        out += _field_table(model, fields)
        if model is Pipeline:
            out += _common_fields_block(common)
    return out


def _common_fields_block(common: dict[str, FieldInfo]) -> list[str]:
    return ["### Fields of every step", "", *_field_table(_step_base(), common)]


def _field_table(model: type[BaseModel], fields: dict[str, FieldInfo]) -> list[str]:
    out = ["| field | type | default | description |", "|---|---|---|---|"]
    for name, info in fields.items():
        row = (
            f"`{name}`",
            _type(info.annotation, info.metadata),
            _default(info),
            _description(model, name, info),
        )
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return [*out, ""]


def _formats_section() -> list[str]:
    out = ["## Value formats", "", "| format | meaning | examples | pattern |", "|---|---|---|---|"]
    for pattern, (name, meaning, examples) in FORMATS.items():
        out.append(f"| {name} | {_cell(meaning)} | {_cell(examples)} | `{_cell(pattern)}` |")
    return [*out, ""]


def _checks_section() -> list[str]:
    return [
        "## What `akko validate` checks",
        "",
        "Every problem is reported as `file:line:column: field: reason (how to fix it)`, all of them at once, "
        "and the same text is the Airflow import error of a broken spec (other pipelines still load).",
        "",
        "- YAML syntax, including duplicate keys.",
        "- Every field against the models above: unknown fields, missing required fields, types, formats.",
        "- Unique step ids; `after` naming existing steps; one writer per table; no dependency cycle.",
        "- `schedule`: a valid cron expression or Airflow preset.",
        "- SQL parses as Trino (positions inside inline SQL and `.sql` files are exact) and reads only "
        "`namespace.table` tables of the lakehouse; so do checks' `expression` and `sql`.",
        "- `checks` only on steps with an `output`, with distinct names.",
        "- `files` (ingest `source`, spark `sources`) read only inside the project folder, the profile's object "
        "store, or a folder or URI prefix listed in akko.yaml's `allowed_paths`, by real path (`..`, absolute "
        "paths, other URIs and symlinks out are refused; a glob by its base folder and the files it matches); "
        "never AKKO's state folder, the warehouse, the catalog database, the object store's `_akko/` or, with "
        "`teams`, an object-store key outside the team's `files` folders, whatever `allowed_paths` says; "
        "a running step checks every file again before reading it.",
        "- Across files: unique pipeline ids, and every table read (SQL, `inputs`, `schedule.on`) is written "
        "by some pipeline or already exists (checked against the embedded catalog on the `embedded` engine).",
        "",
    ]


def _reachable_models() -> list[type[BaseModel]]:
    """Pipeline and every model its fields lead to, breadth first in field order."""
    found: list[type[BaseModel]] = [Pipeline]
    for model in found:
        for info in model.model_fields.values():
            for nested in _models_in(info.annotation):
                if nested not in found:
                    found.append(nested)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _step_models() -> list[type[BaseModel]]:
    return list(typing.get_args(typing.get_args(models.Step)[0]))


def _step_base() -> type[BaseModel]:
    """The model every step kind extends (StepBase): its fields are the fields of every step."""
    first, *others = _step_models()
    return next(c for c in first.__mro__[1:] if all(issubclass(m, c) for m in others))


def _common_step_fields() -> dict[str, FieldInfo]:
    return dict(_step_base().model_fields)


def _type(annotation: Any, metadata: list[Any] | tuple[Any, ...] = ()) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        extra = [m for a in args[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])]
        return _type(args[0], [*metadata, *extra])
    if origin in (typing.Union, types.UnionType):
        members = [_type(a) for a in args if a is not type(None)]
        return _constrained(" or ".join(members), metadata)
    if origin is typing.Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin is list:
        return _constrained(f"list of {_type(args[0])}", metadata)
    if origin is dict:
        return f"mapping of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{_anchor(annotation.__name__)})"
    return _constrained(_scalar(annotation, metadata), metadata)


def _scalar(annotation: Any, metadata: list[Any] | tuple[Any, ...]) -> str:
    pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
    if pattern in FORMATS:
        name = FORMATS[pattern][0]
        return f"[{name}](#{_anchor('Value formats')})"
    names = {str: "string", int: "integer", bool: "boolean", float: "number", dt.date: "date (YYYY-MM-DD)"}
    return names.get(
        annotation, "any value" if annotation is Any else getattr(annotation, "__name__", "value")
    )


def _constrained(text: str, metadata: list[Any] | tuple[Any, ...]) -> str:
    """Bounds in words; a named format already says how long its values may be."""
    named = any(getattr(m, "pattern", None) in FORMATS for m in metadata)
    notes = []
    for m in metadata:
        if isinstance(m, Ge):
            notes.append(f">= {m.ge}")
        elif isinstance(m, Le):
            notes.append(f"<= {m.le}")
        elif isinstance(m, MinLen) and not named:
            notes.append("not empty" if m.min_length == 1 else f"at least {m.min_length} long")
        elif isinstance(m, MaxLen) and not named:
            notes.append(f"at most {m.max_length} long")
    return f"{text} ({', '.join(notes)})" if notes else text


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "all defaults"
        return f"`{_yaml_value(value)}`"
    if info.default is None or info.default is PydanticUndefined:
        return "-"
    return f"`{_yaml_value(info.default)}`"


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value) if value != "" else '""'


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """The field's own description, else its FIELD_NOTES entry, else its type's (e.g. `Duration`'s)."""
    generic = {f.description for alias in (models.Duration, models.TableName) for f in _field_infos(alias)}
    if info.description and info.description not in generic:
        return info.description
    for cls in model.__mro__:
        note = FIELD_NOTES.get(f"{cls.__name__}.{name}")
        if note:
            return note
    nested = [
        m.description for a in typing.get_args(info.annotation) for m in _field_infos(a) if m.description
    ]
    if info.description or nested:
        return info.description or nested[0]
    raise ValueError(
        f"{model.__name__}.{name} has no description: give it Field(description=...) in spec/models.py "
        "or a FIELD_NOTES entry in spec/reference.py"
    )


def _field_infos(annotation: Any) -> list[FieldInfo]:
    if typing.get_origin(annotation) is typing.Annotated:
        return [a for a in typing.get_args(annotation)[1:] if isinstance(a, FieldInfo)]
    return []


def _doc(model: type[BaseModel]) -> str:
    own = model.__dict__.get("__doc__")  # not inherited: a model without a docstring gets MODEL_NOTES
    text = " ".join((own or "").split()) or MODEL_NOTES.get(model.__name__)
    if not text:
        raise ValueError(
            f"{model.__name__} has no docstring: add one, or a MODEL_NOTES entry in spec/reference.py"
        )
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")


def generated_files() -> dict[Path, str]:
    """Relative path -> content of every generated file."""
    return {REFERENCE_PATH: render_reference(), SCHEMA_PATH: json_schema_text()}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    root = Path(next((a for a in args if not a.startswith("--")), "."))
    stale = []
    for relative, text in generated_files().items():
        path = root / relative
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(str(relative))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if check and stale:
        print(f"out of date: {', '.join(stale)}; run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(
        f"{'wrote' if stale else 'up to date'}: {', '.join(stale) or ', '.join(map(str, generated_files()))}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

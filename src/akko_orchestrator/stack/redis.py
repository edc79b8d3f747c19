"""Redis for the stack: the Celery broker of the `--celery` Airflow (Debian `redis-server`).

Listens on 127.0.0.1 only, on a free port (or last time's), with a generated password (`requirepass`) kept in
`stack/redis/password` (0600). The password reaches the server through its configuration file (0600), never a
command line (visible to every user in `ps`), and is printed nowhere; clients get it in the broker URL of the
stack's env file (0600). An append-only file keeps queued messages across a restart of Redis, so a task queued
before Redis went down is still delivered when it is back.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.process import (
    LOOPBACK,
    PortTaken,
    ProcessRecord,
    StackError,
    kill_process_group,
    launch,
    listening_record,
    listening_status,
    start_on_free_port,
    wait_listening,
    write_private,
)

INSTALL_HINT = (
    "redis-server is not installed: install the Debian package `redis-server` "
    "(`apt-get update && apt-get install -y redis-server`), or point AKKO_REDIS_SERVER at the binary"
)
START_TIMEOUT = 30.0


def find_redis_server() -> Path:
    configured = os.environ.get("AKKO_REDIS_SERVER")
    found = configured or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).is_file():
        raise StackError(INSTALL_HINT)
    return Path(found)


class RedisService(Service):
    name = "redis"

    def __init__(self, paths: StackPaths, *, port: int | None = None):
        super().__init__(paths)
        self.port = port

    # -- what clients use -----------------------------------------------------------------------------------

    def password(self) -> str:
        path = self.home / "password"
        if not path.is_file():
            write_private(path, secrets.token_urlsafe(24))  # URL-safe: no quoting needed, quoted anyway
        return path.read_text().strip()

    def url(self, port: int, db: int = 0) -> str:
        return f"redis://:{quote(self.password(), safe='')}@{LOOPBACK}:{port}/{db}"

    def running_port(self) -> int:
        record = listening_record(self.record_file)
        if record is None:
            raise StackError("Redis is not running: `akko stack up --celery` starts it")
        return record.port

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        find_redis_server()

    def start(self) -> ServiceEnv:
        record = listening_record(self.record_file)
        if record is None:
            self.dir.mkdir(parents=True, exist_ok=True)
            previous = ProcessRecord.load(self.record_file)
            # Running Airflow components hold the broker's URL: come back on the same port (clients' sockets in
            # TIME_WAIT make a plain bind probe call it taken; Redis binds with SO_REUSEADDR).
            sticky = self.port or (previous.port if previous else None)
            try:
                record = start_on_free_port(self._start_once, sticky, self.record_file)
            except StackError:
                if self.port is not None or sticky is None:
                    raise
                record = start_on_free_port(self._start_once, None, self.record_file)
        return ServiceEnv(
            {
                "AKKO_REDIS_HOST": LOOPBACK,
                "AKKO_REDIS_PORT": str(record.port),
                "AKKO_REDIS_PASSWORD": self.password(),
                "AKKO_CELERY_BROKER_URL": self.url(record.port),
            }
        )

    def stop(self) -> None:
        record = ProcessRecord.load(self.record_file)
        if record is not None and record.alive():
            kill_process_group(record.pid, timeout=30)  # SIGTERM: Redis flushes its append-only file

    def status(self) -> ServiceStatus:
        return listening_status(
            self.name,
            self.record_file,
            self.log_file,
            lambda port: f"redis://{LOOPBACK}:{port}",
            detail=f"Celery broker ({_version()})",
        )

    # -- internals ----------------------------------------------------------------------------------------------

    def _start_once(self, port: int) -> ProcessRecord:
        began = time.monotonic()
        config = self.home / "redis.conf"
        write_private(config, _config(port, self.home, self.password()))
        process, record = launch(
            [str(find_redis_server()), str(config)],
            cwd=self.home,
            env={"PATH": "/usr/bin:/bin"},
            log_file=self.log_file,
            record_file=self.record_file,
            port=port,
        )
        try:
            wait_listening(process, port, what="redis-server", log_file=self.log_file, timeout=START_TIMEOUT)
        except StackError as exc:
            if not isinstance(exc, PortTaken):
                kill_process_group(process.pid, timeout=5)
            raise
        record.startup_seconds = time.monotonic() - began
        record.save(self.record_file)
        return record


def _config(port: int, data_dir: Path, password: str) -> str:
    return "\n".join(
        [
            f"bind {LOOPBACK}",
            f"port {port}",
            "protected-mode yes",
            "daemonize no",
            'logfile ""',  # stdout: the service's server.log
            f'dir "{data_dir}"',
            'save ""',  # no snapshots; the append-only file below is enough for queued messages
            "appendonly yes",
            "appendfsync everysec",
            f"requirepass {password}",
            "",
        ]
    )


def _version() -> str:
    try:
        done = subprocess.run(
            [str(find_redis_server()), "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, StackError, subprocess.TimeoutExpired):
        return "Redis"
    words = done.stdout.split()
    version = next((w.removeprefix("v=") for w in words if w.startswith("v=")), "")
    return f"Redis {version}".strip()

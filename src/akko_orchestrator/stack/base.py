"""What every stack service implements, and where it keeps its files.

Downloads (server tarballs, jars, JDKs) go to a cache shared by all projects (`AKKO_CACHE_DIR`, default
~/.cache/akko); a service's data, logs and pid file live under the project's state folder, `stack/<service>/`.
`akko stack up` records every endpoint in `stack/stack.env` (AKKO_* variables and AIRFLOW_CONN_* connections)
so the `cluster` profile and Airflow find the started services without constants in code.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class StackPaths:
    state: Path  # <project state>/stack
    cache: Path  # downloads shared between projects and runs

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> StackPaths:
        cache = Path(os.environ.get("AKKO_CACHE_DIR") or Path.home() / ".cache" / "akko")
        return cls(state=state_dir / "stack", cache=cache)

    def service_dir(self, name: str) -> Path:
        path = self.state / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def env_file(self) -> Path:
        return self.state / "stack.env"


@dataclass
class ServiceStatus:
    name: str
    running: bool
    endpoint: str | None = None
    pid: int | None = None
    detail: str = ""
    startup_seconds: float | None = None


@dataclass
class ServiceEnv:
    """What a started service tells the rest of the system: environment variables (never printed with secrets)."""

    variables: dict[str, str] = field(default_factory=dict)


class Service(ABC):
    """One server process managed by `akko stack`: install (download, cached), start, stop, status."""

    name: str

    def __init__(self, paths: StackPaths):
        self.paths = paths

    @property
    def dir(self) -> Path:
        """The service's folder, created."""
        return self.paths.service_dir(self.name)

    @property
    def home(self) -> Path:
        """The service's folder, not created (`status` and `down` leave no folders behind; `dir` creates it)."""
        return self.paths.state / self.name

    @property
    def log_file(self) -> Path:
        return self.home / "server.log"

    @property
    def record_file(self) -> Path:
        """The server's `ProcessRecord` (pid, start time, port), for a later `akko`'s `status` and `down`."""
        return self.home / "process.json"

    @abstractmethod
    def install(self) -> None:
        """Fetch what the service needs into the cache (idempotent, no-op when cached)."""

    @abstractmethod
    def start(self) -> ServiceEnv:
        """Start on loopback, wait until it answers, return the variables that reach it."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the process (and its children) if running; idempotent."""

    @abstractmethod
    def status(self) -> ServiceStatus: ...

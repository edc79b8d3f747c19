"""The PostgreSQL server tools for the stack: where the distribution's binaries are, and running them as the
server's user.

One server from the distribution's packages (Debian `postgresql`; binaries found like tests/fixtures/postgres.py:
`$AKKO_PG_BIN`, the newest `/usr/lib/postgresql/<n>/bin`, then PATH). PostgreSQL refuses to run as root: as root
the tools run as the `postgres` system user through `runuser`, which must be able to reach the state folder.
Passwords reach psql through its environment and SQL through stdin, never a command line (visible to every user
in `ps`), and are printed nowhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from akko_orchestrator.stack.process import LOOPBACK, StackError, log_tail, write_private

INSTALL_HINT = (
    "the PostgreSQL server binaries (initdb, pg_ctl, psql) are not installed: install the Debian package "
    "`postgresql` (`apt-get update && apt-get install -y postgresql`), or point AKKO_PG_BIN at their folder"
)
SERVER_USER = "postgres"  # the system user the server runs as when akko runs as root
SUPERUSER = "postgres"


def find_bin_dir() -> Path:
    candidates: list[Path] = []
    if os.environ.get("AKKO_PG_BIN"):
        candidates.append(Path(os.environ["AKKO_PG_BIN"]))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "psql")):
            return folder
    raise StackError(INSTALL_HINT)


class PgTools:
    """Runs the server tools as the server's user (root -> `postgres` via runuser); output goes into errors."""

    def __init__(self, bin_dir: Path, server_dir: Path):
        self.bin_dir = bin_dir
        self.server_dir = server_dir
        self.as_root = os.geteuid() == 0

    def run(
        self,
        tool: str,
        *args: str,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
        as_server: bool = True,
    ) -> str:
        command = [str(self.bin_dir / tool), *args]
        if self.as_root and as_server:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        try:
            done = subprocess.run(
                command,
                cwd=self.server_dir,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env={**os.environ, **(env or {})},
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise StackError(f"{tool} failed: {exc}") from None
        if done.returncode != 0:
            raise StackError(
                f"{tool} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}\n"
                f"{log_tail(self.server_dir / 'server.log')}"
            )
        return done.stdout

    def prepare_dir(self, service_dir: Path) -> None:
        """The server's folder belongs to the server's user (0700); as root, check that user can reach it."""
        self.server_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.server_dir, 0o700)
        if not self.as_root:
            return
        import pwd

        try:
            entry = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise StackError(
                f"running as root needs the `{SERVER_USER}` system user; {INSTALL_HINT}"
            ) from None
        os.chown(self.server_dir, entry.pw_uid, entry.pw_gid)
        probe = subprocess.run(
            ["runuser", "-u", SERVER_USER, "--", "test", "-w", str(self.server_dir)],
            capture_output=True,
            check=False,
        )
        if probe.returncode != 0:
            raise StackError(
                f"the `{SERVER_USER}` user (PostgreSQL refuses to run as root) cannot reach {self.server_dir}: "
                f"a parent folder is closed to other users. Let it through (`chmod o+x` on "
                f"{_closed_parents(service_dir)}) or move the state folder (AKKO_STATE_DIR) elsewhere"
            )

    def write_owned(self, path: Path, text: str) -> None:
        write_private(path, text)
        if self.as_root:
            import pwd

            entry = pwd.getpwnam(SERVER_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)


def _closed_parents(path: Path) -> str:
    closed = [str(p) for p in reversed(path.resolve().parents) if not os.stat(p).st_mode & 0o001]
    return ", ".join(closed) or "its parents"


class Psql:
    """psql as the superuser over TCP; the password goes in the environment, SQL through stdin."""

    def __init__(self, runner: PgTools, port: int, password: str):
        self.runner = runner
        self.port = port
        self.password = password

    def execute(self, dbname: str, sql: str) -> str:
        args = [
            "-h",
            LOOPBACK,
            "-p",
            str(self.port),
            "-U",
            SUPERUSER,
            "-d",
            dbname,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-X",
            "-f",
            "-",
        ]
        return self.runner.run("psql", *args, stdin=sql, env={"PGPASSWORD": self.password}, as_server=False)

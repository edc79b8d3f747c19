"""Airflow's auth manager from akko.yaml: a profile's `airflow.auth` is `simple` (Airflow's simple auth manager,
development; nothing here changes) or `keycloak` (SSO with AKKO's roles through apache-airflow-providers-keycloak).

With `keycloak`, `auth_settings` gives the AIRFLOW__ variables: the Keycloak auth manager and its
`[keycloak_auth_manager]` server, realm, client and client secret. The secret is resolved from its SecretRef here,
into the environment of this process and of the Airflow processes it starts, never written to a file or a log.

Teams (akko.yaml `teams:`) use Airflow 3.3's multi-team mode: `[core] multi_team`, one team per AKKO team in
Airflow's DB (`ensure_teams`, run by environment.ensure_database), and one DAG bundle per team owned by it
(`dag_bundle_config_list` with `team_name`) over a per-team folder of shims (`sync_team_bundles`: the shims of the
pipelines whose `team` it is, and links to the team's hand-written DAG folders, local_airflow/dag_folders.py). A
DAG's team is its bundle's; the auth manager asks Keycloak for `Dag:<team>`, which only that team's group (and AKKO
admins) are granted (stack/keycloak_realm.py); a team's variables and connections (their `team_name`) likewise.
What multi-team mode does not cover in Airflow 3.3.2 (new in 3.2): assets, asset aliases, backfills, the
configuration and the audit log are not team-scoped (readable by every role, or admins only); a DAG whose bundle
has no team is admins only; a team's cached owner may lag a bundle's change of team by `[core] team_name_cache_ttl`
(30 s). `akko dev` and the stack's Celery Airflow keep Airflow's simple auth manager (they set it themselves): with
a Keycloak profile they run multi-team mode without isolation (the simple admin sees every team), and `akko dev`'s
watcher refreshes the flat shim folder, not the team folders, until a restart.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import ConfigError

KEYCLOAK_AUTH_MANAGER = "airflow.providers.keycloak.auth_manager.keycloak_auth_manager.KeycloakAuthManager"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
TEAMS_VARIABLE = "AKKO_AIRFLOW_TEAMS"


def uses_keycloak(project: Project) -> bool:
    return project.profile.airflow.auth == "keycloak"


def team_mode(project: Project) -> bool:
    """Multi-team mode: Keycloak auth and teams declared (the simple auth manager has no teams)."""
    return uses_keycloak(project) and bool(project.config.teams)


def auth_settings(project: Project) -> dict[str, str]:
    """The AIRFLOW__ variables of the profile's auth manager (none for `simple`: Airflow's defaults and what
    `akko dev` sets stay as they were)."""
    if not uses_keycloak(project):
        return {}
    keycloak = project.profile.airflow.keycloak
    assert keycloak is not None  # the model requires it with auth `keycloak`
    try:
        secret = keycloak.client_secret.resolve().get_secret_value()
    except ConfigError as exc:
        raise ConfigError(
            f"{exc} (profile '{project.profile_name}': airflow.keycloak.client_secret)"
        ) from None
    settings = {
        "AIRFLOW__CORE__AUTH_MANAGER": KEYCLOAK_AUTH_MANAGER,
        "AIRFLOW__KEYCLOAK_AUTH_MANAGER__SERVER_URL": keycloak.server_url.rstrip("/"),
        "AIRFLOW__KEYCLOAK_AUTH_MANAGER__REALM": keycloak.realm,
        "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_ID": keycloak.client_id,
        "AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET": secret,
    }
    if team_mode(project):
        settings["AIRFLOW__CORE__MULTI_TEAM"] = "True"
        settings["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(bundle_config(project))
        settings[TEAMS_VARIABLE] = ",".join(project.config.teams)  # created in Airflow's DB by ensure_teams
    return settings


def check_keycloak(project: Project, timeout: float = 10.0) -> None:
    """Ask Keycloak for a client-credentials token with the profile's client and secret: a clear error naming
    the setting when Keycloak does not answer, the realm or client is unknown, or the secret is wrong (the
    secret itself is never in a message). Does nothing with `simple` auth."""
    if not uses_keycloak(project):
        return
    keycloak = project.profile.airflow.keycloak
    assert keycloak is not None
    where = f"profile '{project.profile_name}' airflow.keycloak"
    secret = auth_settings(project)["AIRFLOW__KEYCLOAK_AUTH_MANAGER__CLIENT_SECRET"]
    url = f"{keycloak.server_url.rstrip('/')}/realms/{keycloak.realm}/protocol/openid-connect/token"
    data = urlencode(
        {"grant_type": "client_credentials", "client_id": keycloak.client_id, "client_secret": secret}
    ).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=timeout) as response:
            json.loads(response.read())
    except urllib.error.HTTPError as exc:
        error = _oauth_error(exc)
        if exc.code == 404:
            raise ConfigError(
                f"Keycloak at {keycloak.server_url} has no realm '{keycloak.realm}' ({where}.realm)"
            ) from None
        if error in ("invalid_client", "unauthorized_client") or exc.code == 401:
            raise ConfigError(
                f"Keycloak refused client '{keycloak.client_id}' of realm '{keycloak.realm}': wrong client secret "
                f"or unknown client ({where}.client_secret, from {keycloak.client_secret.describe()}; "
                f"{where}.client_id)"
            ) from None
        raise ConfigError(f"Keycloak answered HTTP {exc.code} {error} at {url} ({where})") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"Keycloak does not answer at {keycloak.server_url} ({where}.server_url): {reason}"
        ) from None


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", ""))
    except (OSError, ValueError, AttributeError):
        return ""


# ---------------------------------------------------------------------------------------------------------------
# Teams: one Airflow team and one DAG bundle per AKKO team.


def team_dags_dir(project: Project, team: str) -> Path:
    return project.airflow_home / "team-dags" / team


def bundle_config(project: Project) -> list[dict[str, object]]:
    """One LocalDagBundle per team over its shim folder, owned by the team (Airflow's `team_name`)."""
    return [
        {
            "name": f"akko-{team}",
            "classpath": LOCAL_BUNDLE,
            "kwargs": {"path": str(team_dags_dir(project, team))},
            "team_name": team,
        }
        for team in project.config.teams
    ]


def sync_team_bundles(project: Project) -> dict[str, list[str]]:
    """Write each team's folder: a shim for every spec whose `team` is that team (stale shims removed), and a
    link to each hand-written DAG folder of the team (local_airflow/dag_folders.py). Specs of an unknown team, or
    that do not load, go to no team's bundle (`akko validate` names them). Returns the pipeline shims per team."""
    from akko_orchestrator.compiler.shims import MARKER, render_shim, shim_name
    from akko_orchestrator.local_airflow.dag_folders import link_team_folders
    from akko_orchestrator.spec.loader import find_spec_files

    wanted: dict[str, list[str]] = {team: [] for team in project.config.teams}
    for spec in find_spec_files(project.pipelines_dir):
        team = _spec_team(spec)
        if team not in wanted:
            continue
        folder = team_dags_dir(project, team)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / shim_name(spec, project.pipelines_dir)
        text = render_shim(spec.resolve(), folder.resolve(), os.path.relpath(spec, project.root))
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
        wanted[team].append(target.name)
    for team, names in wanted.items():
        folder = team_dags_dir(project, team)
        for existing in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            if existing.name not in names and existing.read_text().startswith(MARKER):
                existing.unlink()
    link_team_folders(project, {team: team_dags_dir(project, team) for team in wanted})
    return wanted


def _spec_team(spec: Path) -> str | None:
    from akko_orchestrator.spec.yaml_safety import load_file

    try:
        data = load_file(spec)
    except (OSError, ValueError):
        return None
    team = data.get("team") if isinstance(data, dict) else None
    return team if isinstance(team, str) else None


def ensure_teams() -> None:
    """Create the teams `auth_settings` listed (AKKO_AIRFLOW_TEAMS) in Airflow's metadata DB, if missing; called
    by environment.ensure_database (Airflow configured, its DB migrated). Nothing outside multi-team mode."""
    teams = [team for team in os.environ.get(TEAMS_VARIABLE, "").split(",") if team]
    if not teams:
        return
    from airflow.models.team import Team
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        existing = set(session.scalars(select(Team.name)))
        for team in teams:
            if team not in existing:
                session.add(Team(name=team))

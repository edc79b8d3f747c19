"""The `akko` realm: the file the project ships (`realm/akko-realm.json`), its team groups and test users, and the
authorization Airflow's Keycloak auth manager asks Keycloak for, with AKKO's roles mapped onto it.

The realm file holds the realm roles, and the confidential client `airflow` with Authorization Services enabled
(without them every permission request fails: "Client does not support permissions") and a resource server whose
decision strategy is AFFIRMATIVE (Keycloak's default, UNANIMOUS, would require every permission on a resource to
grant, e.g. a team's Admin permission for a viewer's read). Filled in at start: the client secret, one group per
team of akko.yaml's `teams:`, and the test users (`test_users`), each with a generated password.

The authorization model (scopes, resources, policies, permissions) is the provider's: `setup_authorization` calls
the functions its CLI commands run (`airflow keycloak-auth-manager create-all`, then `create-team` per team), in
their order. The commands themselves are not run: they need Airflow's configuration and metadata DB (they log the
action there) and the admin password on their command line. The provider's roles are `Viewer`, `User`, `Op`,
`Admin` (per team in multi-team mode: role AND team group) and `SuperAdmin` (every team). AKKO's roles are realm
roles composed of them:

- `akko-viewer` = Viewer: reads the team's DAGs, runs, task instances and logs.
- `akko-analyst` = Viewer, plus AKKO's own `Trigger-<team>` permission (the provider has no trigger-only role;
  its `User` may also pause, clear and delete DAGs): POST on the team's DAG resource, only when the auth manager
  says the request is about a DAG run (its `dag_entity` pushed claim is `RUN`), checked by a regex policy on that
  claim. Written by hand below, through the same admin API.
- `akko-engineer` = User + Op: everything on the team's DAGs (trigger, clear, pause; unlike the issue's wording
  also delete a DAG and its runs: the provider's User and Op permissions carry every scope) and the team's
  variables, connections and pools.
- `akko-admin` = Admin + SuperAdmin: everything, every team.

A user with a role but in no team group gets no team permission: in multi-team mode they list no team's DAGs.
"""

from __future__ import annotations

import contextlib
import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REALM = "akko"
CLIENT_ID = "airflow"
REALM_FILE = Path(__file__).with_name("realm") / "akko-realm.json"
SECRET_PLACEHOLDER = "${AKKO_KEYCLOAK_CLIENT_SECRET}"
ROLES = ("akko-admin", "akko-engineer", "akko-analyst", "akko-viewer")


@dataclass(frozen=True)
class TestUser:
    """A dev/test user of the realm: its realm role and team groups (its password is generated per stack)."""

    username: str
    role: str
    teams: tuple[str, ...] = ()


def test_users(teams: list[str]) -> list[TestUser]:
    """`admin` (akko-admin, no group needed), per team `<team>-engineer`, `<team>-analyst`, `<team>-viewer`, and
    `no-team` (akko-engineer in no group: sees no team's DAG)."""
    users = [TestUser("admin", "akko-admin")]
    for team in teams:
        users += [
            TestUser(f"{team}-engineer", "akko-engineer", (team,)),
            TestUser(f"{team}-analyst", "akko-analyst", (team,)),
            TestUser(f"{team}-viewer", "akko-viewer", (team,)),
        ]
    users.append(TestUser("no-team", "akko-engineer"))
    return users


def new_password() -> str:
    return secrets.token_urlsafe(15)


def realm_representation(client_secret: str, teams: list[str], passwords: dict[str, str]) -> dict[str, Any]:
    """The shipped realm file with the secret, team groups and test users (`passwords`: username -> password)."""
    text = REALM_FILE.read_text()
    realm = json.loads(text.replace(SECRET_PLACEHOLDER, client_secret))
    realm["groups"] = [{"name": team, "path": f"/{team}"} for team in teams]
    realm["users"] = [
        {
            "username": user.username,
            "enabled": True,
            # Keycloak's default user profile wants these: without them a login ends in "Account is not fully set up".
            "email": f"{user.username}@akko.test",
            "emailVerified": True,
            "firstName": user.username.split("-")[0].capitalize(),
            "lastName": user.role.removeprefix("akko-").capitalize(),
            "credentials": [{"type": "password", "value": passwords[user.username], "temporary": False}],
            "realmRoles": [user.role],
            "groups": [f"/{team}" for team in user.teams],
        }
        for user in test_users(teams)
    ]
    return realm


# ---------------------------------------------------------------------------------------------------------------
# Authorization (the provider's model, then AKKO's trigger-only permission).


def setup_authorization(admin: Any, teams: list[str]) -> None:
    """Create the scopes, resources, policies and permissions in the realm of `admin` (a `KeycloakAdmin`);
    idempotent. With teams, the provider's multi-team model (`Dag:<team>` resources, role AND group policies)."""
    from airflow.providers.keycloak.auth_manager.cli import commands as kc

    client_uuid = admin.get_client_id(CLIENT_ID)
    with contextlib.redirect_stdout(io.StringIO()):  # the CLI functions print progress for a terminal
        # = `create-all [--teams ...]`
        kc._create_scopes(admin, client_uuid)
        kc._create_resources(admin, client_uuid, teams=teams)
        kc._create_group_membership_mapper(admin, client_uuid)
        if teams:
            for role in (*kc.TEAM_ROLE_NAMES, kc.SUPER_ADMIN_ROLE_NAME):
                kc._ensure_role_policy(admin, client_uuid, role)
        else:
            kc._ensure_default_role_policies(admin, client_uuid)
        kc._create_permissions(admin, client_uuid, teams=teams)
        if not teams:
            kc._attach_default_role_permissions(admin, client_uuid)
        # = `create-team <team>` for each team (the group exists already: the realm file has it)
        for team in teams:
            kc._create_resources(admin, client_uuid, teams=[team])
            kc._create_permissions(admin, client_uuid, teams=[team], include_global_admin=False)
            kc._ensure_group(admin, team)
            kc._ensure_team_policies(admin, client_uuid, team)
            kc._attach_team_permissions(admin, client_uuid, team)
            kc._attach_team_menu_permissions(admin, client_uuid, team)
            kc._attach_superadmin_permissions(admin, client_uuid, team)
            kc._update_read_only_permission_resources(admin, client_uuid)
            kc._update_admin_permission_resources(admin, client_uuid)
    _analyst_trigger(admin, client_uuid, teams)


def model_key(teams: list[str]) -> str:
    """What the authorization model depends on: the realm file, the teams, this module and the provider."""
    import hashlib
    from importlib.metadata import version

    parts = [REALM_FILE.read_bytes(), Path(__file__).read_bytes(), ",".join(teams).encode()]
    parts.append(version("apache-airflow-providers-keycloak").encode())
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def export_authorization(admin: Any) -> dict[str, Any]:
    """The `airflow` client's authorization model as Keycloak exports it (resources, scopes, policies and
    permissions by name, not id) and its protocol mappers: imported with the realm at the next start, it replaces
    `setup_authorization`'s hundreds of admin calls."""
    client_uuid = admin.get_client_id(CLIENT_ID)
    mappers = [
        {key: value for key, value in mapper.items() if key != "id"}
        for mapper in admin.get_client(client_uuid).get("protocolMappers", [])
    ]
    return {"authorizationSettings": admin.get_client_authz_settings(client_uuid), "protocolMappers": mappers}


def with_authorization(realm: dict[str, Any], exported: dict[str, Any]) -> dict[str, Any]:
    (client,) = (client for client in realm["clients"] if client["clientId"] == CLIENT_ID)
    client["authorizationSettings"] = exported["authorizationSettings"]
    client["protocolMappers"] = exported["protocolMappers"]
    return realm


def _analyst_trigger(admin: Any, client_uuid: str, teams: list[str]) -> None:
    """Hand-written (the provider has no trigger-only role): `akko-analyst` may POST a DAG run on its teams' DAGs
    (`Dag` without teams), nothing else. A regex policy reads the `dag_entity` claim the auth manager pushes with
    each DAG request (a Keycloak context attribute) and accepts only `RUN`."""
    from airflow.providers.keycloak.auth_manager.cli import commands as kc

    base = f"admin/realms/{admin.connection.realm_name}/clients/{client_uuid}/authz/resource-server"
    _ensure_policy(
        admin,
        f"{base}/policy/role",
        {
            "name": "Allow-akko-analyst",
            "type": "role",
            "logic": "POSITIVE",
            "roles": [{"id": admin.get_realm_role("akko-analyst")["id"], "required": True}],
        },
    )
    _ensure_policy(
        admin,
        f"{base}/policy/regex",
        {
            "name": "AKKO-dag-entity-is-RUN",
            "type": "regex",
            "logic": "POSITIVE",
            "targetClaim": "dag_entity",
            "pattern": "^RUN$",
            "targetContextAttributes": True,
        },
    )
    for team in teams or [None]:
        name = f"Trigger-{team}" if team else "Trigger"
        resource = f"Dag:{team}" if team else "Dag"
        required = ["Allow-akko-analyst", "AKKO-dag-entity-is-RUN"]
        if team:
            required.append(kc._team_group_policy_name(team))
        aggregate = f"Allow-akko-analyst-trigger-{team}" if team else "Allow-akko-analyst-trigger"
        _ensure_policy(
            admin,
            f"{base}/policy/aggregate",
            {
                "name": aggregate,
                "type": "aggregate",
                "logic": "POSITIVE",
                "decisionStrategy": "UNANIMOUS",
                "policies": [_policy_id(admin, base, policy) for policy in required],
            },
        )
        scope = next(s["id"] for s in admin.get_client_authz_scopes(client_uuid) if s["name"] == "POST")
        dag = next(r["_id"] for r in admin.get_client_authz_resources(client_uuid) if r["name"] == resource)
        _ensure_policy(
            admin,
            f"{base}/permission/scope",
            {
                "name": name,
                "type": "scope",
                "logic": "POSITIVE",
                "decisionStrategy": "UNANIMOUS",
                "resources": [dag],
                "scopes": [scope],
                "policies": [_policy_id(admin, base, aggregate)],
            },
        )


def _policy_id(admin: Any, base: str, name: str) -> str:
    policies = json.loads(admin.connection.raw_get(f"{base}/policy", name=name, exact="true").text)
    return next(policy["id"] for policy in policies if policy["name"] == name)


def _ensure_policy(admin: Any, url: str, payload: dict[str, Any]) -> None:
    """Create a policy or permission unless one of that name exists (201 created, 409 already there)."""
    response = admin.connection.raw_post(url, data=json.dumps(payload))
    if response.status_code not in (201, 409):
        raise RuntimeError(
            f"Keycloak refused {payload['name']}: HTTP {response.status_code} {response.text[:300]}"
        )

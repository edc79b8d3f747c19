"""Secrets kept out of every log line and message, through Airflow's own secrets masker.

Each secret-bearing part of what a step or AKKO uses is registered with the masker as it is fetched: an Airflow
connection's password, the password and secret-looking query parameters of a URL (in its host, password or
extras), a webhook's path and token, secret-looking extras (every extra of a webhook or token connection), a
profile's resolved `SecretRef`s, dbt's secret environment. Airflow then masks them in task logs (a task process
tells its supervisor) and in OpenLineage events; `redact` masks them in what AKKO writes itself: its log files
(`config/private_logs.py`), alerts and CLI errors.

Airflow 3 keeps two maskers (the Task SDK's and airflow-core's: different import paths, different instances):
both are fed. `airflow.sdk.execution_time.secrets_masker` is only a deprecated alias of the SDK's in 3.3.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

# Words of key names (extras, query parameters, headers) whose values are secrets, known without loading Airflow
# (whose DEFAULT_SENSITIVE_FIELDS they cover) plus query parameters and headers that carry credentials: Google's
# `key`, Azure SAS's `sig`, AWS's `X-Amz-Signature`/`Credential`, `Authorization`-like headers, JWTs.
AKKO_SENSITIVE = (
    "pass", "pwd", "secret", "token", "key", "auth", "bearer", "credential", "dsn", "proxy", "proxies",
    "connection_string", "service_account", "sig", "signature", "cookie", "session", "jwt",
)  # fmt: skip
# Connection types whose every part is a credential (the webhook URL's path is the token).
TOKEN_CONN_TYPES = frozenset({"slack", "discord", "opsgenie", "pagerduty", "pagerduty_events", "telegram"})
# Words of environment variable names holding a secret (whole words: AKKO_KEYCLOAK_URL is not one).
_ENV_SECRET_WORDS = frozenset(
    {"KEY", "SECRET", "PASSWORD", "PASSWD", "PWD", "TOKEN", "CREDENTIAL", "CREDENTIALS", "APIKEY", "DSN"}
)
_LOADED: list[Any] = []  # Airflow's masker modules, once loaded
_PENDING: list[str] = []  # secrets registered before Airflow was loaded in this process


def mask(*values: Any, local: bool = False) -> None:
    """Register each value (with its URL- and JSON-escaped forms) with Airflow's maskers. Values shorter than
    Airflow's `[logging] min_length_masked_secret` (5) are skipped by Airflow: they would mask ordinary words.
    `local` keeps it to this process (the Task SDK's `mask_secret` also tells a task's supervisor)."""
    for value in values:
        if isinstance(value, str) and value.strip():
            for variant in _variants(value):
                _register(variant, local)


def mask_url(url: str | None, *, whole_path: bool = False, local: bool = False) -> None:
    """A URL's secret parts: its userinfo password, the values of secret-looking query (and `;key=value`
    path) parameters; with `whole_path` (a webhook, whose path is the credential) the whole URL, its path and
    the path's last segment (Slack's and Discord's token)."""
    if not url or "://" not in url:
        return
    try:
        parts = urlsplit(url.strip())
        secrets = [parts.password]
    except ValueError:  # not a URL after all (an invalid port...): nothing to take apart
        return
    params = parse_qsl(parts.query) + [
        tuple(p.split("=", 1)) for p in parts.path.split(";")[1:] if "=" in p
    ]  # Spark Connect's sc://host:port/;token=...
    secrets += [value for key, value in params if is_sensitive(key)]
    path = parts.path.split(";")[0].strip("/")
    if whole_path and path:
        secrets += [url.strip(), path, path.partition("/")[2], path.rsplit("/", 1)[-1]]
    mask(*secrets, local=local)


def mask_connection(conn: Any, *, local: bool = False) -> None:
    """Every secret-bearing part of an Airflow connection (SDK or core `Connection`)."""
    kind = str(getattr(conn, "conn_type", "") or "").lower()
    token_style = "webhook" in kind or kind in TOKEN_CONN_TYPES
    mask(conn.password, local=local)
    if token_style and conn.password and "://" not in conn.password:
        mask(conn.password.strip("/").rsplit("/", 1)[-1], local=local)  # the token of a webhook path
    for value in (conn.password, conn.host):
        mask_url(value, whole_path=token_style, local=local)
    try:
        extras = json.loads(conn.extra) if conn.extra else {}
    except (TypeError, ValueError):  # unparsable extras: the whole text is what may leak
        extras = conn.extra
    _mask_values(extras, every=token_style, local=local)


def mask_connection_id(conn_id: str) -> None:
    """Fetch an Airflow connection and mask its secret parts, before a hook uses it. A connection that cannot
    be read is the hook's to report, with its own message, when it fetches it."""
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - see above: never this function's error
        return
    mask_connection(conn)


def mask_environment(environ: Mapping[str, str] | None = None) -> None:
    """What this process' environment holds for Airflow and AKKO, masked here (locally): every connection given
    as `AIRFLOW_CONN_*` (whether or not a step fetches it: a python step or dbt may read it), variables named
    like secrets (AKKO_CATALOG_PASSWORD, AIRFLOW__CORE__FERNET_KEY...), and the passwords of URLs."""
    for name, value in (os.environ if environ is None else environ).items():
        if name.startswith("AIRFLOW_CONN_"):
            try:
                conn = _env_connection(name, value)
            except Exception:  # noqa: BLE001 - unreadable: Airflow's to report; the whole text may be secret
                mask(value, local=True)
            else:
                mask_connection(conn, local=True)
                if conn.password or conn.login or conn.extra:  # a bare scheme://host:port stays readable
                    mask(value, local=True)
        elif _ENV_SECRET_WORDS.intersection(name.upper().split("_")):
            mask(value, local=True)
        elif value.lstrip().startswith("{"):
            with contextlib.suppress(ValueError):
                _mask_values(json.loads(value), every=False, local=True)  # e.g. OpenLineage's apiKey
        mask_url(value, local=True)


def redact(text: str) -> str:
    """`text` with every secret registered in this process (and the environment's) replaced by `***`.

    Airflow's masker is imported for it only when a secret is waiting (importing Airflow costs seconds): a
    process that has not loaded Airflow and registered nothing has nothing to mask."""
    maskers = _maskers(load=bool(_PENDING))
    if maskers:
        _environment_masked()
    for masker in maskers:
        text = masker.redact(text)
    return text


def is_sensitive(name: Any) -> bool:
    """Whether a key names a secret: Airflow's sensitive fields (and `[core] sensitive_var_conn_names`), and
    AKKO's additions for query parameters and headers."""
    if not isinstance(name, str):
        return False
    normalized = re.sub(r"\W+", "_", name.strip().lower())
    if any(word in normalized for word in AKKO_SENSITIVE):
        return True
    # Airflow's, once loaded: its defaults, and `[core] sensitive_var_conn_names` once its settings are read
    for masker in _maskers(load=False):
        if any(word in normalized for word in masker.DEFAULT_SENSITIVE_FIELDS):
            return True
        if masker.should_hide_value_for_key(name):
            return True
    return False


def _mask_values(value: Any, *, every: bool, local: bool, key: str | None = None) -> None:
    """Extras' values: those under a secret-looking key (at any depth), or all of them (`every`); URLs among
    them have their secret parts masked. A mapping under a secret-looking key is walked like any other (its
    own keys say which values are secret: `auth: {type: api_key, apiKey: ...}` masks the key, not `api_key`)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            secret = every or (is_sensitive(name) and not isinstance(item, Mapping))
            _mask_values(item, every=secret, local=local, key=str(name))
    elif isinstance(value, list | tuple):
        for item in value:
            _mask_values(item, every=every, local=local, key=key)
    elif isinstance(value, str):
        if every:
            mask(value, local=local)
        mask_url(value, whole_path=every or "webhook" in (key or "").lower(), local=local)


def _variants(value: str) -> set[str]:
    """The forms a secret takes in text: as is, URL-quoted (an `AIRFLOW_CONN_*` URI, a query string), and
    JSON-escaped (an event or log line in JSON)."""
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


def _register(secret: str, local: bool) -> None:
    maskers = _maskers(load=False)
    if not maskers:
        _PENDING.append(secret)  # no task runs in a process without Airflow: handed over once it is loaded
        return
    if not local:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)  # the SDK's masker, and a running task's supervisor (its task log)
    for masker in maskers:
        masker.mask_secret(secret)


def _maskers(*, load: bool) -> tuple[Any, ...]:
    """The secrets masker modules installed (the Task SDK's, and airflow-core's where it is installed), once
    Airflow is loaded in this process (or `load` says to load it); secrets registered before are handed over."""
    if not _LOADED and (load or "airflow" in sys.modules):
        for name in ("airflow.sdk._shared.secrets_masker", "airflow._shared.secrets_masker"):
            with contextlib.suppress(ImportError):
                _LOADED.append(importlib.import_module(name))
        for secret in _PENDING:
            for masker in _LOADED:
                masker.mask_secret(secret)
        _PENDING.clear()
    return tuple(_LOADED)


@functools.cache
def _environment_masked() -> None:
    mask_environment()


def _env_connection(name: str, value: str) -> Any:
    """An `AIRFLOW_CONN_*` value as Airflow's environment backend reads it: JSON, else a URI."""
    from airflow.sdk import Connection

    conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
    if value.lstrip().startswith("{"):
        return Connection.from_json(value, conn_id=conn_id)
    return Connection.from_uri(value, conn_id=conn_id)

"""What a secret looks like where a spec may only name one: a connection id, a URL, an HTTP query parameter.

A spec is a file in git, read by everyone who reads the pipelines, and its values land in logs, lineage events and
the DAG. Credentials live in Airflow connections (`conn_id`) and are fetched when a step runs; these rules refuse
the usual ways a secret slips into a spec instead: a URI with `user:password@`, a token pasted as a connection id,
a key in a URL's query string or path. Messages never repeat the value. No Airflow here.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

# Query parameter and field names that carry a credential (`api_key`, `access_token`, `X-Signature`...).
SECRET_NAME = re.compile(
    r"(?:^|[_\-.])(?:pass(?:word|wd)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|auth|"
    r"credentials?|sig(?:nature)?|private[_\-]?key|session)(?:$|[_\-.])",
    re.IGNORECASE,
)
# Tokens of well-known services, recognisable by their prefix.
KNOWN_TOKEN = re.compile(
    r"^(?:xox[abposr]-|xapp-|gh[pousr]_|github_pat_|glpat-|sk-|sk_live_|rk_live_|pk_live_|AKIA[0-9A-Z]{12}|"
    r"ASIA[0-9A-Z]{12}|AIza|eyJ[A-Za-z0-9_-]{8,}\.)"
)
WEBHOOK_HOSTS = ("hooks.slack.com", "discord.com/api/webhooks", "outlook.office.com/webhook")
CONN_HINT = (
    "a `conn_id` names an Airflow connection, e.g. `orders_db`; keep the URI, password or token in that "
    "connection (`airflow connections add`, or the environment's AIRFLOW_CONN_<ID>)"
)


def looks_like_token(text: str) -> bool:
    """A known service's token, or one long run of mixed letters and digits (how keys and tokens look; names
    people choose are words joined by `_`, `-` or `.`)."""
    if KNOWN_TOKEN.match(text):
        return True
    for part in re.split(r"[_\-.~/:]+", text):
        mixed = re.search(r"[A-Za-z]", part) and re.search(r"\d", part)
        if len(part) >= 20 and mixed and re.fullmatch(r"[A-Za-z0-9+=]+", part):
            return True
        if len(part) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", part):
            return True
    return False


def secret_in_conn_id(value: str) -> str | None:
    """Why `value` cannot be a connection id (it holds a URI, credentials or a token), or None."""
    if "://" in value or "@" in value:
        return f"a connection id, not a URI: {CONN_HINT}"
    if any(ch.isspace() for ch in value):
        return f"a connection id has no spaces: {CONN_HINT}"
    if looks_like_token(value):
        return f"this looks like a token or key, not a connection id: {CONN_HINT}"
    return None


def secret_in_url(url: str) -> str | None:
    """Why `url` holds a credential (`user:password@`, a key in its query string, a known service's token or a
    webhook in its path), or None."""
    parts = urlsplit(url if "//" in url else f"//{url}")
    use = "use `conn_id`, an Airflow HTTP connection holding them"
    if "@" in parts.netloc:
        return f"credentials do not belong in a spec: remove `user:password@` and {use}"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if SECRET_NAME.search(name) or KNOWN_TOKEN.match(value):
            return f"credentials do not belong in a spec: query parameter `{name}` holds one; {use}"
    where = f"{parts.netloc}{parts.path}".lower()
    # Only known tokens: a long id in a path (a commit, a UUID) is no secret.
    if any(host in where for host in WEBHOOK_HOSTS) or any(
        KNOWN_TOKEN.match(p) for p in parts.path.split("/")
    ):
        return f"credentials do not belong in a spec: the URL's path holds a token; {use}"
    return None


def secret_in_param(name: str, value: str) -> str | None:
    """Why an HTTP query parameter holds a credential, or None."""
    if SECRET_NAME.search(name) or KNOWN_TOKEN.match(value):
        return (
            f"`{name}` would put a credential in the spec: use `conn_id`, an Airflow HTTP connection, and send "
            'it as a header from the connection\'s extra (e.g. {"X-API-Key": "..."})'
        )
    return None

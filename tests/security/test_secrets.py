"""Class 7 of issue 21, secrets in logs: every secret-bearing part of a connection (password, webhook path and
token, a token or password in a URL, secret extras), a profile's resolved secrets and dbt's secret environment
are registered with Airflow's secrets masker, and no log line or message AKKO or Airflow writes holds one; the
run's log files are 0600 in 0700 folders, also when they existed wider (test_private_logs.py: each log kind).

The unit tests take each part apart; the e2e test plants one distinctive secret in each place, runs a pipeline
failing in every way that prints connections and errors through real Airflow (`akko run`), then greps every file
of the project and state folders, the CLI's output and what the alert receivers got."""

from __future__ import annotations

import json
import secrets
import socket
import stat
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from akko_orchestrator.config.secrets import mask, mask_connection, mask_environment, mask_url, redact


def plant(label: str) -> str:
    """A secret no test shares (the masker is process-wide) and nothing else contains."""
    return f"{label}{secrets.token_hex(6)}"


def masked(text: str, *secret_values: str) -> bool:
    out = redact(text)
    return all(s not in out for s in secret_values)


def connection(**fields: object):
    from airflow.sdk import Connection

    extra = fields.pop("extra", None)
    return Connection(conn_id=plant("c"), extra=json.dumps(extra) if extra is not None else None, **fields)


# -- a connection's parts ----------------------------------------------------------------------------------------


def test_a_slack_webhook_url_its_path_and_its_token_are_masked() -> None:
    token = plant("SlackTok")
    url = f"https://hooks.slack.com/services/T0AKKO1/B0AKKO2/{token}"
    mask_connection(
        connection(conn_type="slackwebhook", password=url, extra={"timeout": 30, "proxy": "http://p:3128"})
    )
    for text in (
        f"Going to retry the same request: POST {url}",
        "POST /services/T0AKKO1/B0AKKO2/" + token + " HTTP/1.1",  # a path alone (an HTTP client's debug line)
        f"Invalid URL detected: services://hooks.slack.com/T0AKKO1/B0AKKO2/{token}",
        quote(f"T0AKKO1/B0AKKO2/{token}", safe=""),  # the URI form of an AIRFLOW_CONN_* value
        f"token {token} refused",
    ):
        assert masked(text, token), text
    assert "http://p:3128" not in redact("proxy http://p:3128")  # every extra of a webhook connection


def test_a_webhook_token_given_as_the_password_path_is_masked() -> None:
    token = plant("HookPath")
    mask_connection(
        connection(conn_type="slackwebhook", host="hooks.slack.com/services", password=f"T01/B02/{token}")
    )
    assert masked(f"https://hooks.slack.com/services/T01/B02/{token}", token)
    assert masked(f"the token is {token}", token)


def test_a_token_or_password_in_a_urls_query_or_userinfo_is_masked() -> None:
    token, password, sig = plant("QTok"), plant("UPw"), plant("Sig")
    host = f"https://reader:{password}@api.example.com/v1/records?format=jsonlines&api_key={token}&sig={sig}"
    mask_connection(connection(conn_type="http", host=host))
    text = redact(f"HTTP GET {host} returned 500")
    assert token not in text and password not in text and sig not in text
    assert "format=jsonlines" in text and "api.example.com" in text  # the rest still reads


def test_secret_extras_are_masked_and_ordinary_ones_kept() -> None:
    key, bearer, nested = plant("XKey"), plant("Bearer"), plant("Nested")
    extra = {
        "X-Api-Key": key,
        "Authorization": f"Bearer {bearer}",
        "Content-Type": "application/jsonlines",
        "auth": {"type": "api_key_header", "apiKey": nested},
        "webhook_url": f"https://hooks.example.com/in/{plant('Path')}",
    }
    mask_connection(connection(conn_type="http", host="https://api.example.com", extra=extra))
    text = redact(json.dumps(extra))
    assert key not in text and bearer not in text and nested not in text
    assert extra["webhook_url"].rsplit("/", 1)[-1] not in text
    assert "application/jsonlines" in text and "api_key_header" in text


def test_a_password_is_masked_in_its_quoted_and_json_escaped_forms() -> None:
    password = f'Pw"{secrets.token_hex(4)}@/:%'  # needs URL quoting and JSON escaping
    mask_connection(connection(conn_type="postgres", host="db", login="akko", password=password))
    for text in (password, quote(password, safe=""), quote_plus(password), json.dumps({"p": password})):
        assert masked(text, password, quote(password, safe=""), json.dumps(password)[1:-1]), text


def test_the_environments_connections_and_secrets_are_masked() -> None:
    uri_pw, json_pw, catalog_pw, broker_pw, spark_tok, api_key = (
        plant(x) for x in ("Uri", "Js", "Cat", "Br", "Sp", "Ol")
    )
    mask_environment(
        {
            "AIRFLOW_CONN_PLANT_URI": f"postgres://akko:{uri_pw}@db:5432/ops",
            "AIRFLOW_CONN_PLANT_JSON": json.dumps({"conn_type": "http", "host": "h", "password": json_pw}),
            "AKKO_CATALOG_PASSWORD": catalog_pw,
            "AKKO_CELERY_BROKER_URL": f"redis://:{broker_pw}@127.0.0.1:6379/0",
            "AKKO_SPARK_REMOTE": f"sc://spark:15002/;token={spark_tok};user_id=akko",
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
                {"type": "http", "auth": {"type": "api_key", "apiKey": api_key}}
            ),
            "AKKO_KEYCLOAK_URL": "http://127.0.0.1:18080",  # not a secret: stays readable
            "AIRFLOW_CONN_PLANT_API": "http://127.0.0.1:18081",  # a connection with no credential: readable
        }
    )
    text = redact(
        f"{uri_pw} {json_pw} {catalog_pw} {broker_pw} {spark_tok} {api_key} http://127.0.0.1:18080"
        " GET http://127.0.0.1:18081/api/v1/broken"
    )
    assert text == "*** *** *** *** *** *** http://127.0.0.1:18080 GET http://127.0.0.1:18081/api/v1/broken"


def test_a_resolved_secret_ref_and_a_uri_password_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    from akko_orchestrator.config.models import SecretRef

    value, in_uri = plant("Ref"), plant("InUri")
    monkeypatch.setenv("AKKO_TEST_PLANTED_REF", value)
    assert SecretRef(env="AKKO_TEST_PLANTED_REF").resolve().get_secret_value() == value
    mask_url(f"postgresql+psycopg2://akko:{in_uri}@127.0.0.1/catalog")
    assert redact(f"could not open {value} at postgresql://akko:{in_uri}@127.0.0.1") == (
        "could not open *** at postgresql://akko:***@127.0.0.1"
    )


def test_dbts_cluster_environment_is_masked(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """dbt-trino gets the Trino password in its environment only, and that value is masked."""
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.dbt.profiles import cluster_profile

    password = plant("Trino")
    monkeypatch.setenv(
        "AIRFLOW_CONN_AKKO_TRINO", f"trino://akko:{quote(password, safe='')}@127.0.0.1:8443/iceberg"
    )
    for name, value in {
        "AKKO_CATALOG_URI": "postgresql://akko@127.0.0.1/catalog",
        "AKKO_WAREHOUSE": "file:///tmp/w",
        "AKKO_OBJECT_STORE": "/tmp/o",
        "AKKO_SPARK_REMOTE": "sc://127.0.0.1:15002",
        "AKKO_CATALOG_PASSWORD": plant("Cat"),
    }.items():
        monkeypatch.setenv(name, value)
    folder, env = cluster_profile(load_project(project_dir, "cluster"), "akko", tmp_path / "profiles", "demo")
    assert password in env.values()
    assert password not in (folder / "profiles.yml").read_text()
    assert masked(f"dbt: connecting with {password}", password)


def test_a_step_masks_a_connection_before_any_hook_fetches_it(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from akko_orchestrator.config.project import load_project
    from akko_orchestrator.runtime.context import StepContext

    token = plant("Ctx")
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLANTED_API", json.dumps({"conn_type": "http", "host": f"http://api/x?token={token}"})
    )
    StepContext(load_project(project_dir), "p", "s").allow_connection("planted_api")
    assert masked(f"HTTP GET http://api/x?token={token} returned 500", token)


def test_alert_text_is_masked_before_it_is_clipped() -> None:
    from akko_orchestrator.alerts.messages import ERROR_CHARS, failure_message

    secret = plant("AlertSecret")
    mask(secret)
    cut_in_two = ValueError("x" * (ERROR_CHARS - 20) + secret + " and more")
    text = failure_message("p", {"exception": cut_in_two, "run_id": "r"}).text
    assert secret[:10] not in text and "***" in text


def test_cli_errors_and_tracebacks_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    from akko_orchestrator.cli.console import DEBUG, handle_errors
    from akko_orchestrator.errors import AkkoError

    secret = plant("CliSecret")
    mask(secret)

    @handle_errors
    def fails() -> None:
        raise AkkoError(f"cannot reach https://u:{secret}@host")

    DEBUG["enabled"] = True
    try:
        with pytest.raises(SystemExit):
            fails()
    finally:
        DEBUG["enabled"] = False
    err = capsys.readouterr().err
    assert "cannot reach https://u:***@host" in err and "Traceback" in err and secret not in err


# -- end to end: planted secrets, failing runs through real Airflow, every file grepped ---------------------------

AKKO_YAML = """project: planted
lakehouse: akko
pipelines: pipelines
python_path: [pipelines]
state_dir: .akko
profile: local
alerts:
  - on: [failure]
    slack: {conn_id: akko_slack}
  - on: [failure]
    slack: {conn_id: akko_slack_down}
  - on: [failure]
    email: {to: [data-team@example.com], conn_id: akko_smtp}
profiles:
  local:
    engine: embedded
"""
SPEC = """pipeline: leaky
owner: tests
team: demo
steps:
  - id: from_api
    kind: ingest
    source: {http: {conn_id: leaky_api, records: items}}
    output: {table: demo.api_rows, mode: overwrite}
  - id: from_db
    kind: ingest
    source: {sql: {conn_id: leaky_db, query: "SELECT 1 AS x"}}
    output: {table: demo.db_rows, mode: overwrite}
  - id: show_connections
    kind: python
    function: leaky_functions:show_connections
"""
FUNCTIONS = '''"""A careless step: prints and logs its connections, then fails quoting one."""
import logging
import os


def show_connections(ctx):
    api = ctx.connection("leaky_api")
    print("api connection:", api.get_uri(), api.extra)
    logging.getLogger("leaky").warning("db connection: %s", os.environ["AIRFLOW_CONN_LEAKY_DB"])
    raise ValueError(f"cannot use {api.host} with {api.extra_dejson}")
'''


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from tests.fixtures.alert_receivers import slack_receiver, smtp_receiver
    from tests.fixtures.cli import akko, cli_env
    from tests.fixtures.http_server import running_json_api

    base = tmp_path_factory.mktemp("planted")
    root, state = base / "project", base / "state"
    (root / "pipelines").mkdir(parents=True)
    (root / "akko.yaml").write_text(AKKO_YAML)
    (root / "pipelines" / "leaky.yaml").write_text(SPEC)
    (root / "pipelines" / "leaky_functions.py").write_text(FUNCTIONS)
    # logs left readable by an earlier version: made private too
    for folder in (state / "logs", state / "airflow" / "logs" / "dag_id=old"):
        folder.mkdir(parents=True, mode=0o755)
        (folder / "old.log").write_text("an earlier run\n")
        (folder / "old.log").chmod(0o644)
    planted = {
        "db password": plant("DbPw") + "@/:%",  # needs quoting in the AIRFLOW_CONN_* URI
        "webhook token": plant("HookTok"),
        "unreachable webhook token": plant("DownTok"),
        "url token": plant("UrlTok"),
        "secret extra": plant("ExtraKey"),
        "smtp password": plant("SmtpPw"),
    }
    with slack_receiver() as slack, smtp_receiver() as smtp, running_json_api() as api:
        api.route("/v1/records", 500, {"error": "upstream is down"})
        down = closed_port()
        smtp_conn = json.loads(smtp.connection())
        env = cli_env(
            root,
            state,
            AIRFLOW_CONN_AKKO_SLACK=json.dumps(
                {
                    "conn_type": "slackwebhook",
                    "password": f"http://127.0.0.1:{slack.port}/services/T0A/B0B/{planted['webhook token']}",
                }
            ),
            AIRFLOW_CONN_AKKO_SLACK_DOWN=json.dumps(
                {
                    "conn_type": "slackwebhook",
                    "password": f"http://127.0.0.1:{down}/services/T0C/B0D/{planted['unreachable webhook token']}",
                }
            ),
            AIRFLOW_CONN_AKKO_SMTP=json.dumps(
                {**smtp_conn, "login": "akko", "password": planted["smtp password"]}
            ),
            AIRFLOW_CONN_LEAKY_API=json.dumps(
                {
                    "conn_type": "http",
                    "host": f"http://127.0.0.1:{api.port}/v1/records?token={planted['url token']}",
                    "extra": {"X-Api-Key": planted["secret extra"]},
                }
            ),
            AIRFLOW_CONN_LEAKY_DB=f"postgres://akko:{quote(planted['db password'], safe='')}@127.0.0.1:{closed_port()}/ops",
        )
        done = akko("run", "leaky", env=env)
        slack.wait(3)
    return {"root": root, "state": state, "planted": planted, "done": done, "slack": slack, "smtp": smtp}


def forms(secret: str) -> set[bytes]:
    return {
        f.encode() for f in (secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1])
    }


@pytest.mark.e2e
def test_no_planted_secret_in_any_file_output_or_alert_after_failing_runs(leaky_run: dict) -> None:
    done, root, state = leaky_run["done"], leaky_run["root"], leaky_run["state"]
    assert done.returncode == 1, done.stdout + done.stderr
    for step in ("from_api", "from_db", "show_connections"):  # each failed, the way it was meant to
        assert f"step {step} failed" in done.stderr, done.stderr
    assert "returned 500" in done.stderr and "Connection refused" in done.stderr
    [run_log] = [p for p in (state / "logs").glob("leaky-*.log")]
    log = run_log.read_text()
    assert "?token=***" in log and "api connection: " in log and "Going to retry" in log  # printed, masked
    alerts = [m["text"] for m in leaky_run["slack"].messages]
    assert len(alerts) == 3 and all("\nerror: " in text for text in alerts)

    files = [p for folder in (root, state) for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.suffix == ".db" for p in files) and any(p.name == "events.jsonl" for p in files)
    texts = {
        "the CLI's output": (done.stdout + done.stderr).encode(),
        "the Slack messages": json.dumps(leaky_run["slack"].messages).encode(),
        "the e-mails": "".join(str(m) for _, _, m in leaky_run["smtp"].mails).encode(),
        **{str(p): p.read_bytes() for p in files},
    }
    leaks = [
        f"{name} in {where}"
        for name, secret in leaky_run["planted"].items()
        for where, data in texts.items()
        if any(form in data for form in forms(secret))
    ]
    assert leaks == []


@pytest.mark.e2e
def test_every_log_file_and_folder_of_the_run_is_private(leaky_run: dict) -> None:
    state = leaky_run["state"]
    log_trees = [state / "logs", state / "airflow" / "logs", state / "lineage"]
    for tree in log_trees:
        assert mode(tree) == 0o700, tree
        for path in tree.rglob("*"):
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert len(list((state / "logs").glob("*.log"))) == 2  # the earlier run's and this one's

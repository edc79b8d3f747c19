"""Hand-written DAGs in Airflow's multi-team mode, through `akko ci` as a CI job runs it: a Keycloak profile with
`teams` (no Keycloak needed to parse), `ops/` owned by team demo in akko.yaml and `shared/` whose team comes from
its files' `team:` tags. Each folder is linked into its team's DAG bundle folder and parsed from there by the
dag-processor's own parse function: a DAG importing the helper module beside it loads, a DAG tagged for another
team than its bundle's is refused by the `dag-team` rule. One `akko ci` run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.fixtures.cli import akko, cli_env

pytestmark = pytest.mark.e2e
HERE = Path(__file__).parent / "team_dags"

AKKO_YAML = """\
project: teams
teams:
  demo: {namespaces: [demo]}
  banking: {namespaces: [banking]}
dags:
  - {path: ops, team: demo}
  - shared
profiles:
  local:
    airflow:
      auth: keycloak
      keycloak:
        server_url: http://127.0.0.1:8081/
        client_secret: {env: TEST_KC_SECRET}
"""


def test_team_folders_are_parsed_from_their_team_bundle(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(HERE, root)
    (root / "pipelines").mkdir()
    (root / "akko.yaml").write_text(AKKO_YAML)
    state = root / ".akko"
    done = akko("ci", "--json", "--skip", "tests", env=cli_env(root, state, TEST_KC_SECRET="not-used"))
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(done.stdout + done.stderr) from None

    bundles = state / "airflow" / "team-dags"
    assert os.readlink(bundles / "demo" / "hand_written__ops") == os.path.join("..", "..", "..", "..", "ops")
    assert (bundles / "banking" / "hand_written__shared" / "ledger.py").is_file()  # from its team:banking tag
    assert not (bundles / "demo" / "hand_written__shared").exists()

    dags = {s["name"]: s for s in report["steps"]}["dags"]
    assert set(dags["timings"]) == {"ops/uses_helper.py", "ops/wrong_team.py", "shared/ledger.py"}
    problems = [(p["file"], p["line"], p["rule"], p["message"]) for p in report["problems"]]
    assert len(problems) == 1 and done.returncode == 1, problems  # uses_helper.py imports ops_helpers cleanly
    file, line, rule, message = problems[0]
    assert (file, line, rule) == ("ops/wrong_team.py", 8, "policy")
    assert (
        "[dag-team] DAG 'ops_wrong_team' is tagged team 'banking' but ops/wrong_team.py is parsed from the DAG "
        "bundle of team 'demo' (move the file to a `dags` folder of team 'banking', or tag it 'team:demo')"
    ) in message

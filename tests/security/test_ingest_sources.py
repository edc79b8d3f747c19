"""Class 4 of issue 21: ingest (and Spark `files` sources) never read AKKO's own state, the warehouse, AKKO's
`_akko/` object-store folder nor another team's object-store folders, whatever the spelling: relative, `..`,
absolute, file://, symlinks, globs whose base is above them, object-store keys climbing out, allowed_paths,
AKKO_STATE_DIR elsewhere, a bind mount standing for a case-insensitive alias, s3 URIs into the warehouse.

A real project (the repo's, with its two teams), its real state folder holding the secrets `akko dev` writes
(local_airflow/environment.py `shared_secrets`) and a real banking table; each spelling is refused by
`akko validate` at the spec's field and by the running step, and afterwards nothing of the secrets or of banking's
rows is in any table, in any team's namespace."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from akko_orchestrator.config.paths import PathRule
from akko_orchestrator.config.project import Project, load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.catalog import open_catalog
from akko_orchestrator.lakehouse.writer import write_table
from akko_orchestrator.local_airflow.environment import shared_secrets
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.ingest import ingest
from akko_orchestrator.runtime.spark_steps import check_sources
from akko_orchestrator.spec.models import IngestSource, IngestStep, Output, SparkSource, SparkStep
from akko_orchestrator.spec.validate import validate_path
from tests.conftest import copy_project

SECRETS = ".akko/airflow/akko-dev-secrets.json"
IBAN = "DE00-BANKING-ONLY-4242"  # a value only banking's table and banking's raw files hold
HEAD = "pipeline: probe\nowner: me\nteam: demo\nsteps:\n"
STEP = '  - id: s{i}\n    kind: ingest\n    source: {{files: "{files}", format: {fmt}}}\n    output: {{table: demo.p{i}}}\n'


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """The demo project as shipped (teams demo and banking), its state folder in the project (.akko), with the
    Airflow secrets, a banking table and files in the object store: banking's, AKKO's staging and demo's own."""
    root = copy_project(tmp_path / "project", teams=True)
    monkeypatch.setenv("AKKO_PROJECT_DIR", str(root))
    monkeypatch.setenv("AKKO_STATE_DIR", str(root / ".akko"))
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    project = load_project(root)
    shared_secrets(project.airflow_home, environ={})
    catalog = open_catalog(project)
    accounts = pa.table({"account_id": [1], "iban": [IBAN]})
    write_table(catalog, Output(table="banking.accounts"), accounts)
    store = Path(project.object_store_uri)
    for key, text in {
        "raw/banking/customers.csv": f"iban\n{IBAN}\n",
        "_akko/staging/p/run/s/x.csv": f"iban\n{IBAN}\n",
        "raw/sales/own.csv": "id\n1\n",
    }.items():
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        (store / key).write_text(text)
    (root / "data" / "innocent.json").symlink_to(root / SECRETS)
    (root / "data" / "state").symlink_to(root / ".akko", target_is_directory=True)
    yield project


PROBES = [
    "relative", "dotdot", "absolute", "file_uri", "store_key_climbing", "symlinked_file", "symlinked_folder_glob",
    "glob_base_above_the_state", "recursive_glob", "catalog_database", "warehouse_files", "other_team_folder",
    "other_team_climbing", "other_team_glob", "akko_staging", "akko_staging_glob",
]  # fmt: skip


def local_profile(root: Path, *lines: str) -> None:
    """Add settings to akko.yaml's `local` profile."""
    text = re.sub(
        r"(?m)^    engine: embedded.*$",
        "\n".join(["    engine: embedded", *lines]),
        (root / "akko.yaml").read_text(),
    )
    (root / "akko.yaml").write_text(text)


def secrets(project: Project) -> list[str]:
    return [*json.loads((project.root / SECRETS).read_text()).values(), IBAN]


def probes(project: Project) -> dict[str, tuple[str, str]]:
    """Every spelling of a forbidden source: name -> (`files`, format)."""
    root = project.root
    return {
        "relative": (f"./{SECRETS}", "json"),
        "dotdot": (f"./data/../{SECRETS}", "json"),
        "absolute": (str(root / SECRETS), "json"),
        "file_uri": (f"file://{root / SECRETS}", "json"),
        "store_key_climbing": ("raw/sales/../../../airflow/akko-dev-secrets.json", "json"),
        "symlinked_file": ("./data/innocent.json", "json"),
        "symlinked_folder_glob": ("./data/state/airflow/*.json", "json"),
        "glob_base_above_the_state": ("./.ak*/airflow/*.json", "json"),
        "recursive_glob": ("./**/akko-dev-secrets.json", "json"),
        "catalog_database": ("./.akko/catalog.db", "csv"),
        "warehouse_files": ("./.akko/warehouse/**/*.parquet", "parquet"),
        "other_team_folder": ("raw/banking/customers.csv", "csv"),
        "other_team_climbing": ("raw/sales/../banking/customers.csv", "csv"),
        "other_team_glob": ("raw/*/customers.csv", "csv"),
        "akko_staging": ("_akko/staging/p/run/s/x.csv", "csv"),
        "akko_staging_glob": ("_akko/**/*.csv", "csv"),
    }


def ingest_step(files: str, fmt: str, table: str = "demo.stolen") -> IngestStep:
    source = IngestSource(files=files, format=fmt)  # type: ignore[arg-type]
    return IngestStep(id="land", kind="ingest", source=source, output=Output(table=table))


def context(project: Project, team: str = "demo") -> StepContext:
    return StepContext(project, pipeline_id="probe", step_id="land", run_id="probe-run", team=team)


def assert_nothing_landed(project: Project) -> None:
    """No table of any namespace holds a secret or a banking value, except banking's own table."""
    catalog = open_catalog(project)
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier)
            if name == "banking.accounts":
                continue
            text = str(catalog.load_table(identifier).scan().to_arrow().to_pylist())
            assert not any(secret in text for secret in secrets(project)), name


def test_validate_refuses_every_spelling_at_its_field(lake: Project) -> None:
    cases = probes(lake)
    spec = lake.root / "pipelines" / "probe.yaml"
    spec.write_text(
        HEAD + "".join(STEP.format(i=i, files=f, fmt=m) for i, (f, m) in enumerate(cases.values()))
    )
    report = validate_path(spec, lake.root)
    by_field = {issue.field: issue for issue in report.issues}
    for index, (name, (files, _)) in enumerate(cases.items()):
        issue = by_field.get(f"steps[{index}].source.files")
        assert issue is not None, f"{name}: {files} passed validate"
        assert issue.file == "pipelines/probe.yaml" and issue.line == 7 + 4 * index, name
        assert issue.reason.startswith(repr(files)), name
        assert (
            "which is never a source" in issue.reason or "outside the folders of team 'demo'" in issue.reason
        )


@pytest.mark.parametrize("name", PROBES)
def test_the_running_step_refuses_every_spelling_and_nothing_lands(lake: Project, name: str) -> None:
    files, fmt = probes(lake)[name]
    with pytest.raises(AkkoError) as raised:
        ingest(context(lake), ingest_step(files, fmt))
    message = str(raised.value)
    assert message.startswith(f"step 'land': files {files!r} resolves to "), message
    assert "which is never a source" in message or "outside the folders of team 'demo'" in message, message
    assert not any(secret in message for secret in secrets(lake))
    assert_nothing_landed(lake)


def test_spark_file_sources_are_refused_the_same_way(lake: Project) -> None:
    for files, fmt in probes(lake).values():
        source = SparkSource(files=files, format=fmt)  # type: ignore[arg-type]
        step = SparkStep(id="sp", kind="spark", script="t.py", sources={"raw": source})
        with pytest.raises(AkkoError, match="which is never a source|outside the folders of team 'demo'"):
            check_sources(context(lake), step)


def test_the_team_own_files_stay_readable_in_the_store_inside_the_state_folder(lake: Project) -> None:
    result = ingest(context(lake), ingest_step("raw/sales/own.csv", "csv"))
    assert result.rows == 1
    also = ingest(context(lake), ingest_step("./.akko/object-store/raw/sales/own.csv", "csv"))
    assert also.rows == 1
    own = ingest_step("raw/banking/customers.csv", "csv", "banking.customers")
    assert ingest(context(lake, "banking"), own).rows == 1  # banking reads its own folder


def test_allowed_paths_cannot_reopen_the_state_folder(lake: Project) -> None:
    text = (lake.root / "akko.yaml").read_text()
    (lake.root / "akko.yaml").write_text(text + "allowed_paths: [.akko, .akko/airflow, .akko/warehouse]\n")
    project = load_project(lake.root)
    for files, fmt in ((f"./{SECRETS}", "json"), ("./.akko/warehouse/**/*.parquet", "parquet")):
        with pytest.raises(AkkoError, match="inside AKKO's state folder"):
            ingest(context(project), ingest_step(files, fmt))
    assert_nothing_landed(project)


def test_a_state_folder_and_warehouse_elsewhere_are_never_sources(
    lake: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AKKO_STATE_DIR outside the project and a warehouse elsewhere, both listed in allowed_paths: refused."""
    state, warehouse = tmp_path / "state", tmp_path / "lakehouse"
    shutil.copytree(lake.root / ".akko", state)
    warehouse.mkdir()
    (warehouse / "t.csv").write_text(f"iban\n{IBAN}\n")
    local_profile(lake.root, f"    catalog: {{type: sql, warehouse: 'file://{warehouse}'}}")
    with (lake.root / "akko.yaml").open("a") as config:
        config.write(f"allowed_paths: ['{state}', '{warehouse}']\n")
    monkeypatch.setenv("AKKO_STATE_DIR", str(state))
    project = load_project(lake.root)
    assert project.warehouse == f"file://{warehouse}"
    refusals = {
        str(state / "airflow" / "akko-dev-secrets.json"): "inside AKKO's state folder",
        f"./{SECRETS}": "inside AKKO's state folder",  # akko.yaml's state_dir is still AKKO's
        str(warehouse / "t.csv"): "inside the warehouse",
    }
    for files, reason in refusals.items():
        fmt = "json" if files.endswith("json") else "csv"
        with pytest.raises(AkkoError, match=reason):
            ingest(context(project), ingest_step(files, fmt))


def test_paths_that_only_look_like_the_state_read_nothing_of_it(lake: Project) -> None:
    """A case variant on a case-sensitive filesystem, %-escapes in a local key: other (missing) files, never the
    secrets; the step fails and nothing lands."""
    for files in (
        "./.AKKO/airflow/akko-dev-secrets.json",
        "raw/sales/%2e%2e/%2e%2e/%2e%2e/airflow/akko-dev-secrets.json",
        "file://" + str(lake.root / ".akko/airflow/%2e%2e/airflow/akko-dev-secrets.json"),
    ):
        with pytest.raises(AkkoError) as raised:
            ingest(context(lake), ingest_step(files, "json"))
        assert not any(secret in str(raised.value) for secret in secrets(lake))
    assert_nothing_landed(lake)


@pytest.fixture
def bind_mount(lake: Project) -> Iterator[Path]:
    """The state folder mounted again inside the project, under another name: what a case variant is on a
    case-insensitive filesystem (another spelling of the same folder, with no symlink to resolve)."""
    alias = lake.root / "data" / "mirror"
    alias.mkdir()
    if (
        os.geteuid() != 0
        or subprocess.run(["mount", "--bind", str(lake.root / ".akko"), str(alias)]).returncode
    ):
        pytest.skip("needs root to bind-mount a folder")
    yield alias
    subprocess.run(["umount", str(alias)], check=True)


def test_another_name_of_the_state_folder_is_the_state_folder(lake: Project, bind_mount: Path) -> None:
    assert os.path.realpath(bind_mount) == str(bind_mount)  # not a symlink: only its identity gives it away
    for files in ("./data/mirror/airflow/akko-dev-secrets.json", "./data/mirror/airflow/*.json"):
        with pytest.raises(AkkoError, match="inside AKKO's state folder"):
            ingest(context(lake), ingest_step(files, "json"))
    with pytest.raises(AkkoError, match="object-store key _akko/staging/p/run/s/x.csv is AKKO's own"):
        ingest(context(lake), ingest_step("./data/mirror/object-store/_akko/staging/p/run/s/x.csv", "csv"))
    assert ingest(context(lake), ingest_step("./data/mirror/object-store/raw/sales/own.csv", "csv")).rows == 1
    assert_nothing_landed(lake)


def test_on_an_s3_store_the_warehouse_and_akko_prefixes_are_refused(lake: Project) -> None:
    local_profile(
        lake.root,
        "    catalog: {type: sql, warehouse: 's3://lake/warehouse'}",
        "    object_store: {uri: 's3://lake/store', access_key: {env: K}, secret_key: {env: S}}",
    )
    with (lake.root / "akko.yaml").open("a") as config:
        config.write("allowed_paths: ['s3://lake/']\n")  # does not reopen the warehouse
    rule = PathRule.of(load_project(lake.root), "demo")
    assert rule.check("raw/sales/x.csv") is None and rule.check("s3a://lake/store/raw/sales/*.csv") is None
    refused = {
        "s3://lake/warehouse/banking/accounts/data/x.parquet": "inside the warehouse",
        "s3a://LAKE/warehouse/banking/x.parquet": "inside the warehouse",
        "s3://lake/store/%2e%2e/warehouse/x.parquet": "inside the warehouse",
        "raw/sales/../../../warehouse/x.parquet": "inside the warehouse",
        "s3://lake/*/banking/*.parquet": "a folder holding the warehouse",
        "s3://lake/store/_akko/staging/x.csv": "is AKKO's own",
        "s3://lake/store/*/staging/x.csv": "a folder holding AKKO's own object-store folder",
        "raw/banking/x.csv": "outside the folders of team 'demo'",
        "s3://lake/store/raw/banking/x.csv": "outside the folders of team 'demo'",
    }
    for written, reason in refused.items():
        found = rule.check(written)
        assert found is not None and reason in (found.reason or ""), (written, found)

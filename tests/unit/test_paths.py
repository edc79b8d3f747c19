"""Paths in specs stay inside the project: `files` outside the project folder, the profile's object store and
akko.yaml's `allowed_paths` are refused by `akko validate` (located) and again by the running step (an AkkoError
naming the step), by real path. Real files and symlinks in tmp_path, no mocks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akko_orchestrator.cli.main import app
from akko_orchestrator.config.paths import ALLOW_HINT, PathRule, is_within
from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.runtime.context import StepContext
from akko_orchestrator.runtime.ingest import list_files, load_file, stage_file
from akko_orchestrator.runtime.spark_steps import check_sources, read_source
from akko_orchestrator.spec.models import IngestSource, IngestStep, Output, SparkSource, SparkStep
from akko_orchestrator.spec.validate import validate_path

SPEC_HEAD = "pipeline: {name}\nowner: me\nteam: t\nsteps:\n"
INGEST = (
    '  - id: s{i}\n    kind: ingest\n    source:\n      files: "{files}"\n    output: {{table: raw.t{i}}}\n'
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp/proj (the project), tmp/outside (a secret), tmp/proj-evil (a sibling whose name extends the project's),
    with symlinks in the project pointing out (links/, linked/) and in (data/inside_link.csv)."""
    for name in ("AKKO_PROJECT_DIR", "AKKO_PROFILE", "AKKO_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "proj"
    (project / "pipelines").mkdir(parents=True)
    (project / "akko.yaml").write_text("project: t\nprofiles:\n  local: {engine: embedded}\n")
    for folder in ("outside", "proj-evil", "proj/data", "proj/links"):
        (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / "outside" / "secret.csv").write_text("secret\nhunter2\n")
    (tmp_path / "proj-evil" / "x.csv").write_text("x\n1\n")
    (project / "data" / "a.csv").write_text("id,qty\n1,3\n2,4\n")
    (project / "data" / "inside_link.csv").symlink_to(project / "data" / "a.csv")
    (project / "links" / "ok.csv").write_text("id\n1\n")
    (project / "links" / "secret.csv").symlink_to(tmp_path / "outside" / "secret.csv")
    (project / "linked").symlink_to(tmp_path / "outside", target_is_directory=True)
    return project


def escapes(root: Path) -> dict[str, tuple[str, str]]:
    """Every way out: name -> (`files` as written, the path or URI it really reads)."""
    tmp = root.parent
    secret = str(tmp / "outside" / "secret.csv")
    return {
        "dotdot": ("../outside/secret.csv", secret),
        "absolute": (secret, secret),
        "file_uri": (f"file://{secret}", secret),
        "store_key_climbing": (
            "raw/../../../../outside/secret.csv",
            secret,
        ),  # store: proj/.akko/object-store
        "http": ("https://example.org/data/x.csv", "https://example.org/data/x.csv"),
        "other_bucket": ("s3://other-bucket/landing/x.csv", "s3://other-bucket/landing/x.csv"),
        "sibling_prefix": (str(tmp / "proj-evil" / "x.csv"), str(tmp / "proj-evil" / "x.csv")),
        "symlinked_file": ("./links/secret.csv", secret),
        "symlinked_folder_glob": ("./linked/*.csv", str(tmp / "outside")),
        "glob_matches_a_symlink": ("./links/*.csv", secret),
        "glob_climbing": ("./data/*/../../../outside/*.csv", str(tmp / "outside")),
    }


def write_spec(root: Path, name: str, files: list[str]) -> Path:
    spec = root / "pipelines" / f"{name}.yaml"
    spec.write_text(
        SPEC_HEAD.format(name=name) + "".join(INGEST.format(i=i, files=f) for i, f in enumerate(files))
    )
    return spec


def value_position(spec: Path, files: str) -> tuple[int, int]:
    """1-based line and column of the quoted `files` value in the spec text."""
    for number, line in enumerate(spec.read_text().splitlines(), start=1):
        if line.endswith(f'files: "{files}"'):
            return number, line.index('"') + 1
    raise AssertionError(files)


def ingest(files: str, step_id: str = "land") -> IngestStep:
    return IngestStep(
        id=step_id, kind="ingest", source=IngestSource(files=files), output=Output(table="raw.t")
    )


def context(root: Path) -> StepContext:
    return StepContext(load_project(root), pipeline_id="p", step_id="land", run_id="run-1")


# ------------------------------------------------------------------------------------------------ the rule


def test_folders_are_compared_on_path_components() -> None:
    assert (
        is_within("/proj", "/proj") and is_within("/proj/a/b.csv", "/proj") and is_within("/proj/x", "/proj/")
    )
    assert not is_within("/proj-evil", "/proj") and not is_within("/proj-evil/x.csv", "/proj")
    assert not is_within("/pro", "/proj") and is_within("/anything", "/")
    assert is_within("s3://b/prefix/k", "s3://b/prefix") and not is_within(
        "s3://b/prefix-evil/k", "s3://b/prefix"
    )


def test_sibling_folder_named_like_the_project_is_outside(root: Path) -> None:
    rule = PathRule.of(load_project(root))
    evil = str(root.parent / "proj-evil" / "x.csv")
    assert rule.check(evil) is not None and rule.check(str(root / "data" / "a.csv")) is None


def test_on_an_s3_store_keys_and_uris_stay_in_its_bucket_and_prefix(root: Path) -> None:
    (root / "akko.yaml").write_text(
        "profiles:\n  lake:\n    object_store:\n      uri: s3://bucket/prefix\n"
        "      access_key: {env: K}\n      secret_key: {env: S}\n"
    )
    rule = PathRule.of(load_project(root, "lake"))
    for admitted in (
        "raw/x/*.csv",
        "s3://bucket/prefix/raw/x.csv",
        "s3a://bucket/prefix/raw/*.csv",
        "./data/a.csv",
    ):
        assert rule.check(admitted) is None, admitted
    refused = {
        "raw/../../x.csv": "s3://bucket/x.csv",
        "s3://bucket/prefix-evil/x.csv": "s3://bucket/prefix-evil/x.csv",
        "s3://bucket/other/*.csv": "s3://bucket/other",
        "s3://bucket/prefix/%2e%2e/x.csv": "s3://bucket/x.csv",
        "s3://other/prefix/x.csv": "s3://other/prefix/x.csv",
    }
    for written, real in refused.items():
        outside = rule.check(written)
        assert outside is not None and outside.real == real, written


# ------------------------------------------------------------------------------------------ akko validate


def test_validate_refuses_every_escape_at_its_place_and_keeps_validating(root: Path) -> None:
    cases = escapes(root)
    spec = write_spec(root, "escapes", [files for files, _ in cases.values()])
    inside = ["./data/*.csv", "./data/inside_link.csv", "raw/sales/*.csv", f"file://{root}/data/a.csv"]
    write_spec(root, "fine", inside)
    report = validate_path(root / "pipelines", root)
    assert report.valid_files == ["pipelines/fine.yaml"]
    assert report.invalid_files == ["pipelines/escapes.yaml"]
    assert len(report.issues) == len(cases)
    for index, ((files, real), issue) in enumerate(zip(cases.values(), report.issues, strict=True)):
        line, column = value_position(spec, files)
        assert (issue.file, issue.line, issue.column) == ("pipelines/escapes.yaml", line, column)
        assert issue.field == f"steps[{index}].source.files"
        assert issue.reason.startswith(f"{files!r} resolves to {real}")
        assert "outside the project folder, the object store and `allowed_paths`" in issue.reason
        assert issue.suggestion == ALLOW_HINT
        assert issue.format().startswith(
            f"pipelines/escapes.yaml:{line}:{column}: steps[{index}].source.files: "
        )


def test_validate_checks_spark_sources(root: Path) -> None:
    (root / "pipelines" / "t.py").write_text("def transform(spark, raw, ok):\n    return raw\n")
    spec = root / "pipelines" / "spark.yaml"
    spec.write_text(
        SPEC_HEAD.format(name="spark")
        + "  - id: sp\n    kind: spark\n    script: t.py\n    sources:\n"
        + '      ok: {files: "./data/*.csv"}\n      raw: {files: "./links", format: csv}\n'
        + "    output: {table: raw.sp}\n"
    )
    [issue] = validate_path(spec, root).issues
    secret = root.parent / "outside" / "secret.csv"
    assert (issue.line, issue.column, issue.field) == (10, 20, "steps[0].sources.raw.files")
    assert issue.reason.startswith(
        f"'./links' resolves to {secret} (through {root / 'links' / 'secret.csv'})"
    )


def test_allowed_paths_admit_a_folder_and_uri_prefixes_on_component_boundaries(root: Path) -> None:
    (root / "akko.yaml").write_text(
        'allowed_paths: [../outside, "s3://other-bucket/landing/", "https://example.org/data/"]\n'
    )
    secret = root.parent / "outside" / "secret.csv"
    admitted = [
        "../outside/secret.csv",
        str(secret),
        f"file://{secret}",
        "./links/*.csv",
        "./linked/*.csv",
        "s3://other-bucket/landing/x.csv",
        "https://example.org/data/x.csv",
    ]
    write_spec(root, "admitted", admitted)
    refused = [
        str(root.parent / "proj-evil" / "x.csv"),
        "s3://other-bucket/landing-evil/x.csv",
        "s3://other-bucket/landing/../x.csv",
        "https://example.org/database.csv",
        "https://example.org/data/../secret.csv",
        "http://example.org/data/x.csv",
    ]
    write_spec(root, "refused", refused)
    report = validate_path(root / "pipelines", root)
    assert report.valid_files == ["pipelines/admitted.yaml"]
    assert [i.field for i in report.issues] == [f"steps[{i}].source.files" for i in range(len(refused))]


def test_a_symlink_inside_the_project_pointing_inside_is_accepted(root: Path) -> None:
    (root / "inside_folder").symlink_to(root / "data", target_is_directory=True)
    write_spec(root, "links", ["./data/inside_link.csv", "./inside_folder/*.csv", "./inside_folder/a.csv"])
    assert validate_path(root / "pipelines", root).issues == []


def test_cli_validate_prints_the_located_error(root: Path) -> None:
    spec = write_spec(root, "escape", ["../outside/secret.csv"])
    line, column = value_position(spec, "../outside/secret.csv")
    result = CliRunner().invoke(app, ["--project", str(root), "validate"])
    assert result.exit_code == 1
    stderr = " ".join(result.stderr.split())  # rich may wrap a long line
    assert (
        f"error pipelines/escape.yaml:{line}:{column}: steps[0].source.files: '../outside/secret.csv'"
        in stderr
    )
    assert "`allowed_paths` in akko.yaml" in stderr


# ------------------------------------------------------------------------------------------------ run time


@pytest.mark.parametrize(
    "case",
    [
        "dotdot",
        "absolute",
        "file_uri",
        "store_key_climbing",
        "http",
        "other_bucket",
        "sibling_prefix",
        "symlinked_file",
        "symlinked_folder_glob",
        "glob_matches_a_symlink",
        "glob_climbing",
    ],
)
def test_list_files_refuses_every_escape_naming_step_path_and_allow_list(root: Path, case: str) -> None:
    files, real = escapes(root)[case]
    with pytest.raises(AkkoError) as raised:
        list_files(context(root), ingest(files))
    message = str(raised.value)
    assert message.startswith(f"step 'land': files {files!r} resolves to {real}")
    assert f"project folder {root}" in message and "allowed_paths: none" in message
    assert "`allowed_paths` in akko.yaml" in message


def test_every_file_is_checked_again_before_it_is_read(root: Path) -> None:
    ctx = context(root)
    step = ingest("./data/*.csv")
    found = list_files(ctx, step)
    assert [Path(p).name for p in found] == ["a.csv", "inside_link.csv"]
    assert load_file(ctx, step, found[1]).table.num_rows == 2  # a symlink pointing inside the project
    (root / "data" / "late.csv").symlink_to(root.parent / "outside" / "secret.csv")  # after validation
    with pytest.raises(
        AkkoError, match=r"step 'land': files '\./data/\*\.csv' resolves to .*outside/secret\.csv"
    ):
        list_files(ctx, step)
    late = str(root / "data" / "late.csv")
    with pytest.raises(AkkoError, match=f"resolves to {re.escape(str(root.parent))}/outside/secret.csv"):
        load_file(ctx, step, late)  # a path handed over by list_files (XCom) before the symlink changed
    with pytest.raises(AkkoError, match="outside what profile 'local' may read"):
        stage_file(ctx, step, late)
    assert stage_file(ctx, step, found[0])["staged"].endswith("000000.parquet")


def test_paths_inside_the_project_or_the_store_still_load(root: Path) -> None:
    ctx = context(root)
    ctx.object_store.write_bytes("raw/sales/1.csv", b"id\n1\n")
    assert [Path(p).name for p in list_files(ctx, ingest("raw/sales/*.csv"))] == ["1.csv"]
    for files in (f"file://{root}/data/a.csv", str(root / "data" / "a.csv"), "./data/../data/a.csv"):
        [path] = list_files(ctx, ingest(files))
        assert load_file(ctx, ingest(files), path).table.num_rows == 2


def test_allowed_paths_admit_the_folder_at_run_time(root: Path) -> None:
    (root / "akko.yaml").write_text(f"allowed_paths: [{root.parent / 'outside'}]\n")
    ctx = context(root)
    [path] = list_files(ctx, ingest("../outside/*.csv"))
    assert load_file(ctx, ingest("../outside/*.csv"), path).table.column("secret").to_pylist() == ["hunter2"]
    with pytest.raises(AkkoError, match=f"allowed_paths: {re.escape(str(root.parent / 'outside'))}\\)"):
        list_files(ctx, ingest("../proj-evil/x.csv"))


def spark_step(**sources: str) -> SparkStep:
    return SparkStep(
        id="sp",
        kind="spark",
        script="t.py",
        sources={k: SparkSource(files=v, format="csv") for k, v in sources.items()},
    )


def test_spark_sources_are_checked_before_spark_is_reached(root: Path) -> None:
    ctx = context(root)
    check_sources(ctx, spark_step(ok="./data/*.csv", store="raw/x/*.csv", folder="./data"))
    secret = root.parent / "outside" / "secret.csv"
    with pytest.raises(AkkoError, match=f"step 'sp': files '../outside/secret.csv' resolves to {secret}"):
        check_sources(ctx, spark_step(ok="./data/*.csv", raw="../outside/secret.csv"))
    with pytest.raises(
        AkkoError, match=f"files './links' resolves to {secret} \\(through {root}/links/secret"
    ):
        check_sources(ctx, spark_step(raw="./links"))  # a folder Spark would read, holding a symlink out
    with pytest.raises(AkkoError, match="step 'land': files 's3://other-bucket/x.csv' resolves to"):
        read_source(None, ctx, SparkSource(files="s3://other-bucket/x.csv"))  # type: ignore[arg-type]


def test_a_symlink_loop_inside_a_folder_source_ends(root: Path) -> None:
    (root / "data" / "loop").symlink_to(root / "data", target_is_directory=True)
    check_sources(context(root), spark_step(raw="./data"))
    assert os.path.islink(root / "data" / "loop")

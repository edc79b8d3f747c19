"""akko.yaml `maintenance:`: defaults < namespace < table, `false` turns an operation off, floors refused at
akko.yaml's line and column; the maintenance DAG compiled from the specs' outputs with no catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from akko_orchestrator.config.project import load_project
from akko_orchestrator.errors import ConfigError
from akko_orchestrator.maintenance.report import TableReport

GOOD = """\
maintenance:
  expire_snapshots: {older_than: 2d}
  namespaces:
    demo: {expire_snapshots: {retain_last: 3}, compact: {min_input_files: 10}}
  tables:
    demo.sales: {compact: false, remove_orphan_files: {older_than: 30d}}
    demo.raw: {enabled: false}
"""


def project_with(tmp_path: Path, text: str):
    (tmp_path / "akko.yaml").write_text(text)
    return load_project(tmp_path)


def test_overrides_layer_field_by_field(tmp_path: Path) -> None:
    settings = project_with(tmp_path, GOOD).config.maintenance
    sales = settings.for_table("demo.sales")
    assert sales.compact is None
    assert (sales.expire_snapshots.older_than, sales.expire_snapshots.retain_last) == ("2d", 3)
    assert sales.remove_orphan_files.older_than == "30d"
    other = settings.for_table("demo.other")
    assert other.compact.min_input_files == 10 and other.compact.target_file_size == "128MB"
    assert not settings.for_table("demo.raw").enabled
    elsewhere = settings.for_table("marts.x")
    assert elsewhere.expire_snapshots.retain_last == 10 and elsewhere.compact.min_input_files == 5


@pytest.mark.parametrize(
    ("section", "where", "reason"),
    [
        (
            "expire_snapshots: {older_than: 2h}",
            "akko.yaml:2:34: maintenance.expire_snapshots.older_than",
            "1d",
        ),
        ("remove_orphan_files: {older_than: 1h}", "akko.yaml:2:37", "commit in flight"),
        (
            "compact: {target_file_size: 12XB}",
            "akko.yaml:2:31: maintenance.compact.target_file_size",
            "pattern",
        ),
        (
            "tables: {demo.raw: {enable: false}}",
            "akko.yaml:2:23: maintenance.tables.demo.raw.enable",
            "Extra",
        ),
    ],
)
def test_bad_settings_are_located(tmp_path: Path, section: str, where: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        project_with(tmp_path, f"maintenance:\n  {section}\n")
    message = str(caught.value)
    assert where in message and reason in message, message
    assert "valid boolean" not in message  # `section: false` is allowed: no noise about it


def test_the_dag_lists_the_tables_the_specs_write(tmp_path: Path) -> None:
    from akko_orchestrator.compiler.maintenance_dag import maintained_tables, read_settings
    from akko_orchestrator.compiler.shims import sync_shims

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "akko.yaml").write_text("maintenance: {schedule: '@weekly'}\n")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "mart.yaml").write_text(
        (repo / "pipelines" / "sales_by_region_mart.yaml").read_text()
    )
    tables = maintained_tables(tmp_path)
    # its output, and the check history its checks write
    assert tables == {"akko.check_results": (), "marts.revenue_by_region": ("sales_by_region_mart",)}
    assert read_settings(tmp_path).schedule == "@weekly"
    result = sync_shims(tmp_path / "pipelines", tmp_path / "dags", tmp_path, dbt_graphs=False)
    assert (tmp_path / "dags" / "akko_maintenance.py") in result.written
    (tmp_path / "akko.yaml").write_text("lakehouse: akko\n")
    sync_shims(tmp_path / "pipelines", tmp_path / "dags", tmp_path, dbt_graphs=False)
    assert not (tmp_path / "dags" / "akko_maintenance.py").exists()  # no section: no DAG


def test_the_summary_is_one_short_line() -> None:
    report = TableReport("demo.sales", files_before=200, files_after=2, manifests_before=3, manifests_after=1)
    report.compacted, report.expired, report.orphans = (200, 2), 12, 5
    assert report.summary() == "compact 200->2 files, manifests 3->1, expire 12, orphans 5"
    assert TableReport("demo.x", status="skipped", reason="the table does not exist yet").summary() == (
        "skipped: the table does not exist yet"
    )

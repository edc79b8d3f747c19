"""Which files a spec may read: the project folder, the profile's object store, and akko.yaml's `allowed_paths`.

A spec is data, often written by someone other than whoever runs it, so `files: ../../etc/passwd` (or an absolute
path, a `file://` or foreign URI, an object-store key climbing out with `..`, a symlink out of the project) must
not become a read of anything the process can reach. The one rule lives here, used by `akko validate` (a located
issue) and again by the running step (an AkkoError), since a spec or a symlink may change after validation.

Local paths are compared by real path (os.path.realpath) and URIs by their normalized path, on path-component
boundaries: `/proj-evil` is not inside `/proj`. A glob is checked by its non-glob base folder, and each file it
matches by its own real path. No Airflow here, and nothing runs at parse time.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError

GLOB_CHARS = "*?["
ALLOW_HINT = "to read it, add its folder or URI prefix to `allowed_paths` in akko.yaml"
_SAME_SCHEME = {"s3a": "s3", "s3n": "s3"}  # Hadoop's names for S3 (Spark paths)


def resolve_location(location: str, root: Path, store: str) -> str:
    """A spec path to the full path or URI it reads: `raw/x.csv` is a key in the object store `store`,
    `./data/x.csv` is relative to the project folder `root`, `file://` URIs and absolute paths are local paths,
    other URIs are used as given."""
    if location.startswith("file://"):
        return location.removeprefix("file://")
    if "://" in location:
        return location
    if location.startswith(("./", "../")):
        return str((root / location).resolve())
    if location.startswith("/"):
        return location
    return f"{store.rstrip('/')}/{location}"


def is_glob(location: str) -> bool:
    return any(ch in location for ch in GLOB_CHARS)


def glob_base(pattern: str) -> str:
    """The leading path components without glob characters: the folder a glob lists."""
    parts = pattern.split("/")
    fixed = next((i for i, part in enumerate(parts) if is_glob(part)), len(parts))
    return "/".join(parts[:fixed]) or "/"


def is_within(path: str, folder: str) -> bool:
    """`path` is `folder` or under it, on component boundaries (both already real or normalized)."""
    folder = folder.rstrip("/")
    return path == folder or path.startswith(folder + "/")


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def normalize_uri(uri: str) -> str:
    """`scheme://host/path` with `..` and `.` folded and %-escapes decoded (a server may decode them)."""
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    path = posixpath.normpath("/" + unquote(parts.path).lstrip("/"))
    return f"{_SAME_SCHEME.get(scheme, scheme)}://{parts.netloc.lower()}{path}"


def real(path: str) -> str:
    """What a resolved path or URI really names: the real path of a local file, the normalized URI otherwise."""
    return normalize_uri(path) if is_uri(path) else os.path.realpath(path.removeprefix("file://"))


def local_files(path: str) -> Iterator[str]:
    """What a resolved local path reads now: the paths a glob matches, or the path itself, and everything under
    a folder (Spark reads folders). Lazy, so a caller that stops at the first refused entry never descends
    through a symlink that leaves the allowed folders."""
    if is_uri(path):
        return
    path = path.removeprefix("file://")
    matches = sorted(glob.glob(path, recursive=True)) if is_glob(path) else [path]
    for match in matches:
        if os.path.lexists(match):
            yield match
            if os.path.isdir(match):
                yield from _entries_under(match)


def _entries_under(folder: str) -> Iterator[str]:
    seen: set[str] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        if os.path.realpath(current) in seen:  # a symlink loop
            continue
        seen.add(os.path.realpath(current))
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            yield entry.path
            if entry.is_dir():
                pending.append(entry.path)


@dataclass(frozen=True)
class Outside:
    """A path a spec may not read: as written, as resolved (a file, or a glob's base), and its real path."""

    written: str
    resolved: str
    real: str

    def where(self) -> str:
        through = "" if self.resolved in (self.written, self.real) else f" (through {self.resolved})"
        return f"{self.written!r} resolves to {self.real}{through}"


@dataclass(frozen=True)
class PathRule:
    """What a project's specs may read on one profile. `local`: real paths; `uris`: normalized URI prefixes."""

    root: Path
    store: str
    local: tuple[str, ...]
    uris: tuple[str, ...]
    allowed: tuple[str, ...]  # akko.yaml's `allowed_paths` as written, for messages
    profile: str

    @classmethod
    def of(cls, project: Project) -> PathRule:
        store = project.object_store_uri.rstrip("/")
        entries = project.config.allowed_paths
        roots = [str(project.root), store, *(p if "://" in p else str(project.root / p) for p in entries)]
        local = tuple(real(r) for r in roots if not is_uri(r))
        uris = tuple(real(r) for r in roots if is_uri(r))
        return cls(project.root, store, local, uris, tuple(entries), project.profile_name)

    def resolve(self, location: str) -> str:
        return resolve_location(location, self.root, self.store)

    def admits(self, path: str) -> bool:
        """A resolved path or URI is inside the project, the object store, or an allowed folder or prefix."""
        target = real(path)
        return any(is_within(target, root) for root in (self.uris if is_uri(path) else self.local))

    def check(self, written: str) -> Outside | None:
        """A spec's `files` as written: the file, or a glob's base folder, also once `..` are folded (so that
        `./data/*/../../x/*.csv` does not hide its climb behind a glob)."""
        resolved = self.resolve(written)
        if not is_glob(resolved):
            return self.check_file(written, resolved)
        folded = normalize_uri(resolved) if is_uri(resolved) else posixpath.normpath(resolved)
        for base in dict.fromkeys((glob_base(resolved), glob_base(folded))):
            if not self.admits(base):
                return Outside(written, base, real(base))
        return None

    def check_file(self, written: str, path: str) -> Outside | None:
        """One resolved file (or folder) that `written` names or matched."""
        return None if self.admits(path) else Outside(written, path, real(path))

    def first_outside(self, written: str, paths: Iterable[str] = ()) -> Outside | None:
        """`written` itself, then each of `paths` in turn (lazily: it stops at the first refused one)."""
        found = self.check(written)
        if found is not None:
            return found
        return next((o for o in (self.check_file(written, p) for p in paths) if o is not None), None)

    def describe(self) -> str:
        allowed = ", ".join(self.allowed) if self.allowed else "none"
        return f"project folder {self.local[0]}, object store {real(self.store)}, allowed_paths: {allowed}"

    def enforce(self, step: str, written: str, paths: Iterable[str] = ()) -> None:
        """Raise an AkkoError naming the step if `written` or one of `paths` is outside what may be read."""
        found = self.first_outside(written, paths)
        if found is not None:
            raise AkkoError(
                f"step '{step}': files {found.where()}, outside what profile '{self.profile}' may read "
                f"({self.describe()}); {ALLOW_HINT}"
            )

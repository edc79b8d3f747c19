"""Which files a spec may read: the project folder, the profile's object store, and akko.yaml's `allowed_paths`,
never AKKO's own state nor another team's data.

A spec is data, often written by someone other than whoever runs it, so `files: ../../etc/passwd` (or an absolute
path, a `file://` or foreign URI, an object-store key climbing out with `..`, a symlink out of the project) must
not become a read of anything the process can reach. The one rule lives here, used by `akko validate` (a located
issue) and again by the running step on each file's real path (an AkkoError), since a spec or a symlink may
change after validation.

Never a source, whatever `allowed_paths` says (`Zone`): AKKO's state folder (`Project.state_dir`, the configured
`state_dir` and `AKKO_STATE_DIR`: the catalog, the Airflow home with its secrets, logs, the stack's passwords), the
warehouse (every team's table files), the catalog's SQLite file, and in the object store AKKO's `_akko/` and, with
akko.yaml `teams`, every key outside the step's team's folders or inside another team's (config/tenancy.py
`Tenancy.file_refusal`). The local object store lives inside the state folder: its keys are judged by that key
rule instead.

Local paths are compared by real path (os.path.realpath) and, for folders that exist, by identity too (device and
inode of every ancestor): on a case-insensitive filesystem `.AKKO/airflow` is `.akko/airflow`, and so is a bind
mount of it. URIs are compared by their normalized path (`..` folded, %-escapes decoded), on path-component
boundaries: `/proj-evil` is not inside `/proj`. A glob is checked by its non-glob base folder, and each file it
matches by its own real path. No Airflow here, and nothing runs at parse time.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from akko_orchestrator.config.project import Project
from akko_orchestrator.config.tenancy import RESERVED_PREFIX, Refusal, Tenancy
from akko_orchestrator.errors import AkkoError

GLOB_CHARS = "*?["
ALLOW_HINT = "to read it, add its folder or URI prefix to `allowed_paths` in akko.yaml"
OUTSIDE = "outside the project folder, the object store and `allowed_paths`"
_SAME_SCHEME = {"s3a": "s3", "s3n": "s3"}  # Hadoop's names for S3 (Spark paths)
Identity = tuple[int, int]  # (st_dev, st_ino) of a folder


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


def identity(path: str) -> Identity | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def ancestry(real_path: str) -> dict[Identity, str]:
    """The identity of every existing folder from `real_path` up to `/`, with its path (nearest first)."""
    found: dict[Identity, str] = {}
    current = real_path
    while True:
        ident = identity(current)
        if ident is not None:
            found.setdefault(ident, current)
        parent = os.path.dirname(current)
        if parent == current:
            return found
        current = parent


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
    """A path a spec may not read: as written, as resolved (a file, or a glob's base), its real path, why not
    (`reason`, None: outside every readable folder) and how to fix it."""

    written: str
    resolved: str
    real: str
    reason: str | None = None
    hint: str = ALLOW_HINT

    def where(self) -> str:
        through = "" if self.resolved in (self.written, self.real) else f" (through {self.resolved})"
        return f"{self.written!r} resolves to {self.real}{through}"


@dataclass(frozen=True)
class Zone:
    """A folder (real local path or normalized URI) that is never a source. `spares_store`: the object store
    lies inside it, and the store's keys are judged by the key rule instead."""

    path: str
    what: str
    hint: str
    ident: Identity | None = None
    spares_store: bool = False

    def holds(self, target: str, ancestors: dict[Identity, str]) -> bool:
        return is_within(target, self.path) or (self.ident is not None and self.ident in ancestors)


STATE_HINT = (
    "AKKO's catalog, Airflow home and secrets are never read by a step, and `allowed_paths` cannot open them; "
    "read files from the project folder or the object store"
)
WAREHOUSE_HINT = "read another table with a sql step (`FROM namespace.table`), through the team's `reads`"


def never_zones(project: Project, store: str) -> tuple[Zone, ...]:
    """AKKO's state folder (wherever this process, akko.yaml and AKKO_STATE_DIR put it), the warehouse and the
    SQLite catalog: never a source."""
    states = {project.state_dir, (project.root / project.config.state_dir).resolve()}
    if os.environ.get("AKKO_STATE_DIR"):
        states.add(Path(os.environ["AKKO_STATE_DIR"]).resolve())
    zones = [_zone(str(s), "AKKO's state folder", STATE_HINT, store, state=True) for s in sorted(states)]
    warehouse = _location(project.warehouse)
    if warehouse is not None:
        zones.append(
            _zone(warehouse, "the warehouse, which holds every team's tables", WAREHOUSE_HINT, store)
        )
    if project.catalog_uri.startswith("sqlite:///"):
        database = project.catalog_uri.removeprefix("sqlite:///").split("?", 1)[0]
        zones.append(_zone(database, "the catalog's database", STATE_HINT, store))
    unique: dict[str, Zone] = {}
    for zone in zones:
        unique.setdefault(zone.path, zone)
    return tuple(unique.values())


def _location(location: str) -> str | None:
    """A warehouse location as a path or URI (None: a REST catalog's warehouse *name*, not a location)."""
    if location.startswith("file:"):
        return unquote(urlsplit(location).path)
    return location if "://" in location or location.startswith("/") else None


def _zone(path: str, what: str, hint: str, store: str, state: bool = False) -> Zone:
    target = real(path)
    spares = state and store != target and is_within(store, target)
    return Zone(target, what, hint, None if is_uri(target) else identity(target), spares)


@dataclass(frozen=True)
class PathRule:
    """What a project's specs may read on one profile, for one team (None: no team, or no `teams:`).
    `local`: real paths; `uris`: normalized URI prefixes; `never`: what no spec reads, whatever is allowed."""

    root: Path
    store: str
    local: tuple[str, ...]
    uris: tuple[str, ...]
    allowed: tuple[str, ...]  # akko.yaml's `allowed_paths` as written, for messages
    profile: str
    never: tuple[Zone, ...] = ()
    tenancy: Tenancy = Tenancy()
    team: str | None = None

    @classmethod
    def of(cls, project: Project, team: str | None = None) -> PathRule:
        store = project.object_store_uri.rstrip("/")
        entries = project.config.allowed_paths
        roots = [str(project.root), store, *(p if "://" in p else str(project.root / p) for p in entries)]
        local = tuple(real(r) for r in roots if not is_uri(r))
        uris = tuple(real(r) for r in roots if is_uri(r))
        never = never_zones(project, real(store))
        tenancy = Tenancy.of(project.config)
        return cls(
            project.root, store, local, uris, tuple(entries), project.profile_name, never, tenancy, team
        )

    def for_team(self, team: str | None) -> PathRule:
        return dataclasses.replace(self, team=team)

    @property
    def store_real(self) -> str:
        return real(self.store)

    def resolve(self, location: str) -> str:
        return resolve_location(location, self.root, self.store)

    def admits(self, path: str) -> bool:
        """A resolved path or URI is one a spec may read (see `check_file`)."""
        return self.check_file(path, path) is None

    def check(self, written: str) -> Outside | None:
        """A spec's `files` as written: the file, or a glob's base folder, also once `..` are folded (so that
        `./data/*/../../x/*.csv` does not hide its climb behind a glob)."""
        resolved = self.resolve(written)
        if not is_glob(resolved):
            return self.check_file(written, resolved)
        folded = normalize_uri(resolved) if is_uri(resolved) else posixpath.normpath(resolved)
        for base in dict.fromkeys((glob_base(resolved), glob_base(folded))):
            found = self.check_file(written, base)
            if found is not None:
                return found
        return None

    def check_file(self, written: str, path: str) -> Outside | None:
        """One resolved file or folder that `written` names or matched (or a glob's base folder)."""
        target = real(path)
        uri = is_uri(path)
        ancestors = {} if uri else ancestry(target)
        key = self._store_key(target, uri, ancestors)
        for zone in self.never:
            if zone.holds(target, ancestors) and not (key is not None and zone.spares_store):
                return Outside(written, path, target, f"inside {zone.what} ({zone.path})", zone.hint)
        if uri:  # nothing lists a URI folder here (Spark reads it whole): no folder holding a zone either
            found = next((z for z in self._uri_zones() if is_within(z.path, target)), None)
            if found is not None:
                return Outside(
                    written, path, target, f"a folder holding {found.what} ({found.path})", found.hint
                )
        if key is not None:
            refusal = self._key_refusal(key, ancestors)
            return None if refusal is None else Outside(written, path, target, *refusal)
        if any(is_within(target, r) for r in (self.uris if uri else self.local)):
            return None
        return Outside(written, path, target)

    def _uri_zones(self) -> list[Zone]:
        reserved = Zone(f"{self.store_real}/{RESERVED_PREFIX}", "AKKO's own object-store folder", STATE_HINT)
        return [z for z in (*self.never, reserved) if is_uri(z.path)]

    def _store_key(self, target: str, uri: bool, ancestors: dict[Identity, str]) -> str | None:
        """The object-store key `target` names (None: not in the store), also through an alias of the store's
        folder (a case variant, a bind mount)."""
        store = self.store_real
        if is_within(target, store):
            return target[len(store) :].strip("/")
        store_id = None if uri else identity(store)
        if store_id is None or store_id not in ancestors:
            return None
        return target[len(ancestors[store_id]) :].strip("/")

    def _key_refusal(self, key: str, ancestors: dict[Identity, str]) -> Refusal | None:
        """The team's object-store folders (config/tenancy.py), and no folder of another team nor `_akko/` by
        identity either (a case variant of its name on a case-insensitive store)."""
        key = posixpath.normpath("/" + key).strip("/")
        team = self.team if self.team in self.tenancy.teams else None  # an undeclared team: refused elsewhere
        refusal = self.tenancy.file_refusal(team, key)
        if refusal is not None:
            return refusal
        own = set(self.tenancy.file_folders(team)) if team else set()
        foreign = {RESERVED_PREFIX: "AKKO"}
        for other in self.tenancy.teams:
            if other != team:
                foreign |= {f: f"team '{other}'" for f in self.tenancy.file_folders(other) if f not in own}
        for folder, owner in foreign.items():
            ident = identity(f"{self.store_real}/{folder}")
            if is_within(key, folder) or (ident is not None and ident in ancestors):
                return (
                    f"object-store key {key} is in {folder}/, a folder of {owner}",
                    "read files under a folder of the step's own team (akko.yaml teams.<team>.files)",
                )
        return None

    def first_outside(self, written: str, paths: Iterable[str] = ()) -> Outside | None:
        """`written` itself, then each of `paths` in turn (lazily: it stops at the first refused one)."""
        found = self.check(written)
        if found is not None:
            return found
        return next((o for o in (self.check_file(written, p) for p in paths) if o is not None), None)

    def describe(self) -> str:
        allowed = ", ".join(self.allowed) if self.allowed else "none"
        return f"project folder {self.local[0]}, object store {real(self.store)}, allowed_paths: {allowed}"

    def explain(self, found: Outside) -> str:
        """Why `found` is refused, in an error message (naming what may be read)."""
        if found.reason is None:
            return f"{found.where()}, outside what profile '{self.profile}' may read ({self.describe()})"
        return f"{found.where()}, {found.reason}, which is never a source"

    @staticmethod
    def reason(found: Outside) -> str:
        """Why `found` is refused, for a located issue."""
        return f"{found.where()}, {found.reason or OUTSIDE}" + (
            ", which is never a source" if found.reason else ""
        )

    def enforce(self, step: str, written: str, paths: Iterable[str] = ()) -> None:
        """Raise an AkkoError naming the step if `written` or one of `paths` may not be read."""
        found = self.first_outside(written, paths)
        if found is not None:
            raise AkkoError(f"step '{step}': files {self.explain(found)}; {found.hint}")

    def enforce_file(self, step: str, written: str, path: str) -> str:
        """One file about to be read: its real path (or normalized URI), which the caller opens, so that what
        is read is what was checked even if a symlink on the way changes meanwhile."""
        self.enforce(step, written, [path])
        return real(path) if not is_uri(path) else path

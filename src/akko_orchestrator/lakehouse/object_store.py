"""The object store where raw files land: a local folder on `local`, an S3-compatible bucket on `cluster`.

Paths in specs: `raw/x.csv` is a key in the object store, `./data/x.csv` is relative to the project folder,
and `file:///...` or `s3://...` are used as given. Specs may read only inside the project, this store and
akko.yaml's `allowed_paths` (config/paths.py). A step's own code gets no `ObjectStore`: it gets keys only
(`key_path`), each checked against its team's folders (runtime/step_views.py `TeamFiles`).
"""

from __future__ import annotations

import io
import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from akko_orchestrator.config.paths import is_within, resolve_location
from akko_orchestrator.config.project import Project
from akko_orchestrator.errors import AkkoError

if TYPE_CHECKING:
    import fsspec
    import pyarrow as pa


@dataclass
class ObjectStore:
    project: Project

    @property
    def root(self) -> str:
        return self.project.object_store_uri.rstrip("/")

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        settings = self.project.profile.object_store
        if not settings.is_s3:
            import fsspec

            return fsspec.filesystem("file", auto_mkdir=True)
        try:
            import s3fs
        except ImportError:
            raise AkkoError("an s3:// object store needs the `s3fs` package: uv add s3fs") from None
        client_kwargs = {"endpoint_url": settings.endpoint, "region_name": settings.region}
        return s3fs.S3FileSystem(
            key=settings.access_key.resolve().get_secret_value(),  # type: ignore[union-attr]
            secret=settings.secret_key.resolve().get_secret_value(),  # type: ignore[union-attr]
            client_kwargs={k: v for k, v in client_kwargs.items() if v},
            config_kwargs={"s3": {"addressing_style": "path"}} if settings.path_style else None,
        )

    def resolve(self, location: str) -> str:
        """A spec path to a full path or URI the filesystem understands (where it may be read from is
        config/paths.py's rule, checked by the steps that read spec paths)."""
        return resolve_location(location, self.project.root, self.root)

    def glob(self, pattern: str) -> list[str]:
        """Matching files, sorted (mapped task indexes must be stable across retries)."""
        resolved = self.resolve(pattern)
        found = self.fs.glob(resolved) if any(c in pattern for c in "*?[") else [resolved]
        found = [f for f in found if self.fs.isfile(f)]
        prefix = "s3://" if resolved.startswith("s3://") else ""
        return sorted(prefix + f if prefix and not f.startswith(prefix) else f for f in found)

    def key_path(self, key: str) -> tuple[str, str]:
        """A key of this store (never a project path, absolute path or URI) as (key, full path): `..` folded and a
        key climbing out of the store refused; on a local store the real path (symlinks followed) must still be
        inside it and the key returned is the real one, so a link cannot stand for another folder."""
        key = normalize_key(key)
        if "://" in self.root and not self.root.startswith("file://"):
            return key, f"{self.root}/{key}"
        root = os.path.realpath(self.root.removeprefix("file://"))
        real = os.path.realpath(os.path.join(root, key))
        if not is_within(real, root):
            raise AkkoError(f"object-store key {key} leads outside the object store (a link): refused")
        return (posixpath.relpath(real, root) if real != root else "."), os.path.join(root, key)

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write a whole object atomically where the store allows it (local: temp file + rename)."""
        return self.write_path(self.resolve(key), data)

    def write_path(self, path: str, data: bytes) -> str:
        """`write_bytes` to a full path or URI of this store."""
        if "://" not in path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
            return path
        with self.fs.open(path, "wb") as handle:
            handle.write(data)
        return path

    def write_csv(self, key: str, table: pa.Table) -> str:
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        return self.write_bytes(key, buffer.getvalue())

    @contextmanager
    def local_file(self, location: str) -> Iterator[str]:
        """A local path holding `location` (a path, or a URI the caller checked): the file itself, or a temporary
        copy of an object in the bucket, removed afterwards (readers such as DuckDB's open a path)."""
        if "://" not in location:
            yield location
            return
        with tempfile.TemporaryDirectory(prefix="akko-object-") as folder:
            copy = os.path.join(folder, posixpath.basename(location) or "object")
            self.fs.get(location, copy)
            yield copy

    def read_bytes(self, location: str) -> bytes:
        with self.fs.open(self.resolve(location), "rb") as handle:
            return handle.read()

    def delete(self, location: str) -> None:
        path = self.resolve(location)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)


def normalize_key(key: str) -> str:
    """`key` with `.` and `..` folded; a path, a URI or a key climbing out of the store is refused."""
    if (
        not isinstance(key, str)
        or not key.strip(" /.")
        or "://" in key
        or key.startswith(("/", "./", "../", "~"))
        or "\\" in key
        or "\x00" in key
    ):
        raise AkkoError(
            f"object-store key {key!r}: give a key relative to the object store (e.g. raw/<team>/data.csv), "
            "not a path, a URI or an empty name"
        )
    folded = posixpath.normpath(key)
    if folded == ".." or folded.startswith("../"):
        raise AkkoError(f"object-store key {key!r} climbs out of the object store: refused")
    return folded

"""The read-only, team-checked views a step's own code gets through `ctx` (runtime/step_api.py): the catalog, a
table, a scan, the team's object-store folders.

Each view keeps the platform object it stands for beside it, in `_HANDLES` (keyed by the view, weakly), not in an
attribute: walking a view's attributes, `vars()` or `__slots__` finds only what it hands over (names, schemas,
snapshots as data, Arrow tables), never a pyiceberg catalog, table or FileIO, an engine or an `ObjectStore`. What
a view does not offer is refused with the way to do it (`__getattr__`), so careless code learns the rule at once.
"""

from __future__ import annotations

import posixpath
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.tenancy import TenancyError
from akko_orchestrator.errors import AkkoError
from akko_orchestrator.lakehouse.object_store import normalize_key

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

    from akko_orchestrator.lakehouse.object_store import ObjectStore
    from akko_orchestrator.runtime.context import StepContext

_HANDLES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class StepWriteRefused(TenancyError):
    """A step's own code tried to change a table or the catalog itself (not retried: it would be refused again)."""

    WAY = (
        "a step's code reads tables but never commits them: return the rows (Arrow, pandas, a list of dicts) for "
        "the step's `output:`, which AKKO writes once it returns, staged, checked and published exactly once per "
        "run (a retry never writes them twice)"
    )


# pyiceberg's methods that change a table or the catalog: asked of a view, refused with the way to write
_TABLE_WRITES = frozenset(
    {
        "append",
        "overwrite",
        "delete",
        "dynamic_partition_overwrite",
        "upsert",
        "add_files",
        "transaction",
        "update_schema",
        "update_spec",
        "update_sort_order",
        "update_snapshot",
        "update_statistics",
        "manage_snapshots",
        "maintenance",
        "refresh",
    }
)
_CATALOG_WRITES = frozenset(
    {
        "create_table",
        "create_table_if_not_exists",
        "create_table_transaction",
        "register_table",
        "drop_table",
        "purge_table",
        "rename_table",
        "commit_table",
        "create_namespace",
        "create_namespace_if_not_exists",
        "drop_namespace",
        "update_namespace_properties",
        "create_view",
        "drop_view",
    }
)


def seal(view: Any, handle: Any, step: str) -> None:
    """Keep `handle` (the platform object `view` stands for) and the step's id beside `view`."""
    _HANDLES[view] = (handle, step)


def handle_of(view: Any) -> Any:
    return _HANDLES[view][0]


def _step(view: Any) -> str:
    return _HANDLES[view][1]


class Sealed:
    """A view whose platform handle lives in `_HANDLES` (`seal`, `handle_of`): no attribute or method of it
    returns the handle."""

    __slots__ = ("__weakref__",)

    def _refuse(self, name: str, writes: frozenset[str], offered: str) -> AttributeError:
        """The error for an attribute the view lacks: a write is refused with the way to write."""
        if name in writes:
            raise StepWriteRefused(f"step '{_step(self)}': {self!r}.{name} refused; {StepWriteRefused.WAY}")
        return AttributeError(f"{self!r} has no attribute {name!r} (it offers {offered})")


class ReadOnlyCatalog(Sealed):
    """The lakehouse as the step's team may read it: tables of its namespaces and `reads`, loaded as read-only
    views. Every table loaded is recorded as read (OpenLineage)."""

    __slots__ = ()

    def __init__(self, ctx: StepContext):
        seal(self, ctx, ctx.step_id)  # the catalog is opened on first use (pyiceberg costs most of a second)

    def _check(self, name: str) -> None:
        guard = handle_of(self).guard
        if guard is not None:
            guard.check_read(name)

    def _catalog(self) -> Catalog:
        return handle_of(self).catalog

    def load_table(self, name: str) -> ReadOnlyTable:
        self._check(name)
        table = ReadOnlyTable(self._catalog().load_table(name), _step(self))
        handle_of(self).lineage.read([table.name])
        return table

    def table_exists(self, name: str) -> bool:
        self._check(name)
        return bool(self._catalog().table_exists(name))

    def list_namespaces(self) -> list[str]:
        """The namespaces the team may read (every one without `teams:`)."""
        names = [".".join(ns) for ns in self._catalog().list_namespaces()]
        return sorted(ns for ns in names if self._readable(ns))

    def list_tables(self, namespace: str) -> list[str]:
        self._check(f"{namespace}.*")
        return sorted(".".join(t) for t in self._catalog().list_tables(namespace))

    def _readable(self, namespace: str) -> bool:
        try:
            self._check(f"{namespace}.*")
        except TenancyError:
            return False
        return True

    def __getattr__(self, name: str) -> Any:
        raise self._refuse(name, _CATALOG_WRITES, "load_table, table_exists, list_namespaces, list_tables")

    def __repr__(self) -> str:
        return "ctx.catalog"


class ReadOnlyTable(Sealed):
    """One table, to read: its schema, partition spec, snapshots and properties (as data) and `scan`."""

    __slots__ = ("name",)

    def __init__(self, table: Table, step: str):
        self.name = ".".join(table.name())
        seal(self, table, step)

    def schema(self) -> Any:
        return handle_of(self).schema()

    def spec(self) -> Any:
        return handle_of(self).spec()

    def current_snapshot(self) -> Any:
        return handle_of(self).current_snapshot()

    def snapshots(self) -> list[Any]:
        return list(handle_of(self).snapshots())

    @property
    def properties(self) -> dict[str, str]:
        return dict(handle_of(self).properties)

    def scan(
        self,
        row_filter: Any = None,
        selected_fields: tuple[str, ...] = ("*",),
        snapshot_id: int | None = None,
        limit: int | None = None,
        case_sensitive: bool = True,
    ) -> ReadOnlyScan:
        """As pyiceberg's `Table.scan` (a filter string or expression, columns, a snapshot, a row limit)."""
        from pyiceberg.expressions import AlwaysTrue

        scan = handle_of(self).scan(
            row_filter=AlwaysTrue() if row_filter is None else row_filter,
            selected_fields=selected_fields,
            snapshot_id=snapshot_id,
            limit=limit,
            case_sensitive=case_sensitive,
        )
        return ReadOnlyScan(scan, _step(self))

    def __getattr__(self, name: str) -> Any:
        offered = "name, schema, spec, current_snapshot, snapshots, properties, scan"
        raise self._refuse(name, _TABLE_WRITES, offered)

    def __repr__(self) -> str:
        return f"table {self.name} (read-only)"


class ReadOnlyScan(Sealed):
    """A planned scan's rows, as Arrow or pandas."""

    __slots__ = ()

    def __init__(self, scan: Any, step: str):
        seal(self, scan, step)

    def to_arrow(self) -> pa.Table:
        return handle_of(self).to_arrow()

    def to_arrow_batch_reader(self) -> pa.RecordBatchReader:
        return handle_of(self).to_arrow_batch_reader()

    def to_pandas(self) -> Any:
        return handle_of(self).to_pandas()

    def __getattr__(self, name: str) -> Any:
        raise self._refuse(name, frozenset(), "to_arrow, to_arrow_batch_reader, to_pandas")

    def __repr__(self) -> str:
        return "read-only scan"


class TeamFiles(Sealed):
    """The object store by key, only inside the team's folders (akko.yaml `teams.<team>.files`, default
    `raw/<team>`; without `teams:` anywhere but AKKO's own `_akko/`): read, write, list, delete."""

    __slots__ = ()

    def __init__(self, store: ObjectStore, check: Callable[[str], None], step: str):
        seal(self, (store, check), step)

    def _path(self, key: str) -> str:
        store, check = handle_of(self)
        given = normalize_key(key)  # a path, a URI or a key climbing out: refused as such first
        check(given)
        real_key, path = store.key_path(given)
        check(real_key)  # a link inside the store may stand for another folder
        return path

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write a whole object (atomically on a local store); returns its full path or URI."""
        path = self._path(key)
        return handle_of(self)[0].write_path(path, bytes(data))

    def write_csv(self, key: str, table: pa.Table) -> str:
        import io

        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        return self.write_bytes(key, buffer.getvalue())

    def read_bytes(self, key: str) -> bytes:
        path = self._path(key)
        with handle_of(self)[0].fs.open(path, "rb") as handle:
            return handle.read()

    def exists(self, key: str) -> bool:
        return bool(handle_of(self)[0].fs.exists(self._path(key)))

    def list(self, prefix: str) -> list[str]:
        """The keys of the files under `prefix` (a folder of the team), sorted."""
        store = handle_of(self)[0]
        path = self._path(prefix)
        root = path[: -len(normalize_key(prefix))].rstrip("/").removeprefix("s3://")
        found = store.fs.find(path) if store.fs.isdir(path) else []
        keys = [posixpath.relpath(str(f).removeprefix("s3://"), root) for f in found]
        return sorted(k for k in keys if self._listed(k))

    def _listed(self, key: str) -> bool:
        try:
            self._path(key)
        except AkkoError:  # a link out of the team's folders: not the team's, not listed
            return False
        return True

    def delete(self, key: str) -> None:
        store = handle_of(self)[0]
        path = self._path(key)
        if store.fs.exists(path):
            store.fs.rm(path, recursive=True)

    def __getattr__(self, name: str) -> Any:
        raise self._refuse(name, frozenset(), "write_bytes, write_csv, read_bytes, exists, list, delete")

    def __repr__(self) -> str:
        return "ctx.object_store"

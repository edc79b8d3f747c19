"""A step's catalog under its team's rules (config/tenancy.py): the catalog itself, but every table loaded,
created, registered, committed, renamed or dropped, and every namespace created or dropped, is checked first.

It is the catalog's own class (a subclass made per guard, sharing the catalog's state), so pyiceberg treats it as
the catalog: tables it loads are bound to it, so their commits (appends, overwrites, branch moves) come back
through `commit_table` here, whoever makes them (AKKO's writer and write-audit-publish, the DuckDB engine's reads,
a python step's own code given `ctx`). Spark and Trino reach tables without it: AKKO checks the tables a Spark
step's plan names and the tables a SQL text reads before handing them over (runtime/transforms.py,
runtime/publish.py). Code that opens a catalog of its own is beyond any check here: isolation against hostile code
needs per-team catalog credentials (e.g. Polaris principal roles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from akko_orchestrator.config.tenancy import TeamGuard

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog


def table_name(catalog: Any, identifier: Any) -> str:
    return ".".join(catalog.identifier_to_tuple(identifier))


class _Guarded:
    """Mixed in before the catalog's class; `_akko_guard` is set on the per-guard subclass."""

    _akko_guard: TeamGuard

    def _read(self, identifier: Any) -> None:
        self._akko_guard.check_read(table_name(self, identifier))

    def _write(self, identifier: Any) -> None:
        self._akko_guard.check_write(table_name(self, identifier))

    def _namespace(self, namespace: Any) -> None:
        self._akko_guard.check_write(table_name(self, namespace) + ".*")

    def load_table(self, identifier, *args, **kwargs):
        self._read(identifier)
        return super().load_table(identifier, *args, **kwargs)  # type: ignore[misc]

    def load_view(self, identifier, *args, **kwargs):
        self._read(identifier)
        return super().load_view(identifier, *args, **kwargs)  # type: ignore[misc]

    def create_table(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().create_table(identifier, *args, **kwargs)  # type: ignore[misc]

    def create_table_transaction(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().create_table_transaction(identifier, *args, **kwargs)  # type: ignore[misc]

    def create_table_if_not_exists(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().create_table_if_not_exists(identifier, *args, **kwargs)  # type: ignore[misc]

    def register_table(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().register_table(identifier, *args, **kwargs)  # type: ignore[misc]

    def drop_table(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().drop_table(identifier, *args, **kwargs)  # type: ignore[misc]

    def purge_table(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().purge_table(identifier, *args, **kwargs)  # type: ignore[misc]

    def rename_table(self, from_identifier, to_identifier, *args, **kwargs):
        self._write(from_identifier)
        self._write(to_identifier)
        return super().rename_table(from_identifier, to_identifier, *args, **kwargs)  # type: ignore[misc]

    def commit_table(self, table, *args, **kwargs):
        self._write(table.name())
        return super().commit_table(table, *args, **kwargs)  # type: ignore[misc]

    def create_view(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().create_view(identifier, *args, **kwargs)  # type: ignore[misc]

    def register_view(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().register_view(identifier, *args, **kwargs)  # type: ignore[misc]

    def drop_view(self, identifier, *args, **kwargs):
        self._write(identifier)
        return super().drop_view(identifier, *args, **kwargs)  # type: ignore[misc]

    def create_namespace(self, namespace, *args, **kwargs):
        self._namespace(namespace)
        return super().create_namespace(namespace, *args, **kwargs)  # type: ignore[misc]

    def create_namespace_if_not_exists(self, namespace, *args, **kwargs):
        self._namespace(namespace)
        return super().create_namespace_if_not_exists(namespace, *args, **kwargs)  # type: ignore[misc]

    def drop_namespace(self, namespace, *args, **kwargs):
        self._namespace(namespace)
        return super().drop_namespace(namespace, *args, **kwargs)  # type: ignore[misc]

    def update_namespace_properties(self, namespace, *args, **kwargs):
        self._namespace(namespace)
        return super().update_namespace_properties(namespace, *args, **kwargs)  # type: ignore[misc]


def catalog_guard(catalog: Catalog) -> TeamGuard | None:
    """The guard a catalog is seen through (None: the catalog itself); engines scope what they read by it."""
    return catalog._akko_guard if isinstance(catalog, _Guarded) else None


def guarded_catalog(catalog: Catalog, guard: TeamGuard) -> Catalog:
    """`catalog` seen through `guard`: the same object state (connections, caches), its own class plus the checks."""
    cls = type(catalog)
    guarded_cls = type(f"TeamGuarded{cls.__name__}", (_Guarded, cls), {"_akko_guard": guard})
    guarded = object.__new__(guarded_cls)
    guarded.__dict__ = catalog.__dict__  # shared, not copied: one catalog, one engine, one metadata cache
    return guarded  # type: ignore[return-value]

"""The Iceberg lakehouse: catalog access, atomic table writes, and the object store for raw files."""

"""The data layer: the DuckDB file, who may read what, the audit log and the cache beside it.

The only package that imports duckdb (:mod:`fitdata.data.store`). Readers open the file
read-only; writers replace it atomically. Access scopes are enforced here, where data are
read, not in the widgets (:mod:`fitdata.data.access`).
"""

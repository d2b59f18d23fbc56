"""fitdata: local-first dashboards over ORS/SRS feedback scores (FIT / KOR) in DuckDB.

Layers, lowest first, one folder each: ``data`` (the only DuckDB importer: store, access,
audit, caches) → ``analytics`` (pure) and ``ingest`` → ``features`` (what each dashboard
computes) → ``outputs`` and ``ui`` → ``server``; imports point down only. Map: docs/architecture.md.
"""

__version__ = "0.1.0"

"""Which SQL a scoped reader may run: SELECTs over its views, checked with DuckDB's own parser.

A scoped reader (:meth:`fitdata.data.store.Reader.scoped`) puts temporary views in front of
the tables, and an unqualified or ``main.``-qualified table name resolves to them. Everything
else a query could name would step around them, so :func:`scope_problem` refuses it:

* a statement other than SELECT (ATTACH, SET, PRAGMA, COPY);
* a catalog- or schema-qualified table (``"file".main.sessions``, ``information_schema.tables``);
* a name that is neither one of the file's tables or the scope's views nor a CTE of the query
  itself: DuckDB also resolves unqualified names to its system views (``duckdb_tables``,
  ``duckdb_views``, ``duckdb_databases``, ``pg_tables``, ``sqlite_master`` ...), which would
  give row counts, the file's path and the text of the scope's own views (a leader's per-kernel
  hash key is in it), and a name with a dot or slash reads a file (``'x.csv'``);
* a table function other than ``range``, ``generate_series`` and ``unnest`` (``query_table``,
  ``read_parquet``, ``duckdb_tables()`` ...);
* a scalar function that reads the connection's settings or variables (``current_setting``,
  ``getvariable``, ``current_database`` ...).

The answer is cached per query text and set of allowed names.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

__all__ = ["REFUSED_FUNCTIONS", "TABLE_FUNCTIONS", "scope_problem"]

#: Table functions a scoped query may use; others (query_table, read_parquet, duckdb_*(), ...)
#: could reach the real tables, other files or the catalog around the scope's views.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})

#: Scalar functions a scoped query may not call: they read the connection's settings,
#: variables or catalog (file paths, memory limits, the database's name).
REFUSED_FUNCTIONS = frozenset(
    {
        "current_setting",
        "getvariable",
        "getenv",
        "current_database",
        "current_catalog",
        "current_schema",
        "current_schemas",
    }
)

_checks: dict[tuple[str, frozenset[str]], str] = {}
_checks_lock = threading.Lock()


def scope_problem(cursor: Any, sql: str, allowed: Iterable[str]) -> str:
    """Why ``sql`` may not run on a scoped reader ("" if it may).

    Args:
        cursor: A DuckDB connection (only its parser is used: ``json_serialize_sql``).
        sql: The query.
        allowed: The table names the query may read: the file's tables and the scope's views
            (lower case). Names of CTEs defined in the query are allowed where they are visible.
    """
    names = frozenset(allowed)
    with _checks_lock:
        if (sql, names) in _checks:
            return _checks[(sql, names)]
    tree = json.loads(
        cursor.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0]
    )
    problem = ""
    if tree.get("error"):
        message = str(tree.get("error_message", ""))
        problem = "only SELECT statements are allowed" if "Only SELECT" in message else message
    else:
        problem = _tree_problem(tree.get("statements", []), names)
    with _checks_lock:
        if len(_checks) > 2000:
            _checks.clear()
        _checks[(sql, names)] = problem
    return problem


def _cte_names(node: dict) -> frozenset[str]:
    entries = (node.get("cte_map") or {}).get("map") or []
    return frozenset(str(e.get("key", "")).lower() for e in entries if isinstance(e, dict))


def _tree_problem(statements: list, allowed: frozenset[str]) -> str:
    """The first thing in the parsed statements that steps around the scope ("" if none).

    Walks the tree with the CTE names visible at each node: a CTE defined in a subquery does
    not hide a system view of the same name outside it.
    """
    stack: list[tuple[Any, frozenset[str]]] = [(statements, frozenset())]
    while stack:
        node, ctes = stack.pop()
        if isinstance(node, list):
            stack.extend((item, ctes) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if "cte_map" in node:
            ctes = ctes | _cte_names(node)
        problem = _node_problem(node, allowed, ctes)
        if problem:
            return problem
        stack.extend((v, ctes) for v in node.values() if isinstance(v, dict | list))
    return ""


def _node_problem(node: dict, allowed: frozenset[str], ctes: frozenset[str]) -> str:
    kind = node.get("type")
    if kind == "BASE_TABLE":
        name = str(node.get("table_name", ""))
        if node.get("catalog_name") or node.get("schema_name") not in ("", "main"):
            return f"the table {'.'.join(node['qualified_name']['path'])} is qualified"
        if any(c in name for c in "./\\"):
            return f"{name} is a file, not a table"  # 'x.csv' reads files
        if name.lower() not in allowed and name.lower() not in ctes:
            return f"{name} is not one of the tables of this database"
    elif kind == "TABLE_FUNCTION":
        name = str((node.get("function") or {}).get("function_name", "")).lower()
        if name not in TABLE_FUNCTIONS:
            return f"the table function {name} is not allowed"
    elif node.get("class") == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name in REFUSED_FUNCTIONS or name.startswith("duckdb_"):
            return f"the function {name} is not allowed"
    return ""

"""What the schema migration tests share: running `fitdata check --migrate` and a file's schema."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fitdata.data.store import reader_for


def migrate(path: Path) -> subprocess.CompletedProcess:
    """Run ``fitdata check --migrate`` on ``path`` in a process of its own (output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "check", "--migrate", "--no-calibration"]
        + ["--db", str(path)],
        capture_output=True,
        text=True,
        timeout=180,
    )


def schema_definition(path: Path) -> tuple[list, list]:
    """Every table's columns (name, position, type, nullability, default) and constraints."""
    reader = reader_for(path)
    columns = reader.rows(
        "SELECT table_name, column_name, column_index, data_type, is_nullable, column_default "
        "FROM duckdb_columns() ORDER BY table_name, column_index"
    )
    checks = reader.rows(
        "SELECT table_name, constraint_type, expression FROM duckdb_constraints() ORDER BY ALL"
    )
    reader.close()
    return columns, checks

"""Dashboard kernels keep strings in Python storage (fitdata.ui.STRING_STORAGE); the CLI not."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import duckdb, pandas as pd
{imports}
frame = duckdb.connect().execute("SELECT 'K-1' AS client_id").df()
column = frame["client_id"]
print(pd.get_option("mode.string_storage"), column.dtype, column.dtype.storage)
"""


def _storage(imports: str) -> list[str]:
    code = PROBE.format(imports=imports)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.split()


def test_any_dashboard_module_sets_python_string_storage() -> None:
    # A notebook imports one builder; the package's __init__ runs first and sets the option.
    assert _storage("from fitdata.ui.team_review import build_team_review") == [
        "python",
        "str",
        "python",
    ]


def test_the_rest_of_fitdata_leaves_pandas_default() -> None:
    assert _storage("import fitdata.features.team_review, fitdata.outputs.report, fitdata.cli") == [
        "auto",
        "str",
        "pyarrow",
    ]

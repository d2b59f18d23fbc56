"""Dashboard kernels keep strings in Python storage (fitdata.ui.STRING_STORAGE); the CLI not.

And fitdata.ui loads one dashboard per kernel, lazily, keeping `from fitdata.ui import ...`.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

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


def test_a_dashboard_kernel_loads_only_its_own_dashboard() -> None:
    """fitdata.ui is lazy: a page imports its own module, not the five others and their code."""
    code = (
        "import sys\n"
        "from fitdata.ui.client_graph import build_client_graph\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('fitdata.ui.'))))\n"
        "import fitdata.ui as ui\n"
        "print(ui.build_team_review.__module__, ui.RegistrationView.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded, names = done.stdout.splitlines()
    assert "fitdata.ui.client_graph" in loaded.split()
    for other in ("group_exercise", "registration", "service", "team_review", "development"):
        assert other not in loaded, loaded
    assert names == "fitdata.ui.team_review RegistrationView"  # the old names still work


def test_every_name_the_package_offers_exists() -> None:
    import fitdata.ui as ui

    for name in ui.__all__:
        assert getattr(ui, name).__name__ == name
    with pytest.raises(AttributeError, match="no attribute 'build_nothing'"):
        _ = ui.build_nothing

"""Dashboard builders: the only part of fitdata that imports ipywidgets and plotly.

One module per dashboard, named like its notebook and its features module
(``fitdata/ui/team_review.py`` beside ``dashboards/team_review.ipynb`` and
``fitdata/features/team_review.py``); each notebook imports its own builder from its own module.
``from fitdata.ui import build_team_review`` works too, but loads only that dashboard when it is
first asked for (:func:`__getattr__`): a kernel serves one page, and importing all six pulled in
every other page's features, the report's PDF and spreadsheet writers and their libraries.

Importing this package sets pandas' string storage to ``"python"`` for the process (see
:data:`STRING_STORAGE`): every dashboard kernel imports it before it reads any data.
"""

from __future__ import annotations

import importlib
from typing import Any

import pandas as pd

#: pandas 3 stores ``str`` columns in pyarrow by default. The dashboards work on small frames
#: (one team's caseload, one client's sessions), where each pyarrow call's fixed cost dominated:
#: at 1 M sessions the team review's status filter took 34 ms with pyarrow and 15 ms with
#: Python storage, a row choice 124 and 67 ms, a team change 340 and 227 ms (median;
#: ``python -m benchmarks.team_review``). Both storages are the same ``str`` dtype with the
#: same semantics; only speed and memory differ. Large string columns stay in DuckDB.
STRING_STORAGE = "python"
pd.set_option("mode.string_storage", STRING_STORAGE)

#: Where each public name lives (loaded on first use).
_LAZY = {
    "ClientGraphView": "fitdata.ui.client_graph",
    "build_client_graph": "fitdata.ui.client_graph",
    "DashboardContext": "fitdata.ui.context",
    "GroupExerciseView": "fitdata.ui.group_exercise",
    "build_group_exercise": "fitdata.ui.group_exercise",
    "RegistrationView": "fitdata.ui.registration",
    "build_registration": "fitdata.ui.registration",
    "ServiceView": "fitdata.ui.service",
    "build_service": "fitdata.ui.service",
    "TeamReviewView": "fitdata.ui.team_review",
    "build_team_review": "fitdata.ui.team_review",
    "TherapistDevelopmentView": "fitdata.ui.therapist_development",
    "build_therapist_development": "fitdata.ui.therapist_development",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """Import the dashboard module that defines ``name`` the first time it is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fitdata.ui' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})

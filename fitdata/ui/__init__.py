"""Dashboard builders: the only part of fitdata that imports ipywidgets and plotly.

Importing this package sets pandas' string storage to ``"python"`` for the process (see
:data:`STRING_STORAGE`): every dashboard kernel imports it before it reads any data.
"""

import pandas as pd

from fitdata.ui.client_graph import ClientGraphView, build_client_graph
from fitdata.ui.context import DashboardContext
from fitdata.ui.group_exercise import GroupExerciseView, build_group_exercise
from fitdata.ui.registration import RegistrationView, build_registration
from fitdata.ui.service import ServiceView, build_service
from fitdata.ui.team_review import TeamReviewView, build_team_review
from fitdata.ui.therapist_development import (
    TherapistDevelopmentView,
    build_therapist_development,
)

#: pandas 3 stores ``str`` columns in pyarrow by default. The dashboards work on small frames
#: (one team's caseload, one client's sessions), where each pyarrow call's fixed cost dominated:
#: at 1 M sessions the team review's status filter took 34 ms with pyarrow and 15 ms with
#: Python storage, a row choice 124 and 67 ms, a team change 340 and 227 ms (median;
#: ``python -m benchmarks.team_review``). Both storages are the same ``str`` dtype with the
#: same semantics; only speed and memory differ. Large string columns stay in DuckDB.
STRING_STORAGE = "python"
pd.set_option("mode.string_storage", STRING_STORAGE)


__all__ = [
    "ClientGraphView",
    "DashboardContext",
    "GroupExerciseView",
    "RegistrationView",
    "ServiceView",
    "TeamReviewView",
    "TherapistDevelopmentView",
    "build_client_graph",
    "build_group_exercise",
    "build_registration",
    "build_service",
    "build_team_review",
    "build_therapist_development",
]

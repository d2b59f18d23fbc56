"""Dashboard builders: the only part of fitdata that imports ipywidgets and plotly."""

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

"""Dashboard builders: the only part of fitdata that imports ipywidgets and plotly."""

from fitdata.ui.client_graph import ClientGraphView, build_client_graph
from fitdata.ui.context import DashboardContext

__all__ = ["ClientGraphView", "DashboardContext", "build_client_graph"]

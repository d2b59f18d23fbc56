"""The client graph dashboard: team -> therapist -> client, and that client's ORS/SRS graph.

The view keeps its state in widget traitlets, so a test can set ``view.team.value`` in plain
Python and read ``view.status.value`` and ``view.figure.data`` — the same things the browser shows.
"""

from __future__ import annotations

import logging
from typing import Any

import ipywidgets as widgets
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.data import queries
from fitdata.ui.charts import Spec, client_graph_spec, no_sessions
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.rules import rules_html
from fitdata.ui.view import DashboardView, Options, builder, set_options

__all__ = ["ClientGraphView", "build_client_graph", "rules_html"]

log = logging.getLogger(__name__)


class ClientGraphView(DashboardView, name="client graph", css="fitdata-client-graph"):
    """Widgets and behaviour of the client graph dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        super().__init__(context)
        tr = self.tr
        self.team, self.therapist = self.team_and_therapist()
        self.client = self.dropdown(tr.text("filter.client"), "client")
        self.status = widgets.HTML().add_class("fitdata-status")
        self.rules = widgets.HTML().add_class("fitdata-rules")

        set_options(self.client, self._client_options())
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec())
        self.figure_box = self.graph_box(self.graph)

        self.team.observe(self.guarded(self._on_team), "value")
        self.therapist.observe(self.guarded(self._on_therapist), "value")
        self.client.observe(self.guarded(self._on_client), "value")

    # -- options -------------------------------------------------------------------------
    def _client_options(self) -> Options:
        if self.team.value is None or self.therapist.value is None:
            return []
        episodes = queries.client_episode_options(
            self.context.reader, self.team.value, self.therapist.value
        )
        tr = self.tr
        options: Options = []
        for r in episodes.itertuples():
            key = "option.client_episode" if r.episode_count > 1 else "option.client"
            label = tr.count_text(
                key,
                r.sessions,
                client=r.client_id,
                sessions=r.sessions,
                started=tr.date(r.first_date),
            )
            options.append((label, f"{r.episode_id}|{r.client_id}"))
        return options

    # -- behaviour -----------------------------------------------------------------------
    def _on_team(self, _change: dict[str, Any]) -> None:
        set_options(self.therapist, self.therapist_options(self.team.value))

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        set_options(self.client, self._client_options())

    def _on_client(self, _change: dict[str, Any]) -> None:
        self.graph.show(self._current_spec())

    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _current_spec(self) -> Spec:
        """Query the chosen client, update the status and rules, and return the figure."""
        context, tr = self.context, self.tr
        if self.client.value is None:
            sessions = no_sessions()
            age_group = "adult"
            title = tr.text("graph.no_client")
        else:
            episode_id, client_id = self.client.value.split("|", 1)
            sessions = queries.client_sessions(context.reader, episode_id, client_id)
            age_group = str(queries.client_profile(context.reader, client_id)["age_group"])
            title = tr.text("graph.title", client=client_id)
        own = sessions[sessions["rater"] == "client"]
        status = client_status(own, age_group, context.config)
        self.status.value = self.status_html(status_sentence(status, tr, context.config))
        self.rules.value = rules_html(tr, context.config, age_group)
        return client_graph_spec(sessions, status, tr, context.config, title=title)

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        controls = self.row([self.team, self.therapist, self.client])
        return self.page([controls, self.message, self.status, self.figure_box, self.rules])


build_client_graph = builder(ClientGraphView, "build_client_graph")

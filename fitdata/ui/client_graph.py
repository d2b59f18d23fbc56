"""The client graph dashboard: team -> therapist -> client, and that client's ORS/SRS graph.

A client of a couple or family episode is shown with the whole episode: every participant on
one graph (:func:`fitdata.ui.charts.episode_graph`), a status sentence under each participant's
name, and a note for each collateral rater's ORS (a parent's rating of a child), which is never
counted as the client's own feedback. Every participant's read is in the audit log (the
queries :func:`fitdata.data.queries.episode_participants` and ``episode_sessions`` record it).
An episode that has ended is told in the past tense with its end, and the graph marks the end
after the last session (:func:`fitdata.features.client_graph.episode_end`).

The view keeps its state in widget traitlets, so a test can set ``view.team.value`` in plain
Python and read ``view.status.value`` and ``view.figure.data`` — the same things the browser shows.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import EpisodeEnd, client_status, status_sentence
from fitdata.data import queries
from fitdata.features.client_graph import episode_end, joint_participants
from fitdata.ui.case_discussion import discussion_panel
from fitdata.ui.charts import (
    ParticipantSeries,
    Spec,
    client_graph_spec,
    episode_graph,
    no_sessions,
    participant_label,
)
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.rules import graph_rules, rules_html, rules_list_html
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
        self.graph = FigureView(self._current_spec(), lang=self.tr.lang)
        self.figure_box = self.graph_box(self.graph)
        # the case discussion panel under the graph (issue 22): record, list, correct
        self.discussion = discussion_panel(
            context, self._episode(), source="client_graph", flags_on_demand=True
        )

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
        self.discussion.set_episode(self._episode())

    def _episode(self) -> str | None:
        return None if self.client.value is None else self.client.value.split("|", 1)[0]

    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _current_spec(self) -> Spec:
        """Query the chosen client, update the status and rules, and return the figure."""
        context, tr = self.context, self.tr
        ended: EpisodeEnd | None = None
        if self.client.value is None:
            sessions = no_sessions()
            age_group = "adult"
            title = tr.text("graph.no_client")
        else:
            episode_id, client_id = self.client.value.split("|", 1)
            format, clients = joint_participants(context.reader, episode_id)
            ended = episode_end(context.reader, episode_id)
            if clients is not None:
                return self._episode_spec(episode_id, format, clients, ended)
            sessions = queries.client_sessions(context.reader, episode_id, client_id)
            age_group = str(queries.client_profile(context.reader, client_id)["age_group"])
            title = tr.text("graph.title", client=client_id)
        own = sessions[sessions["rater"] == "client"]
        status = client_status(own, age_group, context.config)
        sentence = status_sentence(status, tr, context.config, ended=ended)
        self.status.value = self.status_html(sentence)
        self.rules.value = rules_html(tr, context.config, age_group)
        return client_graph_spec(sessions, status, tr, context.config, title=title, ended=ended)

    def _episode_spec(
        self, episode_id: str, kind: str | None, clients: pd.DataFrame, ended: EpisodeEnd | None
    ) -> Spec:
        """Every participant of a couple or family episode: one graph, a sentence each."""
        context, tr, config = self.context, self.tr, self.context.config
        sessions = queries.episode_sessions(context.reader, episode_id)
        series: list[ParticipantSeries] = []
        for position, row in enumerate(clients.itertuples()):
            client_id, age_group = str(row.client_id), str(row.age_group)
            rows = sessions[sessions["client_id"] == client_id].sort_values(["session_no", "rater"])
            own = rows[rows["rater"] == "client"]
            series.append(
                ParticipantSeries(
                    client_id=client_id,
                    role=str(row.role),
                    label=participant_label(str(row.role), client_id, position, tr, format=kind),
                    sessions=rows.reset_index(drop=True),
                    status=client_status(own, age_group, config),
                )
            )
        self.status.value = "".join(self._participant_html(one, ended) for one in series)
        groups = list(dict.fromkeys(one.status.age_group for one in series))
        self.rules.value = rules_list_html(
            html.escape(tr.text("rule.heading")), graph_rules(tr, config, groups)
        )
        title = tr.text(
            f"client_graph.title.{kind or 'episode'}",
            clients=tr.join([one.client_id for one in series]),
        )
        return episode_graph(series, tr, config, title=title, ended=ended)

    def _participant_html(self, one: ParticipantSeries, ended: EpisodeEnd | None) -> str:
        """A participant's name as a heading, their status sentence, a note per rater."""
        tr, config = self.tr, self.context.config
        parts = [
            f'<h4 class="fitdata-participant" style="margin:0.6em 0 0.1em;font-size:1.15em">'
            f"{html.escape(one.label)}</h4>",
            self.status_html(status_sentence(one.status, tr, config, ended=ended)),
        ]
        others = one.sessions[one.sessions["rater"] != "client"].dropna(subset=["ors_total"])
        for rater, rows in others.groupby("rater", sort=True):
            ors = rows.sort_values("session_no")["ors_total"].astype(float)
            parts.append(
                '<p class="fitdata-collateral-note">'
                + html.escape(
                    tr.count_text(
                        "client_graph.collateral_note",
                        len(ors),
                        rating=tr.text(f"episode_graph.collateral.{rater}", who=one.label),
                        sessions=len(ors),
                        first=tr.number(float(ors.iloc[0])),
                        last=tr.number(float(ors.iloc[-1])),
                    )
                )
                + "</p>"
            )
        return f'<div class="fitdata-participant-status">{"".join(parts)}</div>'

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        controls = self.row([self.team, self.therapist, self.client])
        return self.page(
            [controls, self.message, self.status, self.figure_box, self.rules, self.discussion]
        )


build_client_graph = builder(ClientGraphView, "build_client_graph")

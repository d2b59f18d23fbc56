"""The client graph dashboard: team -> therapist -> client, and that client's ORS/SRS graph.

The view keeps its state in widget traitlets, so a test can set ``view.team.value`` in plain
Python and read ``view.status.value`` and ``view.figure.data`` — the same things the browser shows.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.config import RULES, ClinicalConfig
from fitdata.data import queries
from fitdata.i18n import Translator
from fitdata.ui.charts import Spec, client_graph_spec
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

__all__ = ["ClientGraphView", "build_client_graph", "rules_html"]

log = logging.getLogger(__name__)
Options = list[tuple[str, str]]


def _set_options(dropdown: widgets.Dropdown, options: Options) -> None:
    """Replace a dropdown's options and select the first one.

    ipywidgets 8 leaves a dropdown unselected when its options change, which would stop a
    cascade of observers; the index is therefore set explicitly.
    """
    dropdown.options = options
    dropdown.index = 0 if options else None


class ClientGraphView:
    """Widgets and behaviour of the client graph dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        tr = context.tr
        layout = widgets.Layout(width="auto", min_width="260px")
        style = {"description_width": "initial"}
        self.team = widgets.Dropdown(description=tr.text("filter.team"), layout=layout, style=style)
        self.therapist = widgets.Dropdown(
            description=tr.text("filter.therapist"), layout=layout, style=style
        )
        self.client = widgets.Dropdown(
            description=tr.text("filter.client"), layout=layout, style=style
        )
        for dropdown, name in (
            (self.team, "team"),
            (self.therapist, "therapist"),
            (self.client, "client"),
        ):
            dropdown.add_class(f"fitdata-{name}")
        self.status = widgets.HTML().add_class("fitdata-status")
        self.rules = widgets.HTML().add_class("fitdata-rules")
        self.message = widgets.HTML().add_class("fitdata-message")

        _set_options(self.team, self._team_options())
        if not self.team.options:
            self.message.value = f"<p>{html.escape(tr.text('message.empty_database'))}</p>"
        _set_options(self.therapist, self._therapist_options())
        _set_options(self.client, self._client_options())
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec())
        self.figure_box = widgets.VBox([self.graph], layout=widgets.Layout(width="100%")).add_class(
            "fitdata-graph"
        )

        self.team.observe(self._guarded(self._on_team), "value")
        self.therapist.observe(self._guarded(self._on_therapist), "value")
        self.client.observe(self._guarded(self._on_client), "value")

    # -- options -------------------------------------------------------------------------
    def _team_options(self) -> Options:
        teams = queries.team_options(self.context.reader)
        tr = self.context.tr
        return [
            (
                tr.count_text("option.team", row.clients, name=row.name, clients=row.clients),
                row.team_id,
            )
            for row in teams.itertuples()
        ]

    def _therapist_options(self) -> Options:
        if self.team.value is None:
            return []
        therapists = queries.therapist_options(self.context.reader, self.team.value)
        tr = self.context.tr
        return [
            (
                tr.count_text("option.therapist", row.clients, name=row.name, clients=row.clients),
                row.therapist_id,
            )
            for row in therapists.itertuples()
        ]

    def _client_options(self) -> Options:
        if self.team.value is None or self.therapist.value is None:
            return []
        episodes = queries.client_episode_options(
            self.context.reader, self.team.value, self.therapist.value
        )
        tr = self.context.tr
        options: Options = []
        for row in episodes.itertuples():
            key = "option.client_episode" if row.episode_count > 1 else "option.client"
            label = tr.count_text(
                key,
                row.sessions,
                client=row.client_id,
                sessions=row.sessions,
                started=tr.date(row.first_date),
            )
            options.append((label, f"{row.episode_id}|{row.client_id}"))
        return options

    # -- behaviour -----------------------------------------------------------------------
    def _guarded(self, callback: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """Wrap an observer so an error becomes a friendly message, never a traceback."""

        def run(change: dict[str, Any]) -> None:
            self.message.value = ""
            run_guarded("client graph", callback, change, self.message, self.context.tr)

        return run

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

    def _on_team(self, _change: dict[str, Any]) -> None:
        _set_options(self.therapist, self._therapist_options())

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        _set_options(self.client, self._client_options())

    def _on_client(self, _change: dict[str, Any]) -> None:
        self.graph.show(self._current_spec())

    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _current_spec(self) -> Spec:
        """Query the chosen client, update the status and rules, and return the figure."""
        context, tr = self.context, self.context.tr
        if self.client.value is None:
            sessions = pd.DataFrame(
                columns=["session_no", "session_date", "rater", "ors_total", "srs_total"]
            )
            age_group = "adult"
            title = tr.text("graph.no_client")
        else:
            episode_id, client_id = self.client.value.split("|", 1)
            sessions = queries.client_sessions(context.reader, episode_id, client_id)
            age_group = str(queries.client_profile(context.reader, client_id)["age_group"])
            title = tr.text("graph.title", client=client_id)
        own = sessions[sessions["rater"] == "client"]
        status = client_status(own, age_group, context.config)
        self.status.value = (
            f'<p class="fitdata-status-text" style="font-size:1.15em">'
            f"{html.escape(status_sentence(status, tr, context.config))}</p>"
        )
        self.rules.value = self._rules_html(age_group)
        return client_graph_spec(sessions, status, tr, context.config, title=title)

    def _rules_html(self, age_group: str) -> str:
        """Which rules produced what the page shows, with their sources."""
        return rules_html(self.context.tr, self.context.config, age_group)

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        controls = widgets.HBox(
            [self.team, self.therapist, self.client],
            layout=widgets.Layout(flex_flow="row wrap", grid_gap="8px"),
        )
        return widgets.VBox(
            [controls, self.message, self.status, self.figure_box, self.rules]
        ).add_class("fitdata-client-graph")


def rules_html(
    tr: Translator, config: ClinicalConfig, age_group: str, extra: Sequence[str] = ()
) -> str:
    """The "Rules behind this graph" block: cutoff, reliable change and SRS cutoff.

    Args:
        tr: Messages for the page's language.
        config: The thresholds in force.
        age_group: The client's age group (picks the cutoff).
        extra: Further rule sentences to list (e.g. the expected trajectory's method).
    """
    cutoff_key = f"ors_cutoff_{age_group}"
    at_cutoff = (
        "rule.at_cutoff_clinical"
        if config.score_at_cutoff_is_clinical
        else ("rule.at_cutoff_not_clinical")
    )
    at_rc = (
        "rule.at_rc_reliable"
        if config.change_at_threshold_is_reliable
        else ("rule.at_rc_not_reliable")
    )
    cutoff = tr.number(config.ors_cutoff(age_group), decimals=0)
    rc = tr.number(config.ors_reliable_change, decimals=0)
    items = [
        tr.text(
            "rule.cutoff",
            cutoff=cutoff,
            group=tr.text(f"age_group.{age_group}"),
            tie=tr.text(at_cutoff, cutoff=cutoff),
            source=RULES[cutoff_key].source,
        ),
        tr.text(
            "rule.reliable_change",
            rc=rc,
            tie=tr.text(at_rc, rc=rc),
            source=RULES["ors_reliable_change"].source,
        ),
        tr.text(
            "rule.srs_cutoff",
            cutoff=tr.number(config.srs_cutoff, decimals=0),
            source=RULES["srs_cutoff"].source,
        ),
        *extra,
    ]
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return (
        f"<details><summary>{html.escape(tr.text('rule.heading'))}</summary>"
        f"<ul>{listed}</ul></details>"
    )


def build_client_graph(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the client graph dashboard for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build_dashboard("client graph", lambda c: ClientGraphView(c).widget, context)

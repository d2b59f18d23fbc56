"""The therapist development dashboard: team -> therapist, and that therapist's development.

Every number comes from a :class:`fitdata.features.therapist_development.TherapistScope` for the
chosen therapist; the view never sends an id of its own to a query. The state lives in widget
traitlets, so a test can set ``view.therapist.value`` in plain Python and read
``view.outcome_figure.data``, ``view.latest.value`` and the other texts — the same things the
browser shows. The two figures are drawn in :mod:`fitdata.ui.therapist_development_charts`.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import ipywidgets as widgets
import pandas as pd

from fitdata.features.therapist_development import MEASURES, TherapistScope
from fitdata.ui.context import DashboardContext
from fitdata.ui.figure_view import FigureView
from fitdata.ui.rules import (
    cutoff_rule,
    reliable_change_rule,
    reliable_change_tie,
    rule_source,
    rules_list_html,
    srs_cutoff_rule,
)
from fitdata.ui.therapist_development_charts import (
    LEVELS,
    DevelopmentLabels,
    level_row,
    missing,
    outcome_figure,
    profile_figure,
    series,
)
from fitdata.ui.therapist_development_follow_up import MyFollowUpSection
from fitdata.ui.view import DashboardView, builder, set_options

__all__ = ["TherapistDevelopmentView", "build_therapist_development"]

log = logging.getLogger(__name__)

# Table cells: room between the columns, left-aligned like the text around them.
_CELL = 'style="padding:4px 14px;text-align:left"'


class TherapistDevelopmentView(
    DashboardView, name="therapist development", css="fitdata-therapist-development"
):
    """Widgets and behaviour of the therapist development dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        super().__init__(context)
        tr = self.tr
        self.team, self.therapist = self.team_and_therapist()
        self.grouping = self.dropdown(
            tr.text("development.filter.grouping"),
            "grouping",
            options=[
                (tr.text(f"development.grouping.{g}"), g) for g in ("rolling_year", "quarter")
            ],
            value="rolling_year",
        )
        self.measure = self.dropdown(
            tr.text("development.filter.measure"),
            "measure",
            options=[(tr.text(f"development.measure.{m}"), m) for m in MEASURES],
            value="effect_size",
        )
        self.heading = widgets.HTML().add_class("fitdata-dev-heading")
        self.explanation = widgets.HTML().add_class("fitdata-dev-explain")
        self.hidden_note = widgets.HTML().add_class("fitdata-dev-hidden")
        self.latest = widgets.HTML().add_class("fitdata-dev-latest")
        self.profile_text = widgets.HTML().add_class("fitdata-dev-profile-text")
        self.rules = widgets.HTML().add_class("fitdata-dev-rules")
        # "My discussed cases — did it help?" (issue 22): computed when its button is pressed.
        self.follow_up = MyFollowUpSection(context)
        self.scope: TherapistScope | None = None
        self._outcomes = pd.DataFrame()
        self._srs = self._first = self._mix = pd.DataFrame()

        self._load_scope()
        # The charts are plain figures rendered into Output widgets by plotly's JupyterLab
        # renderer, not FigureWidgets: under load anywidget gives up initialising a
        # FigureWidget's model after 2 s ("Failed to initialize model"), after which the
        # chart silently stops following the dropdowns (seen in tests/browser). A rendered
        # figure has no such state; a redraw costs a few hundred ms more.
        self.outcome_output = FigureView(lang=tr.lang)
        self.profile_output = FigureView(lang=tr.lang)
        self._redraw_outcomes()
        self._redraw_profile()
        self._update_texts()
        self.rules.value = self._rules_html()
        self.follow_up.show(self.scope)

        self.team.observe(self.guarded(self._on_team), "value")
        self.therapist.observe(self.guarded(self._on_therapist), "value")
        self.grouping.observe(self.guarded(self._on_grouping), "value")
        self.measure.observe(self.guarded(self._on_measure), "value")

    # -- options -------------------------------------------------------------------------
    # -- behaviour -----------------------------------------------------------------------
    def _load_scope(self) -> None:
        """Open the chosen therapist's scope and read the outcomes for the chosen periods."""
        empty = pd.DataFrame()
        if self.therapist.value is None:
            self.scope, self._outcomes = None, empty
            self._srs, self._first, self._mix = empty, empty, empty
            return
        self.scope = TherapistScope(
            self.context.reader,
            self.therapist.value,
            config=self.context.config,
            comparison_reader=self.context.aggregate_reader,
        )
        self._outcomes = self.scope.outcomes(self.grouping.value)
        self._srs = self.scope.srs_profile()
        self._first = self.scope.srs_first_vs_outcome()
        self._mix = self.scope.intake_mix()

    def _on_team(self, _change: dict[str, Any]) -> None:
        # Draw once, after the therapist list has been replaced: while it is replaced the
        # dropdown passes through "nothing chosen", which would draw an empty page first.
        with self.holding():
            set_options(self.therapist, self.therapist_options(self.team.value))
        self._show_therapist()

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        self._show_therapist()

    def _show_therapist(self) -> None:
        self._load_scope()
        self._redraw_outcomes()
        self._redraw_profile()
        self._update_texts()
        self.follow_up.show(self.scope)

    def _on_grouping(self, _change: dict[str, Any]) -> None:
        if self.scope is not None:
            self._outcomes = self.scope.outcomes(self.grouping.value)
        self._redraw_outcomes()
        self._update_texts()

    def _on_measure(self, _change: dict[str, Any]) -> None:
        self._redraw_outcomes()
        self._update_texts()

    def _redraw_outcomes(self) -> None:
        self.outcome_figure = outcome_figure(
            self._labels(),
            self._outcomes,
            self._periods(),
            self.measure.value,
            self.grouping.value,
        )
        self.outcome_output.show(self.outcome_figure)

    def _redraw_profile(self) -> None:
        self.profile_figure = profile_figure(
            self._labels(), self.context.config, self._srs, self._first, self._mix
        )
        self.profile_output.show(self.profile_figure)

    # -- labels --------------------------------------------------------------------------
    def _labels(self) -> DevelopmentLabels:
        return DevelopmentLabels(self.tr, None if self.scope is None else self.scope.identity)

    def _periods(self) -> list[str]:
        return self.scope.periods(self.grouping.value) if self.scope is not None else []

    def _series(self, level: str) -> pd.DataFrame:
        return series(self._outcomes, self._periods(), level)

    # -- texts ---------------------------------------------------------------------------
    def _update_texts(self) -> None:
        self.heading.value = self._heading_html()
        self.explanation.value = self._explanation_html()
        self.hidden_note.value = self._hidden_html()
        self.latest.value = self._latest_html()
        self.profile_text.value = self._profile_html()

    def _cutoffs(self) -> dict[str, str]:
        """The ORS cutoff of each age group, formatted."""
        config = self.context.config
        return {
            group: self.context.tr.number(config.ors_cutoff(group), decimals=0)
            for group in ("adult", "adolescent", "child")
        }

    def _heading_html(self) -> str:
        tr = self.context.tr
        if self.scope is None:
            return f"<h2>{html.escape(tr.text('development.no_therapist'))}</h2>"
        who = self.scope.identity
        span = self.scope.span()
        if span is None:
            scope = tr.text("development.scope_empty", team=who.team_name, service=who.service)
        else:
            scope = tr.text(
                "development.scope",
                team=who.team_name,
                service=who.service,
                episodes=self.scope.outcome_rows()["episode_id"].nunique(),
                first=tr.date(span[0]),
                last=tr.date(span[1]),
            )
        return (
            f'<h2 class="fitdata-dev-title">'
            f"{html.escape(tr.text('development.heading', name=who.name))}</h2>"
            f'<p style="font-size:1.1em;max-width:60em">'
            f"{html.escape(tr.text('development.intro'))}</p>"
            f'<p class="fitdata-dev-scope" style="font-size:1.1em">{html.escape(scope)}</p>'
        )

    def _explanation_html(self) -> str:
        tr, config = self.context.tr, self.context.config
        rc = tr.number(config.ors_reliable_change, decimals=0)
        rc_tie = reliable_change_tie(tr, config)
        cutoff_tie = tr.text(
            "development.tie.cutoff_clinical"
            if config.score_at_cutoff_is_clinical
            else "development.tie.cutoff_not_clinical"
        )
        values = {
            "rc": rc,
            "tie": rc_tie,
            "source": rule_source(tr, "ors_reliable_change"),
        }
        if self.measure.value == "pct_recovered":
            values.update(
                tie=cutoff_tie,
                source=rule_source(tr, "ors_cutoff_adult"),
                **self._cutoffs(),
            )
        text = tr.text(f"development.explain.{self.measure.value}", **values)
        note = tr.text(f"development.grouping_note.{self.grouping.value}")
        return (
            f'<p class="fitdata-dev-measure" style="font-size:1.1em;max-width:60em">'
            f"{html.escape(text)}</p><p style='max-width:60em'>{html.escape(note)}</p>"
        )

    def _hidden_html(self) -> str:
        tr, minimum = self.context.tr, self.context.config.min_cell_size
        labels = self._labels()
        items = []
        periods = self._periods()
        for level in LEVELS:
            rows = self._series(level)
            hidden = [
                labels.period_label(p)
                for p in periods
                if self.measure.value not in rows.columns
                or missing(rows.loc[p, self.measure.value])
            ]
            if hidden:
                items.append(
                    tr.text(
                        "development.suppressed_item",
                        level=labels.level_name(level),
                        periods=tr.join(hidden),
                    )
                )
        if not items:
            text = tr.text("development.nothing_hidden", min=minimum)
        else:
            text = tr.text("development.suppressed_note", min=minimum, levels="; ".join(items))
        return f"<p>{html.escape(text)}</p>"

    def _latest_period(self) -> str | None:
        """The last period with a value for the therapist, else the last period."""
        periods = self._periods()
        if not periods:
            return None
        rows = self._series("therapist")
        shown = [
            p for p in periods if "clients" in rows.columns and not missing(rows.loc[p, "clients"])
        ]
        return shown[-1] if shown else periods[-1]

    def _latest_html(self) -> str:
        tr = self.context.tr
        period = self._latest_period()
        if period is None:
            return ""
        labels, levels = self._labels(), LEVELS
        rows = {level: self._series(level).loc[period] for level in levels}
        head = "".join(
            f"<th {_CELL}>{html.escape(labels.level_name(level))}</th>" for level in levels
        )
        body = []
        counts = "".join(
            f'<td {_CELL} data-level="{level}">'
            + (
                tr.text("development.latest.hidden")
                if missing(rows[level].get("clients"))
                else str(int(rows[level]["clients"]))
            )
            + "</td>"
            for level in levels
        )
        clients_label = html.escape(tr.text("development.latest.clients"))
        body.append(f"<tr><th {_CELL}>{clients_label}</th>{counts}</tr>")
        for measure in MEASURES:
            cells = "".join(
                f'<td {_CELL} data-level="{level}" data-measure="{measure}">'
                f"{html.escape(labels.with_interval(measure, rows[level]))}</td>"
                for level in levels
            )
            label = html.escape(tr.text(f"development.measure.{measure}"))
            body.append(f"<tr><th {_CELL}>{label}</th>{cells}</tr>")
        heading = tr.text("development.latest.heading", period=labels.period_label(period))
        return (
            f"<h3>{html.escape(heading)}</h3>"
            '<table class="fitdata-dev-table" style="font-size:1.05em;border-collapse:collapse">'
            f"<thead><tr><th {_CELL}>{html.escape(tr.text('development.latest.measure'))}</th>"
            f"{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )

    def _profile_html(self) -> str:
        tr, config = self.context.tr, self.context.config
        cutoffs = {
            g: tr.number(config.ors_cutoff(g), decimals=0) for g in ("adult", "adolescent", "child")
        }
        means = []
        labels = self._labels()
        for level in LEVELS:
            row = level_row(self._mix, level)
            value = None if row is None else row.get("intake_ors_mean")
            shown = (
                tr.text("development.latest.hidden") if missing(value) else tr.number(float(value))
            )
            means.append(
                tr.text(
                    "development.profile.intake_mean", level=labels.level_name(level), value=shown
                )
            )
        paragraphs = [
            tr.text(
                "development.profile.explain_srs",
                cutoff=tr.number(config.srs_cutoff, decimals=0),
                source=rule_source(tr, "srs_cutoff"),
                min=config.srs_always_max_min_sessions,
                source_40=rule_source(tr, "srs_always_max_min_sessions"),
            ),
            tr.text("development.profile.explain_first"),
            tr.text(
                "development.profile.explain_intake",
                gap=tr.number(2 * config.ors_reliable_change, decimals=0),
                levels="; ".join(means),
                **cutoffs,
            ),
        ]
        return "".join(
            f'<p style="font-size:1.05em;max-width:60em">{html.escape(p)}</p>' for p in paragraphs
        )

    def _rules_html(self) -> str:
        tr, config = self.context.tr, self.context.config
        items = [
            tr.text(
                "development.rules.min_cell",
                min=config.min_cell_size,
                source=rule_source(tr, "min_cell_size"),
            ),
            tr.text("development.rules.intervals"),
            tr.text("development.rules.who"),
            reliable_change_rule(tr, config),
            srs_cutoff_rule(tr, config),
            *(cutoff_rule(tr, config, group) for group in ("adult", "adolescent", "child")),
        ]
        heading = f"<b>{html.escape(tr.text('development.rules.heading'))}</b>"
        return rules_list_html(heading, items, expanded=True)

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        controls = self.row([self.team, self.therapist, self.grouping, self.measure])
        outcome_box = self.graph_box(self.outcome_output, "fitdata-dev-outcomes")
        profile_box = self.graph_box(self.profile_output, "fitdata-dev-profile")
        return self.page(
            [
                controls,
                self.message,
                self.heading,
                outcome_box,
                self.explanation,
                self.hidden_note,
                self.latest,
                profile_box,
                self.profile_text,
                self.follow_up.widget,
                self.rules,
            ]
        )


build_therapist_development = builder(TherapistDevelopmentView, "build_therapist_development")

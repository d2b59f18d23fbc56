"""The therapist development dashboard: team -> therapist, and that therapist's development.

Every number comes from a :class:`fitdata.features.therapist_development.TherapistScope` for the
chosen therapist; the view never sends an id of its own to a query. The state lives in widget
traitlets, so a test can set ``view.therapist.value`` in plain Python and read
``view.outcome_figure.data``, ``view.latest.value`` and the other texts — the same things the
browser shows.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fitdata.config import RULES
from fitdata.data import queries
from fitdata.features.therapist_development import INTAKE_BANDS, MEASURES, SRS_BANDS, TherapistScope
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

__all__ = ["TherapistDevelopmentView", "build_therapist_development"]

log = logging.getLogger(__name__)
Options = list[tuple[str, str]]

# Okabe-Ito colours: the therapist stands out, the team and service stay in the background.
LEVEL_COLOURS = {"therapist": "#0072B2", "team": "#E69F00", "service": "#7F7F7F"}
SERVICE_BAND = "rgba(127, 127, 127, 0.18)"
# Horizontal offsets on the time axis so the therapist's and team's intervals do not overlap.
OFFSETS = {"therapist": 0.12, "team": -0.12, "service": 0.0}
# Table cells: room between the columns, left-aligned like the text around them.
_CELL = 'style="padding:4px 14px;text-align:left"'
PERCENT_MEASURES = {"pct_reliable_improvement", "pct_recovered", "pct_unplanned"}


def _set_options(dropdown: widgets.Dropdown, options: Options) -> None:
    """Replace a dropdown's options and select the first (ipywidgets 8 would select none)."""
    dropdown.options = options
    dropdown.index = 0 if options else None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


class TherapistDevelopmentView:
    """Widgets and behaviour of the therapist development dashboard."""

    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        tr = context.tr
        layout = widgets.Layout(width="auto", min_width="260px")
        style = {"description_width": "initial"}
        self.team = widgets.Dropdown(description=tr.text("filter.team"), layout=layout, style=style)
        self.therapist = widgets.Dropdown(
            description=tr.text("filter.therapist"), layout=layout, style=style
        )
        self.grouping = widgets.Dropdown(
            description=tr.text("development.filter.grouping"),
            options=[
                (tr.text(f"development.grouping.{g}"), g) for g in ("rolling_year", "quarter")
            ],
            value="rolling_year",
            layout=layout,
            style=style,
        )
        self.measure = widgets.Dropdown(
            description=tr.text("development.filter.measure"),
            options=[(tr.text(f"development.measure.{m}"), m) for m in MEASURES],
            value="effect_size",
            layout=layout,
            style=style,
        )
        for dropdown, name in (
            (self.team, "team"),
            (self.therapist, "therapist"),
            (self.grouping, "grouping"),
            (self.measure, "measure"),
        ):
            dropdown.add_class(f"fitdata-{name}")
        self.message = widgets.HTML().add_class("fitdata-message")
        self.heading = widgets.HTML().add_class("fitdata-dev-heading")
        self.explanation = widgets.HTML().add_class("fitdata-dev-explain")
        self.hidden_note = widgets.HTML().add_class("fitdata-dev-hidden")
        self.latest = widgets.HTML().add_class("fitdata-dev-latest")
        self.profile_text = widgets.HTML().add_class("fitdata-dev-profile-text")
        self.rules = widgets.HTML().add_class("fitdata-dev-rules")
        self.scope: TherapistScope | None = None
        self._replacing_therapists = False
        self._outcomes = pd.DataFrame()
        self._srs = self._first = self._mix = pd.DataFrame()

        _set_options(self.team, self._team_options())
        if not self.team.options:
            self.message.value = f"<p>{html.escape(tr.text('message.empty_database'))}</p>"
        _set_options(self.therapist, self._therapist_options())
        self._load_scope()
        # The charts are plain figures rendered into Output widgets by plotly's JupyterLab
        # renderer, not FigureWidgets: under load anywidget gives up initialising a
        # FigureWidget's model after 2 s ("Failed to initialize model"), after which the
        # chart silently stops following the dropdowns (seen in tests/browser). A rendered
        # figure has no such state; a redraw costs a few hundred ms more.
        self.outcome_output = FigureView()
        self.profile_output = FigureView()
        self.outcome_figure = self._outcome_figure()
        self.profile_figure = self._profile_figure()
        self.outcome_output.show(self.outcome_figure)
        self.profile_output.show(self.profile_figure)
        self._update_texts()
        self.rules.value = self._rules_html()

        self.team.observe(self._guarded(self._on_team), "value")
        self.therapist.observe(self._guarded(self._on_therapist), "value")
        self.grouping.observe(self._guarded(self._on_grouping), "value")
        self.measure.observe(self._guarded(self._on_measure), "value")

    # -- options -------------------------------------------------------------------------
    def _team_options(self) -> Options:
        tr = self.context.tr
        return [
            (tr.count_text("option.team", r.clients, name=r.name, clients=r.clients), r.team_id)
            for r in queries.team_options(self.context.reader).itertuples()
        ]

    def _therapist_options(self) -> Options:
        if self.team.value is None:
            return []
        tr = self.context.tr
        return [
            (
                tr.count_text("option.therapist", r.clients, name=r.name, clients=r.clients),
                r.therapist_id,
            )
            for r in queries.therapist_options(self.context.reader, self.team.value).itertuples()
        ]

    # -- behaviour -----------------------------------------------------------------------
    def _guarded(self, callback: Callable[[dict[str, Any]], None]) -> Callable[..., None]:
        """Wrap an observer so an error becomes a friendly message, never a traceback."""

        def run(change: dict[str, Any]) -> None:
            self.message.value = ""
            run_guarded("therapist development", callback, change, self.message, self.context.tr)

        return run

    def _show_error(self, text: str) -> None:
        self.message.value = error_html(text)

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
        self._replacing_therapists = True
        try:
            _set_options(self.therapist, self._therapist_options())
        finally:
            self._replacing_therapists = False
        self._show_therapist()

    def _on_therapist(self, _change: dict[str, Any]) -> None:
        if self._replacing_therapists:
            return  # _on_team redraws once the new list is in place
        self._show_therapist()

    def _show_therapist(self) -> None:
        self._load_scope()
        self._redraw_outcomes()
        self._redraw_profile()
        self._update_texts()

    def _on_grouping(self, _change: dict[str, Any]) -> None:
        if self.scope is not None:
            self._outcomes = self.scope.outcomes(self.grouping.value)
        self._redraw_outcomes()
        self._update_texts()

    def _on_measure(self, _change: dict[str, Any]) -> None:
        self._redraw_outcomes()
        self._update_texts()

    def _redraw_outcomes(self) -> None:
        self.outcome_figure = self._outcome_figure()
        self.outcome_output.show(self.outcome_figure)

    def _redraw_profile(self) -> None:
        self.profile_figure = self._profile_figure()
        self.profile_output.show(self.profile_figure)

    # -- labels and formats ----------------------------------------------------------------
    def _level_name(self, level: str) -> str:
        tr = self.context.tr
        if self.scope is None:
            return tr.text(f"development.level.{level}", name="", team="", service="")
        who = self.scope.identity
        return tr.text(
            f"development.level.{level}", name=who.name, team=who.team_name, service=who.service
        )

    def _period_label(self, period: str) -> str:
        year, quarter = period.split("Q")
        return self.context.tr.text("development.quarter", year=year, quarter=quarter)

    def _format(self, measure: str, value: float) -> str:
        tr = self.context.tr
        if measure in PERCENT_MEASURES or measure.startswith("pct"):
            return tr.text("development.percent", value=tr.number(value, decimals=0))
        return tr.number(value, decimals=2)

    def _with_interval(self, measure: str, row: pd.Series) -> str:
        value = row.get(measure)
        low, high = row.get(f"{measure}_ci_low"), row.get(f"{measure}_ci_high")
        if _missing(value):
            return self.context.tr.text("development.latest.hidden")
        if _missing(low) or _missing(high):
            return self._format(measure, value)
        return self.context.tr.text(
            "development.interval",
            value=self._format(measure, value),
            low=self._format(measure, low),
            high=self._format(measure, high),
        )

    def _clients(self, count: float) -> str:
        return self.context.tr.count_text("development.clients", int(count), clients=int(count))

    # -- the outcome chart ---------------------------------------------------------------
    def _periods(self) -> list[str]:
        return self.scope.periods(self.grouping.value) if self.scope is not None else []

    def _series(self, level: str) -> pd.DataFrame:
        """The level's rows on the full time axis (missing periods as empty rows)."""
        frame = self._outcomes
        rows = frame[frame["level"] == level] if len(frame) else frame
        index = pd.Index(self._periods(), name="period")
        if rows.empty:
            return pd.DataFrame(index=index, columns=["clients", "suppressed"])
        return rows.set_index("period").reindex(index)

    def _outcome_figure(self) -> go.Figure:
        tr, measure = self.context.tr, self.measure.value
        periods = self._periods()
        labels = [self._period_label(p) for p in periods]
        traces: list[go.Scatter] = []
        service = self._series("service")
        positions = list(range(len(periods)))
        if len(periods) and measure in service.columns:
            low = service[f"{measure}_ci_low"].tolist()
            high = service[f"{measure}_ci_high"].tolist()
            traces.append(
                go.Scatter(
                    x=positions + positions[::-1],
                    y=[_none(v) for v in high + low[::-1]],
                    fill="toself",
                    fillcolor=SERVICE_BAND,
                    line={"width": 0},
                    mode="lines",
                    hoverinfo="skip",
                    name=tr.text("development.level.service_band"),
                )
            )
        for level in ("service", "team", "therapist"):
            series = self._series(level)
            shown = (
                series[measure].notna().to_numpy()
                if measure in series.columns
                else [False] * len(periods)
            )
            y: list[float | None] = []
            custom: list[list[str] | None] = []
            errors_up: list[float | None] = []
            errors_down: list[float | None] = []
            for period, label, ok in zip(periods, labels, shown, strict=True):
                if not ok:  # suppressed or no episodes: nothing at all reaches the page
                    y.append(None)
                    custom.append(None)
                    errors_up.append(None)
                    errors_down.append(None)
                    continue
                row = series.loc[period]
                value = float(row[measure])
                y.append(value)
                low, high = row[f"{measure}_ci_low"], row[f"{measure}_ci_high"]
                errors_up.append(None if _missing(high) else max(float(high) - value, 0.0))
                errors_down.append(None if _missing(low) else max(value - float(low), 0.0))
                interval = (
                    "–"
                    if _missing(low) or _missing(high)
                    else f"{self._format(measure, low)} – {self._format(measure, high)}"
                )
                custom.append(
                    [
                        f"{self._level_name(level)} · {label}",
                        self._format(measure, value),
                        interval,
                        self._clients(row["clients"]),
                    ]
                )
            mine = level == "therapist"
            traces.append(
                go.Scatter(
                    x=[p + OFFSETS[level] for p in positions],
                    y=y,
                    mode="lines+markers",
                    connectgaps=False,
                    line={
                        "color": LEVEL_COLOURS[level],
                        "width": 4 if mine else 2,
                        "dash": "solid" if mine or level == "service" else "dash",
                    },
                    marker={"size": 12 if mine else 8, "color": LEVEL_COLOURS[level]},
                    error_y=(
                        None
                        if level == "service"
                        else {
                            "type": "data",
                            "symmetric": False,
                            "array": errors_up,
                            "arrayminus": errors_down,
                            "color": LEVEL_COLOURS[level],
                            "thickness": 2 if mine else 1.2,
                            "width": 6 if mine else 4,
                        }
                    ),
                    name=self._level_name(level),
                    customdata=custom,
                    hovertemplate=tr.text("development.hover") + "<extra></extra>",
                )
            )
        figure = go.Figure(data=traces)
        measure_name = tr.text(f"development.measure.{measure}")
        yaxis: dict[str, Any] = {
            "title": {"text": measure_name},
            "zeroline": True,
            "autorange": True,
            "range": None,
            "ticksuffix": "",
        }
        if measure in PERCENT_MEASURES:
            yaxis.update(
                autorange=False, range=[0, 100], ticksuffix="%" if tr.lang == "en" else " %"
            )
        if tr.lang == "nb":
            figure.update_layout(separators=", ")
        figure.update_layout(
            title={
                "text": tr.text("development.chart.title", measure=measure_name),
                "x": 0.01,
                "font": {"size": 20},
            },
            height=560,
            margin={"l": 70, "r": 20, "t": 70, "b": 60},
            xaxis={
                "title": {"text": tr.text(f"development.chart.x_axis.{self.grouping.value}")},
                "tickmode": "array",
                "tickvals": positions,
                "ticktext": labels,
                "range": [-0.5, max(len(periods), 1) - 0.5],
            },
            yaxis=yaxis,
            legend={"orientation": "h", "y": -0.2},
            hovermode="closest",
            template="plotly_white",
            font={"size": 15},
        )
        return figure

    # -- the profile chart ---------------------------------------------------------------
    def _profile_figure(self) -> go.Figure:
        tr, config = self.context.tr, self.context.config
        figure = make_subplots(
            rows=3,
            cols=1,
            vertical_spacing=0.12,
            subplot_titles=(
                tr.text("development.profile.title_srs"),
                tr.text("development.profile.title_first"),
                tr.text("development.profile.title_intake"),
            ),
        )
        cutoff = tr.number(config.srs_cutoff, decimals=0)
        srs, first, mix = self._srs, self._first, self._mix
        srs_categories = [
            tr.text("development.profile.srs_below", cutoff=cutoff),
            tr.text("development.profile.always_40", min=config.srs_always_max_min_sessions),
        ]
        band_labels = [tr.text(f"development.srs_band.{b}", cutoff=cutoff) for b in SRS_BANDS]
        gap = tr.number(2 * config.ors_reliable_change, decimals=0)
        intake_labels = [tr.text(f"development.intake_band.{b}", gap=gap) for b in INTAKE_BANDS]
        for level in ("therapist", "team", "service"):
            name = self._level_name(level)
            # SRS profile: two shares, each with its own denominator and interval.
            row = _level_row(srs, level)
            cells = [
                (row, "pct_sessions_below", "clients"),
                (row, "pct_always_40", "eligible_clients"),
            ]
            figure.add_trace(
                self._bar(level, name, srs_categories, cells, legend=True), row=1, col=1
            )
            cells = [
                (_level_row(first, level, srs_band=band), "pct_reliable_improvement", "clients")
                for band in SRS_BANDS
            ]
            figure.add_trace(self._bar(level, name, band_labels, cells), row=2, col=1)
            row = _level_row(mix, level)
            cells = [(row, f"pct_{band}", f"clients_{band}") for band in INTAKE_BANDS]
            figure.add_trace(self._bar(level, name, intake_labels, cells), row=3, col=1)
        suffix = "%" if tr.lang == "en" else " %"
        for index in (1, 2, 3):
            figure.update_yaxes(
                range=[0, 100],
                ticksuffix=suffix,
                title_text=tr.text("development.profile.y_percent"),
                row=index,
                col=1,
            )
        if tr.lang == "nb":
            figure.update_layout(separators=", ")
        figure.update_layout(
            barmode="group",
            height=1100,
            margin={"l": 70, "r": 20, "t": 60, "b": 40},
            legend={"orientation": "h", "y": 1.06},
            template="plotly_white",
            font={"size": 15},
            hovermode="closest",
        )
        return figure

    def _bar(
        self,
        level: str,
        name: str,
        categories: list[str],
        cells: list[tuple[pd.Series | None, str, str]],
        *,
        legend: bool = False,
    ) -> go.Bar:
        """One level's bars; a suppressed or missing cell sends no number to the page."""
        y: list[float | None] = []
        text: list[str] = []
        custom: list[list[str] | None] = []
        errors_up: list[float | None] = []
        errors_down: list[float | None] = []
        for category, (row, column, count_column) in zip(categories, cells, strict=True):
            value = None if row is None else row.get(column)
            if _missing(value):
                y.append(None)
                text.append("")
                custom.append(None)
                errors_up.append(None)
                errors_down.append(None)
                continue
            value = float(value)
            y.append(value)
            formatted = self._format(column, value)
            text.append(formatted)
            low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
            interval = (
                ""
                if _missing(low) or _missing(high)
                else self.context.tr.text(
                    "development.interval_short",
                    low=self._format(column, low),
                    high=self._format(column, high),
                )
            )
            errors_up.append(None if _missing(high) else max(float(high) - value, 0.0))
            errors_down.append(None if _missing(low) else max(value - float(low), 0.0))
            count = row.get(count_column)
            custom.append(
                [name, category, formatted, interval or self._clients(count)]
                if _missing(count)
                else [name, category, formatted, f"{interval} · {self._clients(count)}".strip(" ·")]
            )
        return go.Bar(
            x=categories,
            y=y,
            name=name,
            legendgroup=level,
            showlegend=legend,
            marker={"color": LEVEL_COLOURS[level]},
            text=text,
            textposition="outside",
            cliponaxis=False,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": errors_up,
                "arrayminus": errors_down,
                "color": "#333333",
                "thickness": 1.2,
                "width": 4,
                "visible": any(e is not None for e in errors_up),
            },
            customdata=custom,
            hovertemplate=self.context.tr.text("development.profile.hover") + "<extra></extra>",
        )

    # -- texts ---------------------------------------------------------------------------
    def _update_texts(self) -> None:
        self.heading.value = self._heading_html()
        self.explanation.value = self._explanation_html()
        self.hidden_note.value = self._hidden_html()
        self.latest.value = self._latest_html()
        self.profile_text.value = self._profile_html()

    def _rc_tie(self) -> str:
        """The tie rule of the reliable change, in words."""
        tr, config = self.context.tr, self.context.config
        key = (
            "rule.at_rc_reliable"
            if config.change_at_threshold_is_reliable
            else "rule.at_rc_not_reliable"
        )
        return tr.text(key, rc=tr.number(config.ors_reliable_change, decimals=0))

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
        rc_tie = self._rc_tie()
        cutoff_tie = tr.text(
            "development.tie.cutoff_clinical"
            if config.score_at_cutoff_is_clinical
            else "development.tie.cutoff_not_clinical"
        )
        values = {
            "rc": rc,
            "tie": rc_tie,
            "source": RULES["ors_reliable_change"].source,
        }
        if self.measure.value == "pct_recovered":
            values.update(
                tie=cutoff_tie,
                source=RULES["ors_cutoff_adult"].source,
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
        items = []
        periods = self._periods()
        for level in ("therapist", "team", "service"):
            series = self._series(level)
            missing = [
                self._period_label(p)
                for p in periods
                if self.measure.value not in series.columns
                or _missing(series.loc[p, self.measure.value])
            ]
            if missing:
                items.append(
                    tr.text(
                        "development.suppressed_item",
                        level=self._level_name(level),
                        periods=tr.join(missing),
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
        series = self._series("therapist")
        shown = [
            p
            for p in periods
            if "clients" in series.columns and not _missing(series.loc[p, "clients"])
        ]
        return shown[-1] if shown else periods[-1]

    def _latest_html(self) -> str:
        tr = self.context.tr
        period = self._latest_period()
        if period is None:
            return ""
        levels = ("therapist", "team", "service")
        rows = {level: self._series(level).loc[period] for level in levels}
        head = "".join(
            f"<th {_CELL}>{html.escape(self._level_name(level))}</th>" for level in levels
        )
        body = []
        counts = "".join(
            f'<td {_CELL} data-level="{level}">'
            + (
                tr.text("development.latest.hidden")
                if _missing(rows[level].get("clients"))
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
                f"{html.escape(self._with_interval(measure, rows[level]))}</td>"
                for level in levels
            )
            label = html.escape(tr.text(f"development.measure.{measure}"))
            body.append(f"<tr><th {_CELL}>{label}</th>{cells}</tr>")
        heading = tr.text("development.latest.heading", period=self._period_label(period))
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
        mix = self._mix
        for level in ("therapist", "team", "service"):
            row = _level_row(mix, level)
            value = None if row is None else row.get("intake_ors_mean")
            shown = (
                tr.text("development.latest.hidden") if _missing(value) else tr.number(float(value))
            )
            means.append(
                tr.text(
                    "development.profile.intake_mean", level=self._level_name(level), value=shown
                )
            )
        paragraphs = [
            tr.text(
                "development.profile.explain_srs",
                cutoff=tr.number(config.srs_cutoff, decimals=0),
                source=RULES["srs_cutoff"].source,
                min=config.srs_always_max_min_sessions,
                source_40=RULES["srs_always_max_min_sessions"].source,
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
                source=RULES["min_cell_size"].source,
            ),
            tr.text("development.rules.intervals"),
            tr.text("development.rules.who"),
            tr.text(
                "rule.reliable_change",
                rc=tr.number(config.ors_reliable_change, decimals=0),
                tie=self._rc_tie(),
                source=RULES["ors_reliable_change"].source,
            ),
            tr.text(
                "rule.srs_cutoff",
                cutoff=tr.number(config.srs_cutoff, decimals=0),
                source=RULES["srs_cutoff"].source,
            ),
        ]
        for group in ("adult", "adolescent", "child"):
            cutoff = tr.number(config.ors_cutoff(group), decimals=0)
            items.append(
                tr.text(
                    "rule.cutoff",
                    cutoff=cutoff,
                    group=tr.text(f"age_group.{group}"),
                    tie=tr.text(
                        "rule.at_cutoff_clinical"
                        if config.score_at_cutoff_is_clinical
                        else "rule.at_cutoff_not_clinical",
                        cutoff=cutoff,
                    ),
                    source=RULES[f"ors_cutoff_{group}"].source,
                )
            )
        listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
        return (
            f"<details open><summary><b>{html.escape(tr.text('development.rules.heading'))}</b>"
            f"</summary><ul>{listed}</ul></details>"
        )

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        controls = widgets.HBox(
            [self.team, self.therapist, self.grouping, self.measure],
            layout=widgets.Layout(flex_flow="row wrap", grid_gap="8px"),
        )
        outcome_box = widgets.VBox(
            [self.outcome_output], layout=widgets.Layout(width="100%")
        ).add_class("fitdata-dev-outcomes")
        profile_box = widgets.VBox(
            [self.profile_output], layout=widgets.Layout(width="100%")
        ).add_class("fitdata-dev-profile")
        return widgets.VBox(
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
                self.rules,
            ]
        ).add_class("fitdata-therapist-development")


def _none(value: object) -> float | None:
    return None if _missing(value) else float(value)


def _level_row(table: pd.DataFrame, level: str, **match: str) -> pd.Series | None:
    """The one row of ``table`` for ``level`` (and e.g. ``srs_band``), or None."""
    if table is None or table.empty:
        return None
    mask = table["level"] == level
    for column, value in match.items():
        mask &= table[column] == value
    rows = table[mask]
    return rows.iloc[0] if len(rows) else None


def build_therapist_development(context: DashboardContext | None = None) -> widgets.Widget:
    """Build the therapist development dashboard for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build_dashboard(
        "therapist development", lambda c: TherapistDevelopmentView(c).widget, context
    )

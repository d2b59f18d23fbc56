"""Team case review: which cases need us today?

A team in its weekly meeting chooses service, team and (optionally) therapist, period,
ongoing/ended and age group; reads a summary line of the warnings that hold NOW, each a button
that filters the list, and beside it the data-quality prompts with their own counts (a form
missing at the last session, SRS 40 every time, not judged against an expected line); reads the
caseload most urgent first (the order of :data:`fitdata.analytics.flags.URGENCY`), sorts it by
another column or picks a preset ("Stagnating", "Alliance warnings", "Not seen lately");
chooses a row to see that client's graph with the expected trajectory and every flag marked,
with what holds now and what held earlier and resolved spelled out beside it; and exports the
list as CSV or Excel for the meeting agenda (the same file ``fitdata review`` writes).

A couple or a family is one case (:attr:`fitdata.features.team_review.Caseload.cases`): one row
naming its participants, its chips the participants' flags named by whose they are, counted
once in the summary line; choosing it draws every participant on one graph
(:func:`fitdata.ui.charts.episode_graph`) with each participant's status and flags under
their label. Individual episodes look as they always did.

Data flow: a team or date change composes the team's caseload in DuckDB
(:func:`fitdata.features.team_review.team_caseload`, cached); every other filter, the flag buttons,
the presets and sorting work on that small frame in pandas; choosing a row queries one client.

The state lives in widget traitlets (``view.team.value``, ``view.flag_filter.value`` for a
warning, ``view.prompt_filter.value`` for a prompt -- choosing one clears the other --,
``view.table.selected``, ``view.table.sort_by``), so tests drive the view in plain Python and
read ``view.table.rows``, ``view.flag_filter.options`` and ``view.figure.data``. The table, its
rows, the legend and the exported list are :mod:`fitdata.ui.team_review_table`.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from typing import Any

import ipywidgets as widgets
import pandas as pd
import plotly.graph_objects as go

from fitdata.analytics.client_status import client_status, status_sentence
from fitdata.analytics.flags import FLAGS
from fitdata.analytics.trajectory import TrajectoryModel
from fitdata.data import queries
from fitdata.data.audit import record_access
from fitdata.features import team_review as cl
from fitdata.features.case_discussions import FlagThen, flags_then
from fitdata.features.group_exercise import case_token, link_key
from fitdata.outputs import team_review as review_files
from fitdata.ui import team_review_table as review_table
from fitdata.ui.case_discussion import DiscussionPanel, discussion_panel
from fitdata.ui.charts import (
    ParticipantSeries,
    Spec,
    client_graph_spec,
    episode_graph,
    no_sessions,
    participant_label,
)
from fitdata.ui.context import DashboardContext
from fitdata.ui.download import DownloadButton
from fitdata.ui.figure_view import FigureView
from fitdata.ui.rules import graph_rules, rules_html, rules_list_html
from fitdata.ui.team_review_table import CaseTable
from fitdata.ui.view import DashboardView, Options, builder, set_options, team_options

__all__ = ["CaseTable", "DownloadButton", "TeamReviewView", "build_team_review"]

log = logging.getLogger(__name__)

#: How many cases of the list the "group exercise" link takes (a group discusses a few).
GROUP_LINK_CASES = 6

#: Most rows the table draws; the export holds every row of the list.
MAX_TABLE_ROWS = 500
ALL = "all"

#: Presets: (flag group, sort column, descending). "Follow-up due" is no flag group: it lists
#: the cases whose last discussion's follow-up date has come, most overdue first (the earliest
#: follow-up date first; :func:`fitdata.features.team_review.follow_up_due`).
PRESETS: dict[str, tuple[str, str, bool]] = {
    "stagnating": ("no_reliable_change", "sessions", True),
    "alliance": ("alliance", "last_srs", False),
    "not_seen": ("not_seen", "weeks_since_last", True),
    "follow_up_due": (ALL, "follow_up_on", False),
}
FOLLOW_UP_PRESET = "follow_up_due"
#: The exports: (format, MIME type).
EXPORTS = (
    ("csv", "text/csv"),
    ("excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
)


class TeamReviewView(DashboardView, name="team review", css="fitdata-team-review"):
    """Widgets and behaviour of the team case review."""

    def __init__(self, context: DashboardContext, *, model: TrajectoryModel | None = None) -> None:
        super().__init__(context)
        tr = self.tr
        reader = context.reader
        self._cache = cl.CaseloadCache()
        self._caseload: cl.Caseload | None = None
        self._joint_keys: set[str] = set()
        self._listed = pd.DataFrame()
        self._cases = pd.DataFrame()  # the caseload's cases with their last discussion
        self._shown_key = ""
        self.model = model if model is not None else cl.trajectory_model(reader)

        self.service = self.dropdown(tr.text("review.filter.service"), "service")
        self.team = self.dropdown(tr.text("filter.team"), "team")
        self.therapist = self.dropdown(tr.text("filter.therapist"), "therapist")
        self.period = self.dropdown(tr.text("review.filter.period"), "period", min_width="200px")
        self.age_group = self.dropdown(
            tr.text("review.filter.age_group"), "age-group", min_width="200px"
        )
        self.status = widgets.ToggleButtons(
            options=[(tr.text(f"review.status.{s}"), s) for s in cl.STATUSES],
            value="ongoing",
            style={"button_width": "auto"},
        ).add_class("fitdata-status-filter")
        self.as_of = widgets.DatePicker(
            description=tr.text("review.filter.as_of"), style={"description_width": "initial"}
        ).add_class("fitdata-as-of")
        self.as_of_note = widgets.HTML().add_class("fitdata-as-of-note")
        self.flag_filter = widgets.ToggleButtons(style={"button_width": "auto"}).add_class(
            "fitdata-flag-filter"
        )
        self.prompt_filter = widgets.ToggleButtons(
            style={"button_width": "auto"}, value=None
        ).add_class("fitdata-prompt-filter")
        self.prompt_heading = widgets.HTML(
            f"<b>{html.escape(tr.text('review.summary.prompts_heading'))}</b>"
        ).add_class("fitdata-prompt-heading")
        self.presets = {
            name: widgets.Button(description=tr.text(f"review.preset.{name}")).add_class(
                f"fitdata-preset-{name.replace('_', '-')}"
            )
            for name in PRESETS
        }
        self.follow_up_only = widgets.Checkbox(
            value=False, description=tr.text("review.follow_up_only"), indent=False
        ).add_class("fitdata-follow-up-only")
        self.table = CaseTable.for_review(tr)
        self.table_note = widgets.HTML().add_class("fitdata-table-note")
        legend = review_table.legend_html(
            tr,
            context.config,
            self.model.lower_percentile,
            min_episodes=self.model.min_episodes,
        )
        self.legend = widgets.HTML(legend).add_class("fitdata-legend")
        self.export_csv, self.export_excel = (
            DownloadButton(
                {"csv": self._csv_file, "excel": self._excel_file}[name],
                self._export_failed,
                label=tr.text(f"review.export.{name}"),
                mime=mime,
            ).add_class(f"fitdata-export-{name}")
            for name, mime in EXPORTS
        )
        self.group_link = widgets.HTML().add_class("fitdata-group-link")
        self.graph_status = widgets.HTML().add_class("fitdata-status")
        self.graph_expected = widgets.HTML().add_class("fitdata-expected-note")
        self.graph_rules = widgets.HTML().add_class("fitdata-rules")
        self.graph_flags = widgets.HTML().add_class("fitdata-case-flags")
        self.discussion: DiscussionPanel = discussion_panel(
            context,
            None,
            source="team_review",
            model=self.model,
            on_saved=self.guarded(self._on_discussion_saved),
        )

        self._fill_initial_options()
        self._load_caseload()
        self._refresh()
        # ``graph`` draws the figure (see fitdata.ui.figure_view for why it is not a
        # FigureWidget); tests read what it shows through :attr:`figure`.
        self.graph = FigureView(self._current_spec(), lang=self.tr.lang)
        self.figure_box = self.graph_box(self.graph)

        self.service.observe(self.guarded(self._on_service), "value")
        self.team.observe(self.guarded(self._on_team), "value")
        self.as_of.observe(self.guarded(self._on_team), "value")
        for box in (self.therapist, self.period, self.age_group, self.status, self.follow_up_only):
            box.observe(self.guarded(self._on_filter), "value")
        self.flag_filter.observe(self.guarded(self._on_flag_button), "value")
        self.prompt_filter.observe(self.guarded(self._on_flag_button), "value")
        self.table.observe(self.guarded(self._on_sort), ["sort_by", "descending"])
        self.table.observe(self.guarded(self._on_select), "selected")
        for name, button in self.presets.items():
            button.on_click(self.guarded_click(lambda preset=name: self.apply_preset(preset)))

    # -- options -------------------------------------------------------------------------
    def _fill_initial_options(self) -> None:
        tr, reader = self.context.tr, self.context.reader
        self._teams = queries.team_options(reader)
        services = sorted(self._teams["service"].unique(), key=queries.natural_key)
        set_options(self.service, [(s, s) for s in services])
        set_options(self.team, self._team_options())
        set_options(
            self.period, [(tr.text(f"review.period.{p}"), p) for p in cl.PERIODS], value="all"
        )
        set_options(
            self.age_group,
            [(tr.text("review.filter.all_ages"), ALL)]
            + [(tr.text(f"choice.age_group.{g}"), g) for g in ("child", "adolescent", "adult")],
        )
        latest = cl.latest_session_date(reader)
        self._latest = latest
        self.as_of.value = latest
        if not services:
            self.show_text(tr.text("message.empty_database"))

    def _team_options(self) -> Options:
        return team_options(self.tr, self._teams[self._teams["service"] == self.service.value])

    def _therapist_options(self) -> Options:
        tr = self.context.tr
        options: Options = [(tr.text("review.filter.all_therapists"), ALL)]
        if self._caseload is None or self._caseload.cases.empty:
            return options
        episodes = self._caseload.cases
        counts = (
            episodes.groupby(["therapist_id", "therapist"], sort=False).size().reset_index(name="n")
        )
        counts = counts.sort_values("therapist", key=lambda s: s.map(queries.natural_key))
        for r in counts.itertuples():
            label = tr.count_text("review.option.therapist", r.n, name=r.therapist, n=r.n)
            options.append((label, r.therapist_id))
        return options

    # -- state ---------------------------------------------------------------------------
    @property
    def as_of_date(self) -> dt.date | None:
        """The reference date in use (the picker's, else the latest session)."""
        return self.as_of.value or self._latest

    def _load_caseload(self) -> None:
        """Compose (or reuse) the caseload of the chosen team at the chosen date."""
        as_of = self.as_of_date
        if self.team.value is None or as_of is None:
            self._caseload = None
        else:
            self._caseload = self._cache.get(
                self.context.reader,
                team_id=self.team.value,
                as_of=as_of,
                config=self.context.config,
                model=self.model,
            )
        self._row_cache: dict[str, dict[str, Any]] = {}
        cases = self._caseload.cases if self._caseload is not None else None
        #: The keys of the couple and family cases (their graph shows every participant).
        self._joint_keys = (
            set(cases.loc[cases["joint"].astype(bool), "key"]) if cases is not None else set()
        )
        self._read_discussions()
        previous = self.therapist.value
        with self.holding():
            set_options(self.therapist, self._therapist_options(), value=previous)
        self._as_of_text()

    def _read_discussions(self) -> None:
        """Each case's last discussion (read again after a discussion is recorded)."""
        if self._caseload is None:
            self._cases = pd.DataFrame()
            return
        self._cases = cl.with_discussions(
            self.context.reader,
            self._caseload,
            self._caseload.cases,
            config=self.context.config,
            model=self.model,
        )

    def _on_discussion_saved(self, _saved: object) -> None:
        """A discussion recorded or corrected: the list's last discussions and their cells."""
        self._read_discussions()
        self._row_cache = {}
        self._refresh()

    def _as_of_text(self) -> None:
        tr = self.context.tr
        as_of = self.as_of_date
        if as_of is None:
            self.as_of_note.value = ""
            return
        key = "review.as_of.latest" if as_of == self._latest else "review.as_of.chosen"
        latest = tr.date(self._latest) if self._latest else "-"
        self.as_of_note.value = (
            f'<span class="fitdata-as-of-text">'
            f"{html.escape(tr.text(key, date=tr.date(as_of), latest=latest))}</span>"
        )

    def _filtered(self) -> pd.DataFrame:
        """The caseload rows that pass every filter except the flag buttons."""
        if self._caseload is None:
            return pd.DataFrame(columns=[*cl.CASE_COLUMNS, *FLAGS])
        therapist = None if self.therapist.value in (None, ALL) else self.therapist.value
        age = None if self.age_group.value in (None, ALL) else self.age_group.value
        return cl.filter_caseload(
            self._cases,
            as_of=self._caseload.as_of,
            therapist_id=therapist,
            period=self.period.value or "all",
            status=self.status.value or "all",
            age_group=age,
        )

    @property
    def flag_group(self) -> str | None:
        """The chosen filter: a key of ``FLAG_GROUPS`` (a warning or a prompt), or None."""
        if self.prompt_filter.value is not None:
            return str(self.prompt_filter.value)
        return None if self.flag_filter.value in (None, ALL) else str(self.flag_filter.value)

    def _refresh(self) -> None:
        """Recount the flags, refilter, resort and redraw the table (no database query)."""
        filtered = self._filtered()
        self._update_flag_buttons(filtered)
        group = self.flag_group
        listed = filtered if group is None else filtered[cl.group_mask(filtered, group)]
        if self.follow_up_only.value and "follow_up_due" in listed.columns:
            listed = listed[listed["follow_up_due"].astype(bool)]
        listed = cl.sort_caseload(
            listed, self.table.sort_by or "flags", descending=self.table.descending
        )
        self._listed = listed
        self._redraw_table()
        self._update_group_link()

    def _update_flag_buttons(self, filtered: pd.DataFrame) -> None:
        """The counts of what holds now: warnings in one row, data-quality prompts in another."""
        tr, config = self.context.tr, self.context.config
        counts = cl.flag_group_counts(filtered)
        values = {
            "stagnation": config.stagnation_sessions,
            "weeks": config.not_seen_weeks,
        }

        def buttons(groups: dict[str, tuple[str, ...]]) -> tuple[Options, list[str]]:
            options: Options = []
            tooltips = []
            for group in groups:
                n = counts[group]
                options.append((tr.count_text(f"review.summary.{group}", n, n=n, **values), group))
                tooltips.append(tr.text(f"review.summary.{group}_tooltip", **values))
            return options, tooltips

        warnings, warning_tips = buttons(cl.WARNING_FILTERS)
        warnings.insert(
            0, (tr.count_text("review.summary.all", len(filtered), n=len(filtered)), ALL)
        )
        warning_tips.insert(0, tr.text("review.summary.all_tooltip"))
        prompts, prompt_tips = buttons(cl.PROMPT_FILTERS)
        with self.holding():
            _set_buttons(self.flag_filter, warnings, warning_tips, default=ALL)
            _set_buttons(self.prompt_filter, prompts, prompt_tips, default=None)

    def _redraw_table(self) -> None:
        tr = self.context.tr
        listed = self._listed
        shown = listed.head(MAX_TABLE_ROWS)
        # A row's cells and chips depend only on the caseload and the language, not on the
        # filters or the order: each is built once per caseload and reused.
        missing = shown[~shown["key"].isin(self._row_cache.keys())]
        if len(missing):
            assert self._caseload is not None  # else nothing is listed
            caseload, context = self._caseload, self.context
            self._row_cache.update(
                review_table.table_rows(
                    missing,
                    caseload.flags,
                    tr=tr,
                    config=context.config,
                    as_of=caseload.as_of,
                    lang=context.lang,
                    episodes=caseload.episodes,
                )
            )
        rows = [self._row_cache[key] for key in shown["key"]]
        named = review_table.whose_styles(rows, tr)  # a couple's chips: whose flag it is
        with self.table.hold_sync():
            if any(code not in self.table.flag_styles for code in named):
                self.table.flag_styles = {**self.table.flag_styles, **named}
            self.table.rows = rows
        if len(listed) > len(shown):
            note = tr.text("review.table.truncated", shown=len(shown), n=len(listed))
        else:
            note = tr.count_text("review.table.count", len(listed), n=len(listed))
        self.table_note.value = f'<span class="fitdata-table-count">{html.escape(note)}</span>'

    # -- the graph -----------------------------------------------------------------------
    @property
    def figure(self) -> go.Figure:
        """The graph the page shows, as a validated ``go.Figure`` (for tests)."""
        return self.graph.figure

    def _flags_now(self, episode_id: str) -> tuple[dt.date, tuple[FlagThen, ...]] | None:
        """The case's current flags as the list shows them, as of the list's date.

        Every participant's, as a discussion stores them
        (:func:`fitdata.features.case_discussions.flags_then`), so the record stores what the
        team saw.
        """
        if self._caseload is None:
            return None
        flags = self._caseload.flags
        mine = (flags["episode_id"].to_numpy(dtype=object) == episode_id) & flags[
            "current"
        ].to_numpy(dtype=bool)
        return self._caseload.as_of, flags_then(flags[mine])

    def _current_spec(self) -> Spec:
        """The chosen row's graph (the first listed row until one is chosen)."""
        context, tr = self.context, self.context.tr
        key = self.table.selected
        if not key and len(self._listed):
            key = str(self._listed["key"].iloc[0])
            with self.holding():
                self.table.selected = key
        self._shown_key = key
        if not key or self._caseload is None:
            empty = no_sessions()
            status = client_status(empty, "adult", context.config)
            self.graph_status.value = (
                f'<p class="fitdata-status-text">{html.escape(tr.text("review.graph.none"))}</p>'
            )
            self.graph_expected.value = ""
            self.graph_rules.value = ""
            self.graph_flags.value = ""
            self.discussion.set_episode(None)
            return client_graph_spec(
                empty, status, tr, context.config, title=tr.text("graph.no_client")
            )
        episode_id = key.split("|", 1)[0]
        self.discussion.set_episode(episode_id, flags_as_of=self._flags_now(episode_id))
        if key in self._joint_keys:
            cases = self._caseload.cases
            return self._case_spec(cases[cases["key"] == key].iloc[0])
        episode_id, client_id = key.split("|", 1)
        flags = self._caseload.flags
        detail = cl.episode_detail(
            context.reader,
            episode_id,
            client_id,
            as_of=self._caseload.as_of,
            config=context.config,
            model=self.model,
            episode_flags=flags[flags["key"] == key],
            lang=context.lang,
        )
        own = detail.sessions[detail.sessions["rater"] == "client"]
        status = client_status(own, detail.age_group, context.config)
        episode = self._caseload.episodes[self._caseload.episodes["key"] == key]
        therapist = str(episode["therapist"].iloc[0]) if len(episode) else ""
        self.graph_status.value = self.status_html(status_sentence(status, tr, context.config))
        self.graph_expected.value = self._expected_html(detail.expected)
        self.graph_flags.value = review_table.flags_html(
            self._caseload, key, tr=tr, config=context.config, lang=context.lang
        )
        self.graph_rules.value = rules_html(
            tr,
            context.config,
            detail.age_group,
            extra=[
                tr.text(
                    "review.rule.expected",
                    percentile=tr.number(100 * self.model.lower_percentile, decimals=0),
                    min=self.model.min_episodes,
                )
            ],
        )
        return client_graph_spec(
            detail.sessions,
            status,
            tr,
            context.config,
            title=tr.text("review.graph.title", client=client_id, therapist=therapist),
            expected=detail.expected,
            lower_percentile=self.model.lower_percentile,
            flag_markers=detail.session_flags,
        )

    def _case_spec(self, case: pd.Series) -> Spec:
        """A couple's or family's case: every participant on one graph, each one's flags.

        Each participant with sessions is one :class:`~fitdata.ui.charts.ParticipantSeries`
        (their sessions, every rater; status; expected trajectory; flags at their sessions);
        one who has none yet is named with a note. One read of the episode's sessions
        (:func:`fitdata.features.team_review.case_detail`).
        """
        context, tr, config = self.context, self.context.tr, self.context.config
        assert self._caseload is not None
        people = cl.case_detail(
            context.reader,
            self._caseload,
            str(case["key"]),
            config=config,
            model=self.model,
            lang=context.lang,
        )
        series: list[ParticipantSeries] = []
        labels: dict[str, str] = {}
        status_parts: list[str] = []
        for position, one in enumerate(people):
            label = participant_label(
                one.role, one.client_id, position, tr, format=str(case["format"])
            )
            labels[one.client_id] = label
            heading = (
                f'<h4 class="fitdata-participant" style="margin:0.6em 0 0.1em">'
                f"{html.escape(label)}</h4>"
            )
            detail = one.detail
            if detail is None:
                note = html.escape(tr.text("review.detail.no_sessions"))
                status_parts.append(f'{heading}<p class="fitdata-status-text">{note}</p>')
                continue
            own = detail.sessions[detail.sessions["rater"] == "client"]
            status = client_status(own, detail.age_group, config)
            status_parts.append(heading + self.status_html(status_sentence(status, tr, config)))
            series.append(
                ParticipantSeries(
                    client_id=one.client_id,
                    role=one.role,
                    label=label,
                    sessions=detail.sessions,
                    status=status,
                    expected=detail.expected,
                    flag_markers=detail.session_flags,
                )
            )
        self.graph_status.value = "".join(status_parts)
        expected = [one.expected for one in series if one.expected is not None]
        both = pd.concat(expected, ignore_index=True) if expected else pd.DataFrame()
        self.graph_expected.value = self._expected_html(both) if len(both) else ""
        self.graph_flags.value = review_table.flags_html(
            self._caseload, str(case["key"]), tr=tr, config=config, lang=context.lang, labels=labels
        )
        ages = list(dict.fromkeys(one.status.age_group for one in series)) or ["adult"]
        rules = graph_rules(tr, config, ages)
        rules.append(
            tr.text(
                "review.rule.expected",
                percentile=tr.number(100 * self.model.lower_percentile, decimals=0),
                min=self.model.min_episodes,
            )
        )
        self.graph_rules.value = rules_list_html(html.escape(tr.text("rule.heading")), rules)
        title = tr.text(
            "review.graph.title_case",
            case=review_files.case_label(case["format"], case["participants"], tr),
            therapist=str(case["therapist"]),
        )
        if not series:
            empty = no_sessions()
            status = client_status(empty, ages[0], config)
            return client_graph_spec(empty, status, tr, config, title=title)
        return episode_graph(
            series, tr, config, title=title, lower_percentile=self.model.lower_percentile
        )

    def _expected_html(self, expected: pd.DataFrame) -> str:
        tr = self.context.tr
        usable = expected[expected["sufficient"].astype(bool)] if len(expected) else expected
        if len(usable):
            counts = usable["n_episodes"].astype(int)
            low, high = (tr.number(n, decimals=0) for n in (counts.min(), counts.max()))
            text = tr.text(
                "review.expected.based_on",
                episodes=low if low == high else f"{low}\u2013{high}",
                percentile=tr.number(100 * self.model.lower_percentile, decimals=0),
            )
        else:
            text = tr.text("review.expected.fallback", min=self.model.min_episodes)
        return f'<p class="fitdata-expected-text">{html.escape(text)}</p>'

    def _redraw_graph(self) -> None:
        self.graph.show(self._current_spec())

    # -- behaviour -----------------------------------------------------------------------
    def _export_failed(self) -> None:
        self.show_error(self.context.tr.text("error.unexpected"))

    def _on_service(self, _change: dict[str, Any]) -> None:
        with self.holding():
            set_options(self.team, self._team_options())
        self._on_team({})

    def _on_team(self, _change: dict[str, Any]) -> None:
        """A new team or date: another caseload, and the first case of its list."""
        self._load_caseload()
        self._refresh()
        self._choose_first(force=True)

    def _on_flag_button(self, change: dict[str, Any]) -> None:
        """A warning or a prompt chosen: one filter at a time, so the other one is let go."""
        with self.holding():
            if change.get("owner") is self.prompt_filter:
                if change.get("new") is not None:
                    self.flag_filter.value = ALL
            else:
                self.prompt_filter.value = None
        self._on_filter(change)

    def _on_filter(self, _change: dict[str, Any]) -> None:
        self._refresh()
        if self.table.selected not in set(self._listed["key"]):
            self._choose_first()

    def _on_sort(self, _change: dict[str, Any]) -> None:
        self._refresh()

    def _on_select(self, _change: dict[str, Any]) -> None:
        if self.table.selected != self._shown_key:
            self._redraw_graph()
        self._update_group_link()

    def group_exercise_links(self) -> dict[str, str]:
        """Links that open the KOR group exercise with cases of this review, anonymised there.

        ``"chosen"``: the chosen case; ``"listed"``: the first :data:`GROUP_LINK_CASES` cases
        of the list in its order. Each is ``group_exercise.ipynb?cases=<token>`` (relative, so
        it stays on this server), where the token is a keyed HMAC of the cases valid for 14
        days (:func:`fitdata.features.group_exercise.case_token`): it shows no client code.
        """
        team = self.team.value
        if not team:
            return {}
        key = link_key(self.context.db_path)
        listed = self.listed_episode_ids()[:GROUP_LINK_CASES]
        links = {}
        for name, cases in (("chosen", self.chosen_episode_ids()), ("listed", listed)):
            if cases:
                token = case_token([(e, c, team) for e, c in cases], key=key)
                links[name] = f"group_exercise.ipynb?cases={token}"
        return links

    def _update_group_link(self) -> None:
        tr = self.context.tr
        links = self.group_exercise_links()
        parts = []
        if "chosen" in links:
            parts.append((links["chosen"], tr.text("review.group_link.chosen")))
        if "listed" in links:
            n = min(len(self._listed), GROUP_LINK_CASES)
            parts.append((links["listed"], tr.count_text("review.group_link.listed", n, n=n)))
        anchors = " · ".join(
            f'<a href="{html.escape(href)}" target="_blank" rel="noopener">{html.escape(text)}</a>'
            for href, text in parts
        )
        self.group_link.value = (
            f"<b>{html.escape(tr.text('review.group_link.heading'))}</b> {anchors}" if parts else ""
        )

    def _choose_first(self, *, force: bool = False) -> None:
        """Show the first listed case (or none) after the list changed under the graph.

        The graph is redrawn when the case changes, or always with ``force`` (a new date or
        team changes what a case's graph shows).
        """
        first = str(self._listed["key"].iloc[0]) if len(self._listed) else ""
        with self.holding():
            self.table.selected = first
        if force or first != self._shown_key or not first:
            self._redraw_graph()

    def apply_preset(self, preset: str) -> None:
        """Filter to a preset's flag group and sort as it says ("Stagnating", ...).

        Raises:
            ValueError: For an unknown preset.
        """
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
        group, column, descending = PRESETS[preset]
        with self.holding():
            self.prompt_filter.value = None
            self.flag_filter.value = group
            self.follow_up_only.value = preset == FOLLOW_UP_PRESET
            self.table.sort_by = column
            self.table.descending = descending
        self._refresh()
        self._choose_first()

    # -- hooks for other dashboards and for export ---------------------------------------
    def chosen_episode_ids(self) -> list[tuple[str, str]]:
        """The chosen case as ``[(episode_id, client_id)]`` (empty when none is chosen).

        A hook for other dashboards (e.g. the KOR group exercise) to open the same case; a
        couple's or family's case is its first participant's (its index client's) pair.
        """
        if not self.table.selected:
            return []
        episode_id, client_id = self.table.selected.split("|", 1)
        return [(episode_id, client_id)]

    def listed_episode_ids(self) -> list[tuple[str, str]]:
        """Every case of the current list, in the table's order, as (episode, client)."""
        return list(
            zip(
                self._listed["episode_id"].astype(str),
                self._listed["client_id"].astype(str),
                strict=True,
            )
        )

    def export_table(self) -> pd.DataFrame:
        """The current list as the export holds it: every listed row, in the table's order.

        Headers and flag names in the page's language; numbers stay numbers; the flags that
        hold now and, apart, the history (:func:`fitdata.outputs.team_review.case_list_table`).
        """
        flags = self._caseload.flags if self._caseload is not None else pd.DataFrame()
        return review_files.case_list_table(
            self._listed, flags, self.context.tr, config=self.context.config
        )

    def _file_stem(self) -> str:
        as_of = self.as_of_date.isoformat() if self.as_of_date else "all"
        team = str(self.team.value or "team")
        return f"case-review-{team}-{as_of}"

    def _exported_table(self) -> pd.DataFrame:
        """:meth:`export_table`, once the audit log says who took which clients' rows away."""
        record_access(
            self.context.reader,
            "caseload_export",
            "",
            team_id=str(self.team.value or ""),
            clients=review_files.case_participant_codes(self._listed) if len(self._listed) else (),
        )
        return self.export_table()

    def _csv_file(self) -> tuple[str, bytes]:
        return f"{self._file_stem()}.csv", review_files.export_csv(
            self._exported_table(), lang=self.context.lang
        )

    def _excel_file(self) -> tuple[str, bytes]:
        tr = self.context.tr
        notes = review_files.case_list_notes(
            tr,
            self.context.config,
            as_of=self.as_of_date,
            filters=self._filters_text(),
            lower_percentile=self.model.lower_percentile,
            min_episodes=self.model.min_episodes,
        )
        data = review_files.export_excel(
            self._exported_table(),
            sheet=tr.text("review.export.sheet"),
            notes=notes,
            notes_sheet=tr.text("review.export.notes_sheet"),
        )
        return f"{self._file_stem()}.xlsx", data

    def _filters_text(self) -> str:
        parts = []
        for box in (self.service, self.team, self.therapist, self.period, self.age_group):
            if box.label:
                parts.append(f"{box.description}: {box.label}")
        parts.append(str(self.status.label))
        parts.append(str(self.prompt_filter.label or self.flag_filter.label))
        return " · ".join(p.replace("\u00a0", " ") for p in parts)

    # -- layout --------------------------------------------------------------------------
    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        tr = self.context.tr
        filters = widgets.VBox(
            [
                self.row([self.service, self.team, self.therapist], align_items="center"),
                self.row(
                    [self.period, self.age_group, self.status, self.as_of, self.as_of_note],
                    align_items="center",
                ),
            ]
        )
        heading = widgets.HTML(f"<b>{html.escape(tr.text('review.preset.heading'))}</b>")
        presets = self.row(
            [heading, *self.presets.values(), self.export_csv, self.export_excel],
            align_items="center",
        )
        graph = widgets.VBox(
            [
                self.graph_status,
                self.graph_flags,
                self.graph_expected,
                self.figure_box,
                self.graph_rules,
                self.discussion,
            ]
        )
        return self.page(
            [
                filters,
                self.message,
                self.flag_filter,
                self.row([self.prompt_heading, self.prompt_filter], align_items="center"),
                presets,
                self.row([self.table_note, self.follow_up_only], align_items="center"),
                self.table,
                self.legend,
                self.group_link,
                graph,
            ],
            grid_gap="6px",
        )


def _set_buttons(
    buttons: widgets.ToggleButtons, options: Options, tooltips: list[str], *, default: Any
) -> None:
    """New counts on a row of buttons, keeping the chosen one (else ``default``).

    Unchanged labels are not sent again: a filter that changes no count costs no message.
    """
    chosen = buttons.value
    if tuple(buttons.options) == tuple(options):
        return
    buttons.options = options
    buttons.tooltips = tooltips
    buttons.value = chosen if chosen in dict(options).values() else default


build_team_review = builder(TeamReviewView, "build_team_review")

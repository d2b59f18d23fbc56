"""What the group exercise says about a case, beside its graph: pure texts, no widgets.

Like the graph (:mod:`fitdata.ui.group_exercise_chart`), these texts are made only from an
anonymous case and the flag codes of the listed cases: a label ("Case C"), session numbers,
weeks since start and scores — never a date, a client code or free text. A couple's or
family's participants are named by role and letter only ("Partner A").
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from fitdata.analytics.client_status import ClientStatus, EpisodeEnd, status_sentence
from fitdata.config import ClinicalConfig
from fitdata.features import group_exercise as ge
from fitdata.i18n import Translator

__all__ = [
    "PROMPTS",
    "heading_html",
    "participants_status_html",
    "prompt_html",
    "reason_text",
    "result_html",
]

#: The reflection prompts, in order (``group.prompt.<name>.title`` / ``.body``).
PROMPTS = ("graph", "client_view", "alliance", "differently", "next_step")


def prompt_html(tr: Translator, step: int) -> str:
    """Reflection prompt number ``step`` (from 1), large enough for a shared screen."""
    name = PROMPTS[step - 1]
    body = "".join(
        f"<li>{html.escape(line)}</li>" for line in tr.text(f"group.prompt.{name}.body").split("\n")
    )
    return (
        f'<div class="fitdata-prompt-box" style="font-size:1.35em;line-height:1.5">'
        f'<p style="margin:0;color:#555">'
        f"{html.escape(tr.text('group.step', step=step, steps=len(PROMPTS)))}</p>"
        f'<h2 class="fitdata-prompt-title" style="margin:0.2em 0">'
        f"{html.escape(tr.text(f'group.prompt.{name}.title'))}</h2>"
        f"<ul>{body}</ul></div>"
    )


def reason_text(
    tr: Translator,
    config: ClinicalConfig,
    flags: tuple[str, ...],
    sessions: tuple[int, ...],
    people: tuple[str, ...] | None = None,
) -> str:
    """Why a case is worth discussing now, in words.

    ``flags`` are the codes of the flags that hold now (a resolved flag is no reason), most
    urgent first, and ``sessions`` the session at which each last held (the latest that could
    raise it), as :func:`fitdata.features.group_exercise.attention_cases` gives them. For a
    couple or family, ``people`` names whose each flag is ("Partner B: SRS below 36 ...").
    """
    if not flags:
        return tr.text("group.reason.none")
    parts = [
        tr.text(
            f"group.reason.{code}",
            session=session,
            weeks=config.not_seen_weeks,
            cutoff=tr.number(config.srs_cutoff, decimals=0),
        )
        for code, session in zip(flags, sessions, strict=True)
    ]
    if people is not None:
        parts = [
            tr.text("group.participant_reason", who=who, reason=part)
            for who, part in zip(people, parts, strict=True)
        ]
    return " · ".join(parts)


def heading_html(
    tr: Translator, case: ge.AnonymousCase, visible: pd.DataFrame, *, hidden: bool
) -> str:
    """The case's name, how many sessions and weeks are shown, what the lines rest on."""
    weeks = int(visible["weeks_since_start"].max()) if len(visible) else 0
    facts = tr.count_text(
        "group.facts",
        len(visible),
        sessions=len(visible),
        weeks=weeks,
        group=tr.text(f"age_group.{case.age_group}"),
    )
    if hidden:
        facts += " " + tr.text("group.facts_hidden")
    trajectory = (
        tr.text("group.trajectory_basis", episodes=case.trajectory_episodes)
        if case.trajectory_episodes is not None
        else tr.text("group.trajectory_missing")
    )
    return (
        f'<div class="fitdata-case-heading">'
        f'<h1 class="fitdata-case-title" style="margin:0.2em 0;font-size:2.2em">'
        f"{html.escape(tr.text('group.case', label=case.label))}</h1>"
        f'<p style="font-size:1.3em;margin:0">{html.escape(facts)}</p>'
        f'<p style="color:#555;margin:0.2em 0">{html.escape(trajectory)}</p></div>'
    )


def participants_status_html(
    tr: Translator,
    config: ClinicalConfig,
    rows: list[tuple[str, ClientStatus]],
    *,
    ended: EpisodeEnd | None = None,
) -> str:
    """Each participant's status sentence under their anonymous name ("Partner A").

    ``ended`` (the episode's end, for a group that has seen it all) puts each sentence in the
    past tense; no date is shown.
    """
    parts = [
        f'<div class="fitdata-participant-status" style="font-size:1.3em">'
        f'<h3 class="fitdata-participant" style="margin:0.4em 0 0">{html.escape(name)}</h3>'
        f'<p class="fitdata-status-text" style="margin:0.1em 0">'
        f"{html.escape(status_sentence(status, tr, config, ended=ended, show_dates=False))}"
        "</p></div>"
        for name, status in rows
    ]
    return "".join(parts)


def result_html(tr: Translator, case: ge.AnonymousCase, predictions: dict[int, float]) -> str:
    """The group's predictions beside what the client actually scored."""
    actual = case.sessions.set_index("session_no")["ors_total"]
    items = []
    for session, predicted in sorted(predictions.items()):
        value = actual.get(session, np.nan)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            items.append(
                tr.text("group.result.no_ors", session=session, predicted=tr.number(predicted))
            )
            continue
        items.append(
            tr.text(
                "group.result.line",
                session=session,
                predicted=tr.number(predicted),
                actual=tr.number(float(value)),
                difference=tr.number(float(value) - predicted, signed=True),
            )
        )
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return (
        f'<div class="fitdata-result-box" style="font-size:1.3em">'
        f"<h3>{html.escape(tr.text('group.result.heading'))}</h3><ul>{listed}</ul>"
        f"<p>{html.escape(tr.text('group.result.discuss'))}</p></div>"
    )

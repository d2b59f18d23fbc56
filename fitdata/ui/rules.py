"""The "Rules behind this graph" sentences: which threshold produced what a page shows.

design.md asks that the UI shows which rule produced a flag or a line. The client graph, the
team review, the group exercise and the therapist development page name the same three rules
(the ORS cutoff of an age group, reliable change, the SRS cutoff) with their tie conventions and
sources from :data:`fitdata.config.RULES`, and what a break in a line means (a session without
that score); the sentences are made here once.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from fitdata.config import AGE_GROUPS, ClinicalConfig
from fitdata.i18n import Translator

__all__ = [
    "cutoff_rule",
    "gap_rule",
    "rule_source",
    "graph_rules",
    "reliable_change_rule",
    "reliable_change_tie",
    "rules_html",
    "rules_list_html",
    "srs_cutoff_rule",
]


def rule_source(tr: Translator, name: str) -> str:
    """Where the threshold ``name`` of :data:`fitdata.config.RULES` comes from, in ``tr``'s words.

    The message key is ``rule.source.<name>``; its English text is ``RULES[name].source``.
    """
    return tr.text(f"rule.source.{name}")


def cutoff_rule(tr: Translator, config: ClinicalConfig, age_group: str) -> str:
    """The ORS cutoff of ``age_group``, whether a score at it counts as clinical, its source."""
    cutoff = tr.number(config.ors_cutoff(age_group), decimals=0)
    tie = (
        "rule.at_cutoff_clinical"
        if config.score_at_cutoff_is_clinical
        else "rule.at_cutoff_not_clinical"
    )
    return tr.text(
        "rule.cutoff",
        cutoff=cutoff,
        group=tr.text(f"age_group.{age_group}"),
        tie=tr.text(tie, cutoff=cutoff),
        source=rule_source(tr, f"ors_cutoff_{age_group}"),
    )


def reliable_change_tie(tr: Translator, config: ClinicalConfig) -> str:
    """Whether a change of exactly the reliable-change threshold counts, in words."""
    reliable = config.change_at_threshold_is_reliable
    key = "rule.at_rc_reliable" if reliable else "rule.at_rc_not_reliable"
    return tr.text(key, rc=tr.number(config.ors_reliable_change, decimals=0))


def reliable_change_rule(tr: Translator, config: ClinicalConfig) -> str:
    """The reliable-change threshold, its tie convention and its source."""
    return tr.text(
        "rule.reliable_change",
        rc=tr.number(config.ors_reliable_change, decimals=0),
        tie=reliable_change_tie(tr, config),
        source=rule_source(tr, "ors_reliable_change"),
    )


def srs_cutoff_rule(tr: Translator, config: ClinicalConfig) -> str:
    """The SRS cutoff and its source."""
    return tr.text(
        "rule.srs_cutoff",
        cutoff=tr.number(config.srs_cutoff, decimals=0),
        source=rule_source(tr, "srs_cutoff"),
    )


def gap_rule(tr: Translator) -> str:
    """What a break in a line means: a session without that score, not a line drawn across it."""
    return tr.text("rule.gap")


def graph_rules(
    tr: Translator, config: ClinicalConfig, age_groups: Iterable[str] = AGE_GROUPS
) -> list[str]:
    """The cutoff of each of ``age_groups``, reliable change, the SRS cutoff, then the gaps."""
    return [
        *(cutoff_rule(tr, config, group) for group in age_groups),
        reliable_change_rule(tr, config),
        srs_cutoff_rule(tr, config),
        gap_rule(tr),
    ]


def rules_list_html(summary: str, items: Sequence[str], *, expanded: bool = False) -> str:
    """A folded list of rule sentences under ``summary`` (HTML, already escaped)."""
    listed = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    details = "<details open>" if expanded else "<details>"
    return f"{details}<summary>{summary}</summary><ul>{listed}</ul></details>"


def rules_html(
    tr: Translator, config: ClinicalConfig, age_group: str, extra: Sequence[str] = ()
) -> str:
    """The "Rules behind this graph" block of one client's graph.

    Args:
        tr: Messages for the page's language.
        config: The thresholds in force.
        age_group: The client's age group (picks the cutoff).
        extra: Further rule sentences to list (e.g. the expected trajectory's method).
    """
    items = [*graph_rules(tr, config, [age_group]), *extra]
    return rules_list_html(html.escape(tr.text("rule.heading")), items)

"""Clinical thresholds: the one place where numbers that matter clinically are defined.

Every cutoff, reliable-change value and alert rule that fitdata applies comes from a
:class:`ClinicalConfig`. Each field is documented in :data:`RULES` with its source and with the
rule applied at the tie, so that the dashboards can show *which rule produced* what a person
sees. A service overrides values with a TOML file (``[thresholds]`` table, same field names),
loaded by :func:`load_config`.

Decisions at the ties (scores are recorded to one decimal, so exact ties are common):

* **Clinical range.** A score *below* the cutoff is in the clinical range; a score exactly at
  the cutoff (e.g. ORS 25.0 for an adult) is **not** clinical, and it counts as having reached
  the non-clinical range. Sources differ; ``score_at_cutoff_is_clinical`` switches this.
* **Reliable change.** A change of *at least* the reliable-change value is reliable: +5.0 is a
  reliable improvement, +4.9 is not. The 5 points are a rounding of the Jacobson-Truax critical
  difference 1.96·√2·6.8·√(1-.93) ≈ 4.99, so a change of exactly 5.0 exceeds it.
  ``change_at_threshold_is_reliable`` switches this.
* **SRS cutoff.** An SRS total *below* 36 is a possible alliance problem; 36.0 is not.
* **SRS item concern.** Any item *below* 9 (8.9 flags, 9.0 does not).
* **SRS drop.** The SRS *at least* 2 points below the client's usual level, the mean of the
  episode's earlier SRS totals (from 2 of them on): 2.0 below flags, 1.9 does not.
* **Small cells.** Aggregates over *fewer than* 5 clients are suppressed; 5 clients are shown.
  Outcome percentages and effect sizes need 5 client-episodes with change (2+ ORS), and a hidden
  cell's neighbours are hidden too where a total would give it away (complementary suppression).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from fitdata.vocabulary import AGE_GROUPS, AgeGroup

__all__ = [
    "AGE_GROUPS",
    "DEFAULT_CONFIG",
    "DISCUSSION_ACTIONS",
    "RULES",
    "URGENCY_ORDER",
    "AgeGroup",
    "ClinicalConfig",
    "TIE_TOLERANCE",
    "ConfigError",
    "DiscussionAction",
    "Rule",
    "Urgency",
    "load_config",
]


# TIE_TOLERANCE: tolerance for comparing one-decimal scores after float arithmetic: 8.2 - 3.2 is
# 4.999999999999999 and 20.1 - 15.1 is 5.000000000000002 in binary floating point; both must
# count as exactly 5.0.
TIE_TOLERANCE = 1e-9


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, with what to change."""


@dataclass(frozen=True)
class Rule:
    """Documentation of one threshold: what it means, where it comes from, the tie rule."""

    label: str
    source: str
    tie_rule: str


@dataclass(frozen=True)
class DiscussionAction:
    """One choice of what a case discussion agreed (issue 22): a code and its two labels."""

    code: str
    en: str
    nb: str

    def label(self, language: str) -> str:
        """The label in ``language`` (``en`` or ``nb``; English for any other)."""
        return self.nb if language == "nb" else self.en


#: The default choice list of what a case discussion may agree (``case_discussions.agreed``
#: holds the codes). Source: what supervision of feedback-informed treatment acts on for a
#: not-on-track case -- talk with the client about the feedback, change goals or method,
#: intensify, refer -- (Lambert et al. 2001; Miller, Hubble & Duncan, FIT supervision
#: practice; issue 22), plus "no change". A service replaces it in its TOML file:
#: ``[[discussion_actions]]`` tables with ``code``, ``en`` and ``nb``.
DISCUSSION_ACTIONS: tuple[DiscussionAction, ...] = (
    DiscussionAction(
        "talk_feedback",
        "talk with the client about the feedback",
        "snakke med klienten om tilbakemeldingene",
    ),
    DiscussionAction("adjust_goals_method", "adjust goals or method", "justere mål eller metode"),
    DiscussionAction("more_frequent", "more frequent sessions", "hyppigere samtaler"),
    DiscussionAction("consider_referral", "consider referral", "vurdere henvisning"),
    DiscussionAction("no_change", "no change", "ingen endring"),
)

_ACTION_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True)
class ClinicalConfig:
    """Thresholds applied by fitdata. Defaults follow ``shared/domain.md``; see :data:`RULES`."""

    ors_cutoff_adult: float = 25.0
    ors_cutoff_adolescent: float = 28.0
    ors_cutoff_child: float = 32.0
    score_at_cutoff_is_clinical: bool = False
    ors_reliable_change: float = 5.0
    change_at_threshold_is_reliable: bool = True
    srs_cutoff: float = 36.0
    srs_item_concern: float = 9.0
    srs_drop: float = 2.0
    min_cell_size: int = 5
    min_comparison_groups: int = 5
    stagnation_sessions: int = 6
    not_seen_weeks: int = 4
    srs_always_max_min_sessions: int = 3
    not_on_track_sessions_now: int = 2
    srs_drop_min_earlier: int = 2
    follow_up_sessions: int = 4
    follow_up_weeks: int = 8
    discussion_actions: tuple[DiscussionAction, ...] = DISCUSSION_ACTIONS
    source_notes: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def ors_cutoff(self, age_group: AgeGroup | str) -> float:
        """The ORS/CORS clinical cutoff for an age group (child, adolescent or adult)."""
        if age_group not in AGE_GROUPS:
            raise ConfigError(
                f"unknown age group {age_group!r}; expected one of {', '.join(AGE_GROUPS)}"
            )
        return float(getattr(self, f"ors_cutoff_{age_group}"))

    def change_direction(self, change: float) -> Literal[1, 0, -1]:
        """+1 for a reliable improvement, -1 for a reliable deterioration, 0 otherwise."""
        if math.isnan(change):
            return 0
        size = abs(change)
        rc = self.ors_reliable_change
        if self.change_at_threshold_is_reliable:
            reliable = size >= rc - TIE_TOLERANCE
        else:
            reliable = size > rc + TIE_TOLERANCE
        if not reliable:
            return 0
        return 1 if change > 0 else -1

    def srs_below_cutoff(self, total: float) -> bool:
        """Whether an SRS total is below the alliance cutoff (36.0 itself is not)."""
        return total < self.srs_cutoff - TIE_TOLERANCE

    def action(self, code: str) -> DiscussionAction | None:
        """The configured discussion action with this code, or None."""
        return next((a for a in self.discussion_actions if a.code == code), None)

    def cell_is_suppressed(self, clients: int) -> bool:
        """Whether an aggregate over ``clients`` distinct clients must be hidden."""
        return clients < self.min_cell_size


#: Documentation of every threshold field, shown in the dashboards beside what it produced.
RULES: dict[str, Rule] = {
    "ors_cutoff_adult": Rule(
        "ORS clinical cutoff, adults (18+)",
        "OpenFIT help page KA-01031; NAPHA FIT manual 2",
        "below the cutoff is clinical; exactly at it is not (score_at_cutoff_is_clinical)",
    ),
    "ors_cutoff_adolescent": Rule(
        "ORS clinical cutoff, adolescents (13-17)",
        "Duncan et al. 2006, 'Giving youth a voice' (widely cited; not confirmed in the paper)",
        "as for adults",
    ),
    "ors_cutoff_child": Rule(
        "CORS clinical cutoff, children (6-12)",
        "OpenFIT help page KA-01031",
        "as for adults",
    ),
    "score_at_cutoff_is_clinical": Rule(
        "whether a score exactly at the cutoff counts as clinical",
        "sources differ; fitdata's default is no (the cutoff itself is non-clinical)",
        "-",
    ),
    "ors_reliable_change": Rule(
        "ORS reliable change, points",
        "Jacobson & Truax 1991 with SD 6.8, alpha .93: 1.96*sqrt(2)*6.8*sqrt(.07) = 4.99",
        "a change of at least this many points is reliable (change_at_threshold_is_reliable)",
    ),
    "change_at_threshold_is_reliable": Rule(
        "whether a change of exactly the reliable-change value is reliable",
        "fitdata default yes: 5.0 exceeds the unrounded critical difference 4.99",
        "-",
    ),
    "srs_cutoff": Rule(
        "SRS cutoff: below it, a possible alliance problem",
        "OpenFIT help page KA-01028 (boundary convention differs between sources)",
        "below the cutoff flags; exactly at it does not",
    ),
    "srs_item_concern": Rule(
        "SRS item concern: any of the four items below this",
        "trainers' rule of thumb (soft)",
        "below flags; exactly at it does not",
    ),
    "srs_drop": Rule(
        "SRS drop: points below the client's usual level (the mean of the episode's earlier SRS "
        "totals) that raise an alert",
        "fitdata choice, issue 18: a clear fall against the client's own usual level, not a "
        "1-point wobble (shared/domain.md 'Signals')",
        "a fall of at least this much below the usual level flags (2.0 flags, 1.9 does not)",
    ),
    "min_cell_size": Rule(
        "smallest number an aggregate may rest on: distinct clients for counts, client-episodes "
        "with change (2+ ORS) for outcome percentages and effect sizes",
        "Norwegian health-data practice (Normen), small-cell suppression; complementary "
        "suppression so no hidden cell follows by subtraction (docs/analytics.md)",
        "fewer than this many is suppressed; exactly this many is shown",
    ),
    "min_comparison_groups": Rule(
        "smallest number of teams (each with enough episodes) a multilevel comparison is fitted on",
        "with fewer groups the between-group variance cannot be estimated (it is often put at 0 "
        "and its interval is unbounded): Snijders & Bosker 2012, Multilevel analysis, 2nd ed.; "
        "McNeish & Stapleton 2016, Educ Psychol Rev 28:295-314 (small numbers of groups)",
        "fewer than this many estimable teams: no model; exactly this many is fitted",
    ),
    "stagnation_sessions": Rule(
        "stagnation: from this session on, no reliable improvement since the first ORS flags",
        "shared/domain.md: most change happens early, by session 3-6 (PCOMS practice)",
        "flags at this session number and later, never before",
    ),
    "not_seen_weeks": Rule(
        "not seen: an ongoing episode whose last session is more than this many weeks ago",
        "supervision practice (team case review); a service setting",
        "more than this many weeks flags; exactly this many (28 days for 4) does not",
    ),
    "srs_always_max_min_sessions": Rule(
        "SRS 40 every time: sessions with an SRS needed before an all-40 series flags",
        "practice literature: may mean the client does not dare to give negative feedback",
        "flags from this many SRS sessions, all exactly 40.0",
    ),
    "not_on_track_sessions_now": Rule(
        "not on track now: the last this many judged ORS are all below the lower expected line",
        "fitdata choice, issue 18: one session below the line is often noise, two in a row a "
        "pattern; measured on demo data against OQ-style signal rates of 20-30 % "
        "(shared/domain.md 'Signals')",
        "an episode with fewer judged ORS than this is not on track now only if all are below; "
        "on the line is on track",
    ),
    "srs_drop_min_earlier": Rule(
        "SRS drop: earlier SRS totals in the episode needed before the client has a usual level",
        "fitdata choice (issue 18): one earlier rating is a single session, not a usual level",
        "flags from this many earlier SRS totals on; fewer never flag",
    ),
    "follow_up_sessions": Rule(
        "follow-up after a case discussion: the sessions after it in which the course is judged",
        "fitdata choice, issue 22: most change happens within a few sessions (shared/domain.md); "
        "4 sessions is about a month of weekly therapy",
        "the window's last session counts; the window also ends at follow_up_weeks",
    ),
    "follow_up_weeks": Rule(
        "follow-up after a case discussion: the longest window, in weeks after the discussion",
        "fitdata choice, issue 22: 8 weeks covers 4 sessions at every other week; a service "
        "setting",
        "a session exactly this many weeks after the discussion is inside the window",
    ),
    "discussion_actions": Rule(
        "what a case discussion may agree: the service's choice list (codes and labels)",
        "issue 22: what supervision of feedback-informed treatment acts on for a case not on "
        "track (Lambert et al. 2001); a service setting ([[discussion_actions]] in the TOML file)",
        "-",
    ),
}


@dataclass(frozen=True)
class Urgency:
    """One step of the order in which flags are read: the flag code, why here, and the source."""

    code: str
    reason: str
    source: str


#: The order of urgency of the flags, most urgent first, each with its reason and source: the
#: case list sorts by it, and every page lists a case's flags in it. Warnings come first
#: (clinical, then alliance, then attendance); data-quality prompts follow all of them.
URGENCY_ORDER: tuple[Urgency, ...] = (
    Urgency(
        "reliable_deterioration",
        "reliably worse than at intake now: possible harm, act first",
        "deterioration is 5-10 % of adult outcomes (Bybee, Lambert & Eggett 2007); "
        "OQ-style signal systems mark it red",
    ),
    Urgency(
        "not_on_track",
        "below the expected trajectory now: feedback helps most for these cases",
        "Lambert et al. 2001; Worthen & Lambert 2007 (not-on-track cases gain most from feedback)",
    ),
    Urgency(
        "srs_below_cutoff",
        "alliance below the cutoff now: a rupture to talk about at the next session",
        "OpenFIT help page KA-01028; shared/domain.md 'Signals'",
    ),
    Urgency(
        "srs_drop",
        "alliance clearly below the client's own usual level now",
        "shared/domain.md 'Signals': a clear fall against the client's own usual level",
    ),
    Urgency(
        "no_reliable_change",
        "no reliable improvement by the stagnation session: review the plan, less urgent than "
        "a fall",
        "shared/domain.md: most change happens early, by session 3-6 (PCOMS practice)",
    ),
    Urgency(
        "srs_item_below",
        "one alliance item low: a soft signal, only item-level records can raise it",
        "trainers' rule of thumb (soft); shared/domain.md 'Signals'",
    ),
    Urgency(
        "not_seen",
        "no session for weeks: check whether the client has dropped out",
        "supervision practice (team case review); a service setting",
    ),
    Urgency(
        "missing_ors",
        "data quality: no ORS at the last session, so outcome flags cannot be judged",
        "shared/domain.md: a flag needs the client's own rating",
    ),
    Urgency(
        "missing_srs",
        "data quality: no SRS at the last session, so alliance flags cannot be judged",
        "shared/domain.md: a flag needs the client's own rating",
    ),
    Urgency(
        "not_judged",
        "data quality: too few comparable closed episodes to judge the last ORS against an "
        "expected line",
        "fitdata: the trajectory model's minimum of comparable episodes per cell",
    ),
    Urgency(
        "srs_always_40",
        "data quality: every SRS is 40, which may mean the client does not dare to give "
        "negative feedback",
        "practice literature; shared/domain.md 'Signals'",
    ),
)

DEFAULT_CONFIG = ClinicalConfig()


def load_config(path: str | Path | None = None) -> ClinicalConfig:
    """Load thresholds from a TOML file's ``[thresholds]`` table over the defaults.

    Args:
        path: A TOML file, or None for the defaults.

    Raises:
        ConfigError: If the file cannot be read, names an unknown threshold, or gives a value of
            the wrong type. The message names the file and the key.
    """
    if path is None:
        return DEFAULT_CONFIG
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the configuration {path}: {error}") from error
    overrides = data.get("thresholds", {})
    known = {
        f.name: f
        for f in fields(ClinicalConfig)
        if f.name not in ("source_notes", "discussion_actions")
    }
    values: dict[str, object] = {}
    for key, value in overrides.items():
        if key not in known:
            raise ConfigError(
                f"{path}: unknown threshold {key!r} in [thresholds]; known: {', '.join(known)}"
            )
        default = getattr(DEFAULT_CONFIG, key)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(
                    f"{path}: [thresholds] {key} must be true or false, not {value!r}"
                )
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{path}: [thresholds] {key} must be a whole number >= 1")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{path}: [thresholds] {key} must be a number >= 0, not {value!r}")
        values[key] = float(value) if isinstance(default, float) else value
    if "discussion_actions" in data:
        values["discussion_actions"] = _discussion_actions(path, data["discussion_actions"])
    notes = {k: str(v) for k, v in data.get("sources", {}).items()}
    return replace(DEFAULT_CONFIG, source_notes=notes, **values)


def _discussion_actions(path: Path, tables: object) -> tuple[DiscussionAction, ...]:
    """A service's ``[[discussion_actions]]``: each with ``code``, ``en`` and ``nb``.

    Raises:
        ConfigError: If the list is empty, a code is not lower-case letters, digits and ``_``
            (at most 40) or is repeated, or a label is missing, empty or longer than 80.
    """
    where = f"{path}: [[discussion_actions]]"
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{where} must be a list of tables with code, en and nb (at least one)")
    actions: list[DiscussionAction] = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict) or set(table) != {"code", "en", "nb"}:
            raise ConfigError(f"{where} number {number} must have exactly code, en and nb")
        code, en, nb = table["code"], table["en"], table["nb"]
        if not isinstance(code, str) or not _ACTION_CODE.fullmatch(code):
            raise ConfigError(
                f"{where} number {number}: code {code!r} must be lower-case letters, digits "
                "and _ (at most 40, beginning with a letter)"
            )
        if any(a.code == code for a in actions):
            raise ConfigError(f"{where}: the code {code!r} is given twice")
        for label in (en, nb):
            if not isinstance(label, str) or not label.strip() or len(label) > 80:
                raise ConfigError(
                    f"{where} {code}: the labels en and nb must be text of 1-80 characters"
                )
        actions.append(DiscussionAction(code, en.strip(), nb.strip()))
    return tuple(actions)

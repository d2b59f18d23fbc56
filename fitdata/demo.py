"""A realistic synthetic KOR database for demonstrations, tests and benchmarks.

Over 1,000 lines on purpose: it is one generator, read top to bottom. About 330 lines are its
parameters, each a documented target with its source (``shared/domain.md``, checked by
``tests/integration/test_demo.py``); then the stages in the order :func:`generate_demo` runs
them (organisation, episodes, schedules, scores, case discussions, frames); then the
counter-based random and Arrow helpers the stages share. Nothing outside imports its
internals, and a stage is only understood beside the parameters it draws from, so splitting it
would scatter one pipeline over files that are always read together.

``generate_demo`` writes a municipality's worth of Feedback-Informed Treatment data: services
and teams with Norwegian names, therapists (a few of whom changed team), pseudonymous clients,
episodes of care with who takes part in them (couples whose partners' changes are correlated,
children rated by a parent or teacher too) and ORS/SRS scores per session on the form of the
client's age group and the episode's format (CORS/CSRS, GSRS). The figures it aims at come from
``shared/domain.md`` ("Realistic data"); ``data/README.md`` lists every target, its source and
the tolerance that ``tests/integration/test_demo.py`` asserts.

Last, a history of case discussions (issue 22): the written sessions are read back, the flags
the data raise are computed as the team review computes them, and about a quarter of the
flagged cases are discussed at their team's next meeting, some again at the follow-up, a few
corrected or withdrawn. This is a second, small write, and it changes no session: the demo
draws no effect of a discussion on the course (the parameters say why).

How it stays fast and small at ten million sessions:

* Everything per client, episode and therapist is drawn up front with one NumPy generator
  (arrays of a few million numbers at most).
* Sessions are produced in chunks of clients (ordered by client), so no chunk ever holds more
  than a few hundred thousand rows, and sorted once at the end into the table's physical
  order (:data:`fitdata.data.store.SESSION_ORDER`, team by team; 24 s at ten million sessions).
  Their randomness does not come from a sequential generator but from a hash of
  (seed, owner, session number, purpose) -- a counter-based generator -- so the two partners of
  a couple, who sit in different chunks, see the same session dates, and the chunk size cannot
  change a single value.
* Scores are computed in integer tenths and written as exact decimals, so a total is exactly
  the sum of its items.
* DuckDB keeps every frame appended in a transaction alive until it commits, so the frames are
  Arrow dictionary columns of one or two bytes a value (about 50 bytes a session row).

The number of sessions is a target: clients are drawn for it, and the actual count usually
lands within a few percent of it (episodes still running at ``end_date`` are cut short).
"""

from __future__ import annotations

import datetime
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow as pa

from fitdata.analytics.flags import FLAG_GROUP, WARNING_GROUPS, episode_flags, session_flags
from fitdata.analytics.trajectory import fit_trajectories
from fitdata.config import DEFAULT_CONFIG, DISCUSSION_ACTIONS
from fitdata.data.store import append_frame, reader_for, write_transaction
from fitdata.vocabulary import (
    AGE_GROUPS,
    FORMATS,
    FORUMS,
    ORS_COLUMNS,
    ORS_FORMS,
    RATERS,
    ROLES,
    SRS_COLUMNS,
    SRS_FORMS,
    default_forms,
    participant_role,
)

__all__ = ["DemoSummary", "generate_demo"]

# --- Scale ------------------------------------------------------------------------------------
# Session rows per client, measured: about 1.13 episodes per client x 6 sessions, plus parent
# rows. The default 20,000 sessions give about 2,800 clients.
SESSIONS_PER_CLIENT = 7.1
# About one therapist per 333 sessions over three years (60 therapists for the default size).
SESSIONS_PER_THERAPIST = 333
MIN_THERAPISTS = 6
# Teams of about six therapists (ten teams for the default size).
THERAPISTS_PER_TEAM = 6
MIN_TEAMS = 2
MAX_TEAMS = 400
# The smallest database worth generating (a handful of clients).
MIN_SESSIONS = 100
# The data cover about three years before ``end_date``.
DATA_SPAN_DAYS = 3 * 365

# --- Organisation -----------------------------------------------------------------------------
ADULT_SERVICE = "Psykisk helse og rus"
YOUTH_SERVICE = "Barn, unge og familie"
LOW_THRESHOLD_SERVICE = "Rask psykisk helsehjelp"
SERVICES = (ADULT_SERVICE, YOUTH_SERVICE, LOW_THRESHOLD_SERVICE)
# Team names per service; when there are more teams than names they get a number ("... 2").
TEAM_NAMES: dict[str, tuple[str, ...]] = {
    ADULT_SERVICE: (
        "Oppfølgingsteam Nord",
        "Oppfølgingsteam Sør",
        "Psykiatrisk sykepleietjeneste",
        "Rus- og avhengighetsteamet",
        "Aktivitetssenteret",
        "Oppfølgingsteam Vest",
        "Ambulant team",
    ),
    YOUTH_SERVICE: (
        "Ungdomsteamet",
        "Familieteamet",
        "Barne- og ungdomsteamet",
        "Helsestasjon for ungdom",
        "Ungdomslosen",
    ),
    LOW_THRESHOLD_SERVICE: (
        "Rask psykisk helsehjelp Sør",
        "Rask psykisk helsehjelp Nord",
        "Rask psykisk helsehjelp Øst",
        "Rask psykisk helsehjelp Vest",
    ),
}
# Service of team i is TEAM_SERVICE_CYCLE[i % 10]: four adult teams, three youth teams and three
# low-threshold teams in every ten (two teams: one adult, one youth).
TEAM_SERVICE_CYCLE = (0, 1, 2, 0, 1, 0, 2, 1, 0, 2)
# Teams that record totals only on paper forms (the rest record all four items electronically).
PAPER_TEAM_SHARE = 0.3
# Relative team sizes vary (gamma shape; larger is more even).
TEAM_SIZE_SHAPE = 8.0
# Relative caseloads of therapists vary (gamma shape).
CASELOAD_SHAPE = 4.0
# Therapists who moved to another team of the same service during the period.
MOVED_THERAPIST_SHARE = 0.05

FIRST_NAMES = (
    "Anne", "Kari", "Ingrid", "Marit", "Silje", "Hilde", "Ingvild", "Marte", "Ida", "Nora",
    "Camilla", "Kristin", "Tone", "Randi", "Hanne", "Line", "Sigrid", "Maria", "Eva", "Siri",
    "Astrid", "Liv", "Guro", "Solveig", "Lars", "Ola", "Per", "Jon", "Erik", "Kjetil", "Bjørn",
    "Hans", "Ole", "Magnus", "Anders", "Thomas", "Øyvind", "Geir", "Knut", "Håkon", "Eirik",
    "Sindre", "Trond", "Amira", "Fatima", "Ahmed",
)  # fmt: skip
LAST_NAMES = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen",
    "Lund", "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide",
    "Knutsen", "Martinsen", "Bakken", "Mathisen", "Lie", "Amundsen", "Rasmussen", "Lunde",
    "Solheim", "Berge", "Nygård", "Bakke", "Aas", "Fjeld", "Tveit", "Nguyen", "Khan", "Ali",
)  # fmt: skip

# --- Clients ----------------------------------------------------------------------------------
CHILD, ADOLESCENT, ADULT = range(3)
# Clients by age group (children 6-12 rate the CORS): adults the majority.
AGE_GROUP_SHARES = (0.12, 0.18, 0.70)
# Age at the first episode, by age group: children and adolescents uniform over their range;
# adults 18 plus a gamma-distributed excess (mean about 38 years), at most 85.
CHILD_AGES = (6, 12)
ADOLESCENT_AGES = (13, 17)
ADULT_AGES = (18, 85)
ADULT_AGE_EXCESS_SHAPE, ADULT_AGE_EXCESS_SCALE = 2.2, 9.0
# Clients who come back for a second episode after the first has ended (if it fits in time).
SECOND_EPISODE_SHARE = 0.2
# Days from the end of the first episode to the start of the second: a minimum plus an
# exponential excess.
SECOND_EPISODE_MIN_GAP_DAYS, SECOND_EPISODE_MEAN_EXTRA_DAYS = 30, 150
# The same therapist takes the second episode.
SAME_THERAPIST_AGAIN_SHARE = 0.4

# --- Episodes ---------------------------------------------------------------------------------
INDIVIDUAL, COUPLE, FAMILY, GROUP = range(4)
# Adult clients whose first episode is couple therapy with another adult client (each partner
# rates their own ORS and SRS in the shared episode; Anker, Duncan & Sparks 2009).
COUPLE_CLIENT_SHARE = 0.06
# Family format for children's and adolescents' episodes; group format for adults'.
FAMILY_SHARE = {CHILD: 0.25, ADOLESCENT: 0.10}
GROUP_SHARE_ADULT = 0.04
# Children's episodes with a collateral rating: a parent rates the child's ORS every session.
PARENT_RATED_CHILD_SHARE = 0.4
# Children's episodes where a teacher also rates the child's CORS (collateral raters: a parent
# or teacher rates the child, shared/domain.md). A teacher is not at every session: the rating
# comes at the first session and then every TEACHER_RATING_EVERY-th (1, 4, 7, ...). Share and
# rhythm are generator assumptions; a child may have both a parent and a teacher rater.
TEACHER_RATED_CHILD_SHARE = 0.15
TEACHER_RATING_EVERY = 3
# Couples: the partners' changes are correlated. The target is a correlation of about 0.45
# between the two partners' latent change (each one's true gain, before session noise). Why:
# partners' outcomes in couple therapy are interdependent, which is why Anker, Duncan & Sparks
# (2009) report outcomes per couple and why dyadic analyses (Kenny, Kashy & Cook 2006,
# "Dyadic data analysis"; Anker, Owen, Duncan & Sparks 2010 on the same Norwegian couples)
# model both partners jointly. No published correlation of two partners' ORS change was
# confirmed here: 0.45 is an ASSUMPTION of a moderate correlation (r of 0.3-0.5), chosen so
# that "both partners improved reliably" lies clearly between the independent case (the
# individual rate squared) and the fully correlated one (the individual rate).
# How: each partner's change is drawn as anybody's (whether they respond, as a threshold on a
# normal, and their own deviation from the expected gain), but the partner's two normals are
# PARTNER_DRAW_CORRELATION times the owner's plus the rest of their own (a Gaussian copula:
# each partner's own distribution, and so every per-client figure, stays as it was). The
# expected gain also depends on each one's own intake, which is not shared, so the draws must
# correlate more than the gains: 0.75 gives the gains 0.45 (measured at 200,000 sessions; the
# partners share a therapist, whose effect adds a little), and the observed change (last minus
# first ORS, with session noise) about 0.4.
PARTNER_DRAW_CORRELATION = 0.75
# Couples in which the second partner joins an ongoing episode (their first rated session, and
# their participant row's added_on, is session 2 or 3 of the episode). At least one couple
# joins later whenever some couple episode is long enough. Generator assumption.
PARTNER_JOINS_LATER_SHARE = 0.05
PARTNER_JOINS_AT_SESSIONS = (2, 3)
# Where episodes go: probability of each service (in SERVICES order) by age group. Youth
# episodes are concentrated in "Barn, unge og familie".
SERVICE_BY_AGE = (
    (0.00, 1.00, 0.00),  # child
    (0.05, 0.80, 0.15),  # adolescent
    (0.62, 0.03, 0.35),  # adult
)
# Endings of closed episodes: 12-15 % unplanned (vendor benchmark), a few transferred.
# UNPLANNED_SHARE is the rate at an average gain; poorer gains raise it (below), and short
# unplanned episodes are rarely still open at end_date, so about 13 % of ended episodes end
# unplanned.
END_TYPES = ("planned", "unplanned", "transferred")
PLANNED, UNPLANNED, TRANSFERRED = range(3)
UNPLANNED_SHARE = 0.11
TRANSFERRED_SHARE = 0.03
# Unplanned endings go with less change: log-odds of an unplanned ending fall by this much per
# standard deviation of the episode's own gain.
UNPLANNED_LOG_ODDS_PER_SD_GAIN = 0.7
# Sessions per episode: 1 + negative binomial with these means (planned or transferred, and
# unplanned endings, which come earlier) and SD, giving about 6 (SD 4) over closed episodes
# (vendor benchmark 5.8, SD 4.2).
SESSIONS_MEAN_PLANNED = 6.5
SESSIONS_MEAN_UNPLANNED = 4.2
SESSIONS_SD = 4.3
# Days between sessions: each episode has its own rhythm between weekly and fortnightly,
# spacing out a little as treatment goes on, with a few days' jitter. Weekend dates move to
# the Friday before. (The interval minus twice the jitter must stay above 2 days so dates
# strictly increase after that move.)
SESSION_INTERVAL_DAYS = (7.0, 14.0)
SESSION_SPACING_GROWTH = 0.02
SESSION_JITTER_DAYS = 2.0
# Episodes whose last session is within this many days of end_date are mostly still open
# (the therapist has not closed them yet); episodes cut off by end_date are always open.
RECENT_DAYS = 42
RECENT_STILL_OPEN_SHARE = 0.8
# Days from the last session until a closed episode is marked ended.
CLOSING_LAG_DAYS = 14

# --- ORS trajectories -------------------------------------------------------------------------
# Intake ORS by age group (mean, SD): adults 19-20 (SD 7-8), a quarter at or above 25
# (OpenFIT; domain.md); children's CORS higher (cutoff 32).
INTAKE_ORS = ((25.5, 7.0), (20.5, 7.5), (19.3, 7.8))
# Expected gain = GAIN_SLOPE * (GAIN_TARGET - intake): lower intakes gain more (regression to
# the mean), giving a pre-post effect size of about 0.8-1.0.
GAIN_SLOPE = 0.65
GAIN_TARGET = (39.5, 38.0, 37.0)
# Clients who do not respond (expected gain 0): with them, about half reliably improve
# (change >= 5) while the mean change stays high (a right-skewed change).
NON_RESPONDER_SHARE = 0.25
# SD of each episode's own deviation from its expected gain: a few percent deteriorate
# (change <= -5).
GAIN_SD = 4.5
# SD of the therapist effect on gain: about 5 % of the variance of change after intake
# (Wampold & Brown 2005).
THERAPIST_GAIN_SD = 1.85
# Most change comes early: the expected share of the gain reached by session s is
# 1 - exp(-(s - 1) / EARLY_CHANGE_SESSIONS).
EARLY_CHANGE_SESSIONS = 2.0
# Session-to-session noise around the trajectory (not at intake).
ORS_SESSION_NOISE_SD = 2.5
# A parent rates the child lower than the child does, with a similar but noisier gain.
PARENT_INTAKE_OFFSET, PARENT_INTAKE_SD, PARENT_GAIN_SD = -2.0, 4.0, 2.0
# A teacher sees the child in one setting only: about the child's level, less closely tied to
# it and with a noisier gain than a parent's (generator assumption).
TEACHER_INTAKE_OFFSET, TEACHER_INTAKE_SD, TEACHER_GAIN_SD = 0.0, 5.0, 3.0
# Electronic forms: items scatter around total/4 (zero-sum, uniform +-ITEM_SPREAD/2).
ORS_ITEM_SPREAD = 4.0

# --- SRS --------------------------------------------------------------------------------------
# Clients who give 40 every session (may not dare to give negative feedback).
SRS_ALWAYS_40_SHARE = 0.1
# SRS = 40 - deficit. Each other client's mean deficit is gamma-distributed; unplanned endings
# rate the alliance lower. About 15-25 % of sessions fall below the cutoff 36.
SRS_DEFICIT_SHAPE, SRS_DEFICIT_SCALE = 1.3, 2.2
SRS_DEFICIT_UNPLANNED_FACTOR = 1.5
# Session-to-session variation of the deficit (SD of a log-normal factor), and how the
# alliance improves over sessions (deficit shrinks by this share per session, to half at most).
SRS_SESSION_LOG_SD = 0.6
SRS_IMPROVEMENT_PER_SESSION = 0.03
# Electronic forms: items share the deficit unevenly (zero-sum, uniform +-share/2 of it).
SRS_ITEM_SPREAD = 0.3

# --- Missing feedback -------------------------------------------------------------------------
# Sessions without SRS (under the 10 % vendor benchmark for sessions without feedback) and
# without ORS.
SRS_MISSING_SHARE = 0.06
ORS_MISSING_SHARE = 0.02

# --- Case discussions (issue 22) --------------------------------------------------------------
# A plausible history of what teams decided about flagged cases, so that the follow-up pages
# show something on a fresh install. Every share below is a GENERATOR ASSUMPTION: no published
# rate of case discussion in FIT services was found. The supervision loop itself (outcome
# feedback helps most when supervisors see it and act on not-on-track cases) is Worthen &
# Lambert (2007) and Reese et al. (2009), shared/domain.md.
# Which flags put a case on a team's agenda, by group: the clinical warnings first, then the
# alliance warnings (a soft SRS item, missing forms and "not seen" alone do not). The flags are
# those the demo's own data raise (fitdata.analytics.flags, with the expected trajectories
# fitted on the demo's closed episodes, as the team review computes them).
DISCUSSION_TRIGGERS: dict[str, tuple[str, ...]] = {
    "clinical": ("reliable_deterioration", "not_on_track", "no_reliable_change"),
    "alliance": ("srs_below_cutoff", "srs_drop"),
}
# A team meeting weekly or fortnightly has room for its most urgent cases: this share of the
# cases whose first warning is clinical, or alliance only, is put on the agenda. With the
# meeting's own check below (a warning must still hold then) about a quarter of all flagged
# cases are discussed at least once (tests/integration/test_demo.py asserts 15-40 %).
DISCUSSED_SHARE = {"clinical": 0.45, "alliance": 0.2}
# Teams meeting every other week (the rest meet weekly), on a weekday of their own.
FORTNIGHTLY_TEAM_SHARE = 0.5
# A case on the agenda is discussed at the team's first meeting after the session that raised
# the flag; each time, this share is postponed to the next meeting (at most MAX_POSTPONED
# times). It is discussed only if a warning still holds on that day (the review lists what
# holds now) and the episode has not ended.
POSTPONED_SHARE = 0.3
MAX_POSTPONED = 3
# Where (fitdata.vocabulary.FORUMS order: team meeting, group supervision, individual
# supervision, with the client). "With the client" is dated at the episode's next session.
FORUM_SHARES = (0.55, 0.15, 0.2, 0.1)
# What was agreed (fitdata.config.DISCUSSION_ACTIONS order: talk about the feedback, adjust
# goals or method, more frequent sessions, consider referral, no change), by the group of the
# warning that put the case on the agenda; a second action is agreed in SECOND_ACTION_SHARE.
ACTION_SHARES = {
    "clinical": (0.35, 0.3, 0.15, 0.08, 0.12),
    "alliance": (0.6, 0.25, 0.05, 0.02, 0.08),
}
SECOND_ACTION_SHARE = 0.35
# The follow-up date: 2-6 weeks after the discussion (whole weeks, the same weekday).
FOLLOW_UP_WEEKS = (2, 6)
# At the follow-up, a case that is still ongoing and still flagged is discussed again in this
# share (at most DISCUSSION_ROUNDS discussions of one case).
DISCUSSED_AGAIN_SHARE = 0.5
DISCUSSION_ROUNDS = 2
# Episodes read at a time when the discussions are drawn (bounds memory at ten million sessions).
DISCUSSION_BLOCK = 100_000
# A short note in this share, from NOTES (plain words, no names or identity numbers: every note
# passes fitdata.features.case_discussions.note_problem, which a test checks).
NOTE_SHARE = 0.25
NOTES = (
    "Utforske hva klienten ønsker skal bli annerledes.",
    "Avklare målene på nytt sammen med klienten.",
    "Spørre hva som ikke hjelper i timene.",
    "Vurdere samarbeid med fastlegen.",
    "Tettere oppfølging en periode.",
    "Ta opp tilbakemeldingene i neste time.",
    "Drøftes igjen ved oppfølgingen.",
    "Klienten ønsker færre samtaler, avklares.",
)
# Corrections keep the old value and a reason: a follow-up moved a week (CORRECTED_SHARE) and
# discussions recorded on the wrong case, withdrawn (WITHDRAWN_SHARE), a few days after.
CORRECTED_SHARE = 0.04
WITHDRAWN_SHARE = 0.01
CORRECTION_REASON = "Oppfølgingen ble flyttet til neste møte."
WITHDRAWAL_REASON = "Registrert på feil sak."
# THE EFFECT OF A DISCUSSION ON THE COURSE AFTER IT: NONE. The sessions are drawn before and
# without the discussions, so a discussed case goes on exactly as it would have. Why: the
# trials measure feedback against no feedback, not the discussion of one flagged case against
# none. The multilevel meta-analysis of de Jong et al. (2021, Clin Psychol Rev 85:102002; 58
# studies, 21,699 patients) found a small effect of progress feedback, d = 0.15 (95 % CI
# 0.10-0.20), and for not-on-track cases d = 0.17 (0.11-0.22), about one ORS point; Lambert's
# trials (e.g. Shimokawa, Lambert & Smart 2010) add clinical support tools for those cases.
# Every demo team already uses feedback, and no trial isolates the part a team discussion adds,
# so any effect put here would be invented, and the service page's observational comparison
# (discussed against not discussed flagged cases) would show what the generator put in. What
# that comparison shows in the demo is selection and regression to the mean, which is what
# the page warns against reading as an effect.

# --- Implementation ---------------------------------------------------------------------------
# Clients per chunk of session rows (SESSIONS_PER_CLIENT rows each), and rows per frame of
# clients and episodes.
CHUNK_CLIENTS = 100_000
# Episodes per block when planning session dates.
SCHEDULE_BLOCK = 100_000
# Client codes: "K-" and six Crockford base-32 characters (ASCII order = numeric order).
CROCKFORD = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CLIENT_CODE_LENGTH = 6
# Purposes of hashed random numbers (see _hashed).
_DATE_JITTER, _ORS_NOISE, _ORS_ITEMS, _ORS_MISSING, _SRS_LEVEL, _SRS_ITEMS, _SRS_MISSING = range(7)
_PARENT_PURPOSES = 8  # added to the ORS purposes for a parent's rows
_TEACHER_PURPOSES = 16  # added to the ORS purposes for a teacher's rows
# The draws added for several people in one episode (issue 20: teachers, partners who join
# later) come from a second generator seeded with (seed, _EXTRA_STREAM), so every draw of the
# first generator, and so every figure the demo had before, stays as it was.
_EXTRA_STREAM = 20
_U64 = np.uint64


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`generate_demo` wrote.

    Attributes:
        teams: Rows in ``teams``.
        therapists: Rows in ``therapists``.
        clients: Rows in ``clients``.
        episodes: Rows in ``episodes``.
        sessions: Rows in ``sessions`` (one per session and rater).
        seconds: Wall-clock time taken.
        participants: Rows in ``episode_participants`` (one per episode, client and rater).
        discussions: Rows in ``case_discussions`` (the history of case discussions).
    """

    teams: int
    therapists: int
    clients: int
    episodes: int
    sessions: int
    seconds: float
    participants: int = 0
    discussions: int = 0


@dataclass(frozen=True)
class _Teams:
    ids: pa.StringArray
    names: list[str]
    service: np.ndarray  # index into SERVICES
    paper: np.ndarray  # bool: totals only


@dataclass(frozen=True)
class _Therapists:
    ids: pa.StringArray
    names: np.ndarray
    team: np.ndarray  # current team
    earlier_team: np.ndarray  # team before move_day (the current team for those who stayed)
    move_day: np.ndarray
    caseload: np.ndarray  # relative weight when episodes are assigned
    gain_effect: np.ndarray  # the therapist's effect on ORS gain, points

    def team_on(self, therapist: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The team each therapist belonged to on each day."""
        moved_later = day < self.move_day[therapist]
        return np.where(moved_later, self.earlier_team[therapist], self.team[therapist])


@dataclass(frozen=True)
class _Episodes:
    """Episodes in episode-id order (``E0000001`` is the earliest start)."""

    client: np.ndarray  # index client
    therapist: np.ndarray
    team: np.ndarray
    format: np.ndarray
    start_day: np.ndarray
    interval: np.ndarray  # days between sessions at the start
    date_key: np.ndarray  # hash key for session dates (stable while episodes are planned)
    sessions: np.ndarray  # sessions held up to end_date
    ended_day: np.ndarray  # meaningful where end_type >= 0
    end_type: np.ndarray  # index into END_TYPES, -1 while ongoing


@dataclass(frozen=True)
class _Participations:
    """One client in one episode, ordered by client then episode (the sessions' order)."""

    client: np.ndarray
    episode: np.ndarray
    intake: np.ndarray
    gain: np.ndarray
    srs_deficit: np.ndarray  # mean SRS deficit below 40 (0 for clients who always give 40)
    parent_rated: np.ndarray
    parent_intake: np.ndarray
    parent_gain: np.ndarray
    teacher_rated: np.ndarray
    teacher_intake: np.ndarray
    teacher_gain: np.ndarray
    first_index: np.ndarray  # 0-based episode session of the first rating (> 0: joined later)
    added_day: np.ndarray  # day the participant joined an ongoing episode, -1: from the start


def generate_demo(
    out: str | Path,
    *,
    sessions: int = 20_000,
    seed: int = 20261122,
    end_date: datetime.date | None = None,
    _chunk_clients: int = CHUNK_CLIENTS,
) -> DemoSummary:
    """Write a synthetic KOR database with about ``sessions`` session rows to ``out``.

    The file is replaced atomically (see :func:`fitdata.data.store.write_transaction`). The same
    ``seed``, ``end_date`` and ``sessions`` always give the same content.

    Args:
        out: The database file to create or replace.
        sessions: Target number of session rows. Teams, therapists and clients scale with it;
            the actual count usually differs by a few percent.
        seed: Seed of the random numbers.
        end_date: The last possible session date (default: today). The data cover about three
            years before it.
        _chunk_clients: Clients per chunk of session rows, and rows per frame of clients and
            episodes (for tests: it does not change the data).

    Returns:
        The counts written and the time taken.

    Raises:
        ValueError: If ``sessions`` is below the smallest useful size.
    """
    if sessions < MIN_SESSIONS:
        raise ValueError(f"sessions must be at least {MIN_SESSIONS}, not {sessions}")
    clock = time.perf_counter()
    end_day = _day_number(end_date or datetime.date.today())
    therapist_count = max(MIN_THERAPISTS, round(sessions / SESSIONS_PER_THERAPIST))
    team_count = min(MAX_TEAMS, max(MIN_TEAMS, round(therapist_count / THERAPISTS_PER_TEAM)))
    client_count = round(sessions / SESSIONS_PER_CLIENT)

    rng = np.random.default_rng(seed)
    extra = np.random.default_rng([seed, _EXTRA_STREAM])
    salt = _splitmix64(np.array([seed], dtype=_U64))[0]
    teams = _make_teams(rng, team_count)
    therapists = _make_therapists(rng, therapist_count, teams, end_day)
    client_codes = np.sort(rng.choice(len(CROCKFORD) ** CLIENT_CODE_LENGTH, client_count, False))
    age_group = rng.choice(len(AGE_GROUPS), client_count, p=AGE_GROUP_SHARES)
    episodes, participations, first_day = _plan_episodes(
        rng, extra, salt, age_group, teams, therapists, end_day
    )
    birth_year = _birth_years(rng, age_group, first_day)

    with write_transaction(out, replace=True, resort=True) as con:
        append_frame(con, "teams", _teams_frame(teams))
        append_frame(con, "therapists", _therapists_frame(therapists, teams))
        for first in range(0, client_count, _chunk_clients):
            rows = slice(first, first + _chunk_clients)
            clients = _clients_frame(rows, client_codes, birth_year, age_group)
            append_frame(con, "clients", clients)
        for first in range(0, len(episodes.client), _chunk_clients):
            rows = slice(first, first + _chunk_clients)
            frame = _episodes_frame(episodes, rows, client_codes, teams, therapists)
            append_frame(con, "episodes", frame)
        session_count = 0
        for first in range(0, client_count, _chunk_clients):
            chunk = range(first, min(first + _chunk_clients, client_count))
            # Who takes part, with when a partner joined, before the sessions: appending
            # episodes and sessions adds only the participant rows that are still missing (the
            # index clients, with the episodes). In bulk, without the row-by-row checks of
            # fitdata.data.participants.ensure_participants: the rows are consistent by
            # construction, and fitdata check verifies the file.
            frame = _participants_frame(chunk, client_codes, participations, episodes)
            con.register("_demo_participants", frame)
            con.execute(
                f"INSERT INTO episode_participants ({', '.join(frame.columns)}) "
                "SELECT * FROM _demo_participants "
                "ANTI JOIN episode_participants USING (episode_id, client_id, rater)"
            )
            con.unregister("_demo_participants")
            frame = _sessions_frame(
                salt,
                chunk,
                client_codes,
                age_group,
                participations,
                episodes,
                teams,
                therapists,
                first_session_id=session_count + 1,
            )
            append_frame(con, "sessions", frame)
            session_count += len(frame)
        (participant_count,) = con.execute("SELECT count(*) FROM episode_participants").fetchone()
    # Case discussions read the flags of the written sessions back, so they are a second write.
    discussion_count = _add_discussions(out, salt, end_day)

    return DemoSummary(
        teams=team_count,
        therapists=therapist_count,
        clients=client_count,
        episodes=len(episodes.client),
        sessions=session_count,
        seconds=time.perf_counter() - clock,
        participants=participant_count,
        discussions=discussion_count,
    )


# --- Organisation -----------------------------------------------------------------------------


def _make_teams(rng: np.random.Generator, count: int) -> _Teams:
    service = np.array([TEAM_SERVICE_CYCLE[i % len(TEAM_SERVICE_CYCLE)] for i in range(count)])
    names = []
    for team in range(count):
        choices = TEAM_NAMES[SERVICES[service[team]]]
        nth = int(np.count_nonzero(service[:team] == service[team]))
        suffix = f" {nth // len(choices) + 1}" if nth >= len(choices) else ""
        names.append(choices[nth % len(choices)] + suffix)
    paper = np.zeros(count, dtype=bool)
    paper[rng.choice(count, min(count - 1, round(PAPER_TEAM_SHARE * count)), replace=False)] = True
    return _Teams(
        ids=_format_ids("T", np.arange(1, count + 1), 2), names=names, service=service, paper=paper
    )


def _make_therapists(
    rng: np.random.Generator, count: int, teams: _Teams, end_day: int
) -> _Therapists:
    team_count = len(teams.names)
    size = rng.gamma(TEAM_SIZE_SHAPE, size=team_count)
    # Every team gets one therapist; the rest are spread by team size.
    team = np.concatenate(
        [
            rng.permutation(team_count),
            rng.choice(team_count, count - team_count, p=size / size.sum()),
        ]
    )
    names = np.strings.add(
        np.strings.add(rng.choice(FIRST_NAMES, count), " "), rng.choice(LAST_NAMES, count)
    )
    # Some therapists moved here from another team of the same service.
    earlier_team = team.copy()
    move_day = np.full(count, np.iinfo(np.int64).min)
    service = teams.service[team]
    teams_in_service = np.bincount(teams.service, minlength=len(SERVICES))
    can_move = np.flatnonzero(teams_in_service[service] >= 2)
    mover_count = min(len(can_move), max(1, round(MOVED_THERAPIST_SHARE * count)))
    movers = rng.choice(can_move, mover_count, replace=False)
    # Another team of the same service: teams sorted by service, skipping the current one.
    by_service = np.argsort(teams.service, kind="stable")
    service_first = np.cumsum(teams_in_service) - teams_in_service
    rank_in_service = np.empty(team_count, dtype=np.int64)
    rank_in_service[by_service] = np.arange(team_count) - service_first[teams.service[by_service]]
    other = rng.integers(0, teams_in_service[service[movers]] - 1)
    other += other >= rank_in_service[team[movers]]
    earlier_team[movers] = by_service[service_first[service[movers]] + other]
    first_day = end_day - DATA_SPAN_DAYS
    move_day[movers] = rng.integers(
        first_day + DATA_SPAN_DAYS // 5, end_day - DATA_SPAN_DAYS // 5, len(movers)
    )
    return _Therapists(
        ids=_format_ids("B", np.arange(1, count + 1), 4),
        names=names,
        team=team,
        earlier_team=earlier_team,
        move_day=move_day,
        caseload=rng.gamma(CASELOAD_SHAPE, size=count),
        gain_effect=rng.normal(0.0, THERAPIST_GAIN_SD, count),
    )


def _choose_therapists(
    rng: np.random.Generator, age_group: np.ndarray, teams: _Teams, therapists: _Therapists
) -> np.ndarray:
    """Pick a therapist for each episode: a service by age group, then by caseload."""
    service_of_therapist = teams.service[therapists.team]
    staffed = np.bincount(service_of_therapist, minlength=len(SERVICES)) > 0
    probabilities = np.array(SERVICE_BY_AGE) * staffed
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    cumulative = probabilities.cumsum(axis=1)
    draw = rng.random(len(age_group))
    service = (draw[:, None] > cumulative[age_group]).sum(axis=1)
    therapist = np.empty(len(age_group), dtype=np.int64)
    for index in range(len(SERVICES)):  # three services
        wanted = np.flatnonzero(service == index)
        pool = np.flatnonzero(service_of_therapist == index)
        if len(wanted):
            weight = therapists.caseload[pool]
            therapist[wanted] = rng.choice(pool, len(wanted), p=weight / weight.sum())
    return therapist


# --- Clients and episodes ---------------------------------------------------------------------


def _plan_episodes(
    rng: np.random.Generator,
    extra: np.random.Generator,
    salt: np.uint64,
    age_group: np.ndarray,
    teams: _Teams,
    therapists: _Therapists,
    end_day: int,
) -> tuple[_Episodes, _Participations, np.ndarray]:
    """Lay out every episode and who takes part in it; return them and each client's first day.

    Every client takes part in a first episode. Some adults share theirs with a partner (a
    couple episode, owned by one of them; the partners' changes are correlated, and a few
    partners join after the first session); some clients come back for a second episode after
    the first has ended, if it starts before ``end_day``. ``extra`` draws what issue 20 added
    (partners who join later, teachers' ratings) without moving any draw of ``rng``.
    """
    client_count = len(age_group)
    adults = np.flatnonzero(age_group == ADULT)
    couple_count = round(COUPLE_CLIENT_SHARE * len(adults) / 2)
    paired = rng.choice(adults, 2 * couple_count, replace=False).reshape(-1, 2)
    owner, partner = paired.min(axis=1), paired.max(axis=1)

    # First episodes: one per client except partners, who join their owner's.
    is_partner = np.zeros(client_count, dtype=bool)
    is_partner[partner] = True
    first_client = np.flatnonzero(~is_partner)
    first_of_client = np.empty(client_count, dtype=np.int64)
    first_of_client[first_client] = np.arange(len(first_client))
    first_of_client[partner] = first_of_client[owner]
    first_format = _draw_formats(rng, age_group[first_client])
    first_format[first_of_client[owner]] = COUPLE

    # Second episodes for some clients, decided now and kept if they fit in time.
    returning = np.flatnonzero(rng.random(client_count) < SECOND_EPISODE_SHARE)
    second_format = _draw_formats(rng, age_group[returning])
    second_gap = SECOND_EPISODE_MIN_GAP_DAYS + rng.exponential(
        SECOND_EPISODE_MEAN_EXTRA_DAYS, len(returning)
    ).astype(np.int64)

    # Each client's part in the first and (possible) second episode.
    first_part = _draw_participants(rng, age_group)
    second_part = _draw_participants(rng, age_group[returning])
    _correlate_partners(first_part, owner, partner)

    # First episodes.
    first_start = _weekday_or_friday(
        rng.integers(end_day - DATA_SPAN_DAYS, end_day + 1, len(first_client))
    )
    first_therapist = _choose_therapists(rng, age_group[first_client], teams, therapists)
    first = _schedule_episodes(
        rng,
        salt,
        date_key=np.arange(len(first_client)),
        start_day=first_start,
        therapist=first_therapist,
        gain_residual=first_part["gain_residual"][first_client],
        therapists=therapists,
        end_day=end_day,
    )

    # Second episodes, after the first has been closed.
    earlier = first_of_client[returning]
    second_start = _weekday_or_friday(first["ended_day"][earlier] + second_gap)
    fits = (first["end_type"][earlier] >= 0) & (second_start <= end_day)
    same_therapist = rng.random(len(returning)) < SAME_THERAPIST_AGAIN_SHARE
    second_therapist = np.where(
        same_therapist,
        first_therapist[earlier],
        _choose_therapists(rng, age_group[returning], teams, therapists),
    )
    second = _schedule_episodes(
        rng,
        salt,
        date_key=len(first_client) + np.arange(len(returning)),
        start_day=np.minimum(second_start, end_day),
        therapist=second_therapist,
        gain_residual=second_part["gain_residual"],
        therapists=therapists,
        end_day=end_day,
    )

    # Number episodes by start (ties by plan order) and keep the second episodes that fit.
    kept_second = np.flatnonzero(fits)
    planned = {key: np.concatenate([first[key], second[key][kept_second]]) for key in first}
    planned["client"] = np.concatenate([first_client, returning[kept_second]])
    planned["format"] = np.concatenate([first_format, second_format[kept_second]])
    order = np.lexsort((planned["date_key"], planned["start_day"]))
    number_of_planned = np.empty(len(order), dtype=np.int64)
    number_of_planned[order] = np.arange(len(order))
    episodes = _Episodes(**{f.name: planned[f.name][order] for f in fields(_Episodes)})

    # Participations: every client in their first episode, returning clients in their second.
    part_client = np.concatenate([np.arange(client_count), returning[kept_second]])
    part_episode = np.concatenate(
        [
            number_of_planned[first_of_client],
            number_of_planned[len(first_client) + np.arange(len(kept_second))],
        ]
    )
    values = {
        key: np.concatenate([first_part[key], second_part[key][kept_second]]) for key in first_part
    }
    therapist_effect = therapists.gain_effect[episodes.therapist[part_episode]]
    unplanned = episodes.end_type[part_episode] == UNPLANNED
    # Partners who join an ongoing couple episode: their first participation (the first
    # episode, at position = client) starts at a later session of the owner's episode.
    couple_episode = number_of_planned[first_of_client[owner]]
    join_at = extra.choice(PARTNER_JOINS_AT_SESSIONS, len(owner))
    joins = extra.random(len(owner)) < PARTNER_JOINS_LATER_SHARE
    long_enough = episodes.sessions[couple_episode] > join_at  # the partner rates 2 or more
    joins &= long_enough
    if not joins.any() and long_enough.any():
        joins[np.flatnonzero(long_enough)[0]] = True
    first_index = np.zeros(len(part_client), dtype=np.int64)
    added_day = np.full(len(part_client), -1, dtype=np.int64)
    late, late_episode = partner[joins], couple_episode[joins]
    first_index[late] = join_at[joins] - 1
    added_day[late] = _session_days(
        salt,
        episodes.date_key[late_episode],
        episodes.start_day[late_episode],
        episodes.interval[late_episode],
        first_index[late],
    )
    first_day = episodes.start_day[number_of_planned[first_of_client]]
    first_day[late] = added_day[late]
    part_order = np.lexsort((part_episode, part_client))
    gain = (values["own_gain"] + therapist_effect)[part_order]
    teacher_rated = (age_group[part_client[part_order]] == CHILD) & (
        extra.random(len(part_order)) < TEACHER_RATED_CHILD_SHARE
    )
    teacher_intake = np.clip(
        values["intake"][part_order]
        + extra.normal(TEACHER_INTAKE_OFFSET, TEACHER_INTAKE_SD, len(part_order)),
        0.0,
        40.0,
    )
    participations = _Participations(
        client=part_client[part_order],
        episode=part_episode[part_order],
        intake=values["intake"][part_order],
        gain=gain,
        srs_deficit=(
            values["srs_deficit"] * np.where(unplanned, SRS_DEFICIT_UNPLANNED_FACTOR, 1.0)
        )[part_order],
        parent_rated=values["parent_rated"][part_order],
        parent_intake=values["parent_intake"][part_order],
        parent_gain=(values["own_gain"] + therapist_effect + values["parent_gain_offset"])[
            part_order
        ],
        teacher_rated=teacher_rated,
        teacher_intake=teacher_intake,
        teacher_gain=gain + extra.normal(0.0, TEACHER_GAIN_SD, len(part_order)),
        first_index=first_index[part_order],
        added_day=added_day[part_order],
    )
    return episodes, participations, first_day


def _correlate_partners(
    part: dict[str, np.ndarray], owner: np.ndarray, partner: np.ndarray
) -> None:
    """Redraw each partner's change from normals correlated with the owner's (in place).

    The owner's draws stay as they are. The partner's two draws (whether they respond, as a
    threshold on a normal, and their deviation from the expected gain) become ``r`` times the
    owner's plus ``sqrt(1 - r**2)`` times their own: still standard normal, so each partner's
    own distribution is the one everybody has (PARTNER_DRAW_CORRELATION explains ``r``).
    """
    r = PARTNER_DRAW_CORRELATION
    rest = math.sqrt(1 - r * r)
    standard = NormalDist()
    to_normal = np.vectorize(standard.inv_cdf, otypes=[float])
    draw = np.clip(part["respond_draw"], 1e-12, 1 - 1e-12)
    latent = r * to_normal(draw[owner]) + rest * to_normal(draw[partner])
    responds = latent >= standard.inv_cdf(NON_RESPONDER_SHARE)
    deviation = r * part["gain_deviation"][owner] + rest * part["gain_deviation"][partner]
    responder_gain = part["responder_gain"][partner]
    own_gain = np.where(responds, responder_gain, 0.0) + deviation
    part["own_gain"][partner] = own_gain
    part["gain_residual"][partner] = own_gain - (1 - NON_RESPONDER_SHARE) * responder_gain


def _draw_formats(rng: np.random.Generator, age_group: np.ndarray) -> np.ndarray:
    """Individual, family (children, adolescents) or group (adults) for one-client episodes."""
    draw = rng.random(len(age_group))
    family_share = np.select(
        [age_group == CHILD, age_group == ADOLESCENT],
        [FAMILY_SHARE[CHILD], FAMILY_SHARE[ADOLESCENT]],
        0.0,
    )
    group_share = np.where(age_group == ADULT, GROUP_SHARE_ADULT, 0.0)
    return np.select([draw < family_share, draw > 1 - group_share], [FAMILY, GROUP], INDIVIDUAL)


def _draw_participants(rng: np.random.Generator, age_group: np.ndarray) -> dict[str, np.ndarray]:
    """Per-client values for one episode: intake, gain, SRS level and a parent's view."""
    count = len(age_group)
    mean, sd = np.array(INTAKE_ORS).T
    intake = np.clip(rng.normal(mean[age_group], sd[age_group]), 0.0, 40.0)
    parent_rated = (age_group == CHILD) & (rng.random(count) < PARENT_RATED_CHILD_SHARE)
    always_40 = rng.random(count) < SRS_ALWAYS_40_SHARE
    responder_gain = GAIN_SLOPE * (np.array(GAIN_TARGET)[age_group] - intake)
    respond_draw = rng.random(count)
    deviation = rng.normal(0.0, GAIN_SD, count)
    own_gain = np.where(respond_draw >= NON_RESPONDER_SHARE, responder_gain, 0.0) + deviation
    return {
        "intake": intake,
        "own_gain": own_gain,
        # The uniform and normal draws behind the gain (couples correlate them).
        "respond_draw": respond_draw,
        "gain_deviation": deviation,
        "responder_gain": responder_gain,
        # What intake does not explain: links a poor response to unplanned endings.
        "gain_residual": own_gain - (1 - NON_RESPONDER_SHARE) * responder_gain,
        "srs_deficit": np.where(
            always_40, 0.0, rng.gamma(SRS_DEFICIT_SHAPE, SRS_DEFICIT_SCALE, count)
        ),
        "parent_rated": parent_rated,
        "parent_intake": np.clip(
            intake + rng.normal(PARENT_INTAKE_OFFSET, PARENT_INTAKE_SD, count), 0.0, 40.0
        ),
        "parent_gain_offset": rng.normal(0.0, PARENT_GAIN_SD, count),
    }


def _schedule_episodes(
    rng: np.random.Generator,
    salt: np.uint64,
    *,
    date_key: np.ndarray,
    start_day: np.ndarray,
    therapist: np.ndarray,
    gain_residual: np.ndarray,
    therapists: _Therapists,
    end_day: int,
) -> dict[str, np.ndarray]:
    """Draw how each episode ends and its sessions, and cut it off at ``end_day``."""
    count = len(date_key)
    residual = gain_residual + therapists.gain_effect[therapist]
    gain_z = (residual - residual.mean()) / residual.std() if count > 1 else np.zeros(count)
    unplanned_log_odds = math.log(UNPLANNED_SHARE / (1 - UNPLANNED_SHARE))
    unplanned_probability = 1 / (
        1 + np.exp(UNPLANNED_LOG_ODDS_PER_SD_GAIN * gain_z - unplanned_log_odds)
    )
    draw = rng.random(count)
    end_type = np.select(
        [draw < unplanned_probability, draw > 1 - TRANSFERRED_SHARE],
        [UNPLANNED, TRANSFERRED],
        PLANNED,
    )
    mean_extra = np.where(end_type == UNPLANNED, SESSIONS_MEAN_UNPLANNED, SESSIONS_MEAN_PLANNED) - 1
    success = mean_extra / (SESSIONS_SD**2)
    planned_sessions = 1 + rng.negative_binomial(mean_extra * success / (1 - success), success)
    interval = rng.uniform(*SESSION_INTERVAL_DAYS, count)

    held, last_day = _sessions_before(
        salt, date_key, start_day, interval, planned_sessions, end_day
    )
    cut_off = held < planned_sessions
    recent = end_day - last_day < RECENT_DAYS
    still_open = cut_off | (recent & (rng.random(count) < RECENT_STILL_OPEN_SHARE))
    ended_day = np.minimum(last_day + rng.integers(0, CLOSING_LAG_DAYS + 1, count), end_day)
    return {
        "therapist": therapist,
        "team": therapists.team_on(therapist, start_day),
        "start_day": start_day,
        "interval": interval,
        "date_key": date_key,
        "sessions": held,
        "ended_day": ended_day,
        "end_type": np.where(still_open, -1, end_type),
    }


def _sessions_before(
    salt: np.uint64,
    date_key: np.ndarray,
    start_day: np.ndarray,
    interval: np.ndarray,
    planned_sessions: np.ndarray,
    end_day: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Count each episode's sessions on or before ``end_day``; return counts and last days."""
    held = np.empty(len(date_key), dtype=np.int64)
    last_day = np.empty(len(date_key), dtype=np.int64)
    for first in range(0, len(date_key), SCHEDULE_BLOCK):  # bounds memory at 10M sessions
        block = slice(first, first + SCHEDULE_BLOCK)
        counts = planned_sessions[block]
        episode = np.repeat(np.arange(len(counts)), counts)
        index = _index_within(counts)
        days = _session_days(
            salt,
            date_key[block][episode],
            start_day[block][episode],
            interval[block][episode],
            index,
        )
        held[block] = np.bincount(episode, weights=days <= end_day, minlength=len(counts))
        starts = np.cumsum(counts) - counts
        last_day[block] = days[starts + held[block] - 1]
    return held, last_day


def _session_days(
    salt: np.uint64,
    date_key: np.ndarray,
    start_day: np.ndarray,
    interval: np.ndarray,
    session_index: np.ndarray,
) -> np.ndarray:
    """The day of each session (0-based ``session_index``) of an episode; strictly increasing."""
    jitter = (
        _unit(_hashed(salt, date_key, session_index, _DATE_JITTER)) * 2 - 1
    ) * SESSION_JITTER_DAYS
    offset = interval * session_index * (1 + SESSION_SPACING_GROWTH * session_index)
    offset += np.where(session_index > 0, jitter, 0.0)
    return _weekday_or_friday(start_day + np.rint(offset).astype(np.int64))


def _birth_years(
    rng: np.random.Generator, age_group: np.ndarray, first_day: np.ndarray
) -> np.ndarray:
    """Birth years that put each client in their age group at their first episode."""
    count = len(age_group)
    adult_age = np.minimum(
        ADULT_AGES[0] + rng.gamma(ADULT_AGE_EXCESS_SHAPE, ADULT_AGE_EXCESS_SCALE, count),
        ADULT_AGES[1],
    ).astype(np.int64)
    age = np.select(
        [age_group == CHILD, age_group == ADOLESCENT],
        [
            rng.integers(CHILD_AGES[0], CHILD_AGES[1] + 1, count),
            rng.integers(ADOLESCENT_AGES[0], ADOLESCENT_AGES[1] + 1, count),
        ],
        adult_age,
    )
    first_year = first_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    return (first_year - age).astype(np.int16)


# --- Sessions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scores:
    """One form's scores for a set of rows, in tenths of a point."""

    items: np.ndarray  # (rows, 4)
    total: np.ndarray
    has_items: np.ndarray  # False on paper or when the form was not given
    has_total: np.ndarray  # False when the form was not given

    @classmethod
    def merged(cls, row_count: int, parts: list[tuple[np.ndarray, _Scores]]) -> _Scores:
        """Scores for ``row_count`` rows, taken from ``(rows, scores)`` parts; absent elsewhere."""
        merged = cls(
            items=np.zeros((row_count, 4), dtype=np.int16),
            total=np.zeros(row_count, dtype=np.int16),
            has_items=np.zeros(row_count, dtype=bool),
            has_total=np.zeros(row_count, dtype=bool),
        )
        for rows, scores in parts:
            merged.items[rows] = scores.items
            merged.total[rows] = scores.total
            merged.has_items[rows] = scores.has_items
            merged.has_total[rows] = scores.has_total
        return merged

    def columns(self, names: tuple[str, str, str, str, str]) -> dict[str, pd.Series]:
        """The four item columns and the total column, as exact decimals."""
        columns = {
            name: _decimals(self.items[:, item], self.has_items)
            for item, name in enumerate(names[:4])
        }
        columns[names[4]] = _decimals(self.total, self.has_total)
        return columns


def _sessions_frame(
    salt: np.uint64,
    clients: range,
    client_codes: np.ndarray,
    age_group: np.ndarray,
    participations: _Participations,
    episodes: _Episodes,
    teams: _Teams,
    therapists: _Therapists,
    *,
    first_session_id: int,
) -> pd.DataFrame:
    """Session rows of a range of clients, ordered by client, episode, date, session and rater."""
    parts = slice(*np.searchsorted(participations.client, [clients.start, clients.stop]))
    episode = participations.episode[parts]
    counts = episodes.sessions[episode] - participations.first_index[parts]
    # One entry per rated session of each participation: who (owner), which episode, which
    # session of the episode (index) and which of the owner's own (own: 0 is their intake).
    owner = np.repeat(np.arange(parts.start, parts.stop), counts)
    session_episode = np.repeat(episode, counts)
    own = _index_within(counts)
    index = own + participations.first_index[owner]
    days = _session_days(
        salt,
        episodes.date_key[session_episode],
        episodes.start_day[session_episode],
        episodes.interval[session_episode],
        index,
    )
    electronic = ~teams.paper[episodes.team[session_episode]]
    reached = 1 - np.exp(-own / EARLY_CHANGE_SESSIONS)
    client_ors = _ors_scores(
        salt,
        owner,
        own,
        participations.intake[owner] + participations.gain[owner] * reached,
        electronic,
        purpose_offset=0,
    )
    client_srs = _srs_scores(salt, owner, own, participations.srs_deficit[owner], electronic)
    # Collateral rows (ORS only) follow the child's row of the same session: a parent's at
    # every session, a teacher's at every TEACHER_RATING_EVERY-th from the first.
    with_parent = participations.parent_rated[owner]
    with_teacher = participations.teacher_rated[owner] & (own % TEACHER_RATING_EVERY == 0)
    parent_ors = _collateral_ors(
        salt,
        owner,
        own,
        reached,
        electronic,
        with_parent,
        participations.parent_intake,
        participations.parent_gain,
        _PARENT_PURPOSES,
    )
    teacher_ors = _collateral_ors(
        salt,
        owner,
        own,
        reached,
        electronic,
        with_teacher,
        participations.teacher_intake,
        participations.teacher_gain,
        _TEACHER_PURPOSES,
    )
    per_session = 1 + with_parent.astype(np.int64) + with_teacher
    rows = np.repeat(np.arange(len(owner)), per_session)
    client_row = np.cumsum(per_session) - per_session
    parent_row = client_row[with_parent] + 1
    teacher_row = client_row[with_teacher] + 1 + with_parent[with_teacher]
    ors = _Scores.merged(
        len(rows),
        [(client_row, client_ors), (parent_row, parent_ors), (teacher_row, teacher_ors)],
    )
    srs = _Scores.merged(len(rows), [(client_row, client_srs)])
    rater = np.zeros(len(rows), dtype=np.int8)
    rater[parent_row] = _RATER_CODES["parent"]
    rater[teacher_row] = _RATER_CODES["teacher"]

    row_episode = session_episode[rows]
    row_client = participations.client[owner[rows]]
    # Forms by the rated client's age group and the episode's format (a collateral rater
    # rates the child's CORS); NULL where the form was not given.
    form = _FORM_CODES[age_group[row_client], episodes.format[row_episode]]
    chunk_episodes, episode_code = np.unique(row_episode, return_inverse=True)
    return pd.DataFrame(
        {
            "session_id": np.arange(first_session_id, first_session_id + len(rows), dtype=np.int64),
            "episode_id": _labels(episode_code, _episode_ids(chunk_episodes)),
            "client_id": _labels(
                row_client - clients.start,
                _client_ids(client_codes[clients.start : clients.stop]),
            ),
            "therapist_id": _labels(episodes.therapist[row_episode], therapists.ids),
            "team_id": _labels(episodes.team[row_episode], teams.ids),
            "session_date": _dates(days[rows]),
            "session_no": (index[rows] + 1).astype(np.int16),
            "rater": _labels(rater, RATERS),
            **ors.columns(ORS_COLUMNS),
            **srs.columns(SRS_COLUMNS),
            "ors_form": _labels(np.where(ors.has_total, form[:, 0], -1), ORS_FORMS),
            "srs_form": _labels(np.where(srs.has_total, form[:, 1], -1), SRS_FORMS),
            "entered_by": _labels(np.zeros(len(rows), dtype=np.int8), _ENTERED_BY_THERAPIST),
        }
    )


def _participants_frame(
    clients: range,
    client_codes: np.ndarray,
    participations: _Participations,
    episodes: _Episodes,
) -> pd.DataFrame:
    """``episode_participants`` rows of a range of clients, one per episode, client and rater.

    Each client's part in each episode (index client, partner, ...), then the parent and the
    teacher who rate that client there (role ``collateral``).
    """
    parts = slice(*np.searchsorted(participations.client, [clients.start, clients.stop]))
    client = participations.client[parts]
    episode = participations.episode[parts]
    with_parent = participations.parent_rated[parts]
    with_teacher = participations.teacher_rated[parts]
    per_part = 1 + with_parent.astype(np.int64) + with_teacher
    rows = np.repeat(np.arange(len(client)), per_part)
    client_row = np.cumsum(per_part) - per_part
    rater = np.zeros(len(rows), dtype=np.int8)
    rater[client_row[with_parent] + 1] = _RATER_CODES["parent"]
    rater[client_row[with_teacher] + 1 + with_parent[with_teacher]] = _RATER_CODES["teacher"]
    is_index = episodes.client[episode] == client
    role = np.where(
        is_index, _ROLE_CODES["index"], _CLIENT_ROLE_OF_FORMAT[episodes.format[episode]]
    )
    role = np.where(rater == 0, role[rows], _ROLE_CODES["collateral"])
    added_day = participations.added_day[parts][rows]
    chunk_episodes, episode_code = np.unique(episode[rows], return_inverse=True)
    return pd.DataFrame(
        {
            "episode_id": _labels(episode_code, _episode_ids(chunk_episodes)),
            "client_id": _labels(
                client[rows] - clients.start,
                _client_ids(client_codes[clients.start : clients.stop]),
            ),
            "role": _labels(role, ROLES),
            "rater": _labels(rater, RATERS),
            "added_on": _dates(added_day, present=(added_day >= 0) & (rater == 0)),
        }
    )


def _collateral_ors(
    salt: np.uint64,
    owner: np.ndarray,
    own: np.ndarray,
    reached: np.ndarray,
    electronic: np.ndarray,
    rated: np.ndarray,
    intake: np.ndarray,
    gain: np.ndarray,
    purpose_offset: int,
) -> _Scores:
    """A parent's or teacher's ORS of the child at the ``rated`` sessions (its own noise)."""
    who = owner[rated]
    expected = intake[who] + gain[who] * reached[rated]
    return _ors_scores(
        salt, who, own[rated], expected, electronic[rated], purpose_offset=purpose_offset
    )


def _ors_scores(
    salt: np.uint64,
    owner: np.ndarray,
    session_index: np.ndarray,
    expected: np.ndarray,
    electronic: np.ndarray,
    *,
    purpose_offset: int,
) -> _Scores:
    """ORS scores around the expected total, with session noise after intake."""
    noise = _normal(_hashed(salt, owner, session_index, _ORS_NOISE + purpose_offset))
    total = np.clip(
        expected + np.where(session_index > 0, ORS_SESSION_NOISE_SD * noise, 0.0), 0, 40
    )
    spread = _item_noise(_hashed(salt, owner, session_index, _ORS_ITEMS + purpose_offset))
    items = _tenths(np.clip(total[:, None] / 4 + ORS_ITEM_SPREAD * spread, 0.0, 10.0))
    given = (
        _unit(_hashed(salt, owner, session_index, _ORS_MISSING + purpose_offset))
        >= ORS_MISSING_SHARE
    )
    return _Scores(
        items=items,
        total=np.where(electronic, items.sum(axis=1), _tenths(total)),
        has_items=electronic & given,
        has_total=given,
    )


def _srs_scores(
    salt: np.uint64,
    owner: np.ndarray,
    session_index: np.ndarray,
    mean_deficit: np.ndarray,
    electronic: np.ndarray,
) -> _Scores:
    """SRS scores: 40 minus a skewed deficit that shrinks a little as the alliance grows."""
    level = np.exp(
        SRS_SESSION_LOG_SD * _normal(_hashed(salt, owner, session_index, _SRS_LEVEL))
        - SRS_SESSION_LOG_SD**2 / 2
    )
    improvement = np.maximum(0.5, 1 - SRS_IMPROVEMENT_PER_SESSION * session_index)
    deficit = np.minimum(mean_deficit * level * improvement, 40.0)
    spread = _item_noise(_hashed(salt, owner, session_index, _SRS_ITEMS))
    item_deficit = deficit[:, None] * (0.25 + SRS_ITEM_SPREAD * spread)
    items = _tenths(np.clip(10 - item_deficit, 0.0, 10.0))
    given = _unit(_hashed(salt, owner, session_index, _SRS_MISSING)) >= SRS_MISSING_SHARE
    return _Scores(
        items=items,
        total=np.where(electronic, items.sum(axis=1), _tenths(40 - deficit)),
        has_items=electronic & given,
        has_total=given,
    )


# --- Case discussions -------------------------------------------------------------------------


def _add_discussions(out: str | Path, salt: np.uint64, end_day: int) -> int:
    """Write a history of case discussions of the flagged cases in ``out``; return how many.

    Reads the written sessions back, so the flags are those the demo's data raise, judged as
    the team review judges them (:mod:`fitdata.analytics.flags`, with the expected
    trajectories fitted on the demo's closed episodes). Only the episodes that could be put on
    an agenda (a hashed draw below the largest :data:`DISCUSSED_SHARE`) are read, in blocks of
    :data:`DISCUSSION_BLOCK` episodes. Nothing here changes a session (see the parameters: no
    effect of a discussion is drawn). The randomness is hashed from (seed, episode number,
    round, purpose), like the sessions', so the result does not depend on the blocks.
    """
    end_date = datetime.date(1970, 1, 1) + datetime.timedelta(days=int(end_day))
    reader = reader_for(out)
    blocks = []
    try:
        model = fit_trajectories(reader)
        episodes = reader.df(
            "SELECT episode_id, team_id, therapist_id, "
            "coalesce(ended - DATE '1970-01-01', 2147483647)::BIGINT AS ended_day "
            "FROM episodes ORDER BY episode_id"
        )
        draw = _draw(salt, _number(episodes["episode_id"]), 0, _AGENDA)
        maybe = episodes[draw < max(DISCUSSED_SHARE.values())]
        for first in range(0, len(maybe), DISCUSSION_BLOCK):
            block = maybe.iloc[first : first + DISCUSSION_BLOCK]
            sessions = reader.df(_DISCUSSED_SESSIONS_SQL, [block["episode_id"].tolist()])
            sessions["session_date"] = _day_numbers(sessions["session_date"])
            sessions = model.expected_lines(sessions)
            blocks.append(_block_discussions(salt, block, sessions, end_date))
    finally:
        reader.close()
    blocks = [block for block in blocks if len(block)]
    if not blocks:
        return 0
    held = pd.concat(blocks, ignore_index=True)
    held = held.sort_values(["discussed_day", "episode_id"], kind="stable", ignore_index=True)
    held["discussion_id"] = np.arange(1, len(held) + 1, dtype=np.int64)
    discussions, changes = _discussion_tables(salt, held, end_day)
    with write_transaction(out) as con:
        for table, frame in (
            ("case_discussions", discussions),
            ("case_discussion_changes", changes),
        ):
            con.register("_demo_rows", frame)
            con.execute(
                f"INSERT INTO {table} ({', '.join(frame.column_names)}) SELECT * FROM _demo_rows"
            )
            con.unregister("_demo_rows")
    return len(held)


def _block_discussions(
    salt: np.uint64, block: pd.DataFrame, sessions: pd.DataFrame, end_date: datetime.date
) -> pd.DataFrame:
    """Every discussion of a block of episodes (:data:`DISCUSSION_ROUNDS` at most each).

    The first at a meeting after the flag, then again at the follow-up.
    """
    end_day = _day_number(end_date)
    agenda = _agenda(salt, session_flags(sessions, lang=None)).merge(block, on="episode_id")
    rounds: list[pd.DataFrame] = []
    planned = _first_discussions(salt, agenda, sessions, end_day)
    for round_no in range(DISCUSSION_ROUNDS):
        if round_no:
            planned = _discussed_again(salt, rounds[-1], agenda, end_day, round_no)
        held = _with_flags_then(planned, sessions, end_date)
        if held.empty:
            break
        rounds.append(_decisions(salt, held, round_no))
    return pd.concat(rounds, ignore_index=True) if rounds else pd.DataFrame()


_DISCUSSED_SESSIONS_SQL = (
    "SELECT episode_id, client_id, session_no, session_date, rater, "
    + ", ".join(f"{c}::DOUBLE AS {c}" for c in (*ORS_COLUMNS, *SRS_COLUMNS))
    + " FROM sessions WHERE rater = 'client' AND episode_id IN (SELECT unnest(?::VARCHAR[])) "
    "ORDER BY episode_id, client_id, session_no"
)

# Purposes of hashed random numbers of the discussions (above the sessions' 0-22).
(
    _AGENDA,
    _MEETING_DAY,
    _FORTNIGHTLY,
    _POSTPONED,
    _FORUM,
    _ACTION,
    _SECOND_ACTION,
    _SECOND_PICK,
    _NOTE,
    _NOTE_PICK,
    _FOLLOW_UP,
    _AGAIN,
    _CHANGE,
    _CHANGE_DAYS,
    _RECORDED_MINUTE,
) = range(32, 47)


def _draw(salt: np.uint64, owner: np.ndarray, round_no: int, purpose: int) -> np.ndarray:
    """Uniform (0, 1) numbers for each owner (episode or team number), round and purpose."""
    return _unit(_hashed(salt, owner.astype(np.int64), np.full(len(owner), round_no), purpose))


def _number(ids: pd.Series) -> np.ndarray:
    """The number in each ``E0000123`` / ``T01`` identifier."""
    return ids.astype(str).str[1:].astype(np.int64).to_numpy()


def _day_numbers(dates: pd.Series) -> np.ndarray:
    return (pd.to_datetime(dates).to_numpy().astype("datetime64[D]")).astype(np.int64)


def _agenda(salt: np.uint64, flags: pd.DataFrame) -> pd.DataFrame:
    """The cases put on a team's agenda: group, and the client and session of the first warning.

    ``flags`` are the block's session flags (:func:`fitdata.analytics.flags.session_flags`).
    The trigger is the first session at which a flag of the most urgent group present fired;
    ``not_on_track`` holds only after ``not_on_track_sessions_now`` (2) sessions below the
    line, so its trigger is the first session below the line after one below it (the meeting
    checks again what holds on its day).
    """
    keys = ["episode_id", "client_id", "session_no"]
    fired = flags[flags["flag"].isin([f for codes in DISCUSSION_TRIGGERS.values() for f in codes])]
    below = fired.loc[fired["flag"] == "not_on_track", keys]
    before = below.assign(session_no=below["session_no"] + 1)
    holds = below.merge(before, on=keys)  # below the line at this session and the one before
    fired = pd.concat(
        [
            fired.loc[fired["flag"] != "not_on_track", [*keys, "flag"]],
            holds.assign(flag="not_on_track"),
        ],
        ignore_index=True,
    )
    group_of = {flag: group for group, codes in DISCUSSION_TRIGGERS.items() for flag in codes}
    rank_of = {group: rank for rank, group in enumerate(DISCUSSION_TRIGGERS)}
    fired["group"] = fired["flag"].map(group_of)
    fired["rank"] = fired["group"].map(rank_of)
    triggers = fired.sort_values(["episode_id", "rank", "session_no", "client_id"])
    triggers = triggers.drop_duplicates("episode_id").reset_index(drop=True)
    share = triggers["group"].map(DISCUSSED_SHARE).to_numpy()
    chosen = _draw(salt, _number(triggers["episode_id"]), 0, _AGENDA) < share
    return triggers.loc[chosen, ["episode_id", "client_id", "group", "session_no"]]


def _next_meeting(salt: np.uint64, team: np.ndarray, after_day: np.ndarray) -> np.ndarray:
    """The day of each team's first meeting after ``after_day`` (weekly or fortnightly)."""
    weekday = (_draw(salt, team, 0, _MEETING_DAY) * 5).astype(np.int64)  # Monday-Friday
    fortnightly = _draw(salt, team, 0, _FORTNIGHTLY) < FORTNIGHTLY_TEAM_SHARE
    parity = (_draw(salt, team, 1, _FORTNIGHTLY) < 0.5).astype(np.int64)
    day = after_day + 1
    day = day + (weekday - (day + 3) % 7) % 7  # day 0 was a Thursday: (day + 3) % 7 is Monday 0
    wrong_week = fortnightly & (((day + 3) // 7) % 2 != parity)
    return day + 7 * wrong_week


def _meeting_interval(salt: np.uint64, team: np.ndarray) -> np.ndarray:
    return np.where(_draw(salt, team, 0, _FORTNIGHTLY) < FORTNIGHTLY_TEAM_SHARE, 14, 7)


def _forums(salt: np.uint64, episode: np.ndarray, round_no: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(FORUM_SHARES), _draw(salt, episode, round_no, _FORUM))


def _first_discussions(
    salt: np.uint64, agenda: pd.DataFrame, sessions: pd.DataFrame, end_day: int
) -> pd.DataFrame:
    """The day each case on the agenda is discussed, and where (before the meeting's check)."""
    keys = ["episode_id", "client_id", "session_no"]
    dated = agenda.merge(sessions[[*keys, "session_date"]], on=keys, how="left")
    # not_on_track's trigger may lie past the client's last session: the flag never held
    dated = dated[dated["session_date"].notna()].reset_index(drop=True)
    episode = _number(dated["episode_id"])
    team = _number(dated["team_id"])
    flag_day = dated["session_date"].to_numpy(dtype=np.int64)
    postponed = np.minimum(
        np.floor(np.log(_draw(salt, episode, 0, _POSTPONED)) / math.log(POSTPONED_SHARE)).astype(
            np.int64
        ),
        MAX_POSTPONED,
    )
    meeting = _next_meeting(salt, team, flag_day) + postponed * _meeting_interval(salt, team)
    forum = _forums(salt, episode, 0)
    # with the client: at the episode's next session after the flag, if there is one
    later = sessions[["episode_id", "session_date"]].drop_duplicates()
    later = dated[["episode_id", "session_date"]].merge(later, on="episode_id", suffixes=("", "_n"))
    later = later[later["session_date_n"] > later["session_date"]]
    next_session = later.groupby("episode_id")["session_date_n"].min()
    next_day = dated["episode_id"].map(next_session).to_numpy(dtype=float)
    with_client = (forum == FORUMS.index("with_client")) & ~np.isnan(next_day)
    forum = np.where((forum == FORUMS.index("with_client")) & ~with_client, 0, forum)
    day = np.where(with_client, np.nan_to_num(next_day).astype(np.int64), meeting)
    return dated.assign(flag_day=flag_day, discussed_day=day, forum=forum)[
        lambda f: (f["discussed_day"] <= end_day) & (f["discussed_day"] < f["ended_day"])
    ]


def _discussed_again(
    salt: np.uint64, before: pd.DataFrame, agenda: pd.DataFrame, end_day: int, round_no: int
) -> pd.DataFrame:
    """Cases discussed again at their follow-up (the team's first meeting from that day)."""
    episode = _number(before["episode_id"])
    again = before[_draw(salt, episode, round_no, _AGAIN) < DISCUSSED_AGAIN_SHARE]
    again = again[["episode_id", "follow_up_day", "discussed_day"]].merge(agenda, on="episode_id")
    team = _number(again["team_id"])
    day = _next_meeting(salt, team, again["follow_up_day"].to_numpy(dtype=np.int64) - 1)
    forum = _forums(salt, _number(again["episode_id"]), round_no)
    forum = np.where(forum == FORUMS.index("with_client"), 0, forum)
    return again.assign(flag_day=again["discussed_day"], discussed_day=day, forum=forum)[
        lambda f: (f["discussed_day"] <= end_day) & (f["discussed_day"] < f["ended_day"])
    ].drop(columns="follow_up_day")


def _with_flags_then(
    planned: pd.DataFrame, sessions: pd.DataFrame, end_date: datetime.date
) -> pd.DataFrame:
    """The planned discussions at which a warning holds, with every flag current that day.

    The flags are :func:`fitdata.analytics.flags.episode_flags` over the sessions up to the
    day (as :func:`fitdata.features.case_discussions.current_flags` judges one case), and
    ``not_seen`` counted from the day itself.
    """
    if planned.empty:
        return planned.assign(flags_then=[])
    day = planned.set_index("episode_id")["discussed_day"]
    frame = sessions[sessions["episode_id"].isin(day.index)]
    frame = frame[frame["session_date"].to_numpy() <= frame["episode_id"].map(day).to_numpy()]
    last = frame.groupby(["episode_id", "client_id"], as_index=False).agg(
        last_day=("session_date", "max"), last_session=("session_no", "max")
    )
    gap = day.reindex(last["episode_id"]).to_numpy() - last["last_day"].to_numpy(dtype=np.int64)
    frame = frame.assign(session_date=frame["session_date"].to_numpy().astype("datetime64[D]"))
    ongoing = pd.DataFrame({"episode_id": day.index, "ended": pd.NaT})
    flags = episode_flags(frame, ongoing, as_of=end_date, lang=None)
    flags = flags[flags["current"] & (flags["flag"] != "not_seen")]
    not_seen = last[gap > 7 * DEFAULT_CONFIG.not_seen_weeks].assign(flag="not_seen")
    flags = pd.concat([flags, not_seen], ignore_index=True)[
        ["episode_id", "client_id", "flag", "last_session"]
    ].sort_values(["episode_id", "client_id", "flag"])
    warned = flags.loc[flags["flag"].map(FLAG_GROUP).isin(WARNING_GROUPS), "episode_id"]
    flags = flags[flags["episode_id"].isin(set(warned))]
    episodes, counts = np.unique(flags["episode_id"].to_numpy(dtype=str), return_counts=True)
    rows = pa.StructArray.from_arrays(
        [
            pa.array(flags["client_id"].to_numpy(dtype=str), pa.string()),
            pa.array(flags["flag"].to_numpy(dtype=str), pa.string()),
            pa.array(flags["last_session"].to_numpy(dtype=np.int16), pa.int16()),
        ],
        names=["client_id", "flag", "session_no"],
    )
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, rows).to_pylist()
    flags_then = dict(zip(episodes, lists, strict=True))
    held = planned[planned["episode_id"].isin(flags_then)].reset_index(drop=True)
    return held.assign(flags_then=held["episode_id"].map(flags_then))


def _decisions(salt: np.uint64, held: pd.DataFrame, round_no: int) -> pd.DataFrame:
    """What was agreed, the note and the follow-up date of each discussion held."""
    episode = _number(held["episode_id"])
    codes = [action.code for action in DISCUSSION_ACTIONS]
    no_change = codes.index("no_change")
    shares = np.array([ACTION_SHARES[g] for g in held["group"]])
    first = (np.cumsum(shares, axis=1) < _draw(salt, episode, round_no, _ACTION)[:, None]).sum(1)
    first = np.minimum(first, len(codes) - 1)
    # a second action: any other but "no change", and none after "no change"
    second = (first + 1 + (_draw(salt, episode, round_no, _SECOND_PICK) * 3).astype(int)) % 4
    has_second = (_draw(salt, episode, round_no, _SECOND_ACTION) < SECOND_ACTION_SHARE) & (
        first != no_change
    )
    agreed = [
        [codes[a], codes[b]] if two else [codes[a]]
        for a, b, two in zip(first, second, has_second, strict=True)
    ]
    note_pick = (_draw(salt, episode, round_no, _NOTE_PICK) * len(NOTES)).astype(int)
    has_note = _draw(salt, episode, round_no, _NOTE) < NOTE_SHARE
    weeks = FOLLOW_UP_WEEKS[0] + (
        _draw(salt, episode, round_no, _FOLLOW_UP) * (FOLLOW_UP_WEEKS[1] - FOLLOW_UP_WEEKS[0] + 1)
    ).astype(np.int64)
    return held.assign(
        agreed=agreed,
        note=np.where(has_note, np.array(NOTES, dtype=object)[note_pick], None),
        follow_up_day=held["discussed_day"].to_numpy(dtype=np.int64) + 7 * weeks,
        round_no=round_no,
    )


def _discussion_tables(
    salt: np.uint64, held: pd.DataFrame, end_day: int
) -> tuple[pa.Table, pa.Table]:
    """The rows of ``case_discussions`` and ``case_discussion_changes`` (Arrow, typed)."""
    key = held["discussion_id"].to_numpy()
    minute = (_draw(salt, key, 0, _RECORDED_MINUTE) * 120).astype(np.int64)
    recorded_at = (
        held["discussed_day"].to_numpy(dtype=np.int64).astype("datetime64[D]")
        + np.timedelta64(13, "h")
        + minute.astype("timedelta64[m]")
    ).astype("datetime64[us]")
    change = _draw(salt, key, 0, _CHANGE)
    withdrawn = change < WITHDRAWN_SHARE
    corrected = (change >= WITHDRAWN_SHARE) & (change < WITHDRAWN_SHARE + CORRECTED_SHARE)
    changed_day = (
        held["discussed_day"].to_numpy(dtype=np.int64)
        + 1
        + (_draw(salt, key, 0, _CHANGE_DAYS) * 7).astype(np.int64)
    )
    changed = (withdrawn | corrected) & (changed_day <= end_day)
    follow_up = held["follow_up_day"].to_numpy(dtype=np.int64)
    corrected &= changed
    notes = [None if pd.isna(note) else str(note) for note in held["note"]]
    flag_type = pa.list_(
        pa.struct([("client_id", pa.string()), ("flag", pa.string()), ("session_no", pa.int16())])
    )
    discussions = pa.table(
        {
            "discussion_id": pa.array(key, pa.int64()),
            "episode_id": pa.array(held["episode_id"], pa.string()),
            "team_id": pa.array(held["team_id"], pa.string()),
            "therapist_id": pa.array(held["therapist_id"], pa.string()),
            "discussed_on": _date_array(held["discussed_day"]),
            "forum": pa.array(np.array(FORUMS)[held["forum"].to_numpy()], pa.string()),
            "flags_then": pa.array(held["flags_then"].tolist(), flag_type),
            "agreed": pa.array(held["agreed"].tolist(), pa.list_(pa.string())),
            "note": pa.array(notes, pa.string()),
            "follow_up_on": _date_array(follow_up + 7 * corrected),
            "source": pa.array(["demo"] * len(held), pa.string()),
            "recorded_by": pa.array(held["therapist_id"], pa.string()),
            "recorded_at": pa.array(recorded_at, pa.timestamp("us")),
        }
    )
    rows = np.flatnonzero(changed)
    changes = pa.table(
        {
            "change_id": pa.array(np.arange(1, len(rows) + 1), pa.int64()),
            "discussion_id": pa.array(key[rows], pa.int64()),
            "episode_id": pa.array(held["episode_id"].to_numpy()[rows], pa.string()),
            "changed_at": pa.array(
                (changed_day[rows].astype("datetime64[D]") + np.timedelta64(9, "h")).astype(
                    "datetime64[us]"
                ),
                pa.timestamp("us"),
            ),
            "changed_by": pa.array(held["therapist_id"].to_numpy()[rows], pa.string()),
            "reason": pa.array(
                np.where(withdrawn[rows], WITHDRAWAL_REASON, CORRECTION_REASON), pa.string()
            ),
            "change_type": pa.array(
                np.where(withdrawn[rows], "withdrawn", "correction"), pa.string()
            ),
            "old_discussed_on": _date_array(held["discussed_day"].to_numpy()[rows]),
            "old_forum": pa.array(np.array(FORUMS)[held["forum"].to_numpy()[rows]], pa.string()),
            "old_agreed": pa.array([held["agreed"].iloc[i] for i in rows], pa.list_(pa.string())),
            "old_note": pa.array([notes[i] for i in rows], pa.string()),
            "old_follow_up_on": _date_array(follow_up[rows]),
        }
    )
    return discussions, changes


def _date_array(days: np.ndarray | pd.Series) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int64).astype(np.int32), pa.int32()).cast(pa.date32())


# --- Frames for the small tables --------------------------------------------------------------


def _teams_frame(teams: _Teams) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "team_id": _text(teams.ids),
            "name": teams.names,
            "service": [SERVICES[s] for s in teams.service],
        }
    )


def _therapists_frame(therapists: _Therapists, teams: _Teams) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "therapist_id": _text(therapists.ids),
            "name": therapists.names,
            "team_id": _labels(therapists.team, teams.ids),
        }
    )


def _clients_frame(
    rows: slice, client_codes: np.ndarray, birth_year: np.ndarray, age_group: np.ndarray
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "client_id": _text(_client_ids(client_codes[rows])),
            "birth_year": birth_year[rows],
            "age_group": _labels(age_group[rows], AGE_GROUPS),
        }
    )


def _episodes_frame(
    episodes: _Episodes,
    rows: slice,
    client_codes: np.ndarray,
    teams: _Teams,
    therapists: _Therapists,
) -> pd.DataFrame:
    end_type = episodes.end_type[rows]
    return pd.DataFrame(
        {
            "episode_id": _text(_episode_ids(np.arange(len(episodes.client))[rows])),
            "client_id": _text(_client_ids(client_codes[episodes.client[rows]])),
            "therapist_id": _labels(episodes.therapist[rows], therapists.ids),
            "team_id": _labels(episodes.team[rows], teams.ids),
            "started": _dates(episodes.start_day[rows]),
            "ended": _dates(episodes.ended_day[rows], present=end_type >= 0),
            "end_type": _labels(end_type, END_TYPES),
            "format": _labels(episodes.format[rows], FORMATS),
        }
    )


# --- Identifiers, dates and columns -----------------------------------------------------------

_RATER_CODES = {rater: code for code, rater in enumerate(RATERS)}
_ROLE_CODES = {role: code for code, role in enumerate(ROLES)}
# The role of a client who is not the episode's index client, by the episode's format.
_CLIENT_ROLE_OF_FORMAT = np.array(
    [_ROLE_CODES[participant_role(format, "client")] for format in FORMATS], dtype=np.int8
)
# (ORS_FORMS code, SRS_FORMS code) of a session by age group and format (default_forms).
_FORM_CODES = np.array(
    [
        [
            (ORS_FORMS.index(ors_form), SRS_FORMS.index(srs_form))
            for ors_form, srs_form in (default_forms(age, format) for format in FORMATS)
        ]
        for age in AGE_GROUPS
    ],
    dtype=np.int8,
)
_ENTERED_BY_THERAPIST = pa.array(["therapist"])
# Every score 0.0-40.0 as an exact decimal, indexed by its tenths.
_DECIMAL_TENTHS = pa.array(
    [Decimal(tenths).scaleb(-1) for tenths in range(401)], pa.decimal128(4, 1)
)


def _format_ids(
    prefix: str, numbers: np.ndarray, width: int, alphabet: bytes = b"0123456789"
) -> pa.StringArray:
    """``prefix`` and ``numbers`` written in ``alphabet`` with ``width`` digits (or more)."""
    base = len(alphabet)
    width = max(width, len(np.base_repr(int(numbers.max(initial=0)), base)))
    places = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = np.frombuffer(alphabet, dtype=np.uint8)[(numbers[:, None] // places) % base]
    head = np.broadcast_to(
        np.frombuffer(prefix.encode(), dtype=np.uint8), (len(numbers), len(prefix))
    )
    text = np.ascontiguousarray(np.concatenate([head, digits], axis=1))
    offsets = np.arange(0, text.size + 1, text.shape[1], dtype=np.int32)
    return pa.StringArray.from_buffers(len(numbers), pa.py_buffer(offsets), pa.py_buffer(text))


def _client_ids(codes: np.ndarray) -> pa.StringArray:
    return _format_ids("K-", codes, CLIENT_CODE_LENGTH, CROCKFORD)


def _episode_ids(numbers: np.ndarray) -> pa.StringArray:
    return _format_ids("E", numbers + 1, 7)


def _text(values: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(values))


def _labels(codes: np.ndarray, names: pa.Array | Sequence[str]) -> pd.Series:
    """A dictionary-encoded column: ``codes`` index ``names``, and -1 is NULL.

    Arrow columns keep the frames small while DuckDB holds them until the transaction commits,
    and DuckDB reads Arrow dictionaries about three times faster than pandas categoricals.
    """
    index_type = np.int8 if len(names) <= 127 else np.int16 if len(names) <= 32767 else np.int32
    indices = pa.array(codes.astype(index_type), mask=codes < 0)
    return _text(pa.DictionaryArray.from_arrays(indices, names))


def _decimals(tenths: np.ndarray, present: np.ndarray) -> pd.Series:
    """Exact one-decimal scores (two bytes a row) from tenths; NULL where not ``present``."""
    return _labels(np.where(present, tenths, -1), _DECIMAL_TENTHS)


def _dates(days: np.ndarray, present: np.ndarray | None = None) -> pd.Series:
    """A DATE column from day numbers (days since 1970-01-01); NULL where not ``present``."""
    mask = None if present is None else ~present
    return _text(pa.array(days.astype(np.int32), mask=mask).cast(pa.date32()))


def _day_number(day: datetime.date) -> int:
    return (day - datetime.date(1970, 1, 1)).days


def _weekday_or_friday(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the Friday before (day 0, 1970-01-01, was a Thursday)."""
    weekday = (days + 3) % 7  # Monday 0 ... Sunday 6
    return days - np.maximum(weekday - 4, 0)


def _index_within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., n-1 for each group of the given sizes, concatenated."""
    starts = np.cumsum(counts) - counts
    return np.arange(counts.sum()) - np.repeat(starts, counts)


def _tenths(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 10).astype(np.int64)


# --- Counter-based random numbers -------------------------------------------------------------


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser: a bijective mix of 64-bit integers with full avalanche."""
    with np.errstate(over="ignore"):
        x = values + _U64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> _U64(27))) * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _hashed(
    salt: np.uint64, owner: np.ndarray, session_index: np.ndarray, purpose: int
) -> np.ndarray:
    """64 random bits for each (owner, session, purpose), the same whichever chunk asks."""
    key = (owner.astype(_U64) << _U64(24)) | (session_index.astype(_U64) << _U64(8)) | _U64(purpose)
    return _splitmix64(key ^ salt)


def _unit(bits: np.ndarray) -> np.ndarray:
    """Uniform numbers in (0, 1) from the top 53 bits."""
    return ((bits >> _U64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _normal(bits: np.ndarray) -> np.ndarray:
    """Standard normal numbers (Box-Muller on the two 32-bit halves)."""
    high = ((bits >> _U64(32)).astype(np.float64) + 0.5) * 2.0**-32
    low = ((bits & _U64(0xFFFFFFFF)).astype(np.float64) + 0.5) * 2.0**-32
    return np.sqrt(-2 * np.log(high)) * np.cos(2 * np.pi * low)


def _item_noise(bits: np.ndarray) -> np.ndarray:
    """Four zero-sum uniform numbers in about (-0.5, 0.5) per row, from 16-bit lanes."""
    lanes = (bits[:, None] >> (_U64(16) * np.arange(4, dtype=_U64))) & _U64(0xFFFF)
    uniform = (lanes.astype(np.float64) + 0.5) / 65536 - 0.5
    return uniform - uniform.mean(axis=1, keepdims=True)

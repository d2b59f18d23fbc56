"""Flags per session and per episode, each carrying the rule and the parameters that produced it.

A flag is something a supervisor or therapist should look at: a client not on track, an alliance
problem, missing feedback, a client not seen for weeks. Every flag row says *which rule* fired,
with the numbers it compared (``value`` against ``threshold``) and an English ``rule`` sentence
naming the threshold and its source (from :data:`fitdata.config.RULES`), so a dashboard can show
why a case is on the list.

Two paths give the same flags:

* :func:`session_flags` and :func:`episode_flags` work on a pandas frame of sessions
  (vectorised: groupby / shift / transform, no per-episode Python loops; module ``frames``).
* :func:`episode_flag_counts` computes the episode flags in DuckDB SQL (window functions) for
  a whole team or service, because loading 10 million sessions into pandas is too slow. Its
  thresholds are SQL parameters taken from the same :class:`~fitdata.config.ClinicalConfig`
  (module ``sql``).

The codes, the columns and the rule sentences both paths share are in module ``rules``.

Flag codes (:data:`FLAGS`):

``not_on_track``
    ORS below the lower expected line. Only when the sessions frame has a ``lower_expected``
    column (e.g. from ``fitdata.analytics.trajectory``); rows where it is NaN are not judged.
    Exactly on the line is on track. The SQL path judges it when given a trajectory ``model``.
    It holds *now* when the last ``config.not_on_track_sessions_now`` (2) judged ORS are all
    below the line.
``no_reliable_change``
    Stagnation: at session number ``>=`` ``config.stagnation_sessions`` (default 6), the
    change from the
    episode's first ORS to this session's ORS is not a reliable improvement under
    :meth:`ClinicalConfig.change_direction` (so +5.0 is reliable by default, +4.9 is not; with
    ``change_at_threshold_is_reliable=False`` +5.0 flags too). Judged only at sessions that have
    an ORS and whose first ORS came from an *earlier* session. A reliable deterioration also
    counts as "no reliable improvement" and raises this flag as well.
``reliable_deterioration``
    The change from the first ORS to this session's ORS is a reliable deterioration
    (``change_direction == -1``: -5.0 flags, -4.9 does not, by default). Any session number.
``srs_below_cutoff``
    SRS total below ``srs_cutoff`` (:meth:`ClinicalConfig.srs_below_cutoff`: 35.9 flags, 36.0
    does not).
``srs_drop``
    SRS total at least ``srs_drop`` (2) below the client's usual level: the mean of the
    episode's earlier SRS totals, known from ``config.srs_drop_min_earlier`` (2) of them on
    (2.0 below flags, 1.9 does not; ``ref`` is the usual level). Sessions without SRS are
    skipped. A 40 -> 39 wobble never flags.
``srs_item_below``
    Any of the four SRS items below ``srs_item_concern`` (8.9 flags, 9.0 does not). ``value``
    is the lowest item; the rule names every item below. Sessions with totals only cannot
    raise it.
``missing_ors`` / ``missing_srs``
    A session without an ORS total / without an SRS total (two separate flags).
``srs_always_40`` (episode only)
    At least ``config.srs_always_max_min_sessions`` (default 3) sessions with an SRS, and
    *every* SRS in the
    episode exactly 40.0 (to the tie tolerance). It may mean the client does not dare to give
    negative feedback. Two sessions at 40 are too few to say so. ``first_session`` is the
    session of the third SRS, when the pattern first became visible.
``not_judged`` (episode only)
    An ongoing episode whose last ORS has no lower expected line (no trajectory cell with
    enough comparable closed episodes), so whether it is on track is unknown. Only with a
    ``lower_expected`` column (pandas) or a ``model`` (SQL). A data-quality prompt.
``not_seen`` (episode only)
    An ongoing episode (``ended`` missing or after ``as_of``) whose client's last session is
    *more than* ``config.not_seen_weeks`` (default 4) weeks before ``as_of``: 29 days flags,
    exactly 28
    days does not (the same "beyond, not at" convention as the cutoffs). ``first_session`` is
    the last session number; ``value`` is the days since it.

Now versus history: every episode row has ``last_session`` (the last session at which the
rule fired) and ``current`` (it holds at the last session, up to ``as_of``, that could raise
it; :data:`NOW_AT`). Resolved flags stay as rows with ``current`` False. :data:`FLAG_GROUP`
puts each code in a group (:data:`WARNING_GROUPS` or ``data_quality``), and :data:`URGENCY` /
:func:`urgency_rank` give the order of urgency from :data:`fitdata.config.URGENCY_ORDER`.

Conventions:

* Only rows with ``rater == 'client'`` are flagged: collateral raters (parent, teacher, partner,
  other) rate someone else's situation, and their missing forms are not missing feedback from
  the client. A frame without a ``rater`` column is taken as all client ratings.
* Sessions are ordered by ``session_no`` within (``episode_id``, ``client_id``); a couple's two
  partners in one episode are flagged separately.
* Ties use the config's tolerance (1e-9) exactly as :mod:`fitdata.config` does, in pandas and
  in SQL, so binary float noise (``20.1 - 15.1 = 5.000000000000002``) never decides a flag.
  Changes and falls are reported rounded to 9 decimals.
* :func:`episode_flags` and :func:`episode_flag_counts` consider only sessions dated on or
  before ``as_of``, so a report as of a past date shows what was known then.
"""

from fitdata.analytics.flags.frames import episode_flags, session_flags
from fitdata.analytics.flags.rules import (
    EPISODE_COLUMNS,
    FLAG_GROUP,
    FLAGS,
    NOW_AT,
    SCORE_FLAGS,
    SESSION_COLUMNS,
    URGENCY,
    WARNING_GROUPS,
    describe_flags,
    urgency_rank,
)
from fitdata.analytics.flags.sql import episode_flag_counts

__all__ = [
    "EPISODE_COLUMNS",
    "FLAGS",
    "FLAG_GROUP",
    "NOW_AT",
    "SCORE_FLAGS",
    "SESSION_COLUMNS",
    "URGENCY",
    "WARNING_GROUPS",
    "describe_flags",
    "episode_flag_counts",
    "episode_flags",
    "session_flags",
    "urgency_rank",
]

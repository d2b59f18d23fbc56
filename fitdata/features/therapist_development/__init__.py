"""Therapist development: one therapist's outcomes over time, beside their team and service.

The page this feeds is written for a therapist's *own* development (Feedback-Informed Treatment's
"me as a therapist" level). It never ranks colleagues and never names another therapist: the
team and the service appear only as aggregates, and every aggregate over fewer than
``config.min_cell_size`` clients is hidden by
:func:`fitdata.analytics.indices.suppress_small_cells`.

Data access is designed for access control. Every read goes through one
:class:`TherapistScope`, constructed with a reader and **one** therapist id. Its methods return
only that therapist's client-episodes (as aggregates) and aggregates of the therapist's own team
and service; the team and the service are looked up from the ``therapists`` table, never passed
in; the widgets never pass ids of their own to a query. The scope first asks who reads: one
therapist's effect size, % recovered and unplanned endings are figures about a named person,
so a leader (aggregates only) is refused, a therapist may open only herself, a supervisor the
therapists of her teams, an admin (or a database without users) everyone
(:class:`fitdata.data.access.AccessDenied`, in the page's language).

What is compared (all over **closed** client-episodes, the client's own ratings):

* *therapist*: episodes whose ``episodes.therapist_id`` is this therapist (in any team);
* *team*: episodes of the therapist's current team (``therapists.team_id``), this therapist
  included;
* *service*: episodes of every team in that team's service.

Outcomes by period (:meth:`TherapistScope.outcomes`), grouped by the quarter of the ending date
(``"quarter"``) or by a rolling year (``"rolling_year"``: the point for 2026Q3 holds the episodes
that ended in 2025Q4 to 2026Q3; most therapists end only a few episodes a quarter, so single
quarters are often below the minimum cell size). Rows come from
:func:`fitdata.analytics.indices.service_indices` (``suppress=False``), then these are added here:

* **% reliably improved** = % recovered + % improved (PCOMS categories: a reliable
  improvement of at least ``ors_reliable_change`` points, with or without crossing the
  cutoff), over the change set (client-episodes with two or more ORS).
* **Intervals**: 95 % confidence intervals. Effect size: Becker (1988), from
  ``service_indices``. Percentages: Wilson score interval (Wilson 1927) with z = 1.959964 over
  the percentage's own denominator (change set, or closed client-episodes for unplanned
  endings). Severity-adjusted effect size: mean of the adjusted changes ± z·SD/√n, divided by
  the reference SD (the reference SD treated as fixed); NaN below 3 client-episodes, as for
  the effect size.
* **Severity-adjusted effect size** with **one** line for everybody: the sample-based
  severity-adjusted effect size of Seidel, Miller & Chow (2014) against the *service's* closed
  change set over its whole history (:func:`fitdata.analytics.indices.severity_line`), for the
  therapist, the team and the service alike:
  (mean(change - (a + b·intake)) + mean_service(change)) / SD_service(intake). It is the
  reference the service page and the report use too (one reference per service), so a team's
  quarter shows the same value on every page (``tests/integration/test_severity_agreement.py``);
  for the team and the service in ``"quarter"`` grouping it equals ``service_indices``' own
  column (tested).

Profiles over all closed episodes (no period): the SRS profile
(:meth:`TherapistScope.srs_profile`: % of the client's sessions with an SRS below
``srs_cutoff``; % of client-episodes with at least ``srs_always_max_min_sessions`` SRS that
were 40.0 every time; the Wilson interval of the session share treats sessions as
independent, which ignores their clustering within clients and so is too narrow), SRS at the
first session against the outcome
(:meth:`TherapistScope.srs_first_vs_outcome`) and the intake severity mix
(:meth:`TherapistScope.intake_mix`).

Speed: the team and service numbers do not depend on the therapist. They are computed once per
database version by :func:`service_comparison`, kept in the kernel and stored beside the
database (:mod:`fitdata.data.cache`, keyed on the file's version, the service, the
configuration and the code of :data:`~.comparison.CODE_MODULES`), so a new kernel reads them in
milliseconds and choosing another therapist runs only that therapist's queries:
:func:`fitdata.analytics.indices.episode_outcomes` filtered to the therapist and one query for
the SRS counts per client-episode (sessions below the SRS cutoff, sessions at 40), which
``episode_outcomes`` does not offer.

Computing the comparison (about 14 s at ten million sessions, was 45 s) avoids repeating rows:
the outcomes by period add up sums, sums of squares and counts per (team or service, quarter)
and a rolling year adds up its four quarters (:func:`.period_sums.outcomes_by_period`); the SRS
profile is counted in DuckDB per team with ``GROUPING SETS``; the other profiles group integer
codes. Tests compare each with the straightforward computation over repeated rows
(``tests/oracles/therapist_development.py``, :func:`.tables.srs_profile_table`).

The modules, from the bottom: ``tables`` (pure tables from client-episode rows),
``period_sums`` (the outcome tables from sums per quarter), ``comparison`` (the team and
service side, cached and stored), ``scope`` (who may read, and the therapist's own side).
"""

from fitdata.features.therapist_development.comparison import (
    ServiceComparison,
    clear_comparison_cache,
    service_comparison,
)
from fitdata.features.therapist_development.scope import TherapistIdentity, TherapistScope
from fitdata.features.therapist_development.tables import (
    GROUPINGS,
    INTAKE_BANDS,
    LEVELS,
    MEASURES,
    SRS_BANDS,
    Grouping,
    quarter_label,
)

__all__ = [
    "GROUPINGS",
    "INTAKE_BANDS",
    "LEVELS",
    "MEASURES",
    "SRS_BANDS",
    "Grouping",
    "ServiceComparison",
    "TherapistIdentity",
    "TherapistScope",
    "clear_comparison_cache",
    "quarter_label",
    "service_comparison",
]

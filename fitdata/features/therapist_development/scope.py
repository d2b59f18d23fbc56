"""The one object the therapist development page reads through: one therapist's scope.

:class:`TherapistScope` checks who may see the therapist (the reader's user), then returns that
therapist's tables beside their team's and service's from :func:`.comparison.service_comparison`.
Its own rows are two SQL queries, kept in the scope, so choosing a grouping or a profile
reads nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fitdata.analytics.indices import OUTCOME_COLUMNS, episode_outcomes
from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data.access import AccessDenied, User, is_aggregate_reader, reader_user
from fitdata.data.store import Reader, StoreError
from fitdata.features.therapist_development.comparison import (
    ServiceComparison,
    service_comparison,
    with_srs_counts,
)
from fitdata.features.therapist_development.period_sums import outcomes_by_period
from fitdata.features.therapist_development.tables import (
    GROUPINGS,
    LEVELS,
    ROLLING_QUARTERS,
    Grouping,
    classify_improvement,
    intake_mix_table,
    outcome_table,
    quarter_label,
    quarter_ordinals,
    srs_first_table,
    srs_profile_table,
    with_periods,
)
from fitdata.i18n import Translator, environment_language

__all__ = ["TherapistIdentity", "TherapistScope"]

# The sessions of the therapist's closed episodes (added to the SRS counts' session filter).
_THERAPIST_SESSIONS = (
    "AND episode_id IN (SELECT episode_id FROM episodes "
    "WHERE therapist_id = $therapist AND ended IS NOT NULL)"
)


@dataclass(frozen=True)
class TherapistIdentity:
    """Who the scope is for, and which team and service they are compared with."""

    therapist_id: str
    name: str
    team_id: str
    team_name: str
    service: str


# --------------------------------------------------------------------------------------------
# Who may see whose development
# --------------------------------------------------------------------------------------------


def _denied(key: str, **values: str) -> AccessDenied:
    """The refusal in the page's language (``$FITDATA_LANG``, as the access layer's own)."""
    return AccessDenied(Translator(environment_language()).text(key, **values))


def _refuse_other_therapists(reader: Reader, user: User | None, therapist_id: str) -> None:
    """Refuse before any read: a leader (or a de-identified reader) and another's therapist.

    One therapist's development page shows her effect size, % recovered and unplanned
    endings: figures about a named person. A leader sees aggregates only, and a therapist
    sees her own page only (fitdata.data.access: the roles).
    """
    if user is None:
        return  # access control is off (a single-user install)
    if user.role == "leader" or is_aggregate_reader(reader):
        raise _denied("development.access.summaries_only", user=user.name)
    if user.role == "therapist" and therapist_id != user.therapist_id:
        raise _denied("development.access.own_only", user=user.name)


def _refuse_outside_teams(
    reader: Reader, user: User | None, therapist_id: str, team_id: str
) -> None:
    """Refuse a supervisor a therapist who is neither in her teams nor has episodes in them."""
    if user is None or user.role != "supervisor" or team_id in user.team_ids:
        return
    # The supervisor's reader shows the episodes of her teams only: one of this therapist's
    # there (from before a change of team) is hers to supervise.
    if reader.rows("SELECT 1 FROM episodes WHERE therapist_id = ? LIMIT 1", [therapist_id]):
        return
    raise _denied(
        "development.access.teams_only",
        user=user.name,
        teams=", ".join(user.team_ids),
        therapist=therapist_id,
    )


# --------------------------------------------------------------------------------------------
# The scope
# --------------------------------------------------------------------------------------------


class TherapistScope:
    """Every read of the therapist development page, for one therapist.

    Methods return this therapist's aggregates and aggregates of their team and service only,
    as tables with a ``level`` column (``"therapist"``, ``"team"``, ``"service"``); no row
    names or identifies another therapist, and every small cell is suppressed. The team and
    service are the therapist's own (from the ``therapists`` table), never chosen by a caller.

    Args:
        reader: The database, as the page's user may see it (the therapist's own rows).
        therapist_id: The therapist whose development is shown.
        config: Thresholds, tie rules and the minimum cell size.
        comparison_reader: Where the team and service figures are computed from: a reader of
            every row of the service that identifies nobody
            (:attr:`fitdata.ui.DashboardContext.aggregate_reader`); default ``reader``.

    Raises:
        AccessDenied: If the reader's user may not see this therapist's figures: a leader (or
            a de-identified :func:`fitdata.data.access.aggregate_reader`) sees nobody's, a
            therapist only her own, a supervisor the therapists of her teams; an admin, or a
            database without users, everyone's.
        StoreError: If the therapist or their team is not in the database.
    """

    def __init__(
        self,
        reader: Reader,
        therapist_id: str,
        *,
        config: ClinicalConfig = DEFAULT_CONFIG,
        comparison_reader: Reader | None = None,
    ) -> None:
        user = reader_user(reader)
        _refuse_other_therapists(reader, user, therapist_id)
        self._reader = reader
        self._comparison_reader = comparison_reader or reader
        self._config = config
        rows = reader.rows(
            "SELECT th.therapist_id, th.name, th.team_id, t.name, t.service "
            "FROM therapists AS th LEFT JOIN teams AS t USING (team_id) "
            "WHERE th.therapist_id = ?",
            [therapist_id],
        )
        if not rows:
            raise StoreError(
                f"Therapist {therapist_id} is not in the therapists table. Choose another "
                "therapist, or run `fitdata check` on the database."
            )
        therapist, name, team_id, team_name, service = rows[0]
        if service is None:
            raise StoreError(
                f"Therapist {therapist_id}'s team {team_id} is not in the teams table. "
                "Run `fitdata check` on the database to list such problems."
            )
        _refuse_outside_teams(reader, user, therapist_id, team_id)
        self._identity = TherapistIdentity(therapist, name, team_id, team_name, service)
        self._own: pd.DataFrame | None = None
        self._own_improvement: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def identity(self) -> TherapistIdentity:
        """The therapist, their current team and its service."""
        return self._identity

    @property
    def config(self) -> ClinicalConfig:
        """The thresholds every number of this scope was computed with."""
        return self._config

    def _comparison(self) -> ServiceComparison:
        return service_comparison(
            self._comparison_reader, self._identity.service, config=self._config
        )

    def _rows(self) -> pd.DataFrame:
        """This therapist's closed client-episodes (kept in the scope; two SQL queries)."""
        if self._own is None:
            therapist = self._identity.therapist_id
            rows = episode_outcomes(self._reader, therapist_id=therapist, closed_only=True)
            # The SRS counts read only the sessions of these client-episodes. Listing their
            # teams as constants lets DuckDB skip every other team's row groups (sessions are
            # stored team by team, see fitdata.data.store.SESSION_ORDER).
            teams = sorted(set(rows["team_id"]))
            params: dict[str, str] = {"therapist": therapist}
            params.update({f"t{i}": team for i, team in enumerate(teams)})
            listed = ", ".join(f"$t{i}" for i in range(len(teams))) or "NULL"
            rows = with_srs_counts(
                self._reader,
                rows,
                f"AND team_id IN ({listed}) {_THERAPIST_SESSIONS}",
                params,
                self._config,
            )
            rows["level"] = "therapist"
            self._own = rows
        return self._own

    def _combine(self, own: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
        mine = others[
            (others["level"] == "service")
            | ((others["level"] == "team") & (others["team_id"] == self._identity.team_id))
        ]
        frames = [f for f in (own, mine) if len(f)]
        if not frames:
            return own.drop(columns=["team_id"], errors="ignore")
        table = pd.concat(frames, ignore_index=True).drop(columns=["team_id"], errors="ignore")
        order = {level: i for i, level in enumerate(LEVELS)}
        table = table.sort_values("level", key=lambda s: s.map(order), kind="stable").reset_index(
            drop=True
        )
        return table

    def outcome_rows(self) -> pd.DataFrame:
        """This therapist's closed client-episodes (one row each, for checks and exports).

        Columns: those of :data:`fitdata.analytics.indices.OUTCOME_COLUMNS` plus ``n_srs_below`` and
        ``n_srs_max``. Client codes are pseudonyms; the dashboard never shows this table.
        """
        return self._rows()[[*OUTCOME_COLUMNS, "n_srs_below", "n_srs_max"]].copy()

    def periods(self, grouping: Grouping = "rolling_year") -> list[str]:
        """The period labels shown on the time axis (the service's span of endings)."""
        quarters = self._comparison().quarters
        if grouping == "rolling_year":
            quarters = quarters[ROLLING_QUARTERS - 1 :]
        return [quarter_label(q) for q in quarters]

    def outcomes(self, grouping: Grouping = "rolling_year") -> pd.DataFrame:
        """Outcome measures with 95 % intervals by period, for the three levels.

        Args:
            grouping: ``"rolling_year"`` (each quarter shows the four quarters up to it) or
                ``"quarter"`` (episodes that ended in the quarter).

        Returns:
            One row per level and period with ``clients``, ``episodes_with_change``,
            ``closed_episodes``, ``intake_ors_mean``, each of :data:`MEASURES` with
            ``_ci_low``/``_ci_high``, and ``suppressed``. Suppressed rows keep only
            ``level`` and ``period``.
        """
        comparison = self._comparison()
        rows = self._rows()
        ordinals = quarter_ordinals(rows["ended"]) if len(rows) else np.array([], dtype=int)
        quarters = comparison.quarters
        if (
            grouping in GROUPINGS
            and quarters
            and np.all((ordinals >= quarters[0]) & (ordinals <= quarters[-1]))
        ):
            own = outcomes_by_period(
                rows, grouping, comparison, self._improvement(), therapist=True
            )
        else:  # endings outside the service's span (another service's episodes): row by row
            periods = with_periods(rows, grouping, quarters)
            own = outcome_table(
                periods, ["level", "period"], comparison.severity_line, self._config
            )
        return self._combine(own, comparison.outcomes_for(grouping))

    def _improvement(self) -> tuple[np.ndarray, np.ndarray]:
        """:func:`classify_improvement` of this therapist's rows (classified once per scope)."""
        if self._own_improvement is None:
            self._own_improvement = classify_improvement(self._rows(), self._config)
        return self._own_improvement

    def srs_profile(self) -> pd.DataFrame:
        """The SRS profile of the three levels over all closed episodes.

        Returns:
            One row per level: ``clients`` (with an SRS), ``srs_sessions``, ``srs_below``,
            ``pct_sessions_below`` (+ interval), ``eligible_clients``/``eligible_episodes``
            (with at least ``srs_always_max_min_sessions`` SRS), ``always_40``,
            ``pct_always_40`` (+ interval) and ``suppressed``.
        """
        own = srs_profile_table(self._rows(), ["level"], self._config)
        return self._combine(own, self._comparison().srs_profile)

    def srs_first_vs_outcome(self) -> pd.DataFrame:
        """% reliably improved and mean change by the band of the first SRS (:data:`SRS_BANDS`).

        Returns:
            One row per level and ``srs_band`` present, suppressed.
        """
        recovered, improved = self._improvement()
        rows = self._rows().assign(_recovered=recovered, _improved=improved)
        own = srs_first_table(rows, ["level"], self._config)
        return self._combine(own, self._comparison().srs_first)

    def intake_mix(self) -> pd.DataFrame:
        """Intake severity mix (:data:`INTAKE_BANDS`) of the three levels.

        Returns:
            One row per level: ``clients``, ``client_episodes``, ``intake_ors_mean``, per band
            ``clients_<band>``, ``episodes_<band>`` and ``pct_<band>`` (share of client-episodes),
            and ``suppressed``; small band counts are hidden with their complement.
        """
        own = intake_mix_table(self._rows(), ["level"], self._config)
        return self._combine(own, self._comparison().intake_mix)

    def span(self) -> tuple[object, object] | None:
        """First and last ending date of this therapist's closed episodes, or None."""
        rows = self._rows()
        if rows.empty:
            return None
        return rows["ended"].min(), rows["ended"].max()

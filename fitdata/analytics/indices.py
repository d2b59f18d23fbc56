"""Service-level indices (ICCE style) over client-episodes, with small-cell suppression.

Two steps, both vectorised:

1. :func:`episode_outcomes` (:mod:`fitdata.analytics.outcomes`) aggregates the ``sessions``
   table in DuckDB to one row per *client-episode* (the client's own ratings,
   ``rater = 'client'``): first and last ORS (by ``session_no``), first SRS, session counts
   and dates, joined to the client's age group and the episode's team, service, therapist,
   format and ending. Filters are SQL parameters.
2. :func:`service_indices` (here) groups those rows with pandas and computes the indices of
   ``shared/domain.md`` ("Service-level indices"), then hides small cells with
   :func:`suppress_small_cells` (:mod:`fitdata.analytics.suppression`), the one helper every
   aggregate table goes through.

A caller that aggregates a whole service in DuckDB instead (the service dashboard) classifies
the client-episodes in SQL with :func:`category_query` and finishes its per-group sums with
:func:`finish_aggregate` and :func:`labelled_table`, so both paths compute each index the same
way. ``episode_outcomes``, ``category_query``, ``OUTCOME_COLUMNS`` and ``suppress_small_cells``
are importable from here too, where the other layers have always found them.

Units. A couple or family episode has one row per participating client (each partner's own
ORS). ``episodes`` counts distinct episodes; every other count and share is over
client-episodes, so each partner's own change and ending count once.

Formulas (all percentages are 0-100; SDs use n - 1):

* **Change set.** Client-episodes with at least two ORS (``n_with_ors >= 2``); change = last
  ORS - first ORS. Episodes with fewer than two ORS count for completeness, sessions, endings
  and ``episodes_lt2_ors`` but not for any change statistic.
* **Pre-post effect size** d = mean(change) / SD(first ORS), both over the group's change set
  (the "standardized mean change" with the pre-test SD as standardizer). 95 % CI by the
  large-sample normal approximation of Becker (1988), *Synthesizing standardized
  mean-change measures*, Br J Math Stat Psychol 41:257-278:
  Var(d) = 2(1 - r)/n + d^2/(2n), with r the Pearson correlation of first and last ORS in the
  group; CI = d +/- 1.959964 * sqrt(Var(d)). NaN when n < 3.
* **Severity-adjusted effect size**: the sample-based severity-adjusted effect size of Seidel,
  Miller & Chow (2014), *Effect size calculations for the clinician: methods and
  comparability*, Psychotherapy Research 24:470-484 (the "ESSA" idea ICCE asks for), with
  **one reference sample per service**: the ordinary least squares line change = a + b *
  intake, the mean change and the SD of intake (n - 1) of the service's change set
  (:func:`severity_reference`). Each client-episode's residual e = change - (a + b * intake)
  is added back to the reference's mean change and divided by the reference's SD of intake;
  a group's value is the mean of these over its change set:
  mean_group((e + mean_ref(change)) / SD_ref(intake)). A group that merely admits more severe
  clients is not rewarded; over the whole reference sample it equals the raw effect size; a
  team-quarter gets the same value whatever else is selected with it. Callers that show a
  selection pass the reference of each service's *closed* change set over its whole history
  (``reference=``, :func:`severity_reference` of ``episode_outcomes(closed_only=True)``), as
  the service page, the therapist development page and the report do; by default the
  reference is the change set passed in, per service. Not OpenFIT's SAES (a large external
  reference, centred so that 0 is "as expected") and not Brown's (clinical-range intakes
  only): never read it against pre-post benchmarks.
* **Categories** (% recovered / improved / unchanged / deteriorated / harmed) from
  :func:`fitdata.analytics.change.pcoms_change` with the config's cutoffs, reliable change and tie
  rules, over the change set.
* **% reliably improved or ended non-clinical** (column ``pct_target``; once called "% reaching
  target"): reliable improvement (recovered or improved), *or* a last ORS in the non-clinical
  range (at or above the age group's cutoff, by the config's tie rule) without a reliable
  deterioration; over the change set. It counts clients who started non-clinical and stayed
  there unchanged, so it is *not* the vendors' "% ending in the successful zone" (measured
  against their own expected trajectory) and no vendor band is drawn beside it.
* **Endings** over closed client-episodes (``ended`` not NULL): % planned, % unplanned, %
  transferred (a transfer is a closed episode that is neither). Unplanned *with* effect: an
  unplanned ending after a reliable improvement (category recovered or improved, first to last
  ORS); *without* effect: every other unplanned ending, including those with fewer than two
  ORS (no effect could be shown). The two add up to % unplanned.
* **Completeness**: % of the client's session rows with an ORS total, and with an SRS total
  (sum over the group's client-episodes of ``n_with_ors`` / sum of ``n_sessions``).
* **Sessions per episode**: mean and SD of ``n_sessions``; **length**: mean of ended -
  started in days, over closed client-episodes.

Small cells: see :func:`suppress_small_cells`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from fitdata.analytics.change import CRITICAL_VALUE, pcoms_change
from fitdata.analytics.outcomes import OUTCOME_COLUMNS, category_query, episode_outcomes
from fitdata.analytics.suppression import AGE_COUNT_COLUMNS, suppress_small_cells
from fitdata.config import AGE_GROUPS, DEFAULT_CONFIG, ClinicalConfig

__all__ = [
    "INDEX_COLUMNS",
    "OUTCOME_COLUMNS",
    "SeverityReference",
    "category_query",
    "episode_outcomes",
    "finish_aggregate",
    "labelled_table",
    "service_indices",
    "severity_line",
    "severity_reference",
    "suppress_small_cells",
]

#: Statistic columns of :func:`service_indices` (after the group keys), in order.
INDEX_COLUMNS: tuple[str, ...] = (
    "clients",
    *(f"clients_{group}" for group in AGE_GROUPS),
    "episodes",
    "client_episodes",
    "episodes_lt2_ors",
    "episodes_with_change",
    "intake_ors_mean",
    "intake_srs_mean",
    "sessions_mean",
    "sessions_sd",
    "length_days_mean",
    "change_mean",
    "effect_size",
    "effect_size_ci_low",
    "effect_size_ci_high",
    "severity_adjusted_es",
    "pct_target",
    "pct_recovered",
    "pct_improved",
    "pct_unchanged",
    "pct_deteriorated",
    "pct_harmed",
    "closed_episodes",
    "pct_planned",
    "pct_unplanned",
    "pct_unplanned_with_effect",
    "pct_unplanned_without_effect",
    "pct_transferred",
    "sessions",
    "pct_sessions_with_ors",
    "pct_sessions_with_srs",
)

_PERIOD_FREQ = {"month": "M", "quarter": "Q", "year": "Y"}

#: The reference line of each service (key: ``teams.service``, None for an episode whose team
#: has no service): ``intercept``, ``slope``, ``mean_change``, ``sd_intake`` and ``n``.
SeverityReference = Mapping[Any, Mapping[str, float]]


# --------------------------------------------------------------------------------------------
# The severity reference: one line per service
# --------------------------------------------------------------------------------------------


def severity_line(intake: np.ndarray, change: np.ndarray) -> dict[str, float]:
    """The OLS line change = a + b * intake over one reference change set, with its mean and SD.

    Args:
        intake: First ORS of each client-episode of the change set (two or more ORS).
        change: Last minus first ORS of the same client-episodes.

    Returns:
        ``intercept``, ``slope``, ``mean_change``, ``sd_intake`` (n - 1) and ``n``; all but
        ``n`` NaN when fewer than two intakes or all intakes equal (no line can be fitted).
    """
    x = np.asarray(intake, dtype="float64")
    y = np.asarray(change, dtype="float64")
    line = {
        "intercept": np.nan,
        "slope": np.nan,
        "mean_change": np.nan,
        "sd_intake": np.nan,
        "n": float(x.size),
    }
    if x.size >= 2 and np.var(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        line.update(
            intercept=float(intercept),
            slope=float(slope),
            mean_change=float(y.mean()),
            sd_intake=float(x.std(ddof=1)),
        )
    return line


def _service_keys(outcomes: pd.DataFrame) -> np.ndarray:
    """Each row's service (None where it has none, or the frame has no service column)."""
    if "service" not in outcomes.columns:
        return np.full(len(outcomes), None, dtype=object)
    services = outcomes["service"].astype(object)
    return services.where(services.notna(), None).to_numpy(dtype=object)


def severity_reference(outcomes: pd.DataFrame) -> dict[Any, dict[str, float]]:
    """The severity reference of every service in ``outcomes``: one line per service.

    Pass the rows of :func:`episode_outcomes` with ``closed_only=True`` and no other filter
    than the service to get the reference the pages use: each service's closed change set
    over its whole history (see the module docstring).
    """
    has_change = outcomes["n_with_ors"].to_numpy() >= 2
    first = outcomes["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = outcomes["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    services = _service_keys(outcomes)
    reference: dict[Any, dict[str, float]] = {}
    for service in dict.fromkeys(services.tolist()):
        rows = has_change & (services == service)
        reference[service] = severity_line(first[rows], (last - first)[rows])
    return reference


def _standardised_adjusted(
    services: np.ndarray, pre: np.ndarray, change: np.ndarray, reference: SeverityReference
) -> np.ndarray:
    """(change - (a + b * pre) + mean change) / SD of intake, with each row's service line."""
    out = np.full(len(services), np.nan)
    for service, line in reference.items():
        rows = services == service
        if rows.any() and line["sd_intake"] > 0:
            fitted = line["intercept"] + line["slope"] * pre[rows]
            out[rows] = (change[rows] - fitted + line["mean_change"]) / line["sd_intake"]
    return out


# --------------------------------------------------------------------------------------------
# Indices
# --------------------------------------------------------------------------------------------


def _derived(
    outcomes: pd.DataFrame, config: ClinicalConfig, reference: SeverityReference | None
) -> tuple[pd.DataFrame, dict]:
    """Per client-episode indicator columns (vectorised), and the severity reference used."""
    frame = outcomes.copy()
    has_change = frame["n_with_ors"].to_numpy() >= 2
    first = frame["first_ors"].to_numpy(dtype="float64", na_value=np.nan)
    last = frame["last_ors"].to_numpy(dtype="float64", na_value=np.nan)
    pre = np.where(has_change, first, np.nan)
    post = np.where(has_change, last, np.nan)
    frame["_has_change"] = has_change.astype("float64")
    frame["_pre"] = pre
    frame["_post"] = post
    frame["_change"] = post - pre
    frame["_sum"] = pre + post

    categories = pd.Series(np.nan, index=frame.index, dtype="object")
    functional_post = np.zeros(len(frame), dtype=bool)
    if has_change.any():
        rows = frame.index[has_change]
        classified = pcoms_change(
            pd.Series(pre[has_change], index=rows),
            pd.Series(post[has_change], index=rows),
            frame.loc[rows, "age_group"],
            config=config,
        )
        categories = classified["category"].astype("object").reindex(frame.index)
        functional_post[has_change] = classified["functional_post"].to_numpy(
            dtype=bool, na_value=False
        )
    category = categories.to_numpy(dtype="object")
    for name in ("recovered", "improved", "unchanged", "deteriorated", "harmed"):
        frame[f"_{name}"] = np.where(has_change, category == name, np.nan).astype("float64")
    improved = np.isin(category, ["recovered", "improved"])
    worse = np.isin(category, ["deteriorated", "harmed"])
    frame["_target"] = np.where(has_change, improved | (functional_post & ~worse), np.nan).astype(
        "float64"
    )

    closed = frame["ended"].notna().to_numpy()
    end_type = frame["end_type"].to_numpy(dtype="object")
    unplanned = end_type == "unplanned"
    for name, value in (
        ("_planned", end_type == "planned"),
        ("_unplanned", unplanned),
        ("_unplanned_with", unplanned & improved),
        ("_unplanned_without", unplanned & ~improved),
        ("_transferred", end_type == "transferred"),
    ):
        frame[name] = np.where(closed, value, np.nan).astype("float64")
    frame["_closed"] = closed.astype("float64")
    days = (pd.to_datetime(frame["ended"]) - pd.to_datetime(frame["started"])).dt.days
    frame["_days"] = days.astype("float64")
    frame["_lt2"] = (~has_change).astype("float64")

    # Severity adjustment: one reference line per service.
    if reference is None:
        reference = severity_reference(outcomes)
    info = {service: dict(line) for service, line in reference.items()}
    adjusted = _standardised_adjusted(_service_keys(outcomes), pre, post - pre, info)
    frame["_adjusted"] = adjusted
    return frame, info


def _group_keys(
    frame: pd.DataFrame,
    by: list[str] | None,
    period: str | None,
    date_column: str,
) -> tuple[pd.DataFrame, list[str]]:
    keys = list(by or [])
    missing = [k for k in keys if k not in frame.columns]
    if missing:
        raise ValueError(f"cannot group by {missing}: not columns of the outcomes")
    if period is not None:
        if period not in _PERIOD_FREQ:
            raise ValueError(f"period must be 'month', 'quarter' or 'year', not {period!r}")
        if date_column not in frame.columns:
            raise ValueError(f"date_column {date_column!r} is not a column of the outcomes")
        dates = pd.to_datetime(frame[date_column])
        frame = frame.loc[dates.notna()].copy()
        frame["period"] = (
            pd.to_datetime(frame[date_column]).dt.to_period(_PERIOD_FREQ[period]).astype(str)
        )
        keys.append("period")
    return frame, keys


def service_indices(
    outcomes: pd.DataFrame,
    *,
    by: list[str] | None = None,
    period: Literal["month", "quarter", "year"] | None = None,
    config: ClinicalConfig = DEFAULT_CONFIG,
    suppress: bool = True,
    date_column: Literal["ended", "started"] = "ended",
    reference: SeverityReference | None = None,
) -> pd.DataFrame:
    """Service indices per group of client-episodes (formulas in the module docstring).

    Args:
        outcomes: Rows of :func:`episode_outcomes` (already filtered).
        by: Columns of ``outcomes`` to group by, e.g. ``["team_id"]``, ``["service"]`` or
            ``["age_group"]``; None or empty for one row over everything.
        period: Also group by the month, quarter or year of ``date_column`` (labels like
            ``"2026-03"``, ``"2026Q1"``, ``"2026"``). Rows without that date (ongoing episodes,
            for the default ``"ended"``) are left out of a period table.
        config: Cutoffs, reliable change, tie rules and the minimum cell size.
        suppress: Apply :func:`suppress_small_cells` (default). Turn off only for internal
            checks; never show an unsuppressed table to a group.
        date_column: The date that assigns a client-episode to a period.
        reference: The severity reference line of each service (:func:`severity_reference`);
            None fits it, per service, over the change set of ``outcomes``. A row whose
            service has no line gets no severity-adjusted value.

    Returns:
        One row per group, sorted by the keys: the keys, then :data:`INDEX_COLUMNS`, then
        ``suppressed``. ``attrs`` holds ``group_keys``, ``config_rule`` (minimum cell size),
        ``severity_adjustment`` (the reference line of each service) and ``formulas``.

    Raises:
        ValueError: If a ``by`` column is unknown, ``period`` is not one of the three, or (from
            :func:`fitdata.analytics.change.pcoms_change`) an age group is missing or an ORS total
            is not recorded to one decimal.
    """
    frame, info = _derived(outcomes, config, reference)
    frame, keys = _group_keys(frame, by, period, date_column)
    if frame.empty:
        table = pd.DataFrame(columns=[*keys, *INDEX_COLUMNS])
    else:
        table = _aggregate(frame, keys)
    return labelled_table(table, keys, info, config, suppress)


def labelled_table(
    table: pd.DataFrame, keys: list[str], info: dict, config: ClinicalConfig, suppress: bool
) -> pd.DataFrame:
    """``table`` with its attrs (keys, formulas, the severity reference) and suppression applied.

    ``info`` is the severity reference: the line of each service (:data:`SeverityReference`).
    """
    table.attrs = {
        "group_keys": keys,
        "min_cell_size": config.min_cell_size,
        "severity_adjustment": info,
        "formulas": {
            "effect_size": "mean(last - first) / SD(first), change set (>= 2 ORS)",
            "effect_size_ci": "Becker 1988: d +/- 1.96 sqrt(2(1 - r)/n + d^2/(2n))",
            "severity_adjusted_es": (
                "mean_group((change - (a_s + b_s*intake) + mean_s(change)) / SD_s(intake)), "
                "s = the client-episode's service (Seidel, Miller & Chow 2014, sample-based)"
            ),
            "pct_target": "reliably improved, or ended in the non-clinical range without a "
            "reliable deterioration (not the vendors' successful zone)",
            "unplanned_with_effect": "unplanned ending with recovered/improved first-to-last",
        },
    }
    if suppress:
        table = suppress_small_cells(table, config=config, gate_change=True)
    else:
        table["suppressed"] = False
    return table


def _aggregate(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    work = frame.assign(_one=0) if not keys else frame
    group = keys or ["_one"]
    grouped = work.groupby(group, dropna=False, sort=True, observed=True)
    agg = grouped.agg(
        clients=("client_id", "nunique"),
        episodes=("episode_id", "nunique"),
        client_episodes=("episode_id", "size"),
        episodes_lt2_ors=("_lt2", "sum"),
        episodes_with_change=("_has_change", "sum"),
        intake_ors_mean=("first_ors", "mean"),
        intake_srs_mean=("first_srs", "mean"),
        sessions_mean=("n_sessions", "mean"),
        sessions_sd=("n_sessions", "std"),
        length_days_mean=("_days", "mean"),
        change_mean=("_change", "mean"),
        _pre_sd=("_pre", "std"),
        _pre_var=("_pre", "var"),
        _post_var=("_post", "var"),
        _sum_var=("_sum", "var"),
        _adjusted=("_adjusted", "mean"),
        pct_target=("_target", "mean"),
        pct_recovered=("_recovered", "mean"),
        pct_improved=("_improved", "mean"),
        pct_unchanged=("_unchanged", "mean"),
        pct_deteriorated=("_deteriorated", "mean"),
        pct_harmed=("_harmed", "mean"),
        closed_episodes=("_closed", "sum"),
        pct_planned=("_planned", "mean"),
        pct_unplanned=("_unplanned", "mean"),
        pct_unplanned_with_effect=("_unplanned_with", "mean"),
        pct_unplanned_without_effect=("_unplanned_without", "mean"),
        pct_transferred=("_transferred", "mean"),
        sessions=("n_sessions", "sum"),
        _ors_given=("n_with_ors", "sum"),
        _srs_given=("n_with_srs", "sum"),
    )
    ages = (
        work.assign(_age=work["age_group"])
        .groupby([*group, "_age"], dropna=False, observed=True)["client_id"]
        .nunique()
        .unstack("_age")
        .reindex(columns=list(AGE_GROUPS))
        .fillna(0)
        .astype("int64")
    )
    ages.columns = list(AGE_COUNT_COLUMNS)
    agg = agg.join(ages).reset_index()
    if not keys:
        agg = agg.drop(columns="_one")
    return finish_aggregate(agg, keys)


def finish_aggregate(agg: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Effect sizes, intervals and percentages from per-group sums, means and variances.

    Shared by :func:`service_indices` and the SQL aggregates of its callers (see the module
    docstring), so both compute these the same way. ``_adjusted`` is the group's mean of the
    client-episodes' standardised adjusted changes (each against its service's reference
    line), i.e. the severity-adjusted effect size itself. The result is
    built as one frame from arrays (not column by column: inserting columns one at a time
    costs more than the arithmetic for tables of a few hundred rows).
    """

    def values(column: str) -> np.ndarray:
        return agg[column].to_numpy(dtype="float64", na_value=np.nan)

    n = values("episodes_with_change")
    pre_sd = values("_pre_sd")
    pre_sd = np.where(pre_sd > 0, pre_sd, np.nan)  # an SD of 0 gives no effect size
    d = values("change_mean") / pre_sd
    pre_var, post_var = values("_pre_var"), values("_post_var")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (values("_sum_var") - pre_var - post_var) / (2 * np.sqrt(pre_var * post_var))
        se = np.sqrt(2 * (1 - r) / n + d**2 / (2 * n))
    se = np.where(n >= 3, se, np.nan)
    computed: dict[str, np.ndarray] = {
        "effect_size": d,
        "effect_size_ci_low": d - CRITICAL_VALUE * se,
        "effect_size_ci_high": d + CRITICAL_VALUE * se,
        "severity_adjusted_es": values("_adjusted"),  # already in units of SD_ref(intake)
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        computed["pct_sessions_with_ors"] = 100.0 * values("_ors_given") / values("sessions")
        computed["pct_sessions_with_srs"] = 100.0 * values("_srs_given") / values("sessions")
    integers = {
        "episodes_lt2_ors",
        "episodes_with_change",
        "closed_episodes",
        "clients",
        "episodes",
        "client_episodes",
        "sessions",
        *AGE_COUNT_COLUMNS,
    }
    out: dict[str, Any] = {key: agg[key].to_numpy() for key in keys}
    for column in INDEX_COLUMNS:
        if column in computed:
            out[column] = computed[column]
        elif column in integers:
            out[column] = agg[column].to_numpy().astype("int64")
        elif column.startswith("pct_"):
            out[column] = 100.0 * values(column)
        else:
            out[column] = agg[column].to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(len(agg)))

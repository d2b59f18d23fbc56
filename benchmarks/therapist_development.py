"""Benchmark: the queries behind each widget change of the therapist development dashboard.

Run with ``python -m benchmarks.therapist_development --sizes 1000000 10000000``. Databases come
from :func:`benchmarks.run.database` (cached in ``benchmarks/cache/``). Reported, never asserted:

* the team and service comparison: computed (no stored copy: the first kernel after an import),
  and read from the file that :mod:`fitdata.model_cache` keeps beside the database (every
  later kernel of the same database version);
* a therapist change: that therapist's scope — one SQL query plus the small pandas
  aggregation of outcomes by period, SRS profile, SRS-at-first-session and intake mix — with
  the comparison already cached (the aim: < 300 ms at 1M, < 1 s at 10M sessions);
* its parts: the therapist's SQL alone, and a change of the period grouping;
* for reference, :func:`fitdata.indices.episode_outcomes` filtered to the same therapist (it
  does not push the filter into the session scan).

Median and p95 milliseconds are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.run import database, timed
from fitdata import development, model_cache
from fitdata.development import TherapistScope, clear_comparison_cache, service_comparison
from fitdata.indices import episode_outcomes
from fitdata.store import reader_for


def bench(path: Path, repeats: int) -> list[tuple[str, float, float]]:
    """Time each widget's query on the database at ``path``."""
    reader = reader_for(path)
    therapists = reader.df(
        "SELECT th.therapist_id, t.service FROM therapists th JOIN teams t USING (team_id) "
        "ORDER BY th.therapist_id"
    )
    service = therapists.iloc[0].service
    same_service = therapists[therapists.service == service].therapist_id.tolist()
    rows = []

    def computed_comparison() -> None:
        clear_comparison_cache()
        for stored in model_cache.cache_dir(path).glob("development-*.json"):
            stored.unlink()
        service_comparison(reader, service)

    median, p95 = timed(computed_comparison, max(2, repeats // 10))
    rows.append(("team + service comparison, computed (first kernel after an import)", median, p95))

    def stored_comparison() -> None:
        clear_comparison_cache()  # a new kernel: the file beside the database is read
        service_comparison(reader, service)

    median, p95 = timed(stored_comparison, max(3, repeats // 4))
    rows.append(("team + service comparison, read from the stored file (new kernel)", median, p95))
    service_comparison(reader, service)  # warm the cache for the therapist changes

    picks = iter(same_service * (repeats // max(len(same_service), 1) + 2))

    def therapist_change() -> None:
        scope = TherapistScope(reader, next(picks))
        scope.outcomes("rolling_year")
        scope.srs_profile()
        scope.srs_first_vs_outcome()
        scope.intake_mix()

    median, p95 = timed(therapist_change, repeats)
    rows.append(("therapist change: scope, all four tables (comparison cached)", median, p95))

    def therapist_sql() -> None:
        TherapistScope(reader, next(picks))._rows()

    median, p95 = timed(therapist_sql, repeats)
    rows.append(("  of which the therapist's SQL query", median, p95))

    scope = TherapistScope(reader, same_service[0])
    scope._rows()
    groupings = iter(["quarter", "rolling_year"] * repeats)
    median, p95 = timed(lambda: scope.outcomes(next(groupings)), repeats)
    rows.append(("period grouping change (rows kept in the scope)", median, p95))

    median, p95 = timed(
        lambda: episode_outcomes(reader, therapist_id=next(picks), closed_only=True),
        max(3, repeats // 4),
    )
    rows.append(("reference: indices.episode_outcomes(therapist_id=...)", median, p95))
    reader.close()
    return rows


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--db", type=Path, nargs="+", help="measure these files instead")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    paths = args.db or [database(size) for size in args.sizes]
    print("| database | query | median ms | p95 ms |")
    print("|---|---|---:|---:|")
    for path in paths:
        for name, median, p95 in bench(path, args.repeats):
            print(f"| {path.name} | {name} | {median:,.0f} | {p95:,.0f} |", flush=True)
    print(f"\ncomparison cache holds up to {development._CACHE_SIZE} services per kernel")


if __name__ == "__main__":
    main()

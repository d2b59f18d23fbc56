"""Benchmark: the service dashboard's filter changes (issue 5: < 300 ms at 1M, < 1 s at 10M).

Run with ``python -m benchmarks.service_dashboard --sizes 1000000 10000000``. Databases come
from :func:`benchmarks.run.database` (cached in ``benchmarks/cache/``).

For each size it measures, in one process that plays the part of one dashboard kernel:

* **page open** — the first summary: the kernel's facts read from DuckDB once (the closed
  client-episodes with their categories, summed per team, month, age group and format, and
  the client-rated sessions per client, team, month, format and age group), then every table
  of the default selection (once; cold);
* **filter changes** — each a *new* value (not a cache hit of an identical selection), timed
  through :func:`fitdata.service_summary.service_summary` with the kernel's cache ("numbers")
  and through :class:`fitdata.ui.service.ServiceView` in plain Python, i.e. the numbers plus
  tables, reading and the five plotly figures ("view"; the browser's drawing is not included);
* **reference (per-change SQL)** — what a filter change would cost if it aggregated the sessions
  again in DuckDB (:func:`fitdata.indices.service_indices_sql` by team for the period, one of
  the several tables a change needs), side by side with the cached path.

Median and p95 in milliseconds, with the load average at the start of each size (the machine
is shared); nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator

from benchmarks.run import database
from fitdata.indices import service_indices_sql
from fitdata.service_summary import (
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
)
from fitdata.store import reader_for


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return statistics.median(ordered), p95


def timed_each(actions: Iterable[Callable[[], object]]) -> list[float]:
    samples = []
    for action in actions:
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench(
    sessions: int, repeats: int, quick: bool = False
) -> Iterator[tuple[str, str, int, float, float]]:
    """Yield one row per measurement, as soon as it is measured."""
    path = database(sessions)
    reader = reader_for(path)
    options = filter_options(reader)
    period = parse_period(options["default_period"])
    teams = options["teams"]
    quarters = options["quarters"]

    cache = SummaryCache(size=256)
    start = time.perf_counter()
    service_summary(reader, ServiceFilters(period), cache=cache)
    open_ms = (time.perf_counter() - start) * 1000
    yield (
        f"{sessions:,}",
        "page open (cold: the kernel's facts into the cache)",
        1,
        open_ms,
        open_ms,
    )

    team_ids = list(teams["team_id"])[:repeats]
    previous = [q for q in quarters if q < period.first][-repeats:]
    scenarios: dict[str, list[ServiceFilters]] = {
        "team change": [ServiceFilters(period, team_id=t) for t in team_ids],
        "period change (quarter)": [ServiceFilters(parse_period(q)) for q in previous],
        "age group change": [
            ServiceFilters(period, age_group=a) for a in ("adult", "adolescent", "child")
        ],
        "format change": [
            ServiceFilters(period, format=f) for f in ("individual", "couple", "family", "group")
        ],
        "service change": [ServiceFilters(period, service=s) for s in options["services"]],
    }
    if quick:  # page open and team changes only
        scenarios = {"team change": scenarios["team change"]}
    for name, selections in scenarios.items():
        samples = timed_each(
            (lambda f=f: service_summary(reader, f, cache=cache)) for f in selections
        )
        yield (f"{sessions:,}", f"numbers: {name}", len(samples), *stats(samples))

    reference = timed_each(
        (
            lambda q=q: service_indices_sql(
                reader,
                by=["team_id"],
                start=parse_period(q).start,
                end=parse_period(q).end,
                closed_only=True,
            )
        )
        for q in previous[: max(2, repeats // 4)]
    )
    yield (
        f"{sessions:,}",
        "reference: indices by team straight from the sessions (SQL, per change)",
        len(reference),
        *stats(reference),
    )
    if quick:
        return
    # The same changes through the view (widgets, tables, reading and figures), plain Python.
    from fitdata.service_summary import kernel_cache

    try:
        from fitdata.ui.context import DashboardContext
        from fitdata.ui.service import ServiceView
    except ImportError as error:  # e.g. a half-finished change elsewhere in fitdata.ui
        yield (f"{sessions:,}", f"view: not measured ({error})", 0, float("nan"), float("nan"))
        return

    kernel_cache().clear()
    start = time.perf_counter()
    view = ServiceView(DashboardContext(path, "en"))
    build_ms = (time.perf_counter() - start) * 1000
    yield (f"{sessions:,}", "view: page open (cold)", 1, build_ms, build_ms)

    def set_value(widget, value) -> Callable[[], None]:
        return lambda: setattr(widget, "value", value)

    team_values = [t for t in view.team.options[1 : repeats + 1]]
    view_scenarios = {
        "team change": [set_value(view.team, value) for _, value in team_values],
        "age group change": [
            set_value(view.age_group, a) for a in ("adult", "adolescent", "child", "")
        ],
        "period change (quarter)": [
            action
            for q in previous[::-1]
            for action in (set_value(view.period_from, q), set_value(view.period_to, q))
        ][: 2 * repeats],
    }
    for name, actions in view_scenarios.items():
        samples = timed_each(actions)
        yield (f"{sessions:,}", f"view: {name}", len(samples), *stats(samples))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="page open and team changes only, numbers only"
    )
    args = parser.parse_args()
    print("| sessions | filter change | n | median ms | p95 ms |")
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"| {size:,} | load average at start: {load} | | | |", flush=True)
        for sessions, name, n, median, p95 in bench(size, args.repeats, args.quick):
            print(f"| {sessions} | {name} | {n} | {median:,.0f} | {p95:,.0f} |", flush=True)


if __name__ == "__main__":
    main()

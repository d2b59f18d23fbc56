"""Benchmark: the service dashboard's filter changes (issue 5: < 300 ms at 1M, < 1 s at 10M).

Run with ``python -m benchmarks.service_dashboard --sizes 1000000 10000000``. Databases come
from :func:`benchmarks.run.database` (cached in ``benchmarks/cache/``).

For each size it measures, in one process that plays the part of one dashboard kernel:

* **page open** — the first summary: episode outcomes of the whole database read from DuckDB
  into the kernel's cache, then every table of the default selection (once; cold);
* **filter changes** — each a *new* value (not a cache hit of an identical selection), timed
  through :func:`fitdata.service_summary.service_summary` with the kernel's cache ("numbers")
  and through :class:`fitdata.ui.service.ServiceView` in plain Python, i.e. the numbers plus
  tables, reading and the five plotly figures ("view"; the browser's drawing is not included).

Median and p95 in milliseconds; nothing is asserted (shared, noisy machines).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable

from benchmarks.run import database
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
) -> list[tuple[str, str, int, float, float]]:
    path = database(sessions)
    reader = reader_for(path)
    options = filter_options(reader)
    period = parse_period(options["default_period"])
    teams = options["teams"]
    quarters = options["quarters"]
    rows: list[tuple[str, str, int, float, float]] = []

    cache = SummaryCache(size=256)
    start = time.perf_counter()
    service_summary(reader, ServiceFilters(period), cache=cache)
    open_ms = (time.perf_counter() - start) * 1000
    rows.append((f"{sessions:,}", "page open (cold: outcomes into the cache)", 1, open_ms, open_ms))

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
        "service change (first visit reads its outcomes)": [
            ServiceFilters(period, service=s) for s in options["services"]
        ],
    }
    if quick:  # page open and team changes only (10M: every other change takes minutes)
        scenarios = {"team change": scenarios["team change"]}
    for name, selections in scenarios.items():
        samples = timed_each(
            (lambda f=f: service_summary(reader, f, cache=cache)) for f in selections
        )
        rows.append((f"{sessions:,}", f"numbers: {name}", len(samples), *stats(samples)))

    if quick:
        return rows
    # The same changes through the view (widgets, tables, reading and figures), plain Python.
    from fitdata.service_summary import kernel_cache
    from fitdata.ui.context import DashboardContext
    from fitdata.ui.service import ServiceView

    kernel_cache().clear()
    start = time.perf_counter()
    view = ServiceView(DashboardContext(path, "en"))
    build_ms = (time.perf_counter() - start) * 1000
    rows.append((f"{sessions:,}", "view: page open (cold)", 1, build_ms, build_ms))

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
        rows.append((f"{sessions:,}", f"view: {name}", len(samples), *stats(samples)))
    return rows


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
        for sessions, name, n, median, p95 in bench(size, args.repeats, args.quick):
            print(f"| {sessions} | {name} | {n} | {median:,.0f} | {p95:,.0f} |", flush=True)


if __name__ == "__main__":
    main()

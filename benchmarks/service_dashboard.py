"""Benchmark: the service dashboard's filter changes (issue 5: < 300 ms at 1M, < 1 s at 10M).

Run with ``python -m benchmarks.service_dashboard --sizes 1000000 10000000``. Databases come
from :func:`benchmarks.run.database` (cached in ``benchmarks/cache/``).

For each size it measures, in one process that plays the part of one dashboard kernel:

* **page open** — the first summary: the kernel's facts read from DuckDB once (the closed
  client-episodes with their categories, summed per team, month, age group and format, and
  the client-rated sessions per client, team, month, format and age group), then every table
  of the default selection (once; cold);
* **filter changes** — each a *new* value (not a cache hit of an identical selection), timed
  through :func:`fitdata.features.service.service_summary` with the kernel's cache ("numbers")
  and through :class:`fitdata.ui.service.ServiceView` in plain Python, i.e. the numbers plus
  tables, reading and the five plotly figures ("view"; the browser's drawing is not included);
* **reference (per-change SQL)** — what a filter change would cost if it aggregated the sessions
  again in DuckDB (:func:`tests.oracles.indices_sql.service_indices_sql` by team for the period, one
  of the several tables a change needs), side by side with the cached path;
* **naive** (issue 8) — ``sessions``, ``episodes``, ``clients`` and ``teams`` loaded into pandas
  once per kernel (its own row), then for every filter change one pandas function of the
  filters over the loaded sessions (:func:`naive_headline`): the closed client-episodes that
  ended in the period (service, team, format, age group), their first and last ORS, and the
  headline numbers: clients, episodes, client-episodes, mean intake ORS, pre-post effect size,
  % reliably improved and % of sessions with an ORS. No trend, team table, completeness by
  quarter, team model or suppression: it does much less than the page. Its headline is
  checked against the page's for the default selection and one team (a ``WARNING`` row says
  where they differ); the naive ms beside each "numbers" row is the median over the same
  selections.

Median and p95 in milliseconds, with the load average at the start of each size (the machine
is shared); nothing is asserted.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator

import pandas as pd

from benchmarks.run import database, load_tables
from fitdata.config import DEFAULT_CONFIG, TIE_TOLERANCE, ClinicalConfig
from fitdata.data.store import Reader, reader_for
from fitdata.features.service import (
    ServiceFilters,
    ServiceSummary,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
)
from tests.oracles.indices_sql import service_indices_sql

#: One measured row: sessions, what, n, median ms, p95 ms, naive median ms (or None).
Row = tuple[str, str, int, float, float, float | None]
_KEYS = ["episode_id", "client_id"]
#: The headline numbers the naive function computes, as named in the page's headline table.
HEADLINE = (
    "clients",
    "episodes",
    "client_episodes",
    "intake_ors_mean",
    "effect_size",
    "pct_reliable_improvement",
    "pct_sessions_with_ors",
)


def load_naive(reader: Reader) -> tuple[dict[str, pd.DataFrame], float]:
    """Every table the page needs, whole, into pandas (what a notebook does first); and its ms."""
    return load_tables(reader, ("sessions", "episodes", "clients", "teams"))


def naive_headline(
    tables: dict[str, pd.DataFrame],
    filters: ServiceFilters,
    config: ClinicalConfig = DEFAULT_CONFIG,
) -> dict[str, float]:
    """The headline numbers for a selection, in pandas from the loaded tables.

    The closed client-episodes that ended in the period (and are of the service, team and
    format chosen), each with its client's own sessions: first and last ORS by session number,
    counts; then the age group filter and the numbers (change set: two or more ORS).
    """
    episodes, teams, sessions = tables["episodes"], tables["teams"], tables["sessions"]
    period = filters.period
    e = episodes[
        (episodes["ended"] >= pd.Timestamp(period.start))
        & (episodes["ended"] <= pd.Timestamp(period.end))
    ]
    if filters.service is not None:
        e = e[e["team_id"].isin(teams.loc[teams["service"] == filters.service, "team_id"])]
    if filters.team_id is not None:
        e = e[e["team_id"] == filters.team_id]
    if filters.format is not None:
        e = e[e["format"] == filters.format]
    s = sessions[(sessions["rater"] == "client") & sessions["episode_id"].isin(e["episode_id"])]
    per = (
        s.sort_values([*_KEYS, "session_no"])
        .groupby(_KEYS)
        .agg(
            n_sessions=("session_no", "size"),
            n_with_ors=("ors_total", "count"),
            first_ors=("ors_total", "first"),  # first / last skip missing values
            last_ors=("ors_total", "last"),
        )
        .reset_index()
    )
    rows = e[["episode_id", "client_id"]].merge(
        per, on="episode_id", how="left", suffixes=("_episode", "")
    )
    rows["client_id"] = rows["client_id"].fillna(rows.pop("client_id_episode"))
    rows = rows.merge(tables["clients"][["client_id", "age_group"]], on="client_id")
    if filters.age_group is not None:
        rows = rows[rows["age_group"] == filters.age_group]
    change_set = rows[rows["n_with_ors"] >= 2]
    change = change_set["last_ors"] - change_set["first_ors"]
    improved = change >= config.ors_reliable_change - TIE_TOLERANCE
    return {
        "clients": rows["client_id"].nunique(),
        "episodes": rows["episode_id"].nunique(),
        "client_episodes": len(rows),
        "intake_ors_mean": rows["first_ors"].mean(),
        "effect_size": change.mean() / change_set["first_ors"].std(),
        "pct_reliable_improvement": 100 * improved.mean(),
        "pct_sessions_with_ors": 100 * rows["n_with_ors"].sum() / rows["n_sessions"].sum(),
    }


def naive_differences(naive: dict[str, float], summary: ServiceSummary) -> list[str]:
    """Where the naive headline disagrees with the page's (empty: agree, or suppressed)."""
    shown = summary.headline.iloc[0]
    if bool(shown["suppressed"]):
        return ["the page's headline is suppressed (fewer clients than the minimum cell size)"]
    page = dict(shown)
    page["pct_reliable_improvement"] = shown["pct_recovered"] + shown["pct_improved"]
    return [
        f"{name} {naive[name]:.6g} vs {float(page[name]):.6g}"
        for name in HEADLINE
        if not math.isclose(float(naive[name]), float(page[name]), rel_tol=1e-9, abs_tol=1e-9)
    ]


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


def bench(sessions: int, repeats: int, quick: bool = False, naive: bool = True) -> Iterator[Row]:
    """Yield one row per measurement, as soon as it is measured."""
    path = database(sessions)
    reader = reader_for(path)
    options = filter_options(reader)
    period = parse_period(options["default_period"])
    teams = options["teams"]
    quarters = options["quarters"]

    cache = SummaryCache(size=256)
    start = time.perf_counter()
    default = service_summary(reader, ServiceFilters(period), cache=cache)
    open_ms = (time.perf_counter() - start) * 1000
    tables: dict[str, pd.DataFrame] = {}
    naive_open = None
    if naive:
        tables, load_ms = load_naive(reader)
        start = time.perf_counter()
        naive_default = naive_headline(tables, ServiceFilters(period))
        naive_open = load_ms + (time.perf_counter() - start) * 1000
        yield (
            f"{sessions:,}",
            "naive: load sessions, episodes, clients, teams into pandas (once per kernel)",
            1,
            load_ms,
            load_ms,
            None,
        )
    yield (
        f"{sessions:,}",
        "page open (cold: the kernel's facts into the cache; naive: load + headline)",
        1,
        open_ms,
        open_ms,
        naive_open,
    )
    if naive:
        first_team = str(teams["team_id"].iloc[0])
        team_filters = ServiceFilters(period, team_id=first_team)
        problems = [
            f"{label}: {problem}"
            for label, naive_numbers, summary in (
                ("default selection", naive_default, default),
                (
                    f"team {first_team}",
                    naive_headline(tables, team_filters),
                    service_summary(reader, team_filters, cache=cache),
                ),
            )
            for problem in naive_differences(naive_numbers, summary)
        ]
        verdict = (
            f"naive headline checked ({period.label}, all teams and team {first_team}): "
            f"the same {', '.join(HEADLINE)} as the page"
            if not problems
            else "WARNING: the naive headline differs from the page's: " + "; ".join(problems)
        )
        yield (f"{sessions:,}", verdict, 0, math.nan, math.nan, None)

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
        naive_ms = None
        if naive:
            naive_samples = timed_each(
                (lambda f=f: naive_headline(tables, f)) for f in selections[: max(3, repeats // 2)]
            )
            naive_ms = stats(naive_samples)[0]
        yield (f"{sessions:,}", f"numbers: {name}", len(samples), *stats(samples), naive_ms)

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
        None,
    )
    if quick:
        return
    # The same changes through the view (widgets, tables, reading and figures), plain Python.
    from fitdata.features.service import kernel_cache

    try:
        from fitdata.ui.context import DashboardContext
        from fitdata.ui.service import ServiceView
    except (ImportError, NameError) as error:  # e.g. a half-finished change in fitdata.ui
        yield (f"{sessions:,}", f"view: not measured ({error})", 0, math.nan, math.nan, None)
        return

    kernel_cache().clear()
    start = time.perf_counter()
    view = ServiceView(DashboardContext(path, "en"))
    build_ms = (time.perf_counter() - start) * 1000
    yield (f"{sessions:,}", "view: page open (cold)", 1, build_ms, build_ms, None)

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
        yield (f"{sessions:,}", f"view: {name}", len(samples), *stats(samples), None)
    yield from _profile_rows(sessions, reader, view)


def _profile_rows(sessions: int, reader, view) -> Iterator[Row]:
    """Issue 5 profiling: what a new kernel pays for the facts, what a team change sends."""
    import json

    import ipywidgets

    from fitdata.config import DEFAULT_CONFIG
    from fitdata.features.service import episode_facts, session_facts

    label = f"{sessions:,}"
    filters = view.filters()
    stored = timed_each(
        [lambda: service_summary(reader, filters, cache=SummaryCache())] * 3
    )  # a new kernel: an empty cache in memory, the facts read from <db>.cache/
    yield (
        label,
        "profile: a new kernel's first summary, facts read from <db>.cache/ (all tables)",
        3,
        *stats(stored),
        None,
    )
    aggregated = timed_each(
        [lambda: (episode_facts(reader, DEFAULT_CONFIG), session_facts(reader))]
    )
    yield (
        label,
        "profile: the facts alone, aggregated in DuckDB (first kernel after a write)",
        1,
        *stats(aggregated),
        None,
    )
    reader.close()

    sent: list[int] = []
    send_state = ipywidgets.Widget.send_state

    def counting(widget, key=None):
        sent.append(len(json.dumps(widget.get_state(key), default=str)))
        return send_state(widget, key)

    ipywidgets.Widget.send_state = counting
    try:
        team_figures = view.team_graph.sent
        per_change = []
        for _, value in view.team.options[1:9]:
            sent.clear()
            view.team.value = value
            per_change.append(sum(sent))
    finally:
        ipywidgets.Widget.send_state = send_state
    yield (
        label,
        f"profile: team change sends {statistics.median(per_change) / 1000:,.1f} kB of widget "
        f"state (median of {len(per_change)}); the team charts were redrawn "
        f"{view.team_graph.sent - team_figures} times",
        0,
        math.nan,
        math.nan,
        None,
    )


def _register_one(path, rng) -> None:
    """One registration as the page makes it: an ORS in a random ongoing episode, a week on."""
    import datetime as dt
    import random

    from fitdata.features import registration as reg
    from fitdata.features.registration_rules import Registration, Scores

    assert isinstance(rng, random.Random)
    rows = reader_for(path).rows(
        "SELECT e.episode_id, e.client_id, e.team_id, e.therapist_id, max(s.session_date) "
        "FROM episodes e JOIN sessions s ON s.episode_id = e.episode_id AND s.rater = 'client' "
        "AND s.client_id = e.client_id WHERE e.ended IS NULL GROUP BY ALL ORDER BY 1 LIMIT 500"
    )
    episode_id, client_id, team_id, therapist_id, last = rng.choice(rows)
    day = last + dt.timedelta(days=7)
    ors = Scores.from_total(round(rng.uniform(5, 38), 1))
    reg.save_session(
        path,
        Registration(team_id, therapist_id, client_id, episode_id, day, ors),
        today=max(day, dt.date.today()),
    )


def _with_and_without_write(
    label: str, name: str, quiet: list[float], written: list[float]
) -> Iterator[Row]:
    """The rows of one measurement without and with a registration before it, and their ratio."""
    for what, samples in (("no write before it", quiet), ("one registration before", written)):
        yield (label, f"after a write: {name}, {what}", len(samples), *stats(samples), None)
    ratio = stats(written)[0] / stats(quiet)[0]
    text = f"after a write: {name}: ratio of medians {ratio:.2f}x"
    yield (label, text, 0, math.nan, math.nan, None)


def bench_after_write(sessions: int, repeats: int) -> Iterator[Row]:
    """The next filter change and the next page open after one registration, beside no write.

    On a copy of the benchmark database (the cached file is never written): a kernel opens the
    page, then in turns changes a filter to a selection it has not shown (no write before it),
    and saves one registration and then changes a filter to another such selection. Both halves
    are timed alike and interleaved, so the machine's load falls on both. Then the same for a
    new kernel's first page (nothing in memory, the facts beside the database), right after a
    write or with none. Issue 19's aim: after a write at most 1.2x the same change without.
    """
    import random
    import shutil
    import tempfile
    from pathlib import Path

    from fitdata.features.service import stored

    source = database(sessions)
    label = f"{sessions:,}"
    rng = random.Random(19)
    with tempfile.TemporaryDirectory(prefix="fitdata-bench-") as folder:
        path = Path(folder) / source.name
        for sibling in source.parent.glob(source.name + "*"):
            if sibling.is_file() and not sibling.name.endswith(".lock"):
                shutil.copyfile(sibling, Path(folder) / sibling.name)
        reader = reader_for(path)
        options = filter_options(reader)
        period = parse_period(options["default_period"])
        cache = SummaryCache(size=256)
        stored.clear_memory()
        service_summary(reader, ServiceFilters(period), cache=cache)  # page open, facts stored
        quarters = [q for q in options["quarters"] if q < period.first][-2 * repeats :]
        teams = list(options["teams"]["team_id"])
        pairs = {
            "period change (quarter)": [ServiceFilters(parse_period(q)) for q in quarters],
            "team change": [ServiceFilters(period, team_id=t) for t in teams[: 2 * repeats]],
        }
        for name, selections in pairs.items():
            quiet, written = [], []
            for plain, after in zip(selections[::2], selections[1::2], strict=False):
                quiet += timed_each([lambda f=plain: service_summary(reader, f, cache=cache)])
                _register_one(path, rng)
                written += timed_each([lambda f=after: service_summary(reader, f, cache=cache)])
            yield from _with_and_without_write(label, name, quiet, written)

        # The facts alone (this change's part), after one registration each: brought forward
        # from the previous version's, beside read whole from the same version.
        from fitdata.config import DEFAULT_CONFIG
        from fitdata.features.service import episode_facts, session_facts

        forward, whole, reopen = [], [], []
        for _ in range(repeats):
            _register_one(path, rng)
            reopen += timed_each([lambda: reader.rows("SELECT 1")])  # opens the new file
            forward += timed_each(
                [
                    lambda: (
                        stored.stored_episode_facts(reader, DEFAULT_CONFIG),
                        stored.stored_session_facts(reader),
                    )
                ]
            )
            whole += timed_each(
                [lambda: (episode_facts(reader, DEFAULT_CONFIG), session_facts(reader))]
            )
            time.sleep(1.0)  # the brought-forward facts are stored in the background
        for what, samples in (
            ("the first query after a write (the reader opens the new file)", reopen),
            ("the facts alone, brought forward from the previous version", forward),
            ("the facts alone, read whole (as before this change)", whole),
        ):
            yield (
                label,
                f"after a write: {what}",
                len(samples),
                *stats(samples),
                None,
            )

        def new_kernel() -> None:
            stored.clear_memory()
            service_summary(reader, ServiceFilters(period), cache=SummaryCache())

        quiet, written = [], []
        for _ in range(max(2, repeats // 2)):
            new_kernel()  # this version's facts stored (brought-forward ones are stored aside)
            time.sleep(1.0)
            quiet += timed_each([new_kernel])
            _register_one(path, rng)
            written += timed_each([new_kernel])
            time.sleep(1.0)
        yield from _with_and_without_write(label, "a new kernel's page open", quiet, written)
        # Let the kernel's delayed stores of brought-forward facts finish before the copy goes.
        time.sleep(stored.STORE_DELAY_SECONDS + 1.0)
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="page open and team changes only, numbers only"
    )
    parser.add_argument(
        "--no-naive", action="store_true", help="skip the naive pandas side of the comparison"
    )
    parser.add_argument(
        "--after-write",
        action="store_true",
        help="only the next change and page open after one registration, beside no write",
    )
    args = parser.parse_args()
    print("| sessions | filter change | n | median ms | p95 ms | naive ms | naive / fitdata |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
        print(f"| {size:,} | load average at start: {load} | | | | | |", flush=True)
        rows = (
            bench_after_write(size, args.repeats)
            if args.after_write
            else itertools.chain(
                bench(size, args.repeats, args.quick, not args.no_naive),
                bench_after_write(size, args.repeats),
            )
        )
        for sessions, name, n, median, p95, naive in rows:
            shown = ["-" if math.isnan(v) else f"{v:,.0f}" for v in (median, p95)]
            naive_text = "-" if naive is None else f"{naive:,.0f}"
            ratio = "-" if naive is None else f"{naive / median:.1f}x"
            print(
                f"| {sessions} | {name} | {n or '-'} | {shown[0]} | {shown[1]} | {naive_text} "
                f"| {ratio} |",
                flush=True,
            )
    if not args.no_naive:
        print(
            "\nNaive: the tables loaded into pandas once per kernel (its row), then one pandas "
            "function of the filters per change over the loaded sessions, giving only the "
            "headline numbers (the page also computes the trend, the team table with its "
            "model, completeness and the reading, from facts it reads once per kernel). Its "
            "figure for page open is the load plus the default headline."
        )


if __name__ == "__main__":
    main()

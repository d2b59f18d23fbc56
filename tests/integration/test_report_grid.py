"""The report renders for every period granularity and filter, and draws no impossible point.

Issue 18: on ``fitdata demo --sessions 100000 --seed 11``, ``fitdata report --period 2025
--episode-format couple`` ended in a traceback (``'xerr' must not contain negative values``):
a team's 100 % reaching target lay 1e-14 above the upper end of its own Wilson interval. This
walks a grid over demo data of three sizes and seeds:

* every period granularity (month, quarter, year, range) × no filter, each service, each age
  group, each format, two teams, and three combinations — the summary's charts must have no
  shown point outside its interval, a team variance of 0 must never show as 0 (0 to 0), the
  reading and notes must say why there is no team model, and the tables, reading, notes and
  the XLSX must be made in both languages (all cheap: about 0.2 s per selection);
* a rotating subset (each granularity with another filter dimension, so each dimension meets
  HTML and PDF on some database) rendered as HTML, PDF and the page's plotly charts, the
  expensive part (matplotlib and reportlab: several seconds per report on a loaded machine);
* the issue's command line itself, and a combination the command refuses with a message.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from fitdata.cli import main
from fitdata.data.store import reader_for
from fitdata.features.service import (
    TEAM_INTERVAL_CHARTS,
    ServiceFilters,
    SummaryCache,
    filter_options,
    parse_period,
    service_summary,
)
from fitdata.i18n import Translator
from fitdata.outputs.report import (
    chart_data,
    display_tables,
    method_notes,
    reading_sentences,
    render,
)
from fitdata.outputs.report.charts import drawable
from fitdata.ui.service_charts import combined_spec, service_figures
from tests.conftest import DEMO_END

#: Demo databases besides the shared default one (20,000 sessions, seed 7): a small service
#: where most cells are hidden and teams are too few to compare, and the issue's size and seed.
GENERATED = {"small": (3_000, 11), "issue": (100_000, 11)}

AGE_GROUPS = ("child", "adolescent", "adult")
FORMATS = ("individual", "couple", "family", "group")
INTERVALS = (
    ("effect_size", "effect_size", "effect_size_ci_low", "effect_size_ci_high"),
    *((key, value, low, high) for key, value, low, high, _, _ in TEAM_INTERVAL_CHARTS),
)


@pytest.fixture(scope="module", params=["small", "default", "issue"])
def database(request, demo_db, tmp_path_factory) -> tuple[str, Path]:
    if request.param == "default":
        return request.param, demo_db
    from fitdata.demo import generate_demo

    sessions, seed = GENERATED[request.param]
    path = tmp_path_factory.mktemp(f"grid-{request.param}") / "demo.duckdb"
    generate_demo(path, sessions=sessions, seed=seed, end_date=DEMO_END)
    return request.param, path


def periods(options: dict[str, Any]) -> dict[str, str]:
    """One period of each granularity, ending in the default (last complete) quarter."""
    quarter = pd.Period(options["default_period"], freq="Q")
    month = quarter.asfreq("M", how="start")
    return {
        "month": f"{month.year}-{month.month:02d}",
        "quarter": str(quarter),
        "year": str(quarter.year),
        "range": f"{quarter - 1}..{quarter}",
    }


def selections(options: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """No filter, each value of each filter dimension one at a time, and three combinations."""
    teams = options["teams"]
    services = options["services"]
    first, last = teams.iloc[0], teams.iloc[-1]
    yield "all", {}
    for service in services:
        yield f"service={service}", {"service": service}
    for age_group in AGE_GROUPS:
        yield f"age={age_group}", {"age_group": age_group}
    for fmt in FORMATS:
        yield f"format={fmt}", {"format": fmt}
    for team in (first, last):
        yield f"team={team['name']}", {"team_id": team["team_id"]}
    yield (
        "service+age+format",
        {
            "service": services[0],
            "age_group": "adult",
            "format": "individual",
        },
    )
    yield (
        "team+format",
        {"service": first["service"], "team_id": first["team_id"], "format": "couple"},
    )
    yield "service+age", {"service": services[-1], "age_group": "child"}


def assert_points_inside_intervals(summary, where: str) -> None:
    """Every shown point of every chart with intervals lies within its own interval."""
    data = chart_data(summary)
    for key, value, low, high in INTERVALS:
        frame = data[key]
        _, refused = drawable(frame, value, low, high)
        assert refused == 0, f"{where}: {key} has a point outside its interval\n{frame}"
        shown = frame[frame[value].notna() & frame[low].notna()]
        assert (shown[low] <= shown[value]).all() and (shown[value] <= shown[high]).all(), where


def assert_honest_team_model(summary, where: str) -> None:
    """No 0 (0 to 0); no model means no estimate, and the reading says why."""
    teams = summary.teams.dropna(subset=["team_effect"])
    rounded = teams[["team_effect", "team_effect_ci_low", "team_effect_ci_high"]].round(1)
    assert not (rounded == 0.0).all(axis=1).any(), f"{where}: a team shown as 0.0 (0.0 to 0.0)"
    model = summary.team_model
    keys = {item.key for item in summary.reading}
    if model.get("too_few_groups"):
        assert teams.empty, where
        assert "service.reading.teams_too_few" in keys, where
    if model.get("no_difference") and len(teams) >= 2:
        assert "service.reading.teams_no_difference" in keys, where
        assert not keys & {"service.reading.team_above", "service.reading.team_below"}, where


def check_text_and_xlsx(summary, where: str) -> None:
    for lang in ("en", "nb"):
        tr = Translator(lang)
        assert display_tables(summary, tr)
        sentences = reading_sentences(summary.reading, tr)
        notes = method_notes(summary, tr)
        assert all(isinstance(s, str) and s for s in [*sentences, *notes]), where
    workbook = load_workbook(io.BytesIO(render(summary, "xlsx", "nb")))
    assert len(workbook.sheetnames) >= 2, where


def test_every_granularity_and_filter_gives_a_report_with_no_impossible_point(database):
    name, path = database
    reader = reader_for(path)
    options = filter_options(reader)
    cache = SummaryCache()
    checked = too_few = no_difference = 0
    for granularity, period in periods(options).items():
        for label, values in selections(options):
            where = f"{name} {granularity} {period} {label}"
            summary = service_summary(
                reader, ServiceFilters(parse_period(period), **values), cache=cache
            )
            assert_points_inside_intervals(summary, where)
            assert_honest_team_model(summary, where)
            check_text_and_xlsx(summary, where)
            checked += 1
            too_few += bool(summary.team_model.get("too_few_groups"))
            no_difference += bool(summary.team_model.get("no_difference"))
    assert checked == 4 * (1 + len(options["services"]) + 3 + 4 + 2 + 3)
    # the grid meets the cases it is for: too few teams to compare somewhere on every database
    assert too_few > 0, name


def test_reports_render_as_html_and_pdf_for_each_granularity_and_dimension(database):
    name, path = database
    reader = reader_for(path)
    options = filter_options(reader)
    cache = SummaryCache()
    chosen = list(selections(options))
    offset = {"small": 0, "default": 1, "issue": 2}[name]
    for index, (granularity, period) in enumerate(periods(options).items()):
        # rotate through the dimensions: each granularity with another filter on each database
        label, values = chosen[(3 * index + offset * 5) % len(chosen)]
        where = f"{name} {granularity} {period} {label}"
        summary = service_summary(
            reader, ServiceFilters(parse_period(period), **values), cache=cache
        )
        lang = ("en", "nb")[index % 2]
        page = render(summary, "html", lang).decode("utf-8")
        assert page.count("<svg") == 5 and "Traceback" not in page, where
        pdf = render(summary, "pdf", lang)
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000, where
        # the page draws the same frames: no error bar of a negative length
        spec = combined_spec(
            service_figures(summary, Translator(lang)),
            ["effect_size", "team_effect", "team_target"],
        )
        for trace in spec["data"]:
            for bar in ("error_x", "error_y"):
                if bar in trace:
                    lengths = [
                        v
                        for v in (*trace[bar]["array"], *trace[bar]["arrayminus"])
                        if v is not None
                    ]
                    assert all(v >= 0 for v in lengths), where


def test_the_issues_command_writes_the_report_and_a_refused_one_says_why(
    database, tmp_path, capsys
):
    name, path = database
    if name != "issue":
        pytest.skip("the command line once, on the issue's size and seed")
    options = filter_options(reader_for(path))
    year = periods(options)["year"]
    for fmt in ("html", "pdf", "xlsx"):
        out = tmp_path / f"r.{fmt}"
        argv = ["report", "--db", str(path), "--period", year, "--episode-format", "couple"]
        assert main([*argv, "--out", str(out)]) == 0
        assert out.stat().st_size > 1_000
    teams = options["teams"]
    other = next(s for s in options["services"] if s != teams.iloc[0]["service"])
    out = tmp_path / "refused.html"
    argv = ["report", "--db", str(path), "--period", year, "--team", teams.iloc[0]["team_id"]]
    assert main([*argv, "--service", other, "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "is not in the service" in error and "Traceback" not in error
    assert not out.exists()

"""The client printout: one A4 page with the graph and the scores, in both languages."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from pypdf import PdfReader

from fitdata.cli import main
from fitdata.config import DEFAULT_CONFIG
from fitdata.data import access, client_links, store
from fitdata.data.audit import audit_path
from fitdata.data.store import StoreError, reader_for
from fitdata.features import client_page
from fitdata.i18n import Translator
from fitdata.outputs.client_report import (
    MAX_TABLE_ROWS,
    client_graph_figure,
    client_report_data,
    client_report_pdf,
)

DAY = dt.date(2025, 2, 3)
SHOTS = Path("/tmp/shots/P1")
ORS_BLUE = (0x00, 0x72, 0xB2)
SRS_GREEN = (0x00, 0x9E, 0x73)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "report.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "ola", "therapist", therapist_id="B2")
    yield path
    reader_for(path).close()


def page_text(pdf: Path) -> str:
    pages = PdfReader(pdf).pages
    assert len(pages) == 1, "one page"
    return pages[0].extract_text()


def render(pdf: Path, name: str) -> np.ndarray:
    """Page 1 as pixels (pypdfium2), also saved as a PNG to look at."""
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(str(pdf))
    image = document[0].render(scale=1.5).to_pil().convert("RGB")
    SHOTS.mkdir(parents=True, exist_ok=True)
    image.save(SHOTS / f"{name}.png")
    document.close()
    return np.asarray(image)


def share_of(pixels: np.ndarray, colour: tuple[int, int, int]) -> float:
    close = np.abs(pixels.astype(int) - np.array(colour)).sum(axis=2) < 40
    return float(close.mean())


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_printout_is_one_page_with_the_graph_and_the_scores(db, tmp_path, lang) -> None:
    _, grant = client_links.issue_client_link(db, episode_id="E1", session_date=DAY, actor="kari")
    client_page.submit_client_form(db, grant, "ors", [7.3, 6.0, 5.5, 6.2], lang=lang, today=DAY)
    kari = access.reader_for_user(db, "kari")
    out = client_report_pdf(kari, "E1", lang=lang, out=tmp_path / f"k-{lang}.pdf", today=DAY)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600, "the file holds a client's scores"
    text = page_text(out)
    words = {
        "en": ["Feedback scores", "Client K-ADULT1", "Printed 2025-02-03", "Today 25.",
               "gone up 7 points", "25.4", "7.3", "Entered by", "client", "Individually"],
        "nb": ["Tilbakemeldingsskårer", "Klient K-ADULT1", "Skrevet ut 03.02.2025", "I dag 25.",
               "gått opp 7 poeng", "25,4", "7,3", "Registrert", "klient", "Individuelt"],
    }[lang]  # fmt: skip
    for word in words:
        assert word in text, word
    for name in ("Kari Nordmann", "Team 2", "K-ONE"):
        assert name not in text
    pixels = render(out, f"client_report_{lang}")
    assert share_of(pixels, ORS_BLUE) > 0.001, "the ORS line is drawn"
    assert share_of(pixels, SRS_GREEN) > 0.001, "the SRS line is drawn"
    entry = json.loads(audit_path(db).read_text("utf-8").splitlines()[-1])
    assert (entry["user"], entry["action"], entry["client_id"]) == (
        "kari",
        "client_report",
        "K-ADULT1",
    )


def test_a_childs_printout_and_a_long_episode_stay_one_page(db, tmp_path) -> None:
    with store.write_transaction(db) as con:  # 30 more weekly sessions for K-TEN
        con.execute(
            "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
            "session_date, session_no, rater, ors_total, srs_total) "
            "SELECT 1000 + i, 'E5', 'K-TEN', 'B2', 'T10', DATE '2025-03-10' + 7 * i::INTEGER, "
            "10 + i, 'client', 24 + (i % 5), 39 FROM range(1, 31) t(i)"
        )
    out = client_report_pdf(reader_for(db), "E5", lang="en", out=tmp_path / "ten.pdf")
    text = page_text(out)
    assert f"The table shows the last {MAX_TABLE_ROWS} of 40 sessions" in text
    render(out, "client_report_long_en")
    child = client_report_pdf(reader_for(db), "E4", lang="nb", out=tmp_path / "child.pdf")
    text = page_text(child)
    assert "CORS: 1 Individuelt" in text and "CSRS: 1 Relasjon" in text
    _, age_group, _, sessions = client_report_data(reader_for(db), "E4")
    cutoffs = (DEFAULT_CONFIG.ors_cutoff(age_group), DEFAULT_CONFIG.srs_cutoff)
    figure = client_graph_figure(sessions, ("CORS", "CSRS"), cutoffs, Translator("nb"))
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert age_group == "child"
    assert legend == ["CORS", "CSRS", "Klinisk grense for CORS (32)", "Grense for CSRS (36)"]
    lines = figure.axes[0].get_lines()
    assert list(lines[0].get_ydata()) == [28.0, 29.0, 30.0], "the child's own ratings only"
    render(child, "client_report_child_nb")


def test_scopes_decide_whose_printout_can_be_made(db, tmp_path) -> None:
    ola = access.reader_for_user(db, "ola")
    with pytest.raises(StoreError, match="no episode"):
        client_report_pdf(ola, "E1", lang="en", out=tmp_path / "no.pdf")
    assert not (tmp_path / "no.pdf").exists()
    access.add_user(db, "leder", "leader")
    with pytest.raises(access.AccessDenied):
        client_report_pdf(access.reader_for_user(db, "leder"), "E1", lang="en", out=tmp_path / "l")
    _, grant = client_links.issue_client_link(db, episode_id="E1", actor="kari")
    own = client_report_pdf(
        client_links.client_reader(db, grant), "E1", lang="nb", out=tmp_path / "own.pdf"
    )
    assert "K-ADULT1" in page_text(own)
    with pytest.raises(StoreError, match="no client"):  # the partner's rows are not the link's
        client_report_pdf(client_links.client_reader(db, grant), "E1", "K-ONE", lang="en",
                          out=tmp_path / "x.pdf")  # fmt: skip


def test_the_command_line_writes_it(db, tmp_path, capsys) -> None:
    out = tmp_path / "cli.pdf"
    status = main(
        [
            "client-report",
            "--db",
            str(db),
            "--episode",
            "E1",
            "--lang",
            "nb",
            "--out",
            str(out),
            "--user",
            "kari",
        ]  # fmt: skip
    )
    assert status == 0 and "Wrote" in capsys.readouterr().out
    assert "Tilbakemeldingsskårer" in page_text(out)
    assert main(["client-report", "--db", str(db), "--episode", "E1", "--out", "x.txt"]) == 2
    assert "ending in .pdf" in capsys.readouterr().err
    status = main(
        [
            "client-report",
            "--db",
            str(db),
            "--episode",
            "E1",
            "--out",
            str(tmp_path / "o.pdf"),
            "--user",
            "ola",
        ]  # fmt: skip
    )
    assert status == 2 and "no episode 'E1'" in capsys.readouterr().err

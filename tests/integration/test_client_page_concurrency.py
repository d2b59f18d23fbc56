"""Clients sending their forms from their phones at once, while a team review is open."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import shutil
import time

import pytest

from fitdata.data import access, client_links
from fitdata.data.store import check_database, reader_for
from tests.integration import client_page_workers

pytestmark = pytest.mark.slow

# (episode, client, ORS marks, SRS marks): three clients of two teams
CLIENTS = [
    ("E1", "K-ADULT1", [6.1, 5.2, 7.3, 6.0], [9.0, 9.2, 8.8, 9.5]),
    ("E2", "K-ONE", [4.0, 4.4, 3.9, 5.0], [8.0, 8.5, 9.0, 9.1]),
    ("E5", "K-TEN", [7.7, 7.0, 6.6, 7.1], [9.9, 9.9, 9.7, 10.0]),
]


def test_clients_send_at_once_while_a_team_review_reads(tiny_db, tmp_path) -> None:
    path = tmp_path / "phones.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T2"])
    today = dt.date.today()
    tokens = [
        client_links.issue_client_link(path, episode_id=e, session_date=today, actor="kari")
        for e, *_ in CLIENTS
    ]
    tap_token, tap_grant = client_links.issue_client_link(
        path, episode_id="E3", session_date=today, actor="kari"
    )
    start = int(reader_for(path).rows("SELECT count(*) FROM sessions")[0][0])
    context = multiprocessing.get_context("spawn")
    with context.Pool(len(CLIENTS) + 4) as pool:
        start_at = time.time() + 8.0  # every process imported and waiting
        review = pool.apply_async(
            client_page_workers.team_review_reads, (str(path), "sigrid", 14.0, start_at)
        )
        phones = [
            pool.apply_async(
                client_page_workers.client_sends, (str(path), token, ors, srs, start_at)
            )
            for (token, _), (_, _, ors, srs) in zip(tokens, CLIENTS, strict=True)
        ]
        taps = [
            pool.apply_async(
                client_page_workers.double_tap, (str(path), tap_token, [5, 5, 5, 5], start_at)
            )
            for _ in range(2)
        ]
        therapist = pool.apply_async(client_page_workers.therapist_registers, (str(path), start_at))
        sent = [p.get(timeout=300) for p in phones]
        tapped = sorted(t.get(timeout=300) for t in taps)
        saved = therapist.get(timeout=300)
        seen = review.get(timeout=300)

    for result in sent:
        assert result["errors"] == [], result["errors"]
        assert result["open_after_ors"] == ("srs",)
        assert result["sessions"][0] == result["sessions"][1], "the SRS joined the ORS's session"
    assert tapped == ["ok", "used"], "a form sent twice at once lands once"
    assert seen["errors"] == [], seen["errors"][:3]
    assert len(seen["counts"]) > 5 and seen["counts"] == sorted(seen["counts"])
    assert len(set(seen["counts"])) > 1, "the team review saw the new sessions on its next read"

    base = reader_for(path)
    # nothing lost, nothing doubled: one session per client today, and the therapist's
    assert base.rows("SELECT count(*) FROM sessions")[0][0] == start + len(CLIENTS) + 2
    for (episode, client, ors, srs), result in zip(CLIENTS, sent, strict=True):
        rows = base.rows(
            "SELECT session_id, ors_total::DOUBLE, srs_total::DOUBLE, entered_by, ors_form "
            "FROM sessions WHERE episode_id = ? AND client_id = ? AND session_date = ?",
            [episode, client, today],
        )
        assert rows == [
            (result["sessions"][0], round(sum(ors), 1), round(sum(srs), 1), "client", "ORS")
        ]
    taps_written = base.rows(
        "SELECT count(*) FROM sessions WHERE episode_id = 'E3' AND session_date = ?", [today]
    )
    assert taps_written == [(1,)]
    uses = base.rows("SELECT count(*), count(DISTINCT (link_id, form)) FROM client_form_uses")
    assert uses == [(2 * len(CLIENTS) + 1, 2 * len(CLIENTS) + 1)]
    assert base.rows(
        "SELECT count(*) FROM sessions WHERE session_id = ?", [saved["session_id"]]
    ) == [(1,)]
    assert base.rows("SELECT count(DISTINCT session_id) = count(*) FROM sessions") == [(True,)]
    assert tap_grant.link_id in {r[0] for r in base.rows("SELECT link_id FROM client_form_uses")}
    assert check_database(path).ok
    assert access.verify_audit(path) == []
    base.close()

"""The audit log holds up against editing, removal and a full disk, and records every client read.

The log (<db>.audit.jsonl) is a keyed MAC chain: each line's HMAC-SHA256 covers the line and the
MAC before it, with a key kept outside the database and the log (<db>.audit.key, or the file
named by FITDATA_AUDIT_KEY_FILE). The entry count and last MAC are anchored in a side file at
every entry and inside the database at every database write, so `fitdata audit --verify` also
finds lines removed from the end, a truncated file and a deleted one. Each tamper test below
passed `--verify` with the plain SHA-256 chain this replaced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from fitdata.cli import main
from fitdata.data import access, queries, store
from fitdata.data.store import reader_for
from fitdata.features import registration, team_review


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def db(tiny_db, tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("FITDATA_AUDIT_KEY_FILE", raising=False)
    path = tmp_path / "audit.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T3"])
    yield path
    reader_for(path).close()


def log(db: Path) -> Path:
    return access.audit_path(db)


def opened(db: Path, times: int) -> None:
    """Kari opens her client's graph ``times`` times: one audit line each."""
    kari = access.reader_for_user(db, "kari")
    for _ in range(times):
        queries.client_sessions(kari, "E1", "K-ADULT1")


def verify(db: Path, capsys) -> tuple[int, str]:
    code = main(["audit", "--verify", "--db", str(db)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def lines(db: Path) -> list[str]:
    return log(db).read_text(encoding="utf-8").splitlines()


def write_lines(db: Path, kept: list[str]) -> None:
    log(db).write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def test_an_untouched_log_verifies(db, capsys) -> None:
    opened(db, 3)
    assert verify(db, capsys) == (0, f"{log(db)}: 3 entries, each following the one before.\n")


def test_removing_the_last_lines_is_detected(db, capsys) -> None:
    opened(db, 4)
    write_lines(db, lines(db)[:2])
    code, out = verify(db, capsys)
    assert code == 1 and "removed" in out, out


@pytest.mark.parametrize("keep", [0, 0.5])
def test_truncating_the_file_is_detected(db, capsys, keep) -> None:
    opened(db, 3)
    data = log(db).read_bytes()
    log(db).write_bytes(data[: int(len(data) * keep)])
    code, out = verify(db, capsys)
    assert code == 1 and "removed" in out, out


def test_deleting_the_file_is_detected(db, capsys) -> None:
    opened(db, 2)
    log(db).unlink()
    code, out = verify(db, capsys)
    assert code == 1 and "removed" in out, out


def test_editing_the_last_line_is_detected(db, capsys) -> None:
    opened(db, 3)
    kept = lines(db)
    kept[-1] = kept[-1].replace("K-ADULT1", "K-ONE")
    write_lines(db, kept)
    code, out = verify(db, capsys)
    assert code == 1 and "line 3" in out, out


def test_editing_a_line_and_recomputing_a_plain_chain_is_detected(db, capsys) -> None:
    """Without the key nobody can recompute the chain: a plain SHA-256 chain anyone could."""
    opened(db, 4)
    kept = [json.loads(line) for line in lines(db)]
    kept[1]["client_id"] = "K-ONE"
    previous = "0" * 64
    rewritten = []
    for entry in kept:
        if "prev" in entry:  # the chain this replaced
            entry["prev"] = previous
        if "mac" in entry:  # what an editor without the key can do
            body = {k: v for k, v in entry.items() if k != "mac"}
            entry["mac"] = hashlib.sha256(json.dumps(body).encode()).hexdigest()
        line = json.dumps(entry, ensure_ascii=False)
        previous = hashlib.sha256(line.encode()).hexdigest()
        rewritten.append(line)
    write_lines(db, rewritten)
    code, out = verify(db, capsys)
    assert code == 1 and "line 2" in out, out


def test_the_database_anchor_finds_what_the_side_file_cannot(db, capsys) -> None:
    """Entries written before a database write stay anchored in the database itself."""
    opened(db, 3)
    access.add_user(db, "ola", "therapist", therapist_id="B2")  # a database write: anchors 3
    opened(db, 1)
    for path in (log(db), log(db).with_name(log(db).name.replace(".jsonl", ".anchor"))):
        path.unlink()  # the log and its side anchor both gone
    code, out = verify(db, capsys)
    assert code == 1 and "database" in out and "3" in out, out


def test_a_torn_last_line_is_reported_once_and_skipped(db, capsys) -> None:
    """A write cut short (a full disk, a killed kernel) must not make every later audit fail."""
    opened(db, 2)
    with open(log(db), "ab") as handle:
        handle.write(b'{"at": "2026-11-02T10:00:00Z", "user": "kar')  # no end, no newline
    assert main(["audit", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 2
    assert captured.err.count("line 3") == 1 and "skipped" in captured.err
    opened(db, 1)  # the next entry starts on a line of its own and continues the chain
    assert main(["audit", "--db", str(db)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    code, out = verify(db, capsys)
    assert code == 0, out
    assert "line 3" in out and "skipped" in out


def test_a_failed_append_leaves_no_torn_line(db, monkeypatch) -> None:
    from fitdata.data import audit_chain

    opened(db, 1)
    before = log(db).read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(audit_chain.os, "write", half_then_full)
    with pytest.raises(store.StoreError, match="No space left on device"):
        opened(db, 1)
    monkeypatch.undo()
    assert log(db).read_bytes() == before
    assert access.verify_audit(db) == []


def test_the_key_is_kept_outside_the_database_and_the_log(db, tmp_path, monkeypatch) -> None:
    opened(db, 1)
    key = db.with_name(db.name + ".audit.key")
    secret = key.read_bytes().strip()
    assert len(secret) >= 32
    assert secret not in db.read_bytes() and secret not in log(db).read_bytes()
    for path in (log(db), key, key.with_name(db.name + ".audit.anchor")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    elsewhere = tmp_path / "keys" / "audit.key"
    monkeypatch.setenv("FITDATA_AUDIT_KEY_FILE", str(elsewhere))
    other = tmp_path / "other.duckdb"
    shutil.copyfile(db, other)
    opened(other, 1)
    assert elsewhere.exists() and not other.with_name(other.name + ".audit.key").exists()


def test_the_command_line_prints_codes_escaped(db, capsys) -> None:
    kari = access.reader_for_user(db, "kari")
    access.record_access(kari, "client_sessions", "K-\x1b[2J\x07", "E\r1")
    assert main(["audit", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "K-\\x1b[2J\\x07" in out and "E\\r1" in out


def test_every_read_of_client_level_data_is_audited(db, capsys) -> None:
    kari = access.reader_for_user(db, "kari")
    as_of = dt.date(2026, 1, 1)
    caseload = team_review.team_caseload(kari, team_id="T2", as_of=as_of)
    queries.client_profile(kari, "K-ADULT1")
    registration.load_episode_state(kari, "E1", "K-ADULT1")
    registration.find_client(kari, "K-ONE")
    assert len(caseload.episodes) == 2
    entries = access.read_audit(db)
    assert [(e.action, e.client_id, e.episode_id) for e in entries] == [
        ("caseload", "", None),
        ("client_profile", "K-ADULT1", None),
        ("episode_state", "K-ADULT1", "E1"),
        ("client_profile", "K-ONE", None),
    ]
    assert entries[0].team_id == "T2" and entries[0].clients == ("K-ADULT1", "K-ONE")
    assert [e.action for e in access.read_audit(db, client="K-ONE")] == [
        "caseload",
        "client_profile",
    ]
    # what another therapist's ids give her is empty, and nothing is logged for it
    team_review.team_caseload(kari, team_id="T10", as_of=as_of)
    registration.load_episode_state(kari, "E5", "K-TEN")
    assert len(access.read_audit(db)) == 4
    assert main(["audit", "--client", "K-ONE", "--db", str(db)]) == 0
    assert "caseload  team T2: 2 clients" in capsys.readouterr().out


def test_a_side_anchor_cut_short_by_a_crash_is_no_alarm(db, capsys) -> None:
    """Its two slots are written in turn: a torn write spoils one, the other stays whole."""
    opened(db, 3)
    side = db.with_name(db.name + ".audit.anchor")
    data = bytearray(side.read_bytes())
    data[256 + 10 : 256 + 40] = b"\0" * 30  # entry 3's slot, half written
    side.write_bytes(bytes(data))
    code, out = verify(db, capsys)
    assert code == 0, out
    assert "holds 2 of 3 entries" in out
    opened(db, 1)
    assert verify(db, capsys)[0] == 0


def test_a_log_from_before_the_key_is_continued_and_checked(db, capsys) -> None:
    """Lines of the plain chain stay readable; the keyed chain continues after them."""
    previous, old = "0" * 64, []
    for day in (1, 2):
        entry = {
            "at": f"2026-01-0{day}T10:00:00Z",
            "user": "kari",
            "role": "therapist",
            "action": "client_sessions",
            "client_id": "K-ADULT1",
            "episode_id": "E1",
            "prev": previous,
        }
        line = json.dumps(entry, ensure_ascii=False)
        previous = hashlib.sha256(line.encode()).hexdigest()
        old.append(line)
    write_lines(db, old)
    opened(db, 2)
    assert len(access.read_audit(db)) == 4
    code, out = verify(db, capsys)
    assert code == 0 and "4 entries" in out and "the first 2 entries" in out, out
    kept = lines(db)
    kept[0] = kept[0].replace("K-ADULT1", "K-ONE")  # the old chain still shows an edit
    write_lines(db, kept)
    code, out = verify(db, capsys)
    assert code == 1 and "line 2 does not follow" in out, out


def test_exporting_the_case_list_is_audited_with_every_exported_client(db) -> None:
    from fitdata.ui.context import DashboardContext
    from fitdata.ui.team_review import TeamReviewView

    view = TeamReviewView(DashboardContext(db, user="kari"))
    view.team.value = "T2"
    before = len(access.read_audit(db))
    for make_file in (view._csv_file, view._excel_file):
        name, data = make_file()
        assert data
    exports = [e for e in access.read_audit(db)[before:] if e.action == "caseload_export"]
    assert len(exports) == 2
    assert all(e.user == "kari" and e.team_id == "T2" for e in exports)
    assert all(set(e.clients) == {"K-ADULT1", "K-ONE"} for e in exports)  # as the case list


def test_client_lists_and_a_sessions_history_are_audited_reads(db) -> None:
    from fitdata.features.registration import Correction, Scores, correct_session
    from fitdata.features.registration_choices import client_choices

    session_id, session_date = reader_for(db).rows(
        "SELECT session_id, session_date FROM sessions WHERE client_id = 'K-ADULT1' "
        "ORDER BY session_no LIMIT 1"
    )[0]
    correct_session(
        db,
        session_id,
        Correction(session_date, Scores.from_total(19.0), None, "typo"),
        actor="B1",
        today=dt.date(2026, 1, 1),
    )
    kari = access.reader_for_user(db, "kari")
    before = len(access.read_audit(db))
    listed = queries.client_episode_options(kari, "T2", "B1")
    chosen = client_choices(kari, "T2", "B1")
    history = registration.session_history(kari, session_id)
    assert len(history) == 1 and set(listed["client_id"]) == set(chosen["client_id"])
    entries = access.read_audit(db)[before:]
    assert [(e.action, e.client_id) for e in entries] == [
        ("client_list", ""),
        ("client_list", ""),
        ("session_history", "K-ADULT1"),
    ]
    assert set(entries[0].clients) == set(listed["client_id"]) and entries[0].team_id == "T2"
    assert entries[2].user == "kari" and entries[2].episode_id == "E1"

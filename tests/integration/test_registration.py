"""Saving, adding the SRS, correcting and ending episodes in real database files."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import threading
from decimal import Decimal

import pytest

from fitdata.data import store
from fitdata.data.store import StoreError, check_database, reader_for, write_transaction
from fitdata.features import registration as reg
from fitdata.features.registration import (
    Correction,
    NewClient,
    Registration,
    RegistrationError,
    Scores,
)
from fitdata.vocabulary import ORS_ITEMS

TODAY = dt.date(2025, 3, 3)
NOW = dt.datetime(2025, 3, 3, 14, 30)
LATER = dt.date(2025, 3, 17)  # after K-TEN's tenth session (2025-03-10)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "registration.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


def rows(path, sql: str, params=()) -> list[tuple]:
    return reader_for(path).rows(sql, list(params))


def session(path, session_id: int) -> dict:
    frame = reader_for(path).df(
        "SELECT * EXCLUDE (session_id) FROM sessions WHERE session_id = ?", [session_id]
    )
    assert len(frame) == 1
    return frame.iloc[0].to_dict()


def k_adult(day: dt.date = TODAY, **kw) -> Registration:
    """A new session for K-ADULT1 (episode E1, four sessions up to 2025-01-27)."""
    return Registration("T2", "B1", "K-ADULT1", "E1", day, kw.pop("ors", None), **kw)


def test_ors_first_then_the_srs_after_the_session(db) -> None:
    ors = Scores.from_items(5.1, 6.2, 7.3, 4.4)
    saved = reg.save_session(db, k_adult(ors=ors), today=TODAY)
    assert (saved.session_no, saved.episode_id, saved.new_episode) == (5, "E1", False)
    row = session(db, saved.session_id)
    assert (row["team_id"], row["therapist_id"], row["rater"]) == ("T2", "B1", "client")
    assert [float(row[c]) for c in ORS_ITEMS] == [5.1, 6.2, 7.3, 4.4]
    assert str(row["ors_total"]) == "23.0"  # exact DECIMAL, not 22.999999
    assert row["srs_total"] is None or str(row["srs_total"]) in ("nan", "None", "<NA>")
    assert saved.session_id == 60  # one more than the highest id in the file (59)

    reg.add_srs(db, saved.session_id, Scores.from_total(37.5), actor="B1", now=NOW)
    assert float(session(db, saved.session_id)["srs_total"]) == 37.5
    history = reg.session_history(reader_for(db), saved.session_id)
    assert len(history) == 1
    entry = history[0]
    assert (entry.change_type, entry.changed_by, entry.changed_at) == ("srs_added", "B1", NOW)
    assert entry.before.srs is None and entry.after.srs == Scores.from_total(37.5)
    assert entry.before.ors == entry.after.ors == ors
    with pytest.raises(RegistrationError, match="already has an SRS"):
        reg.add_srs(db, saved.session_id, Scores.from_total(30.0), actor="B1")
    assert check_database(db).ok


def test_a_new_client_gets_a_new_episode_and_session_one(db) -> None:
    new = Registration(
        "T2",
        "B1",
        "",
        None,
        TODAY,
        Scores.from_total(19.5),
        Scores.from_items(9.0, 9.5, 8.0, 10.0),
        new_client=NewClient(" K-NEW ", "adolescent", 2010),
    )
    saved = reg.save_session(db, new, today=TODAY)
    assert (saved.client_id, saved.episode_id, saved.session_no) == ("K-NEW", "E0000006", 1)
    assert saved.new_client and saved.new_episode
    assert rows(db, "SELECT age_group, birth_year FROM clients WHERE client_id = 'K-NEW'") == [
        ("adolescent", 2010)
    ]
    assert rows(
        db,
        "SELECT client_id, therapist_id, team_id, started, ended, end_type, format "
        "FROM episodes WHERE episode_id = 'E0000006'",
    ) == [("K-NEW", "B1", "T2", TODAY, None, None, "individual")]
    assert float(session(db, saved.session_id)["srs_total"]) == 36.5
    # the next session in that episode is number 2
    again = Registration(
        "T2", "B1", "K-NEW", "E0000006", TODAY + dt.timedelta(7), Scores.from_total(22.0)
    )
    assert reg.save_session(db, again, today=TODAY + dt.timedelta(7)).session_no == 2
    assert check_database(db).ok


def test_an_existing_client_starts_a_new_episode_with_another_therapist(db) -> None:
    other = Registration("T10", "B2", "K-ONE", None, TODAY, Scores.from_total(30.0))
    saved = reg.save_session(db, other, today=TODAY)
    assert saved.new_episode and not saved.new_client and saved.session_no == 1
    assert check_database(db).ok


@pytest.mark.parametrize(
    ("registration", "key"),
    [
        (k_adult(dt.date(2025, 1, 21), ors=Scores.from_total(20.0)), "date_before_previous"),
        (k_adult(dt.date(2025, 1, 27), ors=Scores.from_total(20.0)), "session_on_date"),
        (k_adult(TODAY + dt.timedelta(1), ors=Scores.from_total(20.0)), "date_future"),
        (k_adult(ors=Scores.from_items(5.0, 5.0, 5.0, 10.5)), "item_range"),
        (k_adult(), "nothing_to_save"),
        (
            Registration("T2", "B1", "K-ONE", None, TODAY, Scores.from_total(20.0)),
            "episode_ongoing_exists",
        ),
        (
            Registration(
                "T2",
                "B1",
                "",
                None,
                TODAY,
                Scores.from_total(20.0),
                new_client=NewClient("K-ONE", "adult"),
            ),
            "client_code_exists",
        ),
        (
            Registration(
                "T2",
                "B1",
                "",
                None,
                TODAY,
                Scores.from_total(20.0),
                new_client=NewClient("01019012345", "adult"),
            ),
            "client_code_national_id",
        ),
        (
            Registration("T2", "B1", "K-NOBODY", None, TODAY, Scores.from_total(20.0)),
            "client_unknown",
        ),
        (
            Registration("T2", "B9", "K-ONE", "E2", TODAY, Scores.from_total(20.0)),
            "therapist_unknown",
        ),
        (
            Registration("T2", "B1", "K-ONE", "E77", TODAY, Scores.from_total(20.0)),
            "episode_unknown",
        ),
    ],
)
def test_a_refused_save_leaves_the_file_untouched(db, registration, key) -> None:
    before = db.read_bytes()
    with pytest.raises(RegistrationError) as refused:
        reg.save_session(db, registration, today=TODAY)
    assert key in [p.key for p in refused.value.problems]
    assert db.read_bytes() == before
    assert [p.name for p in db.parent.iterdir() if p.suffix == ".tmp"] == []


def test_a_correction_keeps_the_old_values_with_who_when_and_why(db) -> None:
    # session 2 of K-ADULT1: 2025-01-13, ORS 21.0 as items, SRS 37.0 as items
    first = Correction(
        dt.date(2025, 1, 14), Scores.from_total(12.0), Scores.from_total(37.0), "typed 21, was 12"
    )
    reg.correct_session(db, 2, first, actor="B1", today=TODAY, now=NOW)
    second = Correction(
        dt.date(2025, 1, 14),
        Scores.from_items(3.0, 3.0, 3.0, 3.5),
        None,
        "items were on paper; no SRS",
    )
    reg.correct_session(db, 2, second, actor="B3", today=TODAY, now=NOW + dt.timedelta(hours=1))

    now = session(db, 2)
    assert now["session_date"].date() == dt.date(2025, 1, 14)
    assert float(now["ors_total"]) == 12.5 and float(now["ors_overall"]) == 3.5
    changes = rows(
        db,
        "SELECT change_id, change_type, changed_by, reason, old_session_date, old_ors_total, "
        "old_ors_individual, old_srs_total, session_no, episode_id, client_id "
        "FROM session_changes WHERE session_id = 2 ORDER BY change_id",
    )
    assert [(c[1], c[2], c[3]) for c in changes] == [
        ("correction", "B1", "typed 21, was 12"),
        ("correction", "B3", "items were on paper; no SRS"),
    ]
    # the first change kept the row as it was first saved, items included
    # (exact DECIMALs: 21.0 is Decimal("21.0"), and the items were 5.3 + 5.3 + 5.2 + 5.2)
    assert changes[0][4:8] == (
        dt.date(2025, 1, 13),
        Decimal("21.0"),
        Decimal("5.3"),
        Decimal("37.0"),
    )
    assert changes[1][4:8] == (dt.date(2025, 1, 14), Decimal("12.0"), None, Decimal("37.0"))
    assert changes[0][8:] == (2, "E1", "K-ADULT1")

    history = reg.session_history(reader_for(db), 2)
    assert [h.before.ors.value for h in history] == [21.0, 12.0]
    assert [h.after.ors.value for h in history] == [12.0, 12.5]
    assert history[1].after.srs is None
    assert check_database(db).ok


def test_a_refused_correction_changes_nothing(db) -> None:
    before = db.read_bytes()
    for correction, key in [
        (Correction(dt.date(2025, 1, 13), Scores.from_total(12.0), None, ""), "reason_missing"),
        (
            Correction(dt.date(2025, 1, 21), Scores.from_total(12.0), None, "date"),
            "date_after_next",
        ),
    ]:
        with pytest.raises(RegistrationError) as refused:
            reg.correct_session(db, 2, correction, actor="B1", today=TODAY)
        assert [p.key for p in refused.value.problems] == [key]
    with pytest.raises(RegistrationError, match="not in the database"):
        reg.correct_session(
            db,
            9999,
            Correction(TODAY, Scores.from_total(1.0), None, "why"),
            actor="B1",
            today=TODAY,
        )
    with pytest.raises(RegistrationError, match="Choose the therapist"):
        reg.correct_session(
            db, 2, Correction(TODAY, Scores.from_total(1.0), None, "why"), actor=" ", today=TODAY
        )
    assert db.read_bytes() == before


def test_moving_the_first_session_earlier_moves_the_episode_start(db) -> None:
    moved = Correction(
        dt.date(2025, 1, 3), Scores.from_total(20.0), Scores.from_total(39.0), "date typo"
    )
    reg.correct_session(db, 10, moved, actor="B1", today=TODAY)  # K-ONE's only session
    assert rows(db, "SELECT started FROM episodes WHERE episode_id = 'E2'") == [
        (dt.date(2025, 1, 3),)
    ]
    assert check_database(db).ok


def test_an_ended_episode_takes_no_new_session(db) -> None:
    with pytest.raises(RegistrationError, match="before the last session"):
        reg.end_episode(db, "E1", dt.date(2025, 1, 26), "planned", today=TODAY)
    reg.end_episode(db, "E1", dt.date(2025, 2, 3), "unplanned", today=TODAY)
    assert rows(db, "SELECT ended, end_type FROM episodes WHERE episode_id = 'E1'") == [
        (dt.date(2025, 2, 3), "unplanned")
    ]
    with pytest.raises(RegistrationError, match="ended on 2025-02-03"):
        reg.save_session(db, k_adult(ors=Scores.from_total(20.0)), today=TODAY)
    with pytest.raises(RegistrationError, match="already ended"):
        reg.end_episode(db, "E1", TODAY, "planned", today=TODAY)
    assert check_database(db).ok


def test_two_saves_at_the_same_moment_both_land(db) -> None:
    """Two therapists press save together: the writer lock serialises them, none is lost."""
    barrier = threading.Barrier(2)
    results: list[object] = []

    def save(registration: Registration) -> None:
        barrier.wait()
        try:
            results.append(reg.save_session(db, registration, today=LATER))
        except Exception as error:  # noqa: BLE001 - the test reports any error
            results.append(error)

    threads = [
        threading.Thread(target=save, args=(k_adult(LATER, ors=Scores.from_total(24.0)),)),
        threading.Thread(
            target=save,
            args=(Registration("T10", "B2", "K-TEN", "E5", LATER, Scores.from_total(26.0)),),
        ),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(isinstance(r, reg.SavedSession) for r in results), results
    assert sorted(r.session_no for r in results) == [5, 11]
    assert len({r.session_id for r in results}) == 2
    assert check_database(db).ok


def test_the_same_session_saved_twice_at_once_is_saved_once(db) -> None:
    """A double click, or two tabs: the second save sees the first and is refused."""
    barrier = threading.Barrier(2)
    results: list[object] = []

    def save() -> None:
        barrier.wait()
        try:
            results.append(reg.save_session(db, k_adult(ors=Scores.from_total(24.0)), today=TODAY))
        except RegistrationError as error:
            results.append(error)

    threads = [threading.Thread(target=save) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = [r for r in results if isinstance(r, reg.SavedSession)]
    refused = [r for r in results if isinstance(r, RegistrationError)]
    assert len(saved) == 1 and len(refused) == 1
    assert refused[0].problems[0].key == "session_on_date_without_srs"
    assert rows(db, "SELECT count(*) FROM sessions WHERE client_id = 'K-ADULT1'") == [(5,)]


# -- schema version 2 ---------------------------------------------------------------------------
def _table_definition(path) -> tuple[list, list]:
    reader = reader_for(path)
    columns = reader.rows(
        "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
        "WHERE table_name = 'session_changes' ORDER BY column_index"
    )
    constraints = reader.rows(
        "SELECT constraint_type, expression FROM duckdb_constraints() "
        "WHERE table_name = 'session_changes' ORDER BY constraint_type, expression"
    )
    return columns, constraints


def test_a_version_1_file_migrates_to_exactly_the_new_schema(db, tmp_path) -> None:
    version_1 = tmp_path / "v1.duckdb"
    shutil.copyfile(db, version_1)
    with write_transaction(version_1) as con:  # what a version-1 file looks like
        con.execute("DROP TABLE session_changes")
        con.execute("DROP TABLE users")  # version 3 (fitdata/data/access.py)
        con.execute("DROP TABLE audit_anchor")  # version 4 (fitdata/data/audit.py)
        for table in ("case_discussions", "case_discussion_changes"):
            con.execute(f"DROP TABLE {table}")  # version 7 (issue 22)
        for table in ("episode_participants", "client_form_uses", "client_page_settings"):
            con.execute(f"DROP TABLE {table}")  # version 6
        for column in ("ors_form", "srs_form", "entered_by"):
            con.execute(f"ALTER TABLE sessions DROP COLUMN {column}")
        con.execute("DELETE FROM schema_version")
        con.execute("INSERT INTO schema_version (version) VALUES (1)")
    assert store.SCHEMA_VERSION == 7
    with pytest.raises(StoreError, match="fitdata check --migrate"):
        reader_for(version_1).rows("SELECT 1")
    reader_for(version_1).close()

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fitdata.cli",
            "check",
            "--migrate",
            "--no-calibration",
            "--db",
            str(version_1),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"schema version 1 -> {store.SCHEMA_VERSION}" in done.stdout
    assert _table_definition(version_1) == _table_definition(db)
    assert reader_for(version_1).rows("SELECT max(version) FROM schema_version") == [
        (store.SCHEMA_VERSION,)
    ]
    assert rows(version_1, "SELECT count(*) FROM sessions") == rows(
        db, "SELECT count(*) FROM sessions"
    )

    # and the migrated file takes registrations and corrections
    saved = reg.save_session(version_1, k_adult(ors=Scores.from_total(20.0)), today=TODAY)
    reg.correct_session(
        version_1,
        saved.session_id,
        Correction(TODAY, Scores.from_total(21.0), None, "typo"),
        actor="B1",
        today=TODAY,
    )
    assert len(reg.session_history(reader_for(version_1), saved.session_id)) == 1
    reader_for(version_1).close()


def test_the_history_table_refuses_a_correction_without_a_reason(db) -> None:
    with pytest.raises(Exception, match="CHECK constraint"), write_transaction(db) as con:
        con.execute(
            "INSERT INTO session_changes (change_id, session_id, episode_id, client_id, "
            "session_no, "
            "change_type, changed_at, changed_by, reason, old_session_date) "
            "VALUES (1, 2, 'E1', 'K-ADULT1', 2, 'correction', now()::TIMESTAMP, 'B1', '  ', "
            "DATE '2025-01-13')"
        )

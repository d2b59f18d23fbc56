"""The client's own page on a real file: links, the client scope, sending forms, the graph."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from fitdata.data import access, client_links, store
from fitdata.data import queries as queries_module
from fitdata.data.access import AccessDenied
from fitdata.data.audit import audit_path
from fitdata.data.client_links import LinkRefused
from fitdata.data.participants import ensure_participants
from fitdata.data.store import StoreError, check_database, reader_for
from fitdata.features import client_page, registration
from fitdata.features.client_page import ClientFormError
from fitdata.i18n import Translator

DAY = dt.date(2025, 2, 3)  # a week after K-ADULT1's fourth session (E1)
TODAY = DAY
NOW = dt.datetime(2025, 2, 3, 9, 0)
FORBIDDEN = ("Kari Nordmann", "Ola Hansen", "Åse Berg", "Team 2", "Team 10", "Øst-teamet",
             "B1", "B2", "B3", "T2", "T10", "T3", "K-ONE", "K-TEN", "K-CHILD", "K-TOTALS",
             "K-PART", "kari", "ola")  # fmt: skip


@pytest.fixture
def db(tiny_db, tmp_path):
    """tiny_db with users, and E1 made a couple episode: K-ADULT1 (index) and partner K-PART."""
    path = tmp_path / "client.duckdb"
    shutil.copyfile(tiny_db, path)
    with store.write_transaction(path) as con:
        con.execute("UPDATE episodes SET format = 'couple' WHERE episode_id = 'E1'")
        con.execute("INSERT INTO clients VALUES ('K-PART', 1979, 'adult')")
        con.execute(
            "INSERT INTO sessions (session_id, episode_id, client_id, therapist_id, team_id, "
            "session_date, session_no, rater, ors_total, srs_total) VALUES "
            "(901, 'E1', 'K-PART', 'B1', 'T2', DATE '2025-01-06', 1, 'client', 31.0, 39.0), "
            "(902, 'E1', 'K-PART', 'B1', 'T2', DATE '2025-01-13', 2, 'client', 32.0, 39.5)"
        )
        ensure_participants(
            con,
            [
                {"episode_id": "E1", "client_id": "K-ADULT1", "role": "index"},
                {"episode_id": "E1", "client_id": "K-PART", "role": "partner"},
            ],
        )
    access.add_user(path, "kari", "therapist", therapist_id="B1")
    access.add_user(path, "ola", "therapist", therapist_id="B2")
    yield path
    reader_for(path).close()


def issue(db, **kwargs):
    values = {"episode_id": "E1", "session_date": DAY, "actor": "kari"}
    return client_links.issue_client_link(db, **{**values, **kwargs})


def audit_lines(db) -> list[dict]:
    return [json.loads(line) for line in audit_path(db).read_text("utf-8").splitlines()]


@pytest.fixture
def queries(monkeypatch):
    """Every SQL text (and its parameters) run by the process's unrestricted readers."""
    seen: list[tuple[str, object]] = []
    for name in ("rows", "df"):
        original = getattr(store.Reader, name)

        def spy(self, sql, params=None, _original=original):
            seen.append((" ".join(sql.split()), params))
            return _original(self, sql, params)

        monkeypatch.setattr(store.Reader, name, spy)
    return seen


# -- the link ------------------------------------------------------------------------------------


def test_a_link_round_trip_and_its_audit(db) -> None:
    token, grant = issue(db, hours=3, mode="tablet", now=NOW)
    assert grant.client_id == "K-ADULT1" and grant.forms == {"ors", "srs"}
    assert grant.expires_at == NOW + dt.timedelta(hours=3)
    for secret in ("K-ADULT1", grant.link_id):
        assert secret not in token
    assert client_links.redeem_client_link(db, token, now=NOW) == grant
    issued, opened = audit_lines(db)[-2:]
    assert issued["action"] == "client_link_issued" and issued["user"] == "kari"
    assert issued["link_id"] == grant.link_id and issued["episode_id"] == "E1"
    assert issued["role"] == "operator"  # from the command line: no scoped reader
    assert opened["action"] == "client_link_opened"
    assert opened["user"] == f"client-link:{grant.link_id}" and opened["client_id"] == "K-ADULT1"
    assert access.verify_audit(db) == []


def test_issuing_checks_the_episode_the_client_and_who_asks(db) -> None:
    _, partner = issue(db, client_id="K-PART")
    assert partner.client_id == "K-PART"
    assert client_links.answering_clients(db, "E1") == ("K-ADULT1", "K-PART")
    assert client_links.answering_clients(db, "E4") == ("K-CHILD",)  # not the parent's rating
    with pytest.raises(StoreError, match="does not answer"):
        issue(db, client_id="K-TEN")
    with pytest.raises(StoreError, match="no episode"):
        issue(db, episode_id="E404")
    with pytest.raises(StoreError, match="at most 168 hours"):
        issue(db, hours=200)
    with pytest.raises(StoreError, match="forms"):
        issue(db, forms=("ors", "phq9"))
    with pytest.raises(StoreError, match="who issues"):
        issue(db, actor=" ")
    kari, ola = access.reader_for_user(db, "kari"), access.reader_for_user(db, "ola")
    token, _ = issue(kari)
    assert audit_lines(db)[-1]["role"] == "therapist"
    assert client_links.redeem_client_link(db, token, now=NOW).episode_id == "E1"
    with pytest.raises(StoreError, match="no episode"):  # ola cannot see E1 at all
        issue(ola)
    with store.write_transaction(db) as con:
        con.execute("UPDATE episodes SET ended = DATE '2025-02-01', end_type = 'planned' "
                    "WHERE episode_id = 'E2'")  # fmt: skip
    with pytest.raises(StoreError, match="ended"):
        issue(db, episode_id="E2")


@pytest.mark.parametrize("how", ["altered", "cut", "stranger", "other_key", "expired", "unknown"])
def test_a_refused_link_says_why_and_reads_nothing(db, queries, how) -> None:
    token, grant = issue(db)
    now = NOW
    if how == "altered":
        token = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    elif how == "cut":
        token = token[:-3]
    elif how == "stranger":
        token = "../../users"
    elif how == "other_key":
        client_links._key_path(db).write_bytes(bytes(32))
    elif how == "expired":
        now = grant.expires_at
    elif how == "unknown":  # an authentic link to an episode that is not in the file
        key = client_links.client_link_key(db)
        token = client_links._seal(key, client_links.ClientGrant(**{
            **grant.__dict__, "episode_id": "E404"}))  # fmt: skip
    reason = {"cut": "altered", "stranger": "unknown", "other_key": "altered"}.get(how, how)
    queries.clear()
    with pytest.raises(LinkRefused) as refused:
        client_links.redeem_client_link(db, token, now=now)
    assert refused.value.reason == reason
    entry = audit_lines(db)[-1]
    assert entry["action"] == "client_link_refused" and entry["reason"] == reason
    assert entry["user"].startswith("client-link:")
    if how == "unknown":
        # the link's own uses and its own episode's row: nothing of another client
        assert [q for q, _ in queries][0].startswith("SELECT form FROM client_form_uses")
        assert all("E404" in str(p) or grant.link_id in str(p) for _, p in queries), queries
    else:
        assert queries == [], "a refused link reads nothing"
        assert entry["client_id"] == ("K-ADULT1" if how == "expired" else "")


def test_a_used_link_is_refused_once_every_form_is_sent(db, queries) -> None:
    token, grant = issue(db)
    client_page.submit_client_form(db, grant, "ors", [5, 5, 5, 5], lang="en", today=TODAY, now=NOW)
    assert client_links.redeem_client_link(db, token, now=NOW) == grant  # the SRS is still open
    client_page.submit_client_form(db, grant, "srs", [9, 9, 9, 9], lang="en", today=TODAY, now=NOW)
    queries.clear()
    with pytest.raises(LinkRefused) as refused:
        client_links.redeem_client_link(db, token, now=NOW)
    assert refused.value.reason == "used"
    assert queries == [("SELECT form FROM client_form_uses WHERE link_id = ?", [grant.link_id])]


# -- the client scope ----------------------------------------------------------------------------


def test_the_client_reader_sees_only_the_clients_own_rows(db) -> None:
    _, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    sessions = reader.df("SELECT * FROM sessions")
    assert set(sessions["client_id"]) == {"K-ADULT1"} and set(sessions["episode_id"]) == {"E1"}
    assert set(sessions["rater"]) == {"client"} and len(sessions) == 4
    assert set(sessions["therapist_id"]) == {""} and set(sessions["team_id"]) == {""}
    episodes = reader.df("SELECT * FROM episodes")
    assert list(episodes["episode_id"]) == ["E1"] and list(episodes["therapist_id"]) == [""]
    clients = reader.df("SELECT * FROM clients")
    assert list(clients["client_id"]) == ["K-ADULT1"] and clients["birth_year"].isna().all()
    everything = " ".join(
        reader.df(f"SELECT * FROM {t}").astype(str).to_csv() for t in client_links.CLIENT_TABLES
    )
    for word in FORBIDDEN:
        assert word not in everything, word
    # the package's own queries work through it, within the scope
    assert len(queries_module.client_sessions(reader, "E1", "K-ADULT1")) == 4
    assert queries_module.client_sessions(reader, "E1", "K-PART").empty
    assert queries_module.client_sessions(reader, "E5", "K-TEN").empty
    # the partner's own link sees the partner only
    _, partner = issue(db, client_id="K-PART")
    theirs = client_links.client_reader(db, partner).df("SELECT client_id, ors_total FROM sessions")
    assert set(theirs["client_id"]) == {"K-PART"} and len(theirs) == 2


def test_a_child_client_does_not_see_the_parents_ratings(db) -> None:
    _, grant = issue(db, episode_id="E4")
    rows = client_links.client_reader(db, grant).rows("SELECT DISTINCT rater FROM sessions")
    assert rows == [("client",)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM therapists",
        "SELECT name FROM teams",
        "SELECT * FROM users",
        "SELECT * FROM session_changes",
        "SELECT * FROM episode_participants",
        "SELECT * FROM client_form_uses",
        "SELECT * FROM audit_anchor",
        "SELECT * FROM schema_version",
        "SELECT s.* FROM sessions s JOIN therapists t USING (therapist_id)",
        "SELECT * FROM sessions WHERE client_id IN (SELECT client_id FROM clients UNION "
        "SELECT client_id FROM episode_participants)",
        "WITH x AS (SELECT * FROM therapists) SELECT * FROM x",
        "SELECT * FROM main.therapists",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM duckdb_views",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pg_tables",
        "SELECT * FROM query_table('therapists')",
        "SELECT * FROM 'x.csv'",
        "SELECT current_setting('temp_directory')",
        "ATTACH ':memory:' AS other",
        "PRAGMA show_tables",
        "DELETE FROM sessions",
    ],
)
def test_the_client_reader_refuses_every_other_table_by_sql(db, sql) -> None:
    _, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    with pytest.raises(StoreError, match="not allowed"):
        reader.rows(sql)


def test_the_client_reader_cannot_write_or_be_scoped_and_stops_at_expiry(db) -> None:
    _, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    with pytest.raises(AccessDenied):
        access.require_write(reader, "T2", "B1")
    with pytest.raises(StoreError):
        reader.scoped(access.scope_for(access.find_user(db, "kari")))
    with pytest.raises(AccessDenied):
        client_page.set_client_graph(reader, "K-ADULT1", False, "K-ADULT1")
    assert client_links.grant_of(reader) == grant
    past = client_links.ClientGrant(
        **{**grant.__dict__, "link_id": "BBBBBBBBBBBB", "expires_at": dt.datetime(2020, 1, 1)}
    )
    with pytest.raises(LinkRefused, match="expired"):
        client_links.client_reader(db, past).rows("SELECT count(*) FROM sessions")


# -- the page's data and the forms ----------------------------------------------------------------


def test_sending_the_ors_then_the_srs_writes_one_session_entered_by_the_client(db) -> None:
    token, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    before = client_page.client_page_data(reader, grant, Translator("en"))
    assert before.forms_open == ("ors", "srs") and before.show_graph
    assert (before.ors_form, before.srs_form) == ("ORS", "SRS") and not before.history.today.any()
    sent = client_page.submit_client_form(
        db, grant, "ors", [7.3, 6.0, 5.5, 6.2], lang="en", today=TODAY, now=NOW
    )
    assert (sent.session_no, sent.form_name, sent.forms_open) == (5, "ORS", ("srs",))
    middle = client_page.client_page_data(reader, grant, Translator("nb"))
    assert middle.forms_open == ("srs",)
    assert middle.history["today"].tolist() == [False] * 4 + [True]
    assert middle.sentences[0] == (
        "I dag 25. Siden første samtale har poengsummen din gått opp 7 poeng – en tydelig endring."
    )
    with pytest.raises(LinkRefused, match="used"):
        client_page.submit_client_form(db, grant, "ors", [1, 1, 1, 1], lang="en", today=TODAY)
    client_page.submit_client_form(
        db, grant, "srs", [9.0, 9.1, 8.5, 9.9], lang="en", today=TODAY, now=NOW
    )
    with pytest.raises(LinkRefused, match="used"):
        client_page.submit_client_form(db, grant, "srs", [1, 1, 1, 1], lang="en", today=TODAY)
    base = reader_for(db)
    rows = base.rows(
        "SELECT session_id, session_no, session_date, ors_total::DOUBLE, srs_total::DOUBLE, "
        "ors_individual::DOUBLE, ors_form, srs_form, entered_by, rater FROM sessions "
        "WHERE episode_id = 'E1' AND client_id = 'K-ADULT1' AND session_date = ?",
        [DAY],
    )
    assert rows == [(sent.session_id, 5, DAY, 25.0, 36.5, 7.3, "ORS", "SRS", "client", "client")]
    uses = base.rows("SELECT link_id, form, session_id FROM client_form_uses ORDER BY form")
    assert uses == [
        (grant.link_id, "ors", sent.session_id),
        (grant.link_id, "srs", sent.session_id),
    ]
    changes = base.rows("SELECT change_type, changed_by, old_srs_total FROM session_changes")
    assert changes == [("srs_added", f"client-link:{grant.link_id}", None)]
    assert client_page.client_page_data(reader, grant, Translator("en")).forms_open == ()
    with pytest.raises(LinkRefused, match="used"):
        client_links.redeem_client_link(db, token, now=NOW)
    actions = [(e["action"], e.get("form")) for e in audit_lines(db)]
    assert actions.count(("client_form_submitted", "ors")) == 1
    assert actions.count(("client_form_submitted", "srs")) == 1
    assert check_database(db).ok
    # the therapist sees it at once, marked as entered by the client
    kari = access.reader_for_user(db, "kari")
    state = registration.load_episode_state(kari, "E1", "K-ADULT1")
    assert state is not None and state.sessions[-1].session_date == DAY


def test_a_childs_forms_are_the_child_versions(db) -> None:
    _, grant = issue(db, episode_id="E4", session_date=dt.date(2025, 1, 27))
    data = client_page.client_page_data(
        client_links.client_reader(db, grant), grant, Translator("en")
    )
    assert (data.age_group, data.ors_form, data.srs_form) == ("child", "CORS", "CSRS")
    sent = client_page.submit_client_form(
        db, grant, "ors", [8, 8, 8, 8.5], lang="nb", today=dt.date(2025, 1, 27), now=NOW
    )
    assert sent.form_name == "CORS"
    row = reader_for(db).rows(
        "SELECT ors_form, entered_by FROM sessions WHERE session_id = ?", [sent.session_id]
    )
    assert row == [("CORS", "client")]


def test_marks_are_checked_with_messages_for_the_client(db) -> None:
    _, grant = issue(db)
    for items, message in [
        ([10.5, 5, 5, 5], "Individuelt: merket må være mellom 0 og 10."),
        ([7.35, 5, 5, 5], "Individuelt: merket måles i tideler (for eksempel 7,3)."),
        ([5, None, 5, 5], "Mellommenneskelig: trykk på linjen for å sette merket ditt."),
        ([5, 5, 5], "ORS: sett merke på alle de fire linjene."),
    ]:
        with pytest.raises(ClientFormError) as refused:
            client_page.submit_client_form(db, grant, "ors", items, lang="nb", today=TODAY)
        assert refused.value.messages == (message,)
    with pytest.raises(ClientFormError, match="Today's session is not registered yet"):
        client_page.submit_client_form(db, grant, "srs", [9, 9, 9, 9], lang="en", today=TODAY)
    _, only_srs = issue(db, forms=("srs",))
    with pytest.raises(ClientFormError, match="does not include the ORS"):
        client_page.submit_client_form(db, only_srs, "ors", [5, 5, 5, 5], lang="en", today=TODAY)
    with pytest.raises(ClientFormError, match="cannot be sent now"):  # the day is tomorrow
        client_page.submit_client_form(
            db, grant, "ors", [5, 5, 5, 5], lang="en", today=DAY - dt.timedelta(days=1)
        )
    with pytest.raises(LinkRefused, match="expired"):
        client_page.submit_client_form(
            db, grant, "ors", [5, 5, 5, 5], lang="en", today=TODAY, now=grant.expires_at
        )
    assert reader_for(db).rows("SELECT count(*) FROM client_form_uses") == [(0,)]
    today = "SELECT count(*) FROM sessions WHERE episode_id = 'E1' AND session_date = ?"
    assert reader_for(db).rows(today, [DAY]) == [(0,)]


def test_a_form_the_therapist_already_gave_is_not_open_and_the_srs_joins_their_session(db) -> None:
    saved = registration.save_session(
        db,
        registration.Registration(
            "T2", "B1", "K-ADULT1", "E1", DAY, registration.Scores.from_total(22.0)
        ),
        today=TODAY,
    )
    _, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    assert client_page.client_page_data(reader, grant, Translator("en")).forms_open == ("srs",)
    with pytest.raises(ClientFormError, match="already been filled in"):
        client_page.submit_client_form(db, grant, "ors", [5, 5, 5, 5], lang="en", today=TODAY)
    sent = client_page.submit_client_form(
        db, grant, "srs", [9, 9, 9, 9], lang="en", today=TODAY, now=NOW
    )
    assert sent.session_id == saved.session_id and sent.forms_open == ()
    row = reader_for(db).rows(
        "SELECT ors_total::DOUBLE, srs_total::DOUBLE, srs_form FROM sessions WHERE session_id = ?",
        [saved.session_id],
    )
    assert row == [(22.0, 36.0, "SRS")]


def test_the_therapist_turns_the_graph_off_and_on(db) -> None:
    _, grant = issue(db)
    reader = client_links.client_reader(db, grant)
    kari, ola = access.reader_for_user(db, "kari"), access.reader_for_user(db, "ola")
    with pytest.raises(StoreError, match="no client"):
        client_page.set_client_graph(ola, "K-ADULT1", False, "ola")
    client_page.set_client_graph(kari, "K-ADULT1", False, "kari")
    data = client_page.client_page_data(reader, grant, Translator("en"))
    assert data.show_graph is False
    assert reader.rows("SELECT set_by FROM client_page_settings") == [("",)]
    client_page.set_client_graph(kari, "K-ADULT1", True, "kari")
    assert client_page.client_page_data(reader, grant, Translator("en")).show_graph is True
    stored = reader_for(db).rows("SELECT show_graph, set_by FROM client_page_settings")
    assert stored == [(True, "kari")]

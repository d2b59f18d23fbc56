"""fitdata.server.client_access in plain Python: passes, locks, the gate's paths, the pages."""

from __future__ import annotations

import datetime as dt

import pytest

from fitdata.kernel_env import CLIENT_LINK_HEADER, ENV_CLIENT_LINK, client_link_token
from fitdata.server.client_access import (
    ClientSessions,
    allowed_for_client,
    gate_page,
    is_client_user,
    locked_pass,
    new_pass,
    refusal_page,
    refusal_status,
    unlock_page,
)
from fitdata.server.login import Sessions
from fitdata.server.security import SERVER_SET_HEADERS

KERNEL = "0c4f8a8e-1b2c-4d3e-9f00-1234567890ab"
LATER = dt.datetime(2030, 1, 1)


def test_a_pass_ends_with_its_link() -> None:
    now = [LATER.replace(tzinfo=dt.UTC).timestamp() - 10]
    passes = ClientSessions(clock=lambda: now[0])
    client_pass = new_pass("c1abc", "L1", LATER)
    pass_id = passes.start(client_pass)
    assert passes.find(pass_id) == client_pass and is_client_user(
        type("U", (), {"username": client_pass.username})()
    )
    assert passes.find("made-up") is None and passes.find(None) is None
    now[0] += 10
    assert passes.find(pass_id) is None and len(passes) == 0
    assert new_pass("c1abc", "L1", LATER).username != client_pass.username  # one per browser


def test_a_phone_reaches_client_pages_its_kernel_routes_and_static_files_only() -> None:
    phone = new_pass("c1abc", "L1", LATER)
    for path in (
        "client/c1abc",
        "client/c1other",  # next week's link opens too
        f"api/kernels/{KERNEL}",
        f"api/kernels/{KERNEL}/channels",
        f"voila/api/shutdown/{KERNEL}",
        "voila/static/voila.js",
        "voila/templates/fitdata/static/x.css",
    ):
        assert allowed_for_client(path, phone), path
    for path in (
        "",
        "voila/tree",
        "voila/render/registration.ipynb",
        "voila/render/client.ipynb",
        "api/kernels",
        "api/sessions",
        f"voila/query/{KERNEL}",
        f"api/kernels/{KERNEL}/restart",
        "login",
        "logout",
        "client-unlock",
        "client-handover",
        "client/c1abc/../../voila/tree",
        "client/",
    ):
        assert not allowed_for_client(path, phone), path


def test_a_locked_session_reaches_its_own_link_and_the_unlock_page() -> None:
    lock = locked_pass(new_pass("c1abc", "L1", LATER), owner="kari", pin="4711")
    assert lock.locked and allowed_for_client("client/c1abc", lock)
    assert allowed_for_client("client-unlock", lock)
    assert not allowed_for_client("client/c1other", lock)
    assert lock.pin_matches("4711") and not lock.pin_matches("4712")
    assert not lock.pin_matches("") and "4711" not in lock.pin_sha256
    no_pin = locked_pass(new_pass("c1abc", "L1", LATER), owner="kari")
    assert not no_pin.pin_matches("")


def test_sessions_lock_until_unlocked_and_forget_the_lock_with_the_session() -> None:
    sessions = Sessions()
    session = sessions.start("kari")
    lock = locked_pass(new_pass("c1abc", "L1", LATER), owner="kari")
    assert not sessions.lock("unknown-session", lock)
    assert sessions.lock(session, lock) and sessions.lock_of(session) == lock
    sessions.unlock(session)
    assert sessions.lock_of(session) is None
    sessions.lock(session, lock)
    sessions.end(session)
    assert sessions.lock_of(session) is None


@pytest.mark.parametrize(
    ("reason", "status"), [("altered", 403), ("unknown", 403), ("expired", 410), ("used", 410)]
)
def test_refusal_pages_say_it_in_both_languages(reason: str, status: int) -> None:
    assert refusal_status(reason) == status
    page = refusal_page(reason, "nb")
    assert page.index('lang="nb"') < page.index('section lang="en"')  # the server's first
    assert "Denne lenken kan ikke åpnes" in page and "This link cannot be opened" in page
    assert "client-unlock" not in page
    tablet = refusal_page(reason, "en", unlock_base="/")
    assert '/client-unlock?lang=en"' in tablet and '/client-unlock?lang=nb"' in tablet


def test_the_gate_leads_back_to_the_form_and_a_locked_one_to_the_unlock_page() -> None:
    phone = new_pass("c1abc", "L1", LATER)
    page = gate_page("en", "/", phone)
    assert 'href="/client/c1abc"' in page and "client-unlock" not in page
    locked = gate_page("nb", "/base/", locked_pass(phone, owner="kari"))
    assert 'href="/base/client/c1abc"' in locked and "/base/client-unlock?lang=nb" in locked


def test_the_unlock_form_names_the_secret_and_escapes_the_error() -> None:
    page = unlock_page("en", "/", "<input name=_xsrf>", "server_or_pin", error="<b>no</b>")
    assert "The server&#x27;s token or password, or the PIN you chose" in page
    assert "&lt;b&gt;no&lt;/b&gt;" in page and 'type="password"' in page


def test_the_kernel_reads_the_link_the_server_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CLIENT_LINK_HEADER in SERVER_SET_HEADERS  # a browser's own is deleted
    monkeypatch.delenv(ENV_CLIENT_LINK, raising=False)
    assert client_link_token() is None
    monkeypatch.setenv(ENV_CLIENT_LINK, "  ")
    assert client_link_token() is None
    monkeypatch.setenv(ENV_CLIENT_LINK, "c1abc")
    assert client_link_token() == "c1abc"


def test_a_client_links_user_is_described_and_is_no_role_of_the_users_table() -> None:
    from fitdata.data.access import CLIENT_ROLE, ROLES, User
    from fitdata.data.client_links import ClientGrant, link_user

    grant = ClientGrant("L1", "E1", "K-1", dt.date(2030, 1, 1), frozenset({"ors"}), LATER, "phone")
    user = link_user(grant)
    assert user == User("client-link:L1", CLIENT_ROLE) and CLIENT_ROLE not in ROLES
    assert (
        user.describe()
        == "client-link:L1 (client: a client link: that client's own rows of one episode)"
    )


def test_many_changed_links_from_one_address_make_it_wait() -> None:
    from fitdata.server.login import LINK_FREE_ATTEMPTS, FitdataPasswordIdentityProvider
    from fitdata.server.security import TooManyAttempts

    limiter = FitdataPasswordIdentityProvider().link_limiter
    for _ in range(LINK_FREE_ATTEMPTS - 1):
        limiter.failed("192.0.2.7")
    limiter.check("192.0.2.7")  # still free
    limiter.failed("192.0.2.7")
    with pytest.raises(TooManyAttempts):
        limiter.check("192.0.2.7")
    limiter.check("192.0.2.8")  # another address is not held up

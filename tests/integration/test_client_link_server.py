"""``fitdata serve`` lets a client link through to exactly its page: attacks over HTTP, WebSocket.

Real servers on 127.0.0.1 (the helpers of ``test_server_security.py``):

* ``users_server``: ``fitdata serve --users`` with its preheated pool (the client page's kernel
  is a pooled one, so the link reaches it with the page request), Kari (therapist of E1/E2) and
  Liv (another therapist) with personal tokens;
* ``token_server``: a one-person server with a shared token, no pool;
* ``open_server``: no login at all (loopback), no pool: handing over needs a PIN there.

What a client link's browser tries: reused, expired, altered and foreign links (a plain page in
both languages, 403/410, no kernel); the landing page, another notebook, the client notebook
without a link, the kernels and sessions APIs, another kernel's WebSocket and status; a header
of its own. A tablet handed over: the therapist's pages by any URL, with her token in the URL
too; the unlock page with a wrong secret, another person's token, and her own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from fitdata.data import access
from fitdata.data.audit import read_audit
from fitdata.data.client_links import issue_client_link, redeem_client_link
from fitdata.features.client_page import submit_client_form
from fitdata.server.client_access import CLIENT_COOKIE
from tests.integration.test_server_security import (
    PAGE_KERNEL_ID,
    PAGE_TIMEOUT_S,
    Server,
    _env,
    _start,
    open_socket,
    request,
    widget_states,
)

#: Another client's codes and the therapists' and teams' ids in the tiny database.
OTHER_CLIENTS = ("K-ONE", "K-TOTALS", "K-CHILD", "K-TEN")
STAFF = ("B1", "B2", "B3", "T2", "T3", "T10", "kari", "liv")
XSRF = "fitdata-test-xsrf"


def _db(tiny_db: Path, folder: Path) -> tuple[Path, dict[str, str]]:
    db = folder / "served.duckdb"
    shutil.copyfile(tiny_db, db)
    tokens = {
        "kari": access.add_user(db, "kari", "therapist", therapist_id="B1", token=True),
        "liv": access.add_user(db, "liv", "therapist", therapist_id="B3", token=True),
    }
    return db, tokens  # type: ignore[return-value]


def _users_server(tiny_db: Path, folder: Path, *args: str) -> Server:
    """A server of :func:`_db`'s copy (its users' tokens kept) once its client kernels are ready."""
    db, tokens = _db(tiny_db, folder)
    server = _start(db, folder / "serve.log", *args)
    server.tokens = tokens
    server.wait_for_log("Kernel pool of client.ipynb is filled", timeout=240)
    return server


@pytest.fixture(scope="module")
def users_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    server = _users_server(tiny_db, tmp_path_factory.mktemp("client-users"), "--users")
    yield server
    server.stop()


TOKEN = "k3Yv-0wL9mQ_b1X2c3D4e5F6g7H8i9J0"


def _unpooled_server(tiny_db: Path, folder: Path, **env: str) -> Server:
    """A server of a copy of the tiny database with no kernel pool (``env`` added to its own)."""
    db = folder / "served.duckdb"
    shutil.copyfile(tiny_db, db)
    return _start(db, folder / "serve.log", "--pool-size", "0", env=_env(**env))


@pytest.fixture(scope="module")
def token_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    server = _unpooled_server(tiny_db, tmp_path_factory.mktemp("client-token"), FITDATA_TOKEN=TOKEN)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def open_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    server = _unpooled_server(tiny_db, tmp_path_factory.mktemp("client-open"))
    yield server
    server.stop()


def link(server: Server, episode: str = "E1", **kwargs) -> str:
    token, _ = issue_client_link(server.db, episode_id=episode, actor="kari", **kwargs)
    return token


def open_client_page(server: Server, token: str, cookies: dict[str, str] | None = None):
    response = request(server.port, f"/client/{token}", cookies=cookies, timeout=PAGE_TIMEOUT_S)
    assert response.status == 200, (response.status, response.body[:300])
    found = PAGE_KERNEL_ID.search(response.body)
    assert found, "no kernel id in the client page"
    return response, found.group(1)


def kernel_socket(server: Server, kernel_id: str, cookies: dict[str, str]):
    """The kernel's websocket asked for with these cookies from the server's own origin."""
    return open_socket(
        server.port, f"/api/kernels/{kernel_id}/channels", cookies=cookies, origin=server.origin
    )


def kernel_events(server: Server) -> int:
    """Kernels started or taken from the pool so far (lines of the server's log)."""
    text = server.log_text()
    return text.count("Kernel started") + text.count("Using pre-heated kernel")


def _strings(states: dict) -> str:
    return json.dumps(states, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# A good link


def test_a_link_opens_its_page_and_its_own_kernel_and_nothing_of_anyone_else(
    users_server: Server,
) -> None:
    token = link(users_server)
    response, kernel_id = open_client_page(users_server, token)
    cookie_lines = [c for c in response.set_cookie_lines() if c.startswith(CLIENT_COOKIE)]
    assert cookie_lines and "httponly" in cookie_lines[0].lower()
    assert "samesite=strict" in cookie_lines[0].lower()
    client = {**response.cookies()}
    assert set(client) >= {CLIENT_COOKIE}
    assert "Using pre-heated kernel" in users_server.log_text()  # the pool served the link too
    socket_ = kernel_socket(users_server, kernel_id, client)
    assert socket_.status == 101
    try:
        states = _strings(widget_states(socket_))
    finally:
        socket_.close()
    assert "Individually" in states  # the ORS lines: the kernel got its link
    assert "Open this page with the link" not in states
    for code in (*OTHER_CLIENTS, *STAFF):
        assert not re.search(rf"\b{re.escape(code)}\b", states + response.body), code
    assert token not in users_server.log_text()  # the link is a secret: not in the log
    status = request(users_server.port, f"/api/kernels/{kernel_id}", cookies=client)
    assert status.status == 200


def test_the_client_notebook_is_not_served_without_a_link(users_server: Server) -> None:
    kari = {"Authorization": f"token {users_server.tokens['kari']}"}
    token = link(users_server)
    for headers in (kari, {**kari, "X-Fitdata-Client-Link": token}):
        for path in ("client.ipynb", "./client.ipynb", "x/../client.ipynb", "Client.ipynb"):
            response = request(users_server.port, f"/voila/render/{path}", headers=headers)
            assert response.status == 404, path
    landing = request(users_server.port, "/voila/tree", headers=kari)
    assert landing.status == 200 and "render/client.ipynb" not in landing.body


# --------------------------------------------------------------------------------------------
# Refused links: a plain page, no kernel, nothing read


def _refused(server: Server, token: str, status: int, reason: str) -> None:
    before = kernel_events(server)
    audited = len(read_audit(server.db))
    response = request(server.port, f"/client/{token}")
    assert response.status == status, (response.status, response.body[:300])
    assert f'data-reason="{reason}"' in response.body
    assert 'lang="en"' in response.body and 'lang="nb"' in response.body
    assert "kernelId" not in response.body and CLIENT_COOKIE not in str(response.cookies())
    time.sleep(0.5)
    assert kernel_events(server) == before, "a refused link started a kernel"
    entries = read_audit(server.db)[audited:]  # the refusal is in the audit log, nothing else
    assert [e.action for e in entries] == ["client_link_refused"]


def test_altered_unknown_expired_and_used_links_are_refused(users_server: Server) -> None:
    good = link(users_server)
    altered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    _refused(users_server, altered, 403, "altered")
    _refused(users_server, good[:40], 403, "altered")
    _refused(users_server, "not-a-link-at-all", 403, "unknown")
    past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=3)
    _refused(users_server, link(users_server, hours=1, now=past), 410, "expired")
    used = link(users_server, episode="E2")
    grant = redeem_client_link(users_server.db, used)
    submit_client_form(users_server.db, grant, "ors", [5.0, 5.1, 5.2, 5.3], lang="en")
    submit_client_form(users_server.db, grant, "srs", [9.0, 9.1, 9.2, 9.3], lang="en")
    _refused(users_server, used, 410, "used")
    other_db_link = "c1" + good[2:][::-1]
    _refused(users_server, other_db_link, 403, "altered")


# --------------------------------------------------------------------------------------------
# A client link's browser reaches its page and nothing else


def test_a_client_links_browser_reaches_nothing_else(users_server: Server) -> None:
    kari = {"Authorization": f"token {users_server.tokens['kari']}"}
    therapist_page = request(
        users_server.port, "/voila/render/client_graph.ipynb", headers=kari, timeout=PAGE_TIMEOUT_S
    )
    kari_kernel = PAGE_KERNEL_ID.search(therapist_page.body).group(1)
    response, own_kernel = open_client_page(users_server, link(users_server))
    client = response.cookies()
    for path in (
        "/",
        "/voila/tree",
        "/voila/render/registration.ipynb",
        "/voila/render/client.ipynb",
        "/voila/render/client_graph.ipynb",
        "/api/kernels",
        "/api/sessions",
        "/api/contents",
        f"/api/kernels/{kari_kernel}",
        "/login",
        "/logout",
        "/client-unlock",
    ):
        refused = request(users_server.port, path, cookies=client)
        assert refused.status in (403, 404), (path, refused.status)
        assert "kernelId" not in refused.body
    for kernel in (kari_kernel, own_kernel.replace(own_kernel[:8], "0" * 8)):
        socket_ = kernel_socket(users_server, kernel, client)
        assert socket_.status == 403
    query = request(users_server.port, f"/voila/query/{kari_kernel}", cookies=client)
    assert query.status in (403, 404)
    # a login of her own does not turn a therapist's kernel into the client's, nor back
    kari_socket = kernel_socket(users_server, own_kernel, _login_cookies(users_server, "kari"))
    assert kari_socket.status == 403


def _login_cookies(server: Server, user: str) -> dict[str, str]:
    response = request(server.port, f"/voila/tree?token={server.tokens[user]}")
    assert response.status == 200
    return response.cookies()


def test_a_forged_client_pass_cookie_is_no_pass(users_server: Server) -> None:
    forged = {CLIENT_COOKIE: "2|1:0|10:1796537676|14:fitdata-client|8:Zm9yZ2Vk|00"}
    response = request(users_server.port, "/voila/tree", cookies=forged)
    assert response.status == 302 and "/login" in response.headers.get("Location", "")


# --------------------------------------------------------------------------------------------
# The tablet: handed over, locked, and given back


def _post(server: Server, path: str, cookies: dict[str, str], **fields: str):
    return request(
        server.port,
        path,
        method="POST",
        body=urlencode(fields),
        cookies={**cookies, "_xsrf": XSRF},
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-XSRFToken": XSRF,
            "Origin": server.origin,
        },
    )


def hand_over(server: Server, cookies: dict[str, str], token: str, **fields: str):
    return _post(
        server,
        "/client-handover",
        cookies,
        token=token,
        return_to="/voila/render/registration.ipynb",
        **fields,
    )


def unlock(server: Server, cookies: dict[str, str], secret: str):
    return _post(server, "/client-unlock?lang=nb", cookies, _xsrf=XSRF, secret=secret)


def test_a_tablet_handed_over_reaches_only_the_clients_page_until_the_therapist_unlocks(
    users_server: Server,
) -> None:
    kari = _login_cookies(users_server, "kari")
    phone = link(users_server)
    refused = hand_over(users_server, kari, phone)
    assert refused.status == 400 and json.loads(refused.body)["reason"] == "not_tablet"
    assert request(users_server.port, "/voila/tree", cookies=kari).status == 200
    tablet = link(users_server, mode="tablet")
    handed = hand_over(users_server, kari, tablet)
    assert handed.status == 200, handed.body
    assert json.loads(handed.body)["url"] == f"/client/{tablet}"
    # locked: every other address, with her cookie, her token in the URL, in any tab
    for path in (
        "/",
        "/voila/tree",
        "/voila/render/registration.ipynb",
        f"/voila/render/registration.ipynb?token={users_server.tokens['kari']}",
        f"/client/{phone}",
        "/api/kernels",
        "/login",
        "/logout",
    ):
        response = request(users_server.port, path, cookies=kari)
        assert response.status == (404 if path == "/api/kernels" else 403), (path, response.status)
        assert "kernelId" not in response.body
    gate = request(users_server.port, "/voila/tree", cookies=kari)
    assert f'href="/client/{tablet}"' in gate.body and "/client-unlock" in gate.body
    assert 'lang="nb"' in gate.body
    response, kernel_id = open_client_page(users_server, tablet, cookies=kari)
    socket_ = kernel_socket(users_server, kernel_id, kari)
    assert socket_.status == 101
    socket_.close()
    # the therapist takes it back: not with a wrong secret, nor with a colleague's token
    form = request(users_server.port, "/client-unlock?lang=nb", cookies=kari)
    assert form.status == 200 and "Din personlige påloggingsnøkkel" in form.body
    wrong = unlock(users_server, kari, "not-the-token")
    assert wrong.status == 403 and "Det var ikke riktig" in wrong.body
    assert unlock(users_server, kari, users_server.tokens["liv"]).status == 403
    assert request(users_server.port, "/voila/tree", cookies=kari).status == 403
    back = unlock(users_server, kari, users_server.tokens["kari"])
    assert back.status == 302
    assert back.headers["Location"] == "/voila/render/registration.ipynb"
    assert request(users_server.port, "/voila/tree", cookies=kari).status == 200
    after = kernel_socket(users_server, kernel_id, kari)
    assert after.status == 403  # the client's kernel stays the client's


def test_a_client_cannot_hand_over_or_unlock(users_server: Server) -> None:
    response, _ = open_client_page(users_server, link(users_server))
    client = response.cookies()
    assert hand_over(users_server, client, link(users_server, mode="tablet")).status in (302, 403)
    assert unlock(users_server, client, users_server.tokens["kari"]).status == 403


def test_a_one_person_server_unlocks_with_its_token(token_server: Server) -> None:
    login = request(token_server.port, f"/voila/tree?token={TOKEN}")
    assert login.status == 200, (login.status, login.body[:300])
    cookies = login.cookies()
    tablet = link(token_server, mode="tablet")
    handed = hand_over(token_server, cookies, tablet)
    assert handed.status == 200, (handed.status, handed.body[:300], cookies)
    assert request(token_server.port, "/voila/tree", cookies=cookies).status == 403
    assert request(token_server.port, f"/voila/tree?token={TOKEN}", cookies=cookies).status == 403
    form = request(token_server.port, "/client-unlock?lang=en", cookies=cookies)
    assert "The server&#x27;s token or password" in form.body or "token or password" in form.body
    assert unlock(token_server, cookies, "x" * 32).status == 403
    assert unlock(token_server, cookies, TOKEN).status == 302
    assert request(token_server.port, "/voila/tree", cookies=cookies).status == 200


def test_a_server_without_a_login_needs_a_pin_to_hand_over(open_server: Server) -> None:
    first = request(open_server.port, "/voila/tree")
    assert first.status == 200
    cookies = first.cookies()
    tablet = link(open_server, mode="tablet")
    needs_pin = hand_over(open_server, cookies, tablet)
    assert needs_pin.status == 400 and json.loads(needs_pin.body)["reason"] == "pin_required"
    assert hand_over(open_server, cookies, tablet, pin="12a").status == 400
    assert hand_over(open_server, cookies, tablet, pin="4711").status == 200
    assert request(open_server.port, "/voila/tree", cookies=cookies).status == 403
    assert unlock(open_server, cookies, "1234").status == 403
    assert unlock(open_server, cookies, "4711").status == 302
    assert request(open_server.port, "/voila/tree", cookies=cookies).status == 200


# --------------------------------------------------------------------------------------------
# --client-links-only: the server clients' phones reach when therapists use another


@pytest.fixture(scope="module")
def links_only_server(tiny_db: Path, tmp_path_factory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("client-links-only")
    server = _users_server(tiny_db, folder, "--client-links-only")
    yield server
    server.stop()


def test_a_links_only_server_opens_client_links_and_nothing_else(
    links_only_server: Server,
) -> None:
    server = links_only_server
    pools = re.findall(r"Kernel pool of (\S+) is filled", server.log_text())
    assert set(pools) == {"client.ipynb"}  # no other dashboard keeps a kernel waiting here
    kari_token = server.tokens["kari"]
    for path in (
        "/",
        "/voila/tree",
        f"/voila/tree?token={kari_token}",
        "/voila/render/registration.ipynb",
        f"/voila/render/client_graph.ipynb?token={kari_token}",
    ):
        response = request(server.port, path)
        assert response.status in (302, 403, 404), (path, response.status)
        assert "kernelId" not in response.body and "K-ADULT1" not in response.body
    form = _post(server, "/login", {}, password=kari_token)
    assert not any(name.startswith("username-") for name in form.cookies())
    response, kernel_id = open_client_page(server, link(server))
    client = response.cookies()
    socket_ = kernel_socket(server, kernel_id, client)
    assert socket_.status == 101
    try:
        assert "Individually" in _strings(widget_states(socket_))
    finally:
        socket_.close()
    assert request(server.port, "/voila/tree", cookies=client).status == 403
    tablet = hand_over(server, client, link(server, mode="tablet"))
    assert tablet.status in (302, 403)


def test_links_only_takes_no_login_and_any_address() -> None:
    from fitdata.server.serve import AccessError, ServeOptions, check_access

    here = Path(".")
    check_access(ServeOptions(here, here, ip="0.0.0.0", client_links_only=True))
    for extra in ({"token": TOKEN}, {"users": True}, {"user": "kari"}):
        with pytest.raises(AccessError, match="client-links-only"):
            check_access(ServeOptions(here, here, client_links_only=True, **extra))


def test_the_jupyterhub_configuration_in_the_docs_runs_a_links_only_service(tmp_path: Path) -> None:
    """docs/deployment.md's snippet: a valid hub config whose service is a links-only server."""
    from traitlets.config import Config

    from fitdata.cli import build_parser
    from fitdata.server.hub import HubDeployment, configure_spawner
    from fitdata.server.serve import default_dashboards_dir

    docs = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    section = docs.split("### Client links under JupyterHub", 1)[1]
    snippet = section.split("```python", 1)[1].split("```", 1)[0]
    c = Config()
    exec(compile(snippet, "deployment.md", "exec"), {"c": c})  # noqa: S102 - our own docs
    db = tmp_path / "service.duckdb"
    db.write_bytes(b"")
    configure_spawner(c, HubDeployment(db=db, dashboards=default_dashboards_dir()))
    assert c.Spawner.environment["FITDATA_BASE_URL"] == "https://klient.example.kommune.no"
    assert c.Spawner.environment["FITDATA_DB"] == str(db)
    (service,) = c.JupyterHub.services
    assert "url" not in service and "oauth_client_id" not in service  # the hub routes nothing
    command = service["command"]
    assert command[:2] == ["fitdata", "serve"]
    args = build_parser().parse_args(command[1:])
    assert args.client_links_only and not args.users and args.port == 8867


def test_on_a_one_person_server_a_phone_needs_no_token_for_its_link_only(
    token_server: Server,
) -> None:
    response, kernel_id = open_client_page(token_server, link(token_server))
    client = response.cookies()
    assert CLIENT_COOKIE in client and not any(n.startswith("username-") for n in client)
    socket_ = kernel_socket(token_server, kernel_id, client)
    assert socket_.status == 101
    socket_.close()
    for path in ("/", "/voila/render/registration.ipynb", "/voila/render/client_graph.ipynb"):
        assert request(token_server.port, path, cookies=client).status == 403, path
    assert request(token_server.port, "/voila/tree").status == 302  # no pass: the login page


def test_a_tablet_whose_link_expired_shows_the_therapist_the_way_back(
    token_server: Server,
) -> None:
    login = request(token_server.port, f"/voila/tree?token={TOKEN}")
    cookies = login.cookies()
    tablet = link(token_server, mode="tablet", hours=3 / 3600)  # three seconds
    assert hand_over(token_server, cookies, tablet).status == 200
    time.sleep(4)
    expired = request(token_server.port, f"/client/{tablet}", cookies=cookies)
    assert expired.status == 410 and 'data-reason="expired"' in expired.body
    assert 'href="/client-unlock?lang=nb"' in expired.body
    assert request(token_server.port, "/voila/tree", cookies=cookies).status == 403
    assert unlock(token_server, cookies, TOKEN).status == 302

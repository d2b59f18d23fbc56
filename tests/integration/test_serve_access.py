"""``fitdata serve`` off loopback: a login is required, headers are set, no file is served."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fitdata.server.serve import (
    IOPUB_TIMEOUT_S,
    MIN_TOKEN_LENGTH,
    SECURITY_HEADERS,
    AccessError,
    ServeOptions,
    check_access,
    is_loopback,
    voila_config,
)

TOKEN = "k3Yv-0wL9mQ_b1X2c3D4e5F6g7H8i9J0"
HERE = Path(".")


def _options(**kwargs) -> ServeOptions:
    return ServeOptions(HERE, HERE, **kwargs)


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.0.1.1", "::1", "localhost"])
def test_loopback_addresses_need_no_login(ip: str) -> None:
    assert is_loopback(ip)
    check_access(_options(ip=ip))


@pytest.mark.parametrize("ip", ["0.0.0.0", "192.0.2.2", "::", "example.org"])
def test_other_addresses_are_refused_without_a_login(ip: str) -> None:
    assert not is_loopback(ip)
    with pytest.raises(AccessError, match="FITDATA_TOKEN") as refused:
        check_access(_options(ip=ip))
    assert ip in str(refused.value) and "--password-hash" in str(refused.value)
    check_access(_options(ip=ip, token=TOKEN))
    check_access(_options(ip=ip, password_hash="argon2:$argon2id$v=19$m=10240,t=10,p=8$x$y"))


def test_a_short_token_is_refused_everywhere() -> None:
    short = "x" * (MIN_TOKEN_LENGTH - 1)
    for ip in ("127.0.0.1", "0.0.0.0"):
        with pytest.raises(AccessError, match=f"at least {MIN_TOKEN_LENGTH}"):
            check_access(_options(ip=ip, token=short))


def test_voila_config_carries_address_login_and_headers() -> None:
    config = voila_config(_options(ip="0.0.0.0", token=TOKEN))
    assert config.Voila.ip == "0.0.0.0" and config.Voila.token == TOKEN
    assert config.Voila.tornado_settings["headers"] == SECURITY_HEADERS
    with pytest.raises(AccessError):
        voila_config(_options(ip="0.0.0.0"))  # no way around the check


def test_voila_waits_for_a_busy_kernels_outputs() -> None:
    """nbclient's 4 s dropped a finished cell's late outputs: pages came out empty under load."""
    config = voila_config(_options())
    assert config.VoilaExecutor.iopub_timeout == IOPUB_TIMEOUT_S >= 60


def test_the_template_gets_the_page_close_filter_and_the_cull_stays() -> None:
    """Each page ends its kernel with its key (page_close.py); the idle cull is the backstop."""
    from traitlets.utils.importstring import import_item

    from fitdata.server.page_close import TEMPLATE_FILTER, page_close_markup
    from fitdata.server.serve import CULL_IDLE_TIMEOUT

    config = voila_config(_options())
    assert import_item(config.TemplateExporter.filters[TEMPLATE_FILTER]) is page_close_markup
    assert config.MappingKernelManager.cull_idle_timeout == CULL_IDLE_TIMEOUT > 0
    templates = Path(__file__).resolve().parents[2] / "fitdata/server/jupyter_data/voila/templates"
    template = templates / "fitdata" / "index.html.j2"
    assert f"kernel_id | {TEMPLATE_FILTER}(resources.base_url)" in template.read_text()


def _run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITDATA_")}
    return {**env, **extra}


def test_cli_refuses_a_public_address_without_a_login(tiny_db: Path) -> None:
    done = _run_cli("--db", str(tiny_db), "--ip", "0.0.0.0", env=_env())
    assert done.returncode == 2
    assert "fitdata serve: error: --ip 0.0.0.0 would let other machines" in done.stderr
    assert "Traceback" not in done.stderr
    short = _run_cli("--db", str(tiny_db), "--ip", "0.0.0.0", env=_env(FITDATA_TOKEN="short"))
    assert short.returncode == 2 and "use at least" in short.stderr


def _public_ip() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for UDP connect
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if is_loopback(address) else address


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003 - urllib's signature
        return None


def _get(url: str) -> tuple[int, dict[str, str], str]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), ""


@pytest.fixture(scope="module")
def public_server(tiny_db: Path, tmp_path_factory) -> Iterator[str]:
    ip = _public_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fitdata.cli", "serve", "--db", str(tiny_db)]
            + ["--ip", ip, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_env(FITDATA_TOKEN=TOKEN),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((ip, port)) == 0:
                    break
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        try:
            yield f"http://{ip}:{port}"
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_without_the_token_every_page_sends_you_to_the_login(public_server: str) -> None:
    for path in ("/", "/voila/render/client_graph.ipynb", "/voila/tree"):
        status, headers, _ = _get(public_server + path)
        assert status in (302, 403), path
        if status == 302:
            assert "/login" in headers["Location"], path


def test_with_the_token_the_landing_page_opens_with_security_headers(public_server: str) -> None:
    status, headers, body = _get(f"{public_server}/?token={TOKEN}")
    assert status == 200 and "client_graph.ipynb" in body
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name
    assert "frame-ancestors 'self'" in headers.get("Content-Security-Policy", "")


def test_no_database_or_notebook_is_served_even_with_the_token(
    public_server: str, tiny_db: Path
) -> None:
    for path in (
        f"/voila/files/{tiny_db.name}",
        "/voila/files/client_graph.ipynb",
        "/files/client_graph.ipynb",
        "/api/contents/client_graph.ipynb",
        "/voila/render/../data/demo.duckdb",
        f"/voila/static/{tiny_db.name}",
    ):
        status, headers, body = _get(f"{public_server}{path}?token={TOKEN}")
        if status in (301, 302):  # a normalised path: follow it once, it must not serve either
            status, _, body = _get(public_server + headers["Location"])
        assert status in (403, 404, 405), path
        assert "SELECT" not in body and "nbformat" not in body, path

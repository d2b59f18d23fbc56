"""``fitdata client-link``: the printed link opens that episode's forms; the QR code holds it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.client_links import redeem_client_link
from fitdata.data.errors import StoreError
from fitdata.outputs.client_link_qr import configured_base_url, qr_png_bytes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def db(tiny_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "links.duckdb"
    shutil.copyfile(tiny_db, path)
    access.add_user(path, "kari", "therapist", therapist_id="B1", token=True)
    return path


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FITDATA_")}
    return subprocess.run(
        [sys.executable, "-m", "fitdata.cli", "client-link", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        cwd=ROOT,
    )


def test_prints_the_path_of_a_link_to_that_episodes_forms(db: Path) -> None:
    done = run("--db", str(db), "--episode", "E1", "--user", "kari", "--hours", "3")
    assert done.returncode == 0, done.stderr
    path = done.stdout.strip()
    assert path.startswith("/client/c1") and "\n" not in path
    assert "E1" not in path and "K-ADULT1" not in path  # no id readable in the link
    grant = redeem_client_link(db, path.removeprefix("/client/"))
    assert (grant.episode_id, grant.client_id, grant.forms) == ("E1", "K-ADULT1", {"ors", "srs"})
    assert grant.mode == "phone" and "valid until" in done.stderr


def test_a_therapist_cannot_link_another_therapists_episode(db: Path) -> None:
    done = run("--db", str(db), "--episode", "E3", "--user", "kari")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stdout == "" and "E3" in done.stderr


def test_with_the_servers_address_it_prints_the_full_link_and_writes_its_qr_code(
    db: Path, tmp_path: Path
) -> None:
    qr = tmp_path / "link.png"
    done = run(
        "--db", str(db), "--episode", "E1", "--user", "kari", "--qr", str(qr),
        FITDATA_BASE_URL="https://fitdata.example.org/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    assert address.startswith("https://fitdata.example.org/client/c1")
    data = qr.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert data == qr_png_bytes(address)  # segno is deterministic: the code holds that address
    assert stat.S_IMODE(qr.stat().st_mode) == 0o600
    option = run("--db", str(db), "--episode", "E1", "--user", "kari", "--base-url",
                 "http://10.0.0.5:8866")  # fmt: skip
    assert option.stdout.startswith("http://10.0.0.5:8866/client/c1")


def test_a_qr_code_needs_the_servers_address_and_a_png_name(db: Path, tmp_path: Path) -> None:
    no_address = run("--db", str(db), "--episode", "E1", "--user", "kari", "--qr",
                     str(tmp_path / "x.png"))  # fmt: skip
    assert no_address.returncode == 2 and "--base-url" in no_address.stderr
    assert not (tmp_path / "x.png").exists()
    wrong = run("--db", str(db), "--episode", "E1", "--user", "kari", "--qr",
                str(tmp_path / "x.svg"), "--base-url", "https://a.example")  # fmt: skip
    assert wrong.returncode == 2 and ".png" in wrong.stderr


@pytest.mark.parametrize(
    "text", ["fitdata.example.org", "ftp://a.example", "https://a.example/?x=1", "https://"]
)
def test_a_base_url_that_is_no_address_is_refused(text: str) -> None:
    with pytest.raises(StoreError, match="server's address"):
        configured_base_url(text, {})
    assert configured_base_url(None, {}) is None
    assert configured_base_url(None, {"FITDATA_BASE_URL": "https://a.example/x/"}) == (
        "https://a.example/x"
    )

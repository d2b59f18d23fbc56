"""A client link as text and as a QR code: the address a client opens on their own phone.

A link is a path on the server (``/client/<token>``, :func:`fitdata.data.client_links.
client_link_path`) until the server's public address is known: ``--base-url`` or
``$FITDATA_BASE_URL`` (:data:`ENV_BASE_URL`, e.g. ``https://fitdata.example.org``), which
:func:`configured_base_url` checks. The QR code (segno, error correction M) holds the full
address only: a path alone is no use to a phone's camera.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from fitdata.data.client_links import client_link_path, client_link_url
from fitdata.data.errors import StoreError

__all__ = [
    "ENV_BASE_URL",
    "configured_base_url",
    "link_address",
    "qr_png_bytes",
    "qr_svg",
    "write_qr_png",
]

#: The server's address as clients reach it (scheme, host, port and prefix; no path after).
ENV_BASE_URL = "FITDATA_BASE_URL"


def configured_base_url(
    explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The server's public address: ``explicit``, else ``$FITDATA_BASE_URL``, else None.

    Raises:
        StoreError: If the address is not ``http://`` or ``https://`` with a host, or carries a
            query or fragment.
    """
    environ = os.environ if environ is None else environ
    text = (explicit or environ.get(ENV_BASE_URL, "")).strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise StoreError(
            f"{text!r} is not the server's address: give it as https://host[:port][/prefix] "
            f"(--base-url or ${ENV_BASE_URL})."
        )
    return text.rstrip("/")


def link_address(token: str, base_url: str | None) -> str:
    """The full link when the server's address is known, else the path on the server."""
    return client_link_url(token, base_url) if base_url else client_link_path(token)


def _qr(address: str):  # noqa: ANN202 - segno's QRCode
    import segno  # only a QR code needs it

    if not urlsplit(address).scheme:
        raise StoreError(
            "A QR code needs the full link: give the server's address with --base-url or "
            f"${ENV_BASE_URL}."
        )
    return segno.make(address, error="m", micro=False)


def write_qr_png(address: str, out: Path, *, scale: int = 8) -> Path:
    """Write the QR code of ``address`` to ``out`` (PNG, mode 0600: it opens a client's form)."""
    data = qr_png_bytes(address, scale=scale)
    out = Path(out)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return out


def qr_png_bytes(address: str, *, scale: int = 8) -> bytes:
    """The QR code of ``address`` as PNG bytes (a quiet zone of 4 modules around it)."""
    buffer = io.BytesIO()
    _qr(address).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def qr_svg(address: str, *, scale: int = 6) -> str:
    """The QR code of ``address`` as an SVG document (text), for a page."""
    buffer = io.BytesIO()
    _qr(address).save(buffer, kind="svg", scale=scale, border=4, xmldecl=False, svgns=True)
    return buffer.getvalue().decode("utf-8")

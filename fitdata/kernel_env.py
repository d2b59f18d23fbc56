"""How a server tells a dashboard kernel where it runs: environment variables and one header.

A small module on purpose: the server processes (``fitdata serve``, a JupyterHub single-user
server) import it without pandas, DuckDB or the widgets, which only kernels need (~100 MB each).
"""

from __future__ import annotations

import os

__all__ = [
    "CLIENT_LINK_HEADER",
    "CLIENT_NOTEBOOK",
    "ENV_CLIENT_LINK",
    "ENV_CONFIG",
    "ENV_DB",
    "ENV_HUB_USER",
    "ENV_LANG",
    "ENV_LOGIN",
    "ENV_LOGIN_USER",
    "ENV_USER",
    "LOGIN_USER_HEADER",
    "client_link_token",
]

#: The database file every dashboard reads (``fitdata serve --db``).
ENV_DB = "FITDATA_DB"
#: The pages' language, ``en`` or ``nb``.
ENV_LANG = "FITDATA_LANG"
#: A service's TOML file overriding clinical thresholds (``--config``), if any.
ENV_CONFIG = "FITDATA_CONFIG"
#: The kernel's user for a single-user install (``fitdata serve --user NAME`` sets it).
ENV_USER = "FITDATA_USER"
#: Set by JupyterHub in every single-user server's environment.
ENV_HUB_USER = "JUPYTERHUB_USER"
#: ``fitdata serve --users`` sets this to ``users`` for every kernel: the kernel's user then comes
#: only from the login of the page request (:func:`fitdata.data.access.bind_login_user`).
ENV_LOGIN = "FITDATA_LOGIN"
#: The request header through which the server tells a kernel whose page it runs. The server
#: (:class:`fitdata.server.login.FitdataIdentityProvider`) deletes whatever the browser sent under
#: this name and sets it from the verified login; Voila passes it to the kernel as
#: :data:`ENV_LOGIN_USER` (RFC 3875 naming), in the kernel's environment or, for a preheated
#: kernel, with the request information that ``voila.utils.wait_for_request`` receives.
LOGIN_USER_HEADER = "X-Fitdata-User"
ENV_LOGIN_USER = "HTTP_X_FITDATA_USER"
#: The request header through which the server gives the client page's kernel its client link
#: (the token of ``/client/<token>``, checked by the server before the page is rendered). As with
#: :data:`LOGIN_USER_HEADER`, the server deletes whatever the browser sent under this name and
#: sets it itself (:mod:`fitdata.server.client_route`); Voila passes it to the kernel as
#: :data:`ENV_CLIENT_LINK`, also to a preheated kernel with its page request.
CLIENT_LINK_HEADER = "X-Fitdata-Client-Link"
ENV_CLIENT_LINK = "HTTP_X_FITDATA_CLIENT_LINK"
#: The dashboard a client link opens (``dashboards/client.ipynb``); the server serves it only at
#: ``/client/<token>``, never at ``/voila/render/client.ipynb``.
CLIENT_NOTEBOOK = "client.ipynb"


def client_link_token() -> str | None:
    """The client link this kernel's page was opened with, or None (not a client page).

    Read after :func:`fitdata.ui.page_request.await_page_request` (a preheated kernel learns its
    request only then). The token is still to be redeemed
    (:func:`fitdata.data.client_links.redeem_client_link`): the server checked its MAC and
    expiry, not whether its forms have been sent.
    """
    token = os.environ.get(ENV_CLIENT_LINK, "").strip()
    return token or None

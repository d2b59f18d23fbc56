"""Personal logins for one shared ``fitdata serve --users`` server, and how a kernel learns them.

JupyterHub gives every person their own server with ``$JUPYTERHUB_USER`` set, which
:func:`fitdata.access.current_user` reads. Without JupyterHub, several people can share one
Voila server when each logs in with a **personal token** (``fitdata users add NAME --role R
--token`` prints it once; the database keeps only its SHA-256):

* :class:`FitdataIdentityProvider` (a jupyter_server ``IdentityProvider``) accepts a personal
  token in ``?token=``, in an ``Authorization: token ...`` header, or typed into Voila's login
  form, and then keeps the person logged in with Jupyter Server's signed cookie. A cookie of a
  user who has since been removed no longer logs in.
* :func:`bind_user_hook` is Voila's ``prelaunch_hook``: it runs in the server, after the login,
  for every page before its kernel starts, and puts one first cell into *that request's* copy
  of the notebook: ``fitdata.access.bind_user(<the logged-in name>)``. The name comes from
  ``request.current_user`` (the verified login), never from the query string, a header or
  anything else the browser sends, and a kernel cannot be bound to a second name later.

Voila refuses ``preheat_kernel`` together with a ``prelaunch_hook``, and a preheated kernel
would have run the notebook before anyone logged in, so ``--users`` serves without a
preheated pool (see docs/deployment.md for JupyterHub, where preheating is fine).
"""

from __future__ import annotations

from typing import Any

import nbformat
from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from tornado import web
from traitlets import Unicode

from fitdata import access

__all__ = ["FitdataIdentityProvider", "bind_user_hook"]


class FitdataIdentityProvider(IdentityProvider):
    """Log people in with the personal tokens of the database's ``users`` table."""

    db_path = Unicode("", config=True, help="The fitdata database whose users may log in.")

    @property
    def auth_enabled(self) -> bool:
        """Always: nobody gets in without a personal token."""
        return True

    @property
    def login_available(self) -> bool:
        """Voila's login form accepts a personal token as the password."""
        return True

    def _login(self, token: str, handler: web.RequestHandler) -> JupyterUser | None:
        found = access.user_for_token(self.db_path, token) if token else None
        if found is None:
            if token:
                self.log.warning("Refused a login token from %s", handler.request.remote_ip)
            return None
        return JupyterUser(username=found.name, name=found.name, display_name=found.name)

    async def get_user_token(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The user whose personal token is in ``?token=`` or the Authorization header."""
        return self._login(self.get_token(handler) or "", handler)

    def user_from_cookie(self, cookie_value: str) -> JupyterUser | None:
        """The user of a signed login cookie, while they are still in the users table."""
        user = super().user_from_cookie(cookie_value)
        if user is None or access.find_user(self.db_path, user.username) is None:
            return None
        return user

    def process_login_form(self, handler: web.RequestHandler) -> JupyterUser | None:
        """The user whose personal token was typed into the login form's password field."""
        return self._login(handler.get_argument("password", default=""), handler)


def bind_user_hook(req: web.RequestHandler, notebook: Any, cwd: str) -> Any:
    """Voila's ``prelaunch_hook``: make the page's kernel run as the logged-in user.

    Args:
        req: The page request (already authenticated by the identity provider).
        notebook: This request's copy of the notebook.
        cwd: The notebook's folder (unused).

    Returns:
        The notebook with a first cell that binds the kernel to the user.

    Raises:
        tornado.web.HTTPError: 403 when the request has no logged-in user.
    """
    name = getattr(req.current_user, "username", None)
    if not name:
        raise web.HTTPError(403, "no logged-in user")
    bind = f"import fitdata.access\nfitdata.access.bind_user({str(name)!r})"
    notebook.cells.insert(0, nbformat.v4.new_code_cell(source=bind))
    return notebook

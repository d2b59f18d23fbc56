"""Personal logins for one shared ``fitdata serve --users`` server, and how a kernel learns them.

JupyterHub gives every person their own server with ``$JUPYTERHUB_USER`` set, which
:func:`fitdata.data.access.current_user` reads. Without JupyterHub, several people can share one
Voila server when each logs in with a **personal token** (``fitdata users add NAME --role R
--token`` prints it once; the database keeps only its SHA-256):

* :class:`FitdataIdentityProvider` (a jupyter_server ``IdentityProvider``) accepts a personal
  token in ``?token=``, in an ``Authorization: token ...`` header, or typed into Voila's login
  form, and then keeps the person logged in with Jupyter Server's signed cookie. A cookie of a
  user who has since been removed no longer logs in.
* The kernel learns who opened its page from the server, never from the browser: for every
  request, :meth:`FitdataIdentityProvider.get_user` deletes any ``X-Fitdata-User`` header the
  browser sent and sets it to the verified login. Voila passes that header (and only that one,
  ``http_header_envs``) to the page's kernel as ``$HTTP_X_FITDATA_USER``: in the environment of
  a kernel started for the request, or with the request information a **preheated** kernel
  waits for (``voila.utils.wait_for_request``). The dashboard then calls
  :func:`fitdata.data.access.bind_login_user` (in :func:`fitdata.ui.context.build_dashboard`), and a
  kernel cannot be bound to a second name later.

So ``--users`` can serve from a preheated pool: a pooled kernel imports everything and then
waits, knowing nobody, until a page request takes it; only then does it bind its user and read
any data (see docs/deployment.md).
"""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider
from jupyter_server.auth.identity import User as JupyterUser
from tornado import web
from traitlets import Unicode

from fitdata.data import access

__all__ = ["FitdataIdentityProvider"]


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

    async def get_user(self, handler: web.RequestHandler) -> JupyterUser | None:  # type: ignore[override]
        """The request's verified user, also told to the page's kernel in a trusted header.

        Whatever the browser sent as :data:`fitdata.data.access.LOGIN_USER_HEADER` is deleted first;
        the header then holds the login checked here, or is absent without one.
        """
        headers = handler.request.headers
        if access.LOGIN_USER_HEADER in headers:
            del headers[access.LOGIN_USER_HEADER]
        user = await self._get_user(handler)
        if user is not None:
            headers[access.LOGIN_USER_HEADER] = user.username
        return user

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

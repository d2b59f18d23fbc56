"""The page frame of every served page: title, heading, who is signed in, home, logout; login page.

Every dashboard page and the landing page are drawn by fitdata's Voila template, which asks
:func:`page_frame` (through the page-config hook of :mod:`fitdata.server.serve`) for:

* the page's **title**, in the browser tab and as a visible heading (the dashboard's name from
  :data:`fitdata.server.serve.DASHBOARDS`, never "Voilà Home" or the notebook's file name);
* **who is signed in** and their role ("Signed in as kari (supervisor)"), a link **home** (the
  landing page) and a **logout** link when the server has logins;
* the **loading message** shown until the dashboard is drawn, in place of Voila's "Executing 1
  of 1" ("Henter data …");
* the pages the signed-in role may open (:func:`pages_for_role`): the landing page lists only
  those, and on a page the role is refused the frame says where to go instead.

The language is the page's ``?lang=`` (``en`` or ``nb``) or else the server's ``--lang``. The
frame learns the request from :data:`CURRENT_REQUEST`, which the page and landing handlers set
while they render. A client link's page (``/client/<token>``) gets no frame: no staff name, home
or logout. :func:`login_page` and :func:`signed_out_page` are the login form (it says the
personal token goes there) and the page ``/logout`` ends on.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote

from fitdata.i18n import LANGUAGES, Translator
from fitdata.kernel_env import (
    CLIENT_NOTEBOOK,
    ENV_DB,
    ENV_HUB_USER,
    ENV_LANG,
    ENV_USER,
    LOGIN_USER_HEADER,
)

__all__ = [
    "CURRENT_REQUEST",
    "LEADER_PAGES",
    "login_page",
    "page_frame",
    "page_language",
    "pages_for_role",
    "signed_out_page",
    "standalone_page",
]

#: The request handler drawing the current page (set by the page and landing handlers).
CURRENT_REQUEST: ContextVar[Any] = ContextVar("fitdata_current_request", default=None)

#: What a leader may open: the summaries. Every other page shows single clients or therapists,
#: which :mod:`fitdata.data.access` refuses a leader (``access.error.aggregates_only``,
#: ``development.access.summaries_only``) and a leader may not register sessions.
LEADER_PAGES: frozenset[str] = frozenset({"service.ipynb"})


#: The dashboards the frame knows: notebook, title key, description key (the landing page's
#: order). :mod:`fitdata.server.serve` passes its ``DASHBOARDS`` to :func:`page_frame`.
Dashboards = Sequence[tuple[str, str, str]]


def pages_for_role(role: str | None, dashboards: Dashboards) -> list[str]:
    """The dashboards (notebook names) a role may open, in the landing page's order.

    A leader sees summaries only (:data:`LEADER_PAGES`); therapists, supervisors, administrators
    and a server without users may open every dashboard.
    """
    names = [name for name, _, _ in dashboards]
    return [n for n in names if n in LEADER_PAGES] if role == "leader" else names


def page_language(handler: Any) -> str:
    """The request's ``?lang=`` when it is a language fitdata speaks, else the server's."""
    wanted = ""
    if handler is not None and hasattr(handler, "get_argument"):
        wanted = handler.get_argument("lang", "") or ""
    if wanted in LANGUAGES:
        return wanted
    server = os.environ.get(ENV_LANG, "en")
    return server if server in LANGUAGES else "en"


def _lang_query(handler: Any) -> str:
    """``?lang=xx`` when the page was asked for in a language, so its links keep it."""
    if handler is not None and hasattr(handler, "get_argument"):
        wanted = handler.get_argument("lang", "") or ""
        if wanted in LANGUAGES:
            return f"?lang={wanted}"
    return ""


def _user_name(handler: Any) -> str | None:
    """The signed-in fitdata user: the verified login (``--users``) or the server's user."""
    if handler is not None:
        login = handler.request.headers.get(LOGIN_USER_HEADER)
        if login:
            return str(login)
    return os.environ.get(ENV_USER) or os.environ.get(ENV_HUB_USER) or None


def _user_role(name: str | None) -> str | None:
    db = os.environ.get(ENV_DB, "")
    if not name or not db:
        return None
    from fitdata.data import access

    try:
        found = access.find_user(db, name)
    except Exception:  # noqa: BLE001 - a frame never fails a page; the kernel says what is wrong
        return None
    return found.role if found is not None else None


def _logout_href(handler: Any, base_url: str, query: str) -> str | None:
    """This server's ``/logout`` when it has logins; the hub's under JupyterHub; else none."""
    provider = getattr(handler, "identity_provider", None) if handler is not None else None
    if provider is not None and getattr(provider, "login_available", False):
        return f"{base_url}logout{query}"
    hub = os.environ.get("JUPYTERHUB_BASE_URL")
    if handler is None and hub:  # a JupyterHub user's server: the hub ends the login
        return f"{hub.rstrip('/')}/hub/logout"
    return None


def page_frame(
    notebook_path: str | None,
    base_url: str,
    dashboards: Dashboards,
    is_client: Callable[[Any], bool],
) -> dict[str, Any] | None:
    """What the template draws around a page, or None for a client link's page.

    Args:
        notebook_path: The dashboard's notebook (None or "" for the landing page).
        base_url: The server's base URL (ends with ``/``).
        dashboards: The dashboards in the landing page's order.
        is_client: Whether a Jupyter user is a client link's (no frame for them).

    Returns:
        ``lang``, ``title``, ``html`` (the frame's header, escaped), ``loading`` (the loading
        message), ``role`` and ``pages`` (what the role may open: path, title, description).
    """
    handler = CURRENT_REQUEST.get()
    user = getattr(handler, "current_user", None) if handler is not None else None
    page = (notebook_path or "").rsplit("/", 1)[-1]
    if page.lower() == CLIENT_NOTEBOOK or (user is not None and is_client(user)):
        return None  # a client's page, even in a therapist's browser: no staff frame
    lang = page_language(handler)
    tr = Translator(lang)
    query = _lang_query(handler)
    name = _user_name(handler)
    role = _user_role(name)
    allowed = pages_for_role(role, dashboards)
    titles = {path: (tr.text(title), tr.text(audience)) for path, title, audience in dashboards}
    title = titles[page][0] if page in titles else tr.text("app.title")
    pages = [
        {
            "path": p,
            "title": titles[p][0],
            "audience": titles[p][1],
            "href": f"{base_url}voila/render/{p}{query}",
        }
        for p in allowed
    ]
    parts = [
        f'<h1 class="fitdata-frame-title">{html.escape(title)}</h1>',
        '<nav class="fitdata-frame-nav">',
    ]
    if name and role:
        who = tr.text("access.signed_in", user=name, role=tr.text(f"access.role.{role}"))
        parts.append(f'<span class="fitdata-frame-user">{html.escape(who)}</span>')
    home = html.escape(tr.text("frame.home"))
    parts.append(f'<a class="fitdata-frame-home" href="{base_url}{query}">{home}</a>')
    logout = _logout_href(handler, base_url, query)
    if logout:
        parts.append(
            f'<a class="fitdata-frame-logout" href="{html.escape(logout)}">'
            f"{html.escape(tr.text('frame.logout'))}</a>"
        )
    parts.append("</nav>")
    refused = bool(page) and page in titles and page not in allowed
    if refused:
        links = ", ".join(
            f'<a href="{html.escape(p["href"])}">{html.escape(p["title"])}</a>' for p in pages
        )
        role_text = tr.text(f"access.role.{role}") if role else ""
        text = html.escape(tr.text("frame.refused", user=name or "", role=role_text))
        parts.append(f'<p class="fitdata-frame-refused" role="note">{text} {links}</p>')
    return {
        "lang": lang,
        "title": title,
        "html": f'<header class="fitdata-frame" lang="{lang}">{"".join(parts)}</header>',
        "loading": tr.text("frame.loading"),
        "role": role,
        "pages": pages,
        "refused": refused,
        "no_pages": tr.text("frame.landing.none"),
    }


# -- the login form and the signed-out page ------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1a1a1a;background:#f6f7f9}main{max-width:34em;margin:10vh auto;padding:2em;"
    "background:#fff;border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}"
    "h1{font-size:1.5em;margin:0 0 .6em}label{display:block;font-weight:600;margin:1em 0 .3em}"
    "input{width:100%;box-sizing:border-box;font-size:1.1em;padding:.5em}"
    "button{margin-top:1em;font-size:1.05em;padding:.5em 1.4em}.fitdata-login-error{color:#a40000}"
    "p{line-height:1.45;overflow-wrap:anywhere}"
)


def standalone_page(lang: str, title: str, body: str, style: str = _STYLE) -> str:
    """A whole small HTML page outside Voila (login, signed out, a client link's refusal)."""
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{html.escape(title)}</title><style>{style}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _switch(tr: Translator, lang: str, href: str) -> str:
    other = "nb" if lang == "en" else "en"
    sep = "&" if "?" in href else "?"
    return (
        f'<p class="fitdata-language"><a href="{html.escape(href)}{sep}lang={other}" '
        f'lang="{other}">{html.escape(Translator(other).text("frame.language"))}</a></p>'
    )


def login_page(
    lang: str,
    base_url: str,
    next_url: str,
    xsrf_form_html: str,
    credential: str,
    error: str = "",
) -> str:
    """The login form: what to type (a personal token, or the server's token or password).

    Args:
        lang: ``en`` or ``nb``.
        base_url: The server's base URL.
        next_url: Where to go after logging in (URL-escaped already).
        xsrf_form_html: The form's XSRF field.
        credential: ``user`` (personal tokens, ``--users``) or ``server`` (a shared token or
            password).
        error: A message to show (already in ``lang``), e.g. after a wrong token.
    """
    tr = Translator(lang)
    message = (
        f'<p class="fitdata-login-error" role="alert">{html.escape(error)}</p>' if error else ""
    )
    action = f"{base_url}login?next={next_url}&lang={lang}"
    body = (
        f"{_switch(tr, lang, f'{base_url}login?next={next_url}')}"
        f"<h1>{html.escape(tr.text('frame.login.title'))}</h1>"
        f"<p>{html.escape(tr.text(f'frame.login.help.{credential}'))}</p>{message}"
        f'<form method="post" action="{html.escape(action)}">{xsrf_form_html}'
        f'<label for="password_input">{html.escape(tr.text(f"frame.login.field.{credential}"))}'
        "</label>"
        '<input type="password" name="password" id="password_input" autocomplete="off" '
        "autofocus required>"
        f'<button type="submit" id="login_submit">{html.escape(tr.text("frame.login.submit"))}'
        "</button></form>"
    )
    return standalone_page(lang, tr.text("frame.login.title"), body)


def signed_out_page(lang: str, base_url: str, login_available: bool) -> str:
    """The page ``/logout`` ends on: you are signed out, and a link to sign in again."""
    tr = Translator(lang)
    target = f"{base_url}login?lang={lang}" if login_available else f"{base_url}?lang={lang}"
    body = (
        f"<h1>{html.escape(tr.text('frame.signed_out.title'))}</h1>"
        f"<p>{html.escape(tr.text('frame.signed_out.text'))}</p>"
        f'<p><a class="fitdata-sign-in" href="{html.escape(target)}">'
        f"{html.escape(tr.text('frame.sign_in'))}</a></p>"
    )
    return standalone_page(lang, tr.text("frame.signed_out.title"), body)


def next_url_escaped(value: str) -> str:
    """``next`` for the login form's action, escaped as Jupyter Server does."""
    return quote(value, safe="/")

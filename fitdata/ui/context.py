"""What a dashboard needs to know about where it runs: database, language, thresholds, user.

:func:`build_dashboard` is where every page starts. In a kernel from ``fitdata serve``'s
preheated pool it first waits for the page request (the imports are done by then, which is
what makes a first page fast; :mod:`fitdata.ui.page_request`), binds the login's user
(:func:`fitdata.data.access.bind_login_user`), and only then reads data, so a pooled kernel never
holds anyone's data nor shows a stale file.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig, load_config
from fitdata.data.access import aggregate_reader, current_user, find_user, reader_for_user
from fitdata.data.store import Reader, StoreError, release_buffers
from fitdata.i18n import Translator, environment_language
from fitdata.kernel_env import ENV_CONFIG, ENV_DB
from fitdata.ui.page_request import await_page_request

__all__ = [
    "DashboardContext",
    "build_dashboard",
    "error_html",
    "run_guarded",
    "signed_in_html",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DashboardContext:
    """The database, language and clinical thresholds one dashboard page works with.

    ``user`` is whose page this is; None means the kernel's user (:func:`fitdata.data.access.
    current_user`: the server's pre-launch hook, JupyterHub, or ``fitdata serve --user``).
    """

    db_path: Path
    lang: str = "en"
    config: ClinicalConfig = field(default=DEFAULT_CONFIG)
    user: str | None = None

    @classmethod
    def from_environment(cls) -> DashboardContext:
        """Build the context from the variables ``fitdata serve`` sets for each kernel.

        Raises:
            StoreError: If no database is configured.
        """
        db = os.environ.get(ENV_DB)
        if not db:
            raise StoreError(
                f"No database is configured ({ENV_DB} is not set). Start the dashboards with "
                "`fitdata serve --db PATH` (or `make demo` for the demo database)."
            )
        config = load_config(os.environ.get(ENV_CONFIG) or None)
        return cls(Path(db), environment_language(), config)

    @property
    def reader(self) -> Reader:
        """The read-only view of the database this page's user may see.

        Scoped to the user's role (:func:`fitdata.data.access.reader_for_user`); unrestricted while
        the database has no users.

        Raises:
            AccessDenied: If the database has users and this page's user is not one of them.
        """
        return reader_for_user(self.db_path, self.user)

    @property
    def aggregate_reader(self) -> Reader:
        """A de-identified view of every row, for suppressed comparisons with colleagues.

        See :func:`fitdata.data.access.aggregate_reader`: use it only for aggregates that suppress
        small cells, never to show a client.
        """
        return aggregate_reader(self.db_path, self.user)

    @property
    def tr(self) -> Translator:
        """Messages in the context's language."""
        return Translator(self.lang)


def signed_in_html(context: DashboardContext) -> str | None:
    """The line "Signed in as NAME (role)" for the top of a page; None without access control.

    Shown whenever the database has users, so everybody sees whose view the page is.
    """
    name = context.user if context.user is not None else current_user()
    user = find_user(context.db_path, name) if name else None
    if user is None:
        return None
    tr = context.tr
    text = tr.text("access.signed_in", user=user.name, role=tr.text(f"access.role.{user.role}"))
    style = "text-align:right;font-size:0.9em;color:#444;margin:0 0 4px 0"
    return f'<div class="fitdata-signed-in" role="note" style="{style}">{html.escape(text)}</div>'


def build_dashboard(
    name: str,
    make: Callable[[DashboardContext], widgets.Widget],
    context: DashboardContext | None = None,
) -> widgets.Widget:
    """Build a dashboard's widget, or a friendly message instead of a traceback.

    Args:
        name: The dashboard's name for the server log.
        make: Builds the widget from the context (e.g. ``lambda c: ClientGraphView(c).widget``).
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget; if the database cannot be used, its error (which says what to
        do); on any other error a generic message, with the details in the server log.
    """
    try:
        await_page_request()
        context = context or DashboardContext.from_environment()
        try:
            page = make(context)
        finally:
            release_buffers()  # the page holds what it shows; DuckDB need not hold more
        signed_in = signed_in_html(context)
        if signed_in is None:
            return page
        return widgets.VBox([widgets.HTML(signed_in), page]).add_class("fitdata-page")
    except StoreError as error:
        log.warning("%s: %s", name, error)
        text = str(error)
    except Exception:
        log.exception("%s could not be built", name)
        text = Translator(context.lang if context else "en").text("error.unexpected")
    return widgets.HTML(error_html(text))


def error_html(text: str) -> str:
    """A friendly error message as the dashboards show it."""
    return f'<div class="fitdata-error" role="alert">{html.escape(text)}</div>'


def run_guarded(
    name: str,
    callback: Callable[[Any], None],
    change: Any,
    message: widgets.HTML,
    tr: Translator,
    *,
    show_store_errors: bool = True,
) -> None:
    """Run a widget callback so that an error becomes a message in the page, never a traceback.

    Args:
        name: The dashboard's name for the server log.
        callback: The observer or click handler.
        change: What the widget passed to it.
        message: The page's message widget.
        tr: The page's language.
        show_store_errors: Show a database error's own text (it says what to do); False shows
            the generic message instead (the group exercise shows nothing case-specific).
    """
    try:
        callback(change)
    except StoreError as error:
        log.warning("%s callback: %s", name, error)
        text = str(error) if show_store_errors else tr.text("error.unexpected")
        message.value = error_html(text)
    except Exception:
        log.exception("%s callback failed", name)
        message.value = error_html(tr.text("error.unexpected"))
    finally:
        release_buffers()

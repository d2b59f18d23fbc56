"""The client's own page: the ORS and SRS as lines to mark, one form at a time, and their graph.

Opened with a client link (:mod:`fitdata.data.client_links`) on the client's phone or on the
therapist's tablet handed over in the room; ``dashboards/client.ipynb`` calls :func:`show`.
Made for the client's hands: large type, touch targets of 44 px or more, the language chosen at
the top (English / bokmål), no people to choose, no codes or names, no clinical words, and the
forms' item names only (never their copyrighted wording). The steps:

1. ``ors``: the four ORS (CORS for a child) lines (:class:`~fitdata.ui.vas_line.VasLine`); the
   marks can be changed until "Send"; a sent form's lines are locked.
2. ``between``: their own graph, if the therapist lets the page show it (their ORS over the
   sessions, today's point highlighted, one or two plain sentences from
   :func:`fitdata.features.client_page.client_page_data`), then "I'm at the end of the session".
3. ``srs``: the four SRS (CSRS) lines and "Send".
4. ``thanks``.

A link that is altered, expired, used or unknown gives the ``refused`` step: a kind message in
the chosen language, and nothing read (:func:`~fitdata.data.client_links.redeem_client_link`
refuses before it reads). Every read goes through the link's client reader
(:func:`~fitdata.data.client_links.client_reader`); every form is sent with
:func:`~fitdata.features.client_page.submit_client_form` (once: a second send is refused). A
couple or family answers in turn on one device with a link each (one page per link).
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as widgets

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig, load_config
from fitdata.data.access import AccessDenied
from fitdata.data.client_links import (
    FORMS,
    ClientGrant,
    LinkRefused,
    client_reader,
    redeem_client_link,
)
from fitdata.data.errors import StoreError
from fitdata.data.store import release_buffers
from fitdata.features.client_page import (
    ClientFormError,
    ClientPageData,
    client_page_data,
    plain_sentences,
    submit_client_form,
)
from fitdata.i18n import LANGUAGES, catalogue, environment_language
from fitdata.kernel_env import ENV_CONFIG, ENV_DB, client_link_token
from fitdata.ui.assets import asset
from fitdata.ui.client_page_chart import ClientFigure, client_history_figure
from fitdata.ui.context import DashboardContext, error_html
from fitdata.ui.page_request import await_page_request
from fitdata.ui.vas_line import VasLine
from fitdata.vocabulary import FORMS as FORM_ITEMS

__all__ = ["STEPS", "ClientPageView", "client_page", "query_language", "show"]

log = logging.getLogger(__name__)

#: The page's steps, in order (``refused`` instead of all of them for a link that opens nothing).
STEPS: tuple[str, ...] = ("ors", "between", "srs", "thanks", "refused")


class ClientPageView:
    """The client's page for one link: its steps, widgets and what they send.

    Plain Python drives it as a browser would: set ``view.lines["ors"][0].value = 7.3`` and
    call ``view.send["ors"].click()``; :attr:`step` says where the page is.

    Args:
        context: The database, the page's first language and the thresholds (its ``user`` is
            never used: the page reads only through the link's client reader).
        token: The link's token (None: no link was given).
    """

    name = "client page"
    css = "fitdata-client-page"

    def __init__(self, context: DashboardContext, token: str | None) -> None:
        self.context = context
        self.grant: ClientGrant | None = None
        self.data: ClientPageData | None = None
        self.refusal = "none"
        self.sent: list[str] = []
        self.message = widgets.HTML().add_class("fitdata-message")
        self.language = widgets.ToggleButtons(
            options=[(self.tr.text(f"client_page.language.{lang}"), lang) for lang in LANGUAGES],
            value=context.lang if context.lang in LANGUAGES else "en",
            style={"button_width": "auto"},
        ).add_class("fitdata-client-language")
        self.heading = widgets.HTML().add_class("fitdata-client-heading")
        self.body = widgets.VBox(layout=widgets.Layout(width="100%"))
        self.lines = {form: [VasLine() for _ in FORM_ITEMS[form]] for form in FORMS}
        self.send = {
            form: self._button(self.guarded_click(lambda f=form: self._send(f)), "send")
            for form in FORMS
        }
        self.end_of_session = self._button(self.guarded_click(self._to_srs), "end-of-session")
        self.graph = ClientFigure()
        self.sentences = widgets.HTML().add_class("fitdata-client-sentences")
        self.step = "refused"
        if token:
            self._open(token)
        self.language.observe(self.guarded(self._language_changed), names="value")
        self._render()

    # -- reading ---------------------------------------------------------------------------
    @property
    def tr(self) -> Any:
        """Messages and number formats in the page's current language."""
        return self.context.tr

    def _open(self, token: str) -> None:
        try:
            self.grant = redeem_client_link(self.context.db_path, token)
            self.data = self._read()
        except LinkRefused as refused:
            self.grant, self.data, self.refusal = None, None, refused.reason
            return
        opened = self.data.forms_open
        self.step = "ors" if "ors" in opened else ("between" if "srs" in opened else "thanks")

    def _read(self) -> ClientPageData:
        assert self.grant is not None
        reader = client_reader(self.context.db_path, self.grant)
        try:
            return client_page_data(reader, self.grant, self.tr, self.context.config)
        finally:
            release_buffers()

    # -- callbacks -------------------------------------------------------------------------
    def guarded(self, callback: Any) -> Any:
        """Wrap a callback: an error becomes a kind message in the page, never a traceback."""

        def run(change: Any = None) -> None:
            self.message.value = ""
            try:
                callback(change)
            except LinkRefused as refused:
                self.message.value = error_html(refused.message(self.tr))
            except Exception:  # noqa: BLE001 - the client sees a kind message, the log the cause
                log.exception("%s callback failed", self.name)
                self.message.value = error_html(self.tr.text("client_page.error.unexpected"))

        return run

    def guarded_click(self, action: Any) -> Any:
        """A guarded button handler for an action without arguments."""
        run = self.guarded(lambda _change: action())
        return lambda *_args: run(None)

    def _language_changed(self, change: dict[str, Any]) -> None:
        self.context = dataclasses.replace(self.context, lang=change["new"])
        self._render()

    def _send(self, form: str) -> None:
        assert self.grant is not None and self.data is not None
        if self.step != form or form in self.sent:
            return
        lines = self.lines[form]
        if any(line.value is None for line in lines):
            self.message.value = error_html(self.tr.text("client_page.error.mark_all"))
            return
        try:
            submit_client_form(
                self.context.db_path,
                self.grant,
                form,
                [float(line.value) for line in lines],  # type: ignore[arg-type]
                lang=self.context.lang,
            )
        except ClientFormError as problem:
            self.message.value = error_html(" ".join(problem.messages))
            return
        self.sent.append(form)
        for line in lines:
            line.disabled = True
        self.send[form].disabled = True
        if form == "ors":
            self.data = self._read()
            self.step = "between" if "srs" in self.data.forms_open else "thanks"
            if self.step == "thanks" and self.data.show_graph:
                self.step = "between"  # the graph first; its step then says thank you
        else:
            self.step = "thanks"
        self._render()

    def _to_srs(self) -> None:
        if self.step == "between" and self.data is not None and "srs" in self.data.forms_open:
            self.step = "srs"
            self._render()

    # -- the page --------------------------------------------------------------------------
    @staticmethod
    def _button(handler: Any, css: str) -> widgets.Button:
        button = widgets.Button(layout=widgets.Layout(width="auto", height="auto"))
        button.add_class("fitdata-client-button").add_class(f"fitdata-client-{css}")
        button.on_click(handler)
        return button

    def _paragraphs(self, *texts: str, css: str = "fitdata-client-text") -> widgets.HTML:
        body = "".join(f"<p>{html.escape(t)}</p>" for t in texts)
        return widgets.HTML(body).add_class(css)

    @property
    def _child(self) -> bool:
        return self.data is not None and self.data.age_group == "child"

    def _words(self, key: str, **values: Any) -> str:
        """``client_page.<key>``, in the child's words for a child when there are any."""
        child = f"client_page.child.{key}"
        if self._child and child in catalogue(self.context.lang):
            return self.tr.text(child, **values)
        return self.tr.text(f"client_page.{key}", **values)

    def _label_lines(self) -> None:
        tr = self.tr
        for form in FORMS:
            for line, item in zip(self.lines[form], FORM_ITEMS[form], strict=True):
                name = tr.text(f"item.{item}")
                line.label = name
                line.left_anchor = self._words(f"{form}.left")
                line.right_anchor = self._words(f"{form}.right")
                line.lang = tr.lang
                line.aria_label = tr.text("client_page.line_aria", item=name)
            self.send[form].description = tr.text("client_page.send")
        self.end_of_session.description = tr.text("client_page.end_of_session")

    def _render(self) -> None:
        """Show the current step in the current language."""
        tr = self.tr
        self._label_lines()
        if self.step == "refused":
            self._heading(tr.text(f"client_page.refused.{self._refusal_key}"))
            text = (
                tr.text("client_page.no_link")
                if self.refusal == "none"
                else tr.text(f"client_data.refused.{self.refusal}")
            )
            safe = () if self.refusal == "used" else (tr.text("client_page.refused.nothing"),)
            self.body.children = [self._paragraphs(text, *safe)]
            return
        if self.step in FORMS:
            form = self.step
            self._heading(self._words(f"{form}.heading"))
            self.body.children = [
                self._paragraphs(self._words(f"{form}.intro")),
                *self.lines[form],
                self._paragraphs(
                    tr.text("client_page.change_before_send"), css="fitdata-client-hint"
                ),
                self.send[form],
            ]
            return
        children: list[widgets.Widget] = []
        if self.sent and self.step == "between":  # the thank-you step says it itself
            children.append(
                self._paragraphs(tr.text("client_page.sent"), css="fitdata-client-sent")
            )
        if self.step == "between":
            shown = self.data is not None and self.data.show_graph
            self._heading(self._words("between.heading" if shown else "between.heading_no_graph"))
            children += self._graph_children()
            if self.data is not None and "srs" in self.data.forms_open:
                children += [
                    self._paragraphs(self._words("between.wait")),
                    self.end_of_session,
                ]
            else:
                children.append(self._paragraphs(self._thanks_text()))
        else:
            self._heading(tr.text("client_page.thanks.heading"))
            children.append(self._paragraphs(self._thanks_text()))
        self.body.children = children

    def _heading(self, text: str) -> None:
        self.heading.value = f"<h1>{html.escape(text)}</h1>"

    @property
    def _refusal_key(self) -> str:
        return "heading_used" if self.refusal == "used" else "heading"

    def _thanks_text(self) -> str:
        mode = self.grant.mode if self.grant is not None else "phone"
        return self.tr.text(f"client_page.thanks.{mode}")

    def _graph_children(self) -> list[widgets.Widget]:
        data = self.data
        if data is None or not data.show_graph:
            return []
        sentences = plain_sentences(
            data.history,
            self.grant.session_date if self.grant else None,
            self.tr,
            self.context.config,
        )
        self.sentences.value = "".join(f"<p>{html.escape(s)}</p>" for s in sentences)
        if data.history.dropna(subset=["ors_total"]).empty:
            return [self.sentences]
        self.graph.show(client_history_figure(data.history, self.tr))
        box = widgets.VBox([self.graph], layout=widgets.Layout(width="100%"))
        return [self.sentences, box.add_class("fitdata-client-graph")]

    @property
    def widget(self) -> widgets.Widget:
        """The whole page."""
        style = widgets.HTML(f"<style>{asset('client_page.css')}</style>")
        top = widgets.HBox([self.language], layout=widgets.Layout(justify_content="flex-end"))
        return widgets.VBox(
            [style, top.add_class("fitdata-client-top"), self.heading, self.message, self.body],
            layout=widgets.Layout(width="100%"),
        ).add_class(self.css)


def client_page(
    db: str | os.PathLike[str],
    token: str | None,
    lang: str | None = None,
    config: ClinicalConfig | None = None,
) -> widgets.Widget:
    """The client's page for the link ``token`` on the database ``db``.

    Args:
        db: The database file.
        token: The link's token (None shows "open the link your therapist gave you").
        lang: The page's first language (default: the server's); the client can change it.
        config: The thresholds behind the plain sentences (default: the server's).

    Returns:
        The page, or a kind message if it cannot be shown (the cause is in the server log).
    """
    lang = lang if lang in LANGUAGES else environment_language()
    context = DashboardContext(Path(db), lang, config or DEFAULT_CONFIG)
    try:
        return ClientPageView(context, token).widget
    except Exception:  # noqa: BLE001 - the client sees a kind message, the log the cause
        log.exception("the client page could not be built")
        return widgets.HTML(error_html(context.tr.text("client_page.error.unexpected")))
    finally:
        release_buffers()


def query_language(query: str | None) -> str | None:
    """The language a link asks for (``/client/<token>?lang=nb``), if it is one the page speaks."""
    wanted = parse_qs(query or "").get("lang", [""])[0]
    return wanted if wanted in LANGUAGES else None


def show() -> widgets.Widget:
    """The page ``dashboards/client.ipynb`` shows: the link the server handed this kernel.

    Waits for the page request in a preheated kernel (:func:`fitdata.ui.page_request.
    await_page_request`); a client's request carries no login, which is no obstacle: the page
    reads only through its link. The first language is the link's ``?lang=`` if it has one,
    else the server's; the client can change it at the top of the page.
    """
    # no login on a --users server: the client is not a user, the link is the scope
    with contextlib.suppress(AccessDenied):
        await_page_request()
    lang = query_language(os.environ.get("QUERY_STRING")) or environment_language()
    db = os.environ.get(ENV_DB)
    if not db:
        log.warning("client page: %s is not set", ENV_DB)
        return widgets.HTML(
            error_html(DashboardContext(Path("."), lang).tr.text("client_page.error.unexpected"))
        )
    try:
        config = load_config(os.environ.get(ENV_CONFIG) or None)
    except (StoreError, ValueError):
        log.exception("client page: the configuration could not be read")
        config = DEFAULT_CONFIG
    return client_page(db, client_link_token(), lang, config)

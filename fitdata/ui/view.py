"""The base of every dashboard view: context, guarded callbacks, messages and the page shell.

The six dashboards (client graph, team review, group exercise, therapist development, service,
registration) share one shape, written once here, so a newcomer reads it once:

- a view class (a :class:`DashboardView`) is made from a
  :class:`~fitdata.ui.context.DashboardContext` and keeps the page's widgets as attributes; their
  state lives in traitlets, so a test sets ``view.team.value`` in plain Python and reads what the
  page would show;
- every observer and click handler is wrapped by :meth:`DashboardView.guarded`: an error becomes
  a friendly message in :attr:`DashboardView.message`, never a traceback, and observers stand
  still while the view changes its own widgets (:meth:`DashboardView.holding`);
- :attr:`DashboardView.widget` lays the page out (:meth:`DashboardView.page`), and
  :func:`builder` makes the ``build_<dashboard>`` function its notebook calls, which waits for
  the page request, binds the user and shows the database's own error when it cannot be used
  (:func:`fitdata.ui.context.build_dashboard`).

The base also makes the parts every page's controls had in common (:meth:`DashboardView.
dropdown`, :meth:`DashboardView.row`, :meth:`DashboardView.graph_box`, ...); :func:`set_options`
fills a dropdown.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import ipywidgets as widgets
import pandas as pd

from fitdata.data import queries
from fitdata.i18n import Translator
from fitdata.ui.context import DashboardContext, build_dashboard, error_html, run_guarded
from fitdata.ui.figure_view import FigureView

__all__ = ["DashboardView", "Options", "builder", "set_options", "team_options"]

#: A dropdown's options: (label, value) pairs.
Options = list[tuple[str, Any]]

_STYLE = {"description_width": "initial"}


def set_options(dropdown: widgets.Dropdown, options: Options, value: Any = None) -> None:
    """Replace a dropdown's options and select ``value`` if offered, else the first option.

    ipywidgets 8 leaves a dropdown unselected when its options change, which would stop a
    cascade of observers; the index is therefore set explicitly.
    """
    dropdown.options = options
    values = [v for _, v in options]
    dropdown.index = values.index(value) if value in values else (0 if options else None)


def team_options(tr: Translator, teams: pd.DataFrame) -> Options:
    """Options "Team (n clients)" from :func:`fitdata.data.queries.team_options`."""
    return [
        (tr.count_text("option.team", r.clients, name=r.name, clients=r.clients), r.team_id)
        for r in teams.itertuples()
    ]


class DashboardView:
    """What every dashboard view has: its context, a message area and guarded callbacks.

    A subclass gives its :attr:`name` and :attr:`css` on its class line, makes its widgets in
    ``__init__`` (after calling this one), wraps every observer in :meth:`guarded` and lays
    the page out in :attr:`widget` with :meth:`page`.
    """

    #: The dashboard's name in the server log.
    name: ClassVar[str] = "dashboard"
    #: The CSS class of the page's outermost box (browser tests find the page by it).
    css: ClassVar[str] = "fitdata-dashboard"
    #: Show a database error's own text (it says what to do); False shows a generic message
    #: (the group exercise shows nothing case-specific).
    show_store_errors: ClassVar[bool] = True
    #: Clear the message at every change; False keeps it until the view replaces it (the
    #: registration's "saved" stays while the person types the next session).
    clears_message: ClassVar[bool] = True

    def __init_subclass__(cls, *, name: str = "", css: str = "", **kwargs: Any) -> None:
        """A page names itself on its class line: ``class X(DashboardView, name=..., css=...)``."""
        super().__init_subclass__(**kwargs)
        cls.name = name or cls.name
        cls.css = css or cls.css

    def __init__(self, context: DashboardContext) -> None:
        self.context = context
        self.message = widgets.HTML().add_class("fitdata-message")
        self._holding = False

    @property
    def tr(self) -> Translator:
        """Messages and number formats in the page's language."""
        return self.context.tr

    @classmethod
    def for_page(cls, context: DashboardContext) -> DashboardView:
        """The view for a page request (a subclass may read the request, e.g. its query)."""
        return cls(context)

    # -- the page's parts --------------------------------------------------------------------
    @staticmethod
    def dropdown(description: str, css: str, *, min_width: str = "260px", **kwargs: Any) -> Any:
        """A dropdown as the pages show them: as wide as its label, CSS class ``fitdata-<css>``."""
        kwargs.setdefault("layout", widgets.Layout(width="auto", min_width=min_width))
        kwargs.setdefault("style", _STYLE)
        return widgets.Dropdown(description=description, **kwargs).add_class(f"fitdata-{css}")

    @staticmethod
    def button(description: str, css: str, **kwargs: Any) -> Any:
        """A button as wide as its label, CSS class ``fitdata-<css>``."""
        kwargs.setdefault("layout", widgets.Layout(width="auto"))
        return widgets.Button(description=description, **kwargs).add_class(f"fitdata-{css}")

    @staticmethod
    def row(children: Sequence[widgets.Widget], *, gap: str | None = "8px", **layout: Any) -> Any:
        """Controls side by side, wrapping onto the next line when the page is narrow."""
        if gap is not None:
            layout["grid_gap"] = gap
        return widgets.HBox(list(children), layout=widgets.Layout(flex_flow="row wrap", **layout))

    @staticmethod
    def graph_box(graph: FigureView, css: str = "fitdata-graph") -> Any:
        """The full-width box a graph sits in, with CSS class ``css``."""
        return widgets.VBox([graph], layout=widgets.Layout(width="100%")).add_class(css)

    @staticmethod
    def status_html(text: str, size: str = "1.15em") -> str:
        """The status sentence above a client's graph, as the pages show it."""
        return f'<p class="fitdata-status-text" style="font-size:{size}">{html.escape(text)}</p>'

    def therapist_options(self, team_id: str | None) -> Options:
        """Options "Therapist (n clients)" of a team the page's user may see (none without one)."""
        if team_id is None:
            return []
        tr, reader = self.tr, self.context.reader
        return [
            (
                tr.count_text("option.therapist", r.clients, name=r.name, clients=r.clients),
                r.therapist_id,
            )
            for r in queries.therapist_options(reader, team_id).itertuples()
        ]

    def team_and_therapist(self) -> tuple[Any, Any]:
        """The team and therapist dropdowns of a page about one therapist's work, filled.

        Both offer only what the page's user may see (the context's scoped reader); an empty
        database is said in the page's message.
        """
        tr = self.tr
        team = self.dropdown(tr.text("filter.team"), "team")
        therapist = self.dropdown(tr.text("filter.therapist"), "therapist")
        set_options(team, team_options(tr, queries.team_options(self.context.reader)))
        if not team.options:
            self.show_text(tr.text("message.empty_database"))
        set_options(therapist, self.therapist_options(team.value))
        return team, therapist

    # -- callbacks ---------------------------------------------------------------------------
    @contextmanager
    def holding(self) -> Iterator[None]:
        """Change widgets from code without their guarded observers reacting.

        A cascade (a new team refills the therapists, which refills the clients) would
        otherwise run every observer on the way, each querying and drawing for a choice that
        is about to change again; the caller updates the page once afterwards.
        """
        before, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = before

    def quiet(self) -> bool:
        """True while guarded observers do nothing (inside :meth:`holding`)."""
        return self._holding

    def guarded(self, callback: Callable[[Any], None]) -> Callable[..., None]:
        """Wrap an observer or click handler: an error becomes a message, never a traceback."""

        def run(change: Any = None) -> None:
            if self.quiet():
                return
            if self.clears_message:
                self.message.value = ""
            run_guarded(
                self.name,
                callback,
                change,
                self.message,
                self.tr,
                show_store_errors=self.show_store_errors,
            )

        return run

    def guarded_click(self, action: Callable[[], None]) -> Callable[..., None]:
        """A guarded handler for an action that takes no arguments (a button's click)."""
        run = self.guarded(lambda _change: action())
        return lambda *_args: run({})

    # -- messages ----------------------------------------------------------------------------
    def show_error(self, text: str) -> None:
        """Show ``text`` as an error (role ``alert``) in the page's message area."""
        self.message.value = error_html(text)

    def show_text(self, text: str, css: str = "") -> None:
        """Show ``text`` as a plain paragraph in the page's message area."""
        attribute = f' class="{css}"' if css else ""
        self.message.value = f"<p{attribute}>{html.escape(text)}</p>"

    # -- the page ----------------------------------------------------------------------------
    def page(self, children: Sequence[widgets.Widget], **layout: Any) -> Any:
        """The page's outermost box, with :attr:`css`."""
        return widgets.VBox(list(children), layout=widgets.Layout(**layout)).add_class(self.css)

    @property
    def widget(self) -> widgets.Widget:
        """Everything, laid out for the page."""
        raise NotImplementedError(f"{type(self).__name__} must lay out its page in `widget`")


def builder(view: type[DashboardView], name: str) -> Callable[..., widgets.Widget]:
    """The ``build_<dashboard>`` function a notebook calls to show ``view``.

    Args:
        view: The dashboard's view class.
        name: The function's name (``build_client_graph``), for documentation and tracebacks.
    """

    def build(context: DashboardContext | None = None) -> widgets.Widget:
        return build_dashboard(view.name, lambda c: view.for_page(c).widget, context)

    build.__name__ = build.__qualname__ = name
    build.__module__ = view.__module__
    build.__doc__ = f"""Build the {view.name} dashboard for a notebook to display.

    Args:
        context: Database, language and thresholds; by default from ``fitdata serve``'s
            environment.

    Returns:
        The dashboard widget, or a friendly message if the database cannot be used.
    """
    return build

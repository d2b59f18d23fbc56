"""The registration page's two ways to give a client their own page: the tablet, and a link.

For the episode chosen on the registration page (:func:`handover_panel`, the one line
``fitdata/ui/registration.py`` includes):

* **Hand over to the client (tablet)**: issues a link with mode ``tablet``
  (:func:`fitdata.data.client_links.issue_client_link`, in the therapist's own scope, so only
  an episode she may register for) and gives it to :class:`HandOverLauncher` in the browser,
  which asks the server to lock this browser's login session to that link
  (``POST client-handover``, :mod:`fitdata.server.client_access`) and then opens the client's
  page in place of this one. Until the therapist unlocks it on the unlock page (her personal
  token, the server's token, or the PIN typed here), that browser reaches the client's page
  only. A server without any login can be unlocked only with a PIN, so one is then required.
* **Link / QR code for the client's phone**: issues a link with mode ``phone`` and shows its
  full address (the server's public address from ``$FITDATA_BASE_URL``, else the address this
  page was opened at) and its QR code (:mod:`fitdata.outputs.client_link_qr`), with the time it
  expires. A page opened at a loopback address says that a phone cannot reach it.
"""

from __future__ import annotations

import html
import ipaddress
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import anywidget
import ipywidgets as widgets
import traitlets

from fitdata.data.access import AccessDenied
from fitdata.data.client_links import ClientGrant, issue_client_link
from fitdata.data.errors import StoreError
from fitdata.outputs.client_link_qr import configured_base_url, link_address, qr_svg
from fitdata.ui.assets import asset
from fitdata.ui.context import DashboardContext

__all__ = ["HandOverLauncher", "HandOverPanel", "handover_panel"]

log = logging.getLogger(__name__)

#: Why the server refused a hand-over (``reason`` of its answer) -> the message's key.
REFUSALS: dict[str, str] = {
    "pin_required": "handover.error.pin_required",
    "pin": "handover.error.pin",
    "not_tablet": "handover.error.refused",
    "no_session": "handover.error.no_session",
    "network": "handover.error.network",
}


class HandOverLauncher(anywidget.AnyWidget):
    """The browser's part of the hand-over (``fitdata/ui/static/handover.js``).

    Traits: ``request`` (set by Python: the tablet link's token, the PIN and a counter), ``error``
    (set by the browser when the server refused: ``<reason>#<counter>``), ``origin`` (set by the
    browser: the address this page was opened at).
    """

    _esm = asset("handover.js")
    request = traitlets.Dict({}).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    origin = traitlets.Unicode("").tag(sync=True)


def _is_loopback(address: str) -> bool:
    host = urlsplit(address).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HandOverPanel:
    """The two buttons, the PIN field and what they show, for one page.

    Args:
        context: The page's database, scoped reader and language.
        episode: Returns the chosen episode's id (None: none chosen, or a new one).
        client: Returns the chosen client (None: the episode's index client).
        actor: Returns who issues the link (the logged-in user, else the therapist chosen).
    """

    def __init__(
        self,
        context: DashboardContext,
        episode: Callable[[], str | None],
        client: Callable[[], str | None],
        actor: Callable[[], str | None],
    ) -> None:
        self.context = context
        self._episode, self._client, self._actor = episode, client, actor
        tr = context.tr
        self.launcher = HandOverLauncher()
        self.tablet = widgets.Button(
            description=tr.text("handover.tablet"),
            icon="tablet",
            layout=widgets.Layout(min_height="44px", width="auto", margin="4px 8px 4px 0"),
        ).add_class("fitdata-handover-tablet")
        self.phone = widgets.Button(
            description=tr.text("handover.phone"),
            icon="qrcode",
            layout=widgets.Layout(min_height="44px", width="auto", margin="4px 8px 4px 0"),
        ).add_class("fitdata-handover-phone")
        self.pin = widgets.Password(
            placeholder=tr.text("handover.pin.placeholder"),
            description=tr.text("handover.pin.label"),
            style={"description_width": "initial"},
            layout=widgets.Layout(width="320px", min_height="44px", margin="4px 8px 4px 0"),
        ).add_class("fitdata-handover-pin")
        self.message = widgets.HTML().add_class("fitdata-handover-message")
        self.shown = widgets.HTML().add_class("fitdata-handover-link")
        self.last_grant: ClientGrant | None = None
        self.last_address: str | None = None
        self._requests = 0
        self.tablet.on_click(lambda _b: self._guard(self.hand_over))
        self.phone.on_click(lambda _b: self._guard(self.phone_link))
        self.launcher.observe(self._refused, "error")
        self.refresh()

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (AccessDenied, StoreError) as error:
            self.message.value = _note(str(error), error=True)
        except Exception:  # noqa: BLE001 - the page stays usable; the log has the cause
            log.exception("the client hand-over failed")
            self.message.value = _note(self.context.tr.text("handover.error.unexpected"), True)

    def refresh(self) -> None:
        """Enable the buttons only for an existing episode."""
        none = self._episode() is None
        self.tablet.disabled = self.phone.disabled = none
        self.tablet.tooltip = self.phone.tooltip = (
            self.context.tr.text("handover.choose_episode") if none else ""
        )

    def _issue(self, mode: str) -> tuple[str, ClientGrant]:
        episode = self._episode()
        if episode is None:
            raise StoreError(self.context.tr.text("handover.choose_episode"))
        token, grant = issue_client_link(
            self.context.reader,
            episode_id=episode,
            client_id=self._client(),
            mode=mode,
            actor=self._actor() or "unknown",
        )
        self.last_grant = grant
        return token, grant

    def hand_over(self) -> None:
        """Issue a tablet link and let the browser lock this session and open the client page."""
        pin = self.pin.value.strip()
        if pin and not (pin.isdigit() and 4 <= len(pin) <= 12):
            self.message.value = _note(self.context.tr.text("handover.error.pin"), True)
            return
        token, _grant = self._issue("tablet")
        self._requests += 1
        self.message.value = _note(self.context.tr.text("handover.opening"))
        self.launcher.request = {"token": token, "pin": pin, "n": self._requests}
        self.pin.value = ""

    def _refused(self, change: dict[str, Any]) -> None:
        reason = str(change["new"]).partition("#")[0]
        if reason:
            key = REFUSALS.get(reason, "handover.error.refused")
            self.message.value = _note(self.context.tr.text(key), True)

    def phone_link(self) -> None:
        """Issue a phone link and show its address, its QR code and when it expires."""
        tr = self.context.tr
        token, grant = self._issue("phone")
        base = configured_base_url() or (self.launcher.origin or None)
        address = link_address(token, base)
        self.last_address = address
        expires = grant.expires_at.strftime("%H:%M")
        parts = [
            f"<p>{html.escape(tr.text('handover.phone.intro', time=expires))}</p>",
            f'<input class="fitdata-handover-address" readonly value="{html.escape(address)}" '
            'style="width:100%;font-size:14px;padding:6px" onclick="this.select()">',
        ]
        if base is not None:
            svg = qr_svg(address, scale=5)
            parts.append(
                f'<img class="fitdata-handover-qr" alt="{html.escape(tr.text("handover.qr_alt"))}" '
                f'src="data:image/svg+xml;charset=utf-8,{quote(svg)}" '
                'style="display:block;margin:8px 0;width:220px;height:220px">'
            )
        if base is None or _is_loopback(base):
            parts.append(f"<p><em>{html.escape(tr.text('handover.phone.loopback'))}</em></p>")
        self.shown.value = "".join(parts)
        self.message.value = ""

    @property
    def widget(self) -> widgets.Widget:
        """The panel: heading, the two buttons and the PIN, the message and the phone link."""
        tr = self.context.tr
        heading = widgets.HTML(
            f"<h2 style='margin:14px 0 4px'>{html.escape(tr.text('handover.heading'))}</h2>"
            f"<p style='margin:0 0 6px'>{html.escape(tr.text('handover.intro'))}</p>"
        )
        buttons = widgets.HBox(
            [self.tablet, self.pin, self.phone],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        return widgets.VBox([heading, buttons, self.message, self.shown, self.launcher]).add_class(
            "fitdata-handover"
        )


def _note(text: str, error: bool = False) -> str:
    colour = "#a4161a" if error else "#1d2733"
    return f"<p style='color:{colour};margin:4px 0'>{html.escape(text)}</p>"


def handover_panel(view: Any) -> widgets.Widget:
    """The panel for a registration view (its ``context``, ``episode``, ``client``, ``actor``).

    The buttons follow the chosen episode; "new episode" and no choice disable them.
    """
    new = "__new__"

    def chosen(widget: Any) -> str | None:
        value = getattr(widget, "value", None)
        return None if value in (None, new) else str(value)

    panel = HandOverPanel(
        view.context,
        episode=lambda: chosen(view.episode),
        client=lambda: chosen(view.client),
        actor=lambda: view.actor,
    )
    view.episode.observe(lambda _change: panel.refresh(), "value")
    view.handover = panel
    return panel.widget

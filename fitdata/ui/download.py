"""A button that asks Python for a file and hands it to the browser as a download.

An anywidget (its browser side is ``fitdata/ui/static/download_button.js``). Python makes the
bytes only when the button is clicked, so a large list is not encoded on every filter change,
and the file travels over the page's own widget connection: nothing is written to disk or
served at a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from fitdata.ui.assets import asset

__all__ = ["DownloadButton"]

log = logging.getLogger(__name__)


class DownloadButton(anywidget.AnyWidget):
    """A button that asks Python for a file and hands it to the browser as a download.

    ``content`` is a callable returning ``(filename, bytes)``; ``on_error`` is called (after the
    error is logged) when it fails.
    """

    _esm = asset("download_button.js")
    label = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    mime = traitlets.Unicode("application/octet-stream").tag(sync=True)

    def __init__(
        self, content: Callable[[], tuple[str, bytes]], on_error: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._content = content
        self._on_error = on_error
        self.on_msg(self._handle)

    def _handle(self, _widget: Any, message: dict[str, Any], _buffers: Any) -> None:
        if not isinstance(message, dict) or message.get("event") != "request":
            return
        try:
            filename, data = self._content()
        except Exception:
            log.exception("export failed")
            self._on_error()
            return
        self.send({"event": "file", "filename": filename, "mime": self.mime}, [data])

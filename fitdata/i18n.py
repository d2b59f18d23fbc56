"""User-visible text in English and Norwegian bokmål.

Every string a person sees comes from a catalogue (see :func:`catalogue`) and is looked up by key
with :meth:`Translator.text`. Placeholders use :meth:`str.format` syntax; numbers and dates are
formatted for the language (decimal comma and ``dd.mm.yyyy`` in bokmål). A unit test checks that
every catalogue has the same keys and the same placeholders.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qs

from fitdata.kernel_env import ENV_LANG

__all__ = ["LANGUAGES", "Language", "Translator", "catalogue", "environment_language"]

Language = Literal["en", "nb"]
LANGUAGES: tuple[Language, ...] = ("en", "nb")


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The message catalogue for ``lang`` (``en`` or ``nb``).

    The catalogue is ``fitdata/locales/<lang>.json`` (shared messages) merged with every
    ``fitdata/locales/<lang>/*.json`` (one file per dashboard or feature, so each part owns its
    text). A key defined in two files is an error rather than a silent override.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; fitdata speaks {', '.join(LANGUAGES)}")
    root = resources.files("fitdata").joinpath("locales")
    messages: dict[str, str] = json.loads(root.joinpath(f"{lang}.json").read_text("utf-8"))
    part_dir = root.joinpath(lang)
    parts = (
        sorted((p for p in part_dir.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
        if part_dir.is_dir()
        else []
    )
    for part in parts:
        for key, text in json.loads(part.read_text("utf-8")).items():
            if key in messages:
                raise ValueError(f"message {key!r} is defined twice (again in {lang}/{part.name})")
            messages[key] = text
    return messages


class Translator:
    """Looks up messages and formats numbers and dates for one language."""

    def __init__(self, lang: str = "en") -> None:
        self.lang = lang
        self._messages = catalogue(lang)

    def text(self, key: str, **values: Any) -> str:
        """The message ``key`` with ``values`` filled in.

        Raises:
            KeyError: If the catalogue has no such key (a programming error, caught by tests).
        """
        message = self._messages[key]
        return message.format(**values) if values else message

    def count_text(self, key: str, count: int, **values: Any) -> str:
        """The message ``key.one`` when ``count`` is 1, else ``key.other``.

        English and bokmål both make plurals this way.
        """
        return self.text(f"{key}.one" if count == 1 else f"{key}.other", **values)

    def number(self, value: float, *, decimals: int = 1, signed: bool = False) -> str:
        """A number with a fixed number of decimals, e.g. ``+7.4`` or ``+7,4`` in bokmål."""
        text = f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"
        text = text.replace("-", "\u2212")  # a real minus sign reads better than a hyphen
        return text.replace(".", ",") if self.lang == "nb" else text

    def date(self, value: dt.date) -> str:
        """A date as ``2025-03-14`` (English) or ``14.03.2025`` (bokmål); time is dropped."""
        if isinstance(value, dt.datetime):  # includes pandas Timestamps from DATE columns
            value = value.date()
        return value.strftime("%d.%m.%Y") if self.lang == "nb" else value.isoformat()

    def join(self, items: Sequence[str]) -> str:
        """Join words as a list: "2, 4 and 5" / "2, 4 og 5"."""
        if len(items) <= 1:
            return "".join(items)
        return f"{', '.join(items[:-1])} {self.text('word.and')} {items[-1]}"


def environment_language() -> Language:
    """The language of this kernel's page: its ``?lang=``, else the server's; English if unknown.

    Voila hands a page's query string to its kernel as ``$QUERY_STRING`` (a preheated kernel
    gets it with the page request), so ``/voila/render/service.ipynb?lang=nb`` is in bokmål
    whatever ``fitdata serve --lang`` (``$FITDATA_LANG``) says, as the page frame around it is.
    """
    asked = parse_qs(os.environ.get("QUERY_STRING", "")).get("lang", [""])[-1]
    if asked in LANGUAGES:
        return asked  # type: ignore[return-value]
    lang = os.environ.get(ENV_LANG, "en")
    return lang if lang in LANGUAGES else "en"  # type: ignore[return-value]

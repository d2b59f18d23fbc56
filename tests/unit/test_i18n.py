import datetime as dt
import string

import pytest

from fitdata.config import RULES
from fitdata.i18n import LANGUAGES, Translator, catalogue


def _placeholders(message: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(message) if name}


def test_every_catalogue_has_every_key_with_the_same_placeholders() -> None:
    english = catalogue("en")
    for lang in LANGUAGES:
        messages = catalogue(lang)
        assert set(messages) == set(english), f"{lang} differs from en"
        for key, text in messages.items():
            assert text.strip(), f"{lang}:{key} is empty"
            assert _placeholders(text) == _placeholders(english[key]), f"{lang}:{key}"


def test_bokmal_is_actually_translated() -> None:
    english, bokmal = catalogue("en"), catalogue("nb")
    same = [k for k in english if english[k] == bokmal[k] and any(c.isalpha() for c in english[k])]
    # Only words that are the same in both languages may be equal (e.g. "Team", "partner"),
    # at most one message in twenty.
    assert len(same) <= max(5, len(english) // 20), same


def test_numbers_and_dates_follow_the_language() -> None:
    en, nb = Translator("en"), Translator("nb")
    assert en.number(7.4, signed=True) == "+7.4"
    assert nb.number(7.4, signed=True) == "+7,4"
    assert nb.number(-2.0, signed=True) == "\u22122,0"
    assert en.date(dt.date(2025, 3, 14)) == "2025-03-14"
    assert nb.date(dt.date(2025, 3, 14)) == "14.03.2025"
    assert en.date(dt.datetime(2025, 3, 14, 0, 0)) == "2025-03-14"
    assert en.join(["2", "4", "5"]) == "2, 4 and 5"
    assert nb.join(["2", "4"]) == "2 og 4"
    assert en.count_text("option.client", 1, client="K", sessions=1) == "K (1 session)"
    assert nb.count_text("option.client", 3, client="K", sessions=3) == "K (3 samtaler)"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="fitdata speaks en, nb"):
        Translator("sv")


def test_every_rule_names_its_source_in_both_languages() -> None:
    for lang in ("en", "nb"):
        tr = Translator(lang)
        for name, rule in RULES.items():
            text = tr.text(f"rule.source.{name}")
            assert text and text != f"rule.source.{name}"
            if lang == "en":
                assert text == rule.source  # config documents the rule; the page shows the same


@pytest.mark.parametrize(
    ("query", "server", "expected"),
    [
        ("lang=nb", "en", "nb"),  # the page's ?lang= wins over the server's --lang
        ("cases=g1abc&lang=en", "nb", "en"),
        ("lang=de", "nb", "nb"),  # a language fitdata does not speak: the server's
        ("", "nb", "nb"),
        ("lang=nb", "xx", "nb"),
        ("", "xx", "en"),
    ],
)
def test_a_page_speaks_its_query_language_else_the_servers(
    query: str, server: str, expected: str, monkeypatch
) -> None:
    from fitdata.i18n import environment_language

    monkeypatch.setenv("QUERY_STRING", query)
    monkeypatch.setenv("FITDATA_LANG", server)
    assert environment_language() == expected

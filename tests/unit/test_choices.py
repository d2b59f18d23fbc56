"""Dropdown labels are words, in the page's language; the values stay the codes."""

from __future__ import annotations

import pytest

from fitdata.config import AGE_GROUPS
from fitdata.i18n import Translator
from fitdata.ui.choices import period_label, period_options


@pytest.mark.parametrize(
    ("lang", "period", "label"),
    [
        ("en", "2025Q3", "Q3 2025"),
        ("nb", "2025Q3", "3. kvartal 2025"),
        ("en", "2025-03", "March 2025"),
        ("nb", "2025-03", "mars 2025"),
        ("nb", "2024-12", "desember 2024"),
        ("en", "2025", "2025"),
        ("nb", "2025", "2025"),
        ("en", "2025-13", "2025-13"),  # not a month: shown as it is
    ],
)
def test_a_period_reads_as_words(lang, period, label) -> None:
    assert period_label(Translator(lang), period) == label


def test_period_options_keep_the_codes_as_values() -> None:
    options = period_options(Translator("nb"), ["2025Q1", "2025Q2"])
    assert options == [("1. kvartal 2025", "2025Q1"), ("2. kvartal 2025", "2025Q2")]


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_age_groups_and_formats_have_labels_that_are_not_their_codes(lang) -> None:
    tr = Translator(lang)
    for group in AGE_GROUPS:
        label = tr.text(f"choice.age_group.{group}")
        assert label != group and label[0].isupper()
    for code in ("individual", "couple", "family", "group"):
        assert tr.text(f"choice.format.{code}")[0].isupper()
    assert tr.text("choice.all") in ("All", "Alle")
    assert Translator("nb").text("choice.age_group.child") == "Barn 6–12"

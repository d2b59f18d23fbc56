"""The registration page as a therapist reads it (issue 23): typed numbers, anchors, ended episodes.

Whatever is typed as a total or a line's value reads as a number or as a message saying what to
write (never "nan"); the lines carry the client page's words at their ends, in a child's words
for a child; the sliders' values are in the page's number format; an ended episode's sentence
is in the past tense and the graph marks the end.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from fitdata.data.store import reader_for
from fitdata.features import registration as reg
from fitdata.i18n import Translator
from fitdata.ui import DashboardContext, RegistrationView
from fitdata.ui.registration import NEW
from fitdata.ui.registration_forms import ScoreInput, anchor_words, parse_number
from fitdata.ui.rules import graph_rules, rules_html
from tests.integration.test_registration_episode import make_couple

TODAY = dt.date(2025, 3, 3)


@pytest.fixture
def db(tiny_db, tmp_path):
    path = tmp_path / "reading.duckdb"
    shutil.copyfile(tiny_db, path)
    yield path
    reader_for(path).close()


def page(db, lang: str = "en") -> RegistrationView:
    return RegistrationView(DashboardContext(db, lang), today=lambda: TODAY)


def everything(view: RegistrationView) -> str:
    """Every text the page's HTML widgets and form controls show, joined."""
    forms = [view.ors, view.srs, view.correct_ors, view.correct_srs]
    for block in view.blocks:
        forms += [block.ors] + ([block.srs] if block.srs is not None else [])
    parts = [view.status.value, view.save_note.value, view.message.value, view.rules.value]
    for form in forms:
        parts += [form.live_total.value, form.problems.value]
        parts += [box.value for box in form.values] + [a.value for a in form.anchors]
    return " ".join(parts)


# -- typing a total ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "ORS totalt: «abc» er ikke et tall. Skriv et tall fra 0 til 40, f.eks. 23,5."),
        ("", "ORS totalt: skriv et tall fra 0 til 40, f.eks. 23,5."),
        ("41", "ORS totalt: 41,0 er utenfor 0–40. Skriv et tall fra 0 til 40, f.eks. 23,5."),
        ("nan", "ORS totalt: «nan» er ikke et tall."),
        ("1e1", "ORS totalt: «1e1» er ikke et tall."),
    ],
)
def test_a_total_that_is_not_a_score_says_what_to_write_in_bokmal(db, text, message) -> None:
    view = page(db, "nb")
    view.ors.mode.value = "total"
    view.ors.total_text.value = text
    assert message in view.ors.problems.value
    assert view.ors.problems.value.count("<li>") == 1  # not also "give the lines or a total"
    assert view.save.disabled and message in view.save_note.value
    # the live total says what to write, never "nan"
    assert "nan" not in view.ors.live_total.value.replace("«nan»", "")
    assert "ORS totalt: skriv et tall fra 0 til 40" in view.ors.live_total.value
    assert "nan" not in everything(view).lower().replace("«nan»", "")


@pytest.mark.parametrize("text", ["23,5", "23.5", " 23,5 "])
def test_a_decimal_comma_or_point_is_a_total(db, text) -> None:
    view = page(db, "nb")
    view.ors.mode.value = "total"
    view.ors.total_text.value = text
    assert view.ors.problems.value == ""
    assert "ORS totalt: 23,5" in view.ors.live_total.value
    assert not view.save.disabled
    view.save.click()
    assert "ORS 23,5" in view.message.value


def test_an_english_page_explains_a_total_in_english(db) -> None:
    view = page(db)
    view.ors.mode.value = "total"
    view.ors.total_text.value = "abc"
    text = "ORS total: “abc” is not a number. Write a number from 0 to 40, e.g. 23.5."
    assert text in view.ors.problems.value
    assert "ORS total: write a number from 0 to 40" in view.ors.live_total.value
    view.ors.total_text.value = "41"
    assert "41.0 is outside 0–40. Write a number from 0 to 40" in view.ors.problems.value
    assert view.save.disabled


def test_parse_number_takes_digits_with_a_point_or_comma_only() -> None:
    assert parse_number("23,5") == 23.5
    assert parse_number("23.5") == 23.5
    assert parse_number(",5") == 0.5
    assert parse_number("\u22123") == -3.0
    assert parse_number("  ") is None
    for text in ("abc", "nan", "inf", "1e3", "2,3,4", "23,5 kg"):
        with pytest.raises(ValueError):
            parse_number(text)


# -- typing a line's value --------------------------------------------------------------------
def test_a_line_value_typed_in_bokmal_marks_the_line_and_reads_with_a_comma(db) -> None:
    view = page(db, "nb")
    for box, text in zip(view.ors.values, ["5,1", "6.2", "7,3", "4,4"], strict=True):
        box.value = text
    assert [s.value for s in view.ors.sliders] == [5.1, 6.2, 7.3, 4.4]
    assert [box.value for box in view.ors.values] == ["5,1", "6,2", "7,3", "4,4"]
    assert "ORS totalt: 23,0" in view.ors.live_total.value
    assert not view.save.disabled


def test_a_dragged_line_shows_its_value_in_the_pages_number_format(db) -> None:
    view = page(db, "nb")
    view.ors.sliders[0].value = 4.2
    assert view.ors.values[0].value == "4,2"
    assert not view.ors.sliders[0].readout  # the slider's own readout would say "4.2"
    english = page(db)
    english.ors.sliders[0].value = 4.2
    assert english.ors.values[0].value == "4.2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "ORS Individuelt: «abc» er ikke et tall. Skriv et tall fra 0 til 10, f.eks. 7,3."),
        ("11", "ORS Individuelt: 11,0 er utenfor 0–10."),
        ("7,35", "ORS Individuelt: 7,35 har mer enn én desimal."),
    ],
)
def test_a_line_value_that_is_not_a_mark_says_what_to_write(db, text, message) -> None:
    view = page(db, "nb")
    for slider, value in zip(view.ors.sliders, [5, 5, 5, 5], strict=True):
        slider.value = value
    assert not view.save.disabled
    view.ors.values[0].value = text
    assert message in view.ors.problems.value, view.ors.problems.value
    assert view.save.disabled and message in view.save_note.value
    assert "nan" not in everything(view).lower()
    view.ors.values[0].value = "6"  # corrected: the line is marked again
    assert view.ors.problems.value == "" and not view.save.disabled
    assert view.ors.values[0].value == "6,0"


def test_an_emptied_line_value_unmarks_the_line(db) -> None:
    view = page(db)
    for slider, value in zip(view.ors.sliders, [5, 5, 5, 5], strict=True):
        slider.value = value
    view.ors.values[2].value = ""
    assert "not marked" in view.ors.problems.value or "mark" in view.ors.problems.value
    assert view.save.disabled


def test_a_couples_block_explains_a_typed_total_too(db) -> None:
    tr = Translator("nb")
    participant = reg.Participant("K-1", "partner")
    block_form = ScoreInput("ors", tr, none_key="registration.input.not_given", css="p0-ors")
    block_form.mode.value = "total"
    block_form.total_text.value = "abc"
    scores, problems = block_form.read()
    assert [p.key for p in problems] == ["total_unreadable"]
    text = reg.problem_text(problems[0].of(participant.client_id, participant.role), tr)
    assert "«abc» er ikke et tall" in text and "K-1" in text
    assert "nan" not in block_form.live_total.value


# -- anchors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "ors", "srs"),
    [
        ("en", ("Badly", "Well"), ("Not good", "Very good")),
        ("nb", ("Dårlig", "Bra"), ("Ikke bra", "Veldig bra")),
    ],
)
def test_every_line_has_the_client_pages_words_at_its_ends(db, lang, ors, srs) -> None:
    view = page(db, lang)
    tr = Translator(lang)
    assert anchor_words("ors", tr) == ors and anchor_words("srs", tr) == srs
    for form, words in ((view.ors, ors), (view.srs, srs), (view.correct_ors, ors)):
        assert len(form.anchors) == 4
        for anchors in form.anchors:
            assert words[0] in anchors.value and words[1] in anchors.value
            assert anchors.value.index(words[0]) < anchors.value.index(words[1])


@pytest.mark.parametrize(("lang", "words"), [("en", "Really good"), ("nb", "Kjempebra")])
def test_a_new_childs_lines_read_in_a_childs_words(db, lang, words) -> None:
    view = page(db, lang)
    view.client.value = NEW
    assert words not in view.ors.anchors[0].value
    view.age_group.value = "child"
    assert all(words in a.value for a in view.ors.anchors + view.srs.anchors)
    view.age_group.value = "adult"
    assert words not in view.ors.anchors[0].value


# -- ended episodes ---------------------------------------------------------------------------
def test_an_ended_episodes_sentence_is_in_the_past_and_the_graph_marks_the_end(db) -> None:
    view = page(db)
    assert "ended" not in view.status.value.lower()
    view.end_type.value = "planned"
    view.end_date.value = dt.date(2025, 2, 1)
    view.end_save.click()
    assert "The episode ended on 2025-02-01 (planned)." in view.status.value
    assert "ORS went up" in view.status.value  # the past tense, not "now"
    layout = view.figure.layout
    marks = [s.name for s in layout.shapes] + [a.name for a in layout.annotations]
    assert "episode-end" in marks  # the graph shows where the episode ended
    note = next(a for a in layout.annotations if a.name == "episode-end")
    assert "2025-02-01" in note.text


def test_an_ended_episodes_sentence_in_bokmal(db) -> None:
    view = page(db, "nb")
    view.end_type.value = "planned"
    view.end_date.value = dt.date(2025, 2, 1)
    view.end_save.click()
    assert "Forløpet ble avsluttet 01.02.2025" in view.status.value, view.status.value


# -- rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lang", "words"),
    [("en", "A break in a line is a session without that score"), ("nb", "Et brudd i en linje")],
)
def test_the_rules_say_what_a_break_in_a_line_is(db, lang, words) -> None:
    tr = Translator(lang)
    config = DashboardContext(db, lang).config
    assert words in graph_rules(tr, config, ["adult"])[-1]
    assert words in rules_html(tr, config, "adult")
    assert words in page(db, lang).rules.value


# -- the couple's and family's blocks ---------------------------------------------------------
@pytest.fixture
def couple_db(tiny_db, tmp_path):
    path = tmp_path / "couple-reading.duckdb"
    shutil.copyfile(tiny_db, path)
    make_couple(path)
    yield path
    reader_for(path).close()


def test_a_partners_typed_total_and_line_say_what_to_write_under_their_block(couple_db) -> None:
    view = page(couple_db, "nb")
    assert view.joint
    first, partner = view.blocks
    for slider, value in zip(first.ors.sliders, [5, 5, 5, 5], strict=True):
        slider.value = value
    partner.ors.mode.value = "total"
    partner.ors.total_text.value = "abc"
    message = "ORS totalt: «abc» er ikke et tall. Skriv et tall fra 0 til 40, f.eks. 23,5."
    assert message in partner.problems.value
    assert partner.problems.value.count("<li>") == 1
    assert f"Partner · K-PARTNER: {message}" in view.save_note.value
    assert "ORS totalt: skriv et tall fra 0 til 40" in partner.ors.live_total.value
    assert view.save.disabled
    assert "nan" not in everything(view).lower()
    first.ors.values[1].value = "x"
    assert "ORS Mellommenneskelig: «x» er ikke et tall" in first.problems.value
    first.ors.values[1].value = "6,5"
    partner.ors.total_text.value = "23,5"
    assert first.problems.value == "" and partner.problems.value == ""
    assert not view.save.disabled, view.save_note.value
    assert [box.value for box in first.ors.values] == ["5,0", "6,5", "5,0", "5,0"]


def test_a_childs_block_has_a_childs_words_at_the_lines_ends(couple_db) -> None:
    view = page(couple_db)
    view.team.value = "T3"
    view.client.value = "K-CHILD"
    child, parent = view.blocks
    for form in (child.ors, child.srs, parent.ors):
        assert all("Not so good" in a.value and "Really good" in a.value for a in form.anchors)
    assert all("Not so good" in a.value for a in view.correct_ors.anchors)  # a child's episode
    assert "Badly" not in everything(view)


def test_an_ended_couples_episode_says_so_for_each_partner(couple_db) -> None:
    view = page(couple_db)
    view.end_type.value = "planned"
    view.end_date.value = TODAY
    view.end_save.click()
    sentences = view.status.value
    assert sentences.count("The episode ended on 2025-03-03 (planned).") == 2, sentences
    marks = [a.name for a in view.figure.layout.annotations]
    assert "episode-end" in marks

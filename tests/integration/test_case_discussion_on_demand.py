"""The client graph's discussion form judges the case's flags only once it is used.

Most visits to a client's graph record nothing, and judging the flags took longer than the
graph itself; the form says the flags are judged when a record is started, judges them at the
first use of any field, and a record saved straight away still stores them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from fitdata.data import access
from fitdata.data.store import reader_for
from fitdata.features import case_discussions as cd
from fitdata.i18n import Translator
from fitdata.ui import DashboardContext
from fitdata.ui.case_discussion import DiscussionPanel, discussion_panel
from tests.unit.test_team_review import build_review_db, line_model

TODAY = dt.date(2025, 3, 3)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = build_review_db(tmp_path / "review.duckdb")
    access.add_user(path, "sigrid", "supervisor", team_ids=["T1"])
    return path


def form_for(db: Path, lang: str = "en") -> DiscussionPanel:
    context = DashboardContext(db, lang=lang, user="sigrid")
    made = discussion_panel(
        context, None, source="client_graph", model=line_model(), flags_on_demand=True
    )
    made._today = TODAY
    made.set_episode("E1", force=True)
    return made


def judged(db: Path) -> tuple[cd.FlagThen, ...]:
    return cd.current_flags(reader_for(db), "E1", TODAY, model=line_model())


@pytest.mark.parametrize("lang", ["en", "nb"])
def test_the_flags_wait_for_the_form_to_be_used(db: Path, lang: str) -> None:
    form = form_for(db, lang)
    waiting = Translator(lang).text("discussion.flags_on_demand")
    assert waiting in form.flags_now.value and "data-flag" not in form.flags_now.value
    assert form._flags is None  # nothing judged for a case only looked at
    form.agreed["talk_feedback"].value = True  # the first use
    flags = judged(db)
    assert flags and all(f'data-flag="{f.flag}"' in form.flags_now.value for f in flags)
    assert waiting not in form.flags_now.value
    form.set_episode("E2", force=True)  # the next case waits again
    assert waiting in form.flags_now.value and form._flags is None


def test_a_record_stores_the_flags_that_hold_when_it_is_saved(db: Path) -> None:
    form = form_for(db)
    form.save.click()  # nothing agreed: refused, as always
    assert "fitdata-error-text" in form.message.value
    form.agreed["no_change"].value = True
    form.save.click()
    [(flags_then,)] = reader_for(db).rows("SELECT flags_then FROM case_discussions")
    stored = {(f["client_id"], f["flag"]) for f in flags_then}
    assert stored and stored == {(f.client_id, f.flag) for f in judged(db)}

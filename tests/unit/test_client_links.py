"""The client page's pure parts: link tokens, refusals that pickle, and the plain sentences."""

from __future__ import annotations

import base64
import datetime as dt
import pickle
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitdata.config import DEFAULT_CONFIG, ClinicalConfig
from fitdata.data import client_links as cl
from fitdata.features.client_page import ClientFormError, plain_sentences, score_text
from fitdata.i18n import Translator

JARGON = re.compile(r"reliab|cutoff|cut-off|klinisk|clinical|pålitelig|signifikan|RCI", re.I)
DAY = dt.date(2025, 3, 3)
KEY = bytes(range(32))


def history(*scores: float, last_day: dt.date = DAY) -> pd.DataFrame:
    days = [last_day - dt.timedelta(weeks=len(scores) - 1 - i) for i in range(len(scores))]
    return pd.DataFrame(
        {"session_no": range(1, len(scores) + 1), "session_date": days, "ors_total": scores}
    )


def grant(**changes) -> cl.ClientGrant:
    values = {
        "link_id": "AAAAAAAAAAAA",
        "episode_id": "E0001234",
        "client_id": "K-1234",
        "session_date": DAY,
        "forms": frozenset({"ors", "srs"}),
        "expires_at": dt.datetime(2025, 3, 3, 20, 0, 0),
        "mode": "phone",
    }
    return cl.ClientGrant(**{**values, **changes})


# -- tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", cl.MODES)
@pytest.mark.parametrize("forms", [{"ors"}, {"srs"}, {"ors", "srs"}])
def test_a_token_holds_its_grant_and_no_readable_id(mode, forms) -> None:
    original = grant(mode=mode, forms=frozenset(forms), client_id="K-ÆØÅ-9")
    token = cl._seal(KEY, original)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token), "URL-safe"
    assert cl._open(KEY, token) == original
    raw = base64.urlsafe_b64decode(token[2:] + "=" * (-len(token[2:]) % 4))
    # whole ids only: a short piece such as "K-" turns up by chance in ~2 % of random tokens
    for secret in (b"E0001234", "K-ÆØÅ-9".encode()):
        assert secret not in raw and secret.decode() not in token
    assert cl._seal(KEY, original) != token, "a new nonce every time"


def test_every_changed_character_and_a_cut_token_are_altered() -> None:
    token = cl._seal(KEY, grant())
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for position in range(2, len(token)):
        other = alphabet[(alphabet.index(token[position]) + 1) % len(alphabet)]
        changed = token[:position] + other + token[position + 1 :]
        with pytest.raises(cl.LinkRefused) as refused:
            cl._open(KEY, changed)
        assert refused.value.reason == "altered", position
    for cut in (token[:-1], token[:30], token + "A"):
        with pytest.raises(cl.LinkRefused) as refused:
            cl._open(KEY, cut)
        assert refused.value.reason == "altered"


def test_another_key_is_altered_and_a_stranger_string_unknown() -> None:
    token = cl._seal(KEY, grant())
    with pytest.raises(cl.LinkRefused, match="changed") as refused:
        cl._open(bytes(32), token)
    assert refused.value.reason == "altered"
    for stranger in ("", "hello", "g1.abc.def.ghi", "../../etc/passwd", "c" * 2000):
        with pytest.raises(cl.LinkRefused) as refused:
            cl._open(KEY, stranger)
        assert refused.value.reason in {"unknown", "altered"}
        if not stranger.startswith("c1"):
            assert refused.value.reason == "unknown"


def test_expiry_is_the_grants_own() -> None:
    g = grant()
    assert not g.expired(g.expires_at - dt.timedelta(seconds=1))
    assert g.expired(g.expires_at)
    assert g.user_name == "client-link:AAAAAAAAAAAA"


def test_paths_and_urls() -> None:
    assert cl.client_link_path("c1abc") == "/client/c1abc"
    assert cl.client_link_url("c1abc", "https://fit.example.no/") == (
        "https://fit.example.no/client/c1abc"
    )


def test_refusals_keep_their_reason_through_pickle() -> None:
    for reason in cl.REASONS:
        back = pickle.loads(pickle.dumps(cl.LinkRefused(reason)))
        assert isinstance(back, cl.LinkRefused) and back.reason == reason
    with pytest.raises(ValueError):
        cl.LinkRefused("forgotten")
    nb = Translator("nb")
    assert cl.LinkRefused("expired").message(nb) == (
        "Denne lenken er utløpt. Be behandleren din om en ny lenke."
    )
    for reason in cl.REASONS:
        for lang in ("en", "nb"):
            text = cl.LinkRefused(reason).message(Translator(lang))
            assert "c1" not in text and not JARGON.search(text)
    error = ClientFormError([("item_range", {"form": "ORS", "item": "ors_social"})], "nb")
    back = pickle.loads(pickle.dumps(error))
    assert back.messages == error.messages == ("Sosialt: merket må være mellom 0 og 10.",)


# -- plain sentences -----------------------------------------------------------------------------


def sentences(*scores: float, lang: str = "en", config: ClinicalConfig = DEFAULT_CONFIG):
    found = plain_sentences(history(*scores), DAY, Translator(lang), config)
    for sentence in found:
        assert not JARGON.search(sentence), sentence
    return found


def test_the_issues_example() -> None:
    assert sentences(18.0, 21.0, 24.0) == (
        "Today 24. Since the first session your score has gone up 6 points — a clear change.",
        "A change of 5 points or more is a clear change.",
    )
    assert sentences(18.0, 21.0, 24.0, lang="nb") == (
        "I dag 24. Siden første samtale har poengsummen din gått opp 6 poeng – en tydelig endring.",
        "En endring på 5 poeng eller mer er en tydelig endring.",
    )


@pytest.mark.parametrize(
    ("first", "last", "clear"),
    [(20.1, 25.1, True), (15.1, 20.1, True), (20.0, 24.9, False), (3.2, 8.2, True)],
)
def test_a_clear_change_is_the_reliable_change_at_its_edge(first, last, clear) -> None:
    # 25.1 - 20.1 and 8.2 - 3.2 are not exactly 5.0 in binary floating point; they still count
    for lang in ("en", "nb"):
        found = sentences(first, last, lang=lang)
        word = {"en": ("a clear change", "a small change"), "nb": ("tydelig", "liten")}[lang]
        assert (word[0] if clear else word[1]) in found[0]
        assert len(found) == 2


def test_at_the_edge_with_the_strict_tie_rule() -> None:
    strict = ClinicalConfig(change_at_threshold_is_reliable=False)
    found = sentences(20.0, 25.0, config=strict)
    assert "a small change" in found[0]
    assert found[1] == "A change of more than 5 points is a clear change."


def test_first_session_says_there_is_nothing_to_compare_yet() -> None:
    assert sentences(17.4) == (
        "Today 17.4. This is the first time you have answered, so there is nothing to compare "
        "with yet.",
    )
    assert sentences(17.4, lang="nb") == (
        "I dag 17,4. Dette er første gang du svarer, så det er ingenting å sammenligne med ennå.",
    )


def test_a_fall_is_said_gently_and_plainly() -> None:
    (en, _) = sentences(30.0, 28.0, 24.5)
    assert en == (
        "Today 24.5. Since the first session your score has gone down 5.5 points — a clear "
        "change. It can help to talk about this with your therapist."
    )
    (nb, _) = sentences(30.0, 28.0, 24.5, lang="nb")
    assert "gått ned 5,5 poeng – en tydelig endring" in nb
    (small, _) = sentences(30.0, 29.0)
    assert "gone down 1 point — a small change so far" in small


def test_no_scores_yet_and_the_same_score_and_an_earlier_day() -> None:
    empty = history().astype({"ors_total": float})
    assert plain_sentences(empty, DAY, Translator("en")) == (
        "Your answers will be shown here once you have filled in the first form.",
    )
    assert sentences(22.0, 22.0) == ("Today 22. Your score is the same as at the first session.",)
    earlier = plain_sentences(history(20.0, 26.0), DAY + dt.timedelta(days=7), Translator("nb"))
    assert earlier[0].startswith("Sist (03.03.2025): 26. ")


def test_scores_read_as_people_write_them() -> None:
    en, nb = Translator("en"), Translator("nb")
    assert [score_text(v, en) for v in (24.0, 24.3, 0.0, 40.0)] == ["24", "24.3", "0", "40"]
    assert score_text(7.3, nb) == "7,3"


@settings(max_examples=200, deadline=None)
@given(
    episode=st.text(min_size=1, max_size=60),
    client=st.text(min_size=1, max_size=60),
    day=st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)),
    seconds=st.integers(0, 2**32 - 1),
    forms=st.sets(st.sampled_from(cl.FORMS), min_size=1),
    mode=st.sampled_from(cl.MODES),
    link=st.binary(min_size=9, max_size=9),
)
def test_any_grant_round_trips(episode, client, day, seconds, forms, mode, link) -> None:
    original = cl.ClientGrant(
        link_id=cl._b64(link),
        episode_id=episode,
        client_id=client,
        session_date=day,
        forms=frozenset(forms),
        expires_at=dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds),
        mode=mode,
    )
    assert cl._open(KEY, cl._seal(KEY, original)) == original

"""textstats.py: each linear scan equals the official (slow, backtracking) regex it replaces."""
import json
import re

from hypothesis import given, settings, strategies as st

import textstats as T
from conftest import need_shared

# small alphabets make the corner cases (blank runs, unclosed brackets, "**") frequent
BULLETY = st.text(alphabet=" \t\n\r\u00a0*-ab", max_size=60)
BRACKETY = st.text(alphabet="[]\na ", max_size=60)
ANGLY = st.text(alphabet="<>\na *", max_size=60)


def official_bullets(t):
    return (len(re.findall(r"^\s*\*[^\*].*$", t, flags=re.MULTILINE))
            + len(re.findall(r"^\s*-.*$", t, flags=re.MULTILINE)))


def official_placeholders(t):
    return len(re.findall(r"\[.*?\]", t))


def official_title(t):
    return any(x.lstrip("<").rstrip(">").strip() for x in re.findall(r"<<[^\n]+>>", t))


@settings(max_examples=400, deadline=None)
@given(BULLETY)
def test_bullets_equal_official_regex(t):
    assert T.count_bullets(t) == official_bullets(t)


@settings(max_examples=400, deadline=None)
@given(BRACKETY)
def test_placeholders_equal_official_regex(t):
    assert T.count_placeholders(t) == official_placeholders(t)


@settings(max_examples=400, deadline=None)
@given(ANGLY)
def test_title_equals_official_regex(t):
    assert T.has_title(t) == official_title(t)


def test_known_corners():
    assert T.count_bullets("\n\n* a\n*\nb\n- c") == official_bullets("\n\n* a\n*\nb\n- c") == 3
    assert T.count_placeholders("[a [b] [c\n]") == 1
    assert T.has_title("x <<a>> y >>") and not T.has_title("<<>>")


def _punkt_count(t):  # the reference: Punkt over the whole text at once
    return len(T._punkt().tokenize(t))


def test_sentence_pieces_do_not_change_the_count():
    long = " ".join(f"Sentence number {i} talks about Mr. Smith and the U.S. economy." for i in range(400))
    assert len(T._sentence_pieces(long)) > 3
    assert T.count_sentences(long) == _punkt_count(long) == 400
    assert T.count_sentences(long, stop_at=5) >= 5


def test_sentence_count_equals_whole_text_punkt_on_ifeval_responses():
    path = need_shared("llama_3b.responses.jsonl")
    for line in open(path):
        r = json.loads(line)["response"]
        assert T.count_sentences(r) == _punkt_count(r)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["Hi", "there.", "Mr.", "U.S.", "ok?", "no!", '"Yes."', "a", "(b.)", "\n\n",
                                 "e.g.", "It", "3.", ".", "...", ")", "x" * 30]), max_size=900))
def test_sentence_count_equals_whole_text_punkt_on_random_words(words):
    t = " ".join(words)
    assert T.count_sentences(t) == _punkt_count(t)


def test_capital_words_follow_word_tokenize_on_contractions_and_punctuation():
    assert len(T.capital_words("I DON'T KNOW, OK?")) == 5  # I, DO, N'T, KNOW, OK
    assert len(T.capital_words("U.S.A. and AND/OR")) == 2
    assert T.count_words("one, two-three's") == 4


def test_detect_language_is_order_independent():
    texts = ["Bonjour tout le monde, comment allez-vous aujourd'hui?", "hello", "x"]
    first = [T.detect_language(t) for t in texts]
    assert [T.detect_language(t) for t in reversed(texts)] == first[::-1]

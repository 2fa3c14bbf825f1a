"""textstats.py: each linear scan equals the official (slow, backtracking) regex it replaces."""
import re

from hypothesis import given, settings, strategies as st

import checkers.textstats as T

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


def test_capital_words_follow_word_tokenize_on_contractions_and_punctuation():
    assert len(T.capital_words("I DON'T KNOW, OK?")) == 5  # I, DO, N'T, KNOW, OK
    assert len(T.capital_words("U.S.A. and AND/OR")) == 2
    assert T.count_words("one, two-three's") == 4


def test_detect_language_is_order_independent():
    texts = ["Bonjour tout le monde, comment allez-vous aujourd'hui?", "hello", "x"]
    first = [T.detect_language(t) for t in texts]
    assert [T.detect_language(t) for t in reversed(texts)] == first[::-1]


class Scanned(str):
    """A string that counts the characters its .find() calls look at (the scans' only work)."""
    looked = 0

    def find(self, sub, start=0, end=None):
        end = len(self) if end is None else min(end, len(self))
        i = str.find(self, sub, start, end)
        Scanned.looked += (end if i < 0 else i + len(sub)) - start
        return i


def work(fn, text):
    Scanned.looked = 0
    fn(Scanned(text))
    return Scanned.looked


HOSTILE = {  # a rescan per candidate makes each of these quadratic
    "closed on one line": "[a]", "never closed": "[a", "closed on the next line": "[a\n]", "nested": "[[a]]",
    "bullets": "* a ", "blank runs": " \n",
}


def test_scans_do_linear_work_on_hostile_text():
    """Doubling the text at most doubles the characters the scans look at (plus a constant)."""
    for name, unit in HOSTILE.items():
        for fn in (T.count_placeholders, T.count_bullets):
            small, big = work(fn, unit * 20_000), work(fn, unit * 40_000)
            assert big <= 2 * small + 100, (name, fn.__name__, small, big)
            assert work(fn, unit * 40_000) <= 8 * len(unit) * 40_000, (name, fn.__name__)

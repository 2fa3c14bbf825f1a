"""textstats.py: each linear scan equals the official (slow, backtracking) regex it replaces."""
import json
import re

from hypothesis import given, settings, strategies as st

import checkers.textstats as T
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


def _punkt_sents(t):  # the reference: Punkt over the whole text at once
    return T._punkt().tokenizer.tokenize(t)


def _punkt_count(t):
    return len(_punkt_sents(t))


def _our_sents(t):  # one piece: the spans our pass forms, as text
    return [t[s:e] for s, e in T._punkt_spans(t)]


def test_sentence_pieces_do_not_change_the_count():
    long = " ".join(f"Sentence number {i} talks about Mr. Smith and the U.S. economy." for i in range(400))
    assert len(T._sentence_pieces(long, 2000)) > 3
    assert T.count_sentences(long) == _punkt_count(long) == 400
    assert T.split_sentences(long) == _punkt_sents(long)
    assert T.count_sentences(long, stop_at=5) >= 5


def test_sentence_count_equals_whole_text_punkt_on_ifeval_responses():
    path = need_shared("llama_3b.responses.jsonl")
    for line in open(path):
        r = json.loads(line)["response"]
        assert T.count_sentences(r) == _punkt_count(r)
        assert T.split_sentences(r) == _punkt_sents(r)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["Hi", "there.", "Mr.", "U.S.", "ok?", "no!", '"Yes."', "a", "(b.)", "\n\n",
                                 "e.g.", "It", "3.", ".", "...", ")", "x" * 30]), max_size=900))
def test_sentence_count_equals_whole_text_punkt_on_random_words(words):
    t = " ".join(words)
    assert T.count_sentences(t) == _punkt_count(t)


# Words that steer every rule of Punkt's decision: abbreviations (also hyphenated), initials, numbers,
# collocations ("3. Business"), sentence starters, words the model saw in only one case, unseen words,
# Unicode letters and digits; marks, runs, brackets, quotes and spaces Punkt's rules treat apart.
PUNKT_WORDS = ["dr", "Mr", "e.g", "U.S", "co-dr", "x-ray", "a.m", "J", "Aron", "b", "Smith", "John", "3", "1997",
               "3.14", "-5", ".5", "1,000", "a-1", "Business", "s", "However", "but", "They", "the", "abandoned",
               "Ltd", "no", "Zyx", "qqq", "i", "İ", "é", "ß", "ǅ", "x_y", "١٢", "²", "Σ", "a.b.c", "##number##"]
PUNKT_MARKS = ["", "", "", ".", ".", ".", "?", "!", "..", "...", ". . .", ".\n.\n.", "?!", ".)", '."', ")", "(",
               '"', "'", "”", "’", "“", "«", ",", ";", ":", "[", "]", "{", "`", "*", "-", "--"]
PUNKT_SPACES = [" ", " ", " ", "", "\n", "\n\n", "\t", "\u00a0", " \n ", "\x1c", "\x0b", "\r\n", "\u2028"]
punkt_atom = st.tuples(st.sampled_from(PUNKT_MARKS), st.sampled_from(PUNKT_WORDS),
                       st.sampled_from(["lower", "upper", "title"]), st.sampled_from(PUNKT_MARKS),
                       st.sampled_from(PUNKT_MARKS), st.sampled_from(PUNKT_SPACES))


def _punkt_text(atoms):
    case = {"lower": str.lower, "upper": str.upper, "title": str.capitalize}
    return "".join(a + case[c](w) + b + d + s for a, w, c, b, d, s in atoms)


def test_every_punkt_rule_equals_the_package_on_all_word_pairs():
    # each rule of the second pass needs a particular pair ("3. Business" is a known collocation,
    # "s. However" an initial that is also an abbreviation, ...): try every pair of a vocabulary
    words = [f(w) for w in PUNKT_WORDS for f in (str.lower, str.upper, str.capitalize)]
    marked = [w + "." for w in words] + ["?", "!", ".", "...", "x..", "Dr.)", "(e.g."]
    following = words + [w + "." for w in words[::3]] + list(")(:;,\"'`?!") + ["(Abandoned", '"the']
    for tok in marked:
        for nxt in following:
            t = f"{tok} {nxt}"
            assert _our_sents(t) == _punkt_sents(t), repr(t)


def test_plain_contexts_tokenize_as_punkt_does():
    P = T._punkt()
    for word in ["word", "e.g", "x-ray", "(x", '"(x', "--x", "-x", ",x", ")x", "*x", "x.", "x..", "(e.g.", "١٢"]:
        tok = T._token_before_mark(*P.plain_before.fullmatch(word).groups())
        assert P.words(word + ". next")[-2] == tok, word  # the token that carries the mark
    for nxt in ["word", "e.g.", "(x", '"(x', "--x", "---x", "-x", ",x", ")x", "*x", "x-y", "-5", "@x.", "_x"]:
        assert P.plain_after.fullmatch(nxt)
        assert T._first_token(nxt) == P.words(nxt)[0], nxt


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(PUNKT_SPACES + [""]), st.lists(punkt_atom, max_size=25))
def test_our_punkt_count_equals_the_package(lead, atoms):
    t = lead + _punkt_text(atoms)
    assert _our_sents(t) == _punkt_sents(t), repr(t)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "", "", "", "(", '"(', "'", "“", "-", "--", ",", "*", "«", ")"]),
                          st.sampled_from(PUNKT_WORDS),
                          st.sampled_from([". ", ". ", ". ", " ", " ", ".) ", ". (", ".\n", ". '", '." ', ".  ",
                                           ".. ", "... ", ". --", ". -"])),
                max_size=40))
def test_our_punkt_count_equals_the_package_on_plain_text(atoms):
    t = "".join(a + w + b for a, w, b in atoms)  # mostly the no-tokenizer path
    assert _our_sents(t) == _punkt_sents(t), repr(t)


def test_pieces_are_cut_only_at_spaces_punkt_sees():
    # Punkt looks back for an ASCII space to find the word before a mark, so "Hi.\u00a0x\u00a0Yes. c"
    # is one candidate (at "Yes.") whose context holds "Hi." too; a cut at a no-break space counts 3
    t = "Hi.\u00a0x\u00a0Yes. c"
    assert T.count_sentences(t, piece_size=1) == _punkt_count(t) == 2


@settings(max_examples=400, deadline=None)
@given(st.lists(punkt_atom, max_size=60), st.integers(1, 40))
def test_counting_in_pieces_equals_punkt_on_the_whole_text(atoms, piece_size):
    # small pieces put cuts next to every kind of mark, bracket and space; a quote that closes a
    # sentence right before a cut ('post. "' then "And") once made the pieces miss a sentence
    t = _punkt_text(atoms) + ' the end. "\nAnd then'
    assert T.count_sentences(t, piece_size=piece_size) == _punkt_count(t), repr(t)
    assert T.split_sentences(t, piece_size=piece_size) == _punkt_sents(t), repr(t)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=". \n\u00a0-x", max_size=40))
def test_dot_runs_are_the_runs_of_punkts_pattern_with_a_period(t):
    ours = [m.span() for m in T._DOT_RUNS.finditer(t)]
    pattern = T._punkt().tokenizer.rules.multi_char_punct_pattern  # "--" runs too: never a candidate
    theirs = [m.span() for m in re.finditer(pattern, t) if "." in m.group()]
    assert ours == theirs


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

"""sentences.py: our Punkt pass, whole and in pieces, equals the package's tokenize() on the whole text."""
import json
import re

from hypothesis import given, settings, strategies as st

import checkers.sentences as S
from conftest import need_shared


def _punkt_sents(t):  # the reference: Punkt over the whole text at once
    return S._punkt().tokenizer.tokenize(t)


def _punkt_count(t):
    return len(_punkt_sents(t))


def _our_sents(t):  # one piece: the spans our pass forms, as text
    return [t[s:e] for s, e in S._punkt_spans(t)]


def test_sentence_pieces_do_not_change_the_count():
    long = " ".join(f"Sentence number {i} talks about Mr. Smith and the U.S. economy." for i in range(400))
    assert len(list(S._piece_spans(long, 2000))) > 3
    assert S.count_sentences(long) == _punkt_count(long) == 400
    assert S.split_sentences(long) == _punkt_sents(long)
    assert S.count_sentences(long, stop_at=5) >= 5


def test_sentence_count_equals_whole_text_punkt_on_ifeval_responses():
    path = need_shared("llama_3b.responses.jsonl")
    for line in open(path):
        r = json.loads(line)["response"]
        assert S.count_sentences(r) == _punkt_count(r)
        assert S.split_sentences(r) == _punkt_sents(r)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["Hi", "there.", "Mr.", "U.S.", "ok?", "no!", '"Yes."', "a", "(b.)", "\n\n",
                                 "e.g.", "It", "3.", ".", "...", ")", "x" * 30]), max_size=900))
def test_sentence_count_equals_whole_text_punkt_on_random_words(words):
    t = " ".join(words)
    assert S.count_sentences(t) == _punkt_count(t)


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
    P = S._punkt()
    for word in ["word", "e.g", "x-ray", "(x", '"(x', "--x", "-x", ",x", ")x", "*x", "x.", "x..", "(e.g.", "١٢"]:
        tok = S._token_before_mark(*P.plain_before.fullmatch(word).groups())
        assert P.words(word + ". next")[-2] == tok, word  # the token that carries the mark
    for nxt in ["word", "e.g.", "(x", '"(x', "--x", "---x", "-x", ",x", ")x", "*x", "x-y", "-5", "@x.", "_x"]:
        assert P.plain_after.fullmatch(nxt)
        assert S._first_token(nxt) == P.words(nxt)[0], nxt


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
    assert S.count_sentences(t, piece_size=1) == _punkt_count(t) == 2


@settings(max_examples=400, deadline=None)
@given(st.lists(punkt_atom, max_size=60), st.integers(1, 40))
def test_counting_in_pieces_equals_punkt_on_the_whole_text(atoms, piece_size):
    # small pieces put cuts next to every kind of mark, bracket and space; a quote that closes a
    # sentence right before a cut ('post. "' then "And") once made the pieces miss a sentence
    t = _punkt_text(atoms) + ' the end. "\nAnd then'
    assert S.count_sentences(t, piece_size=piece_size) == _punkt_count(t), repr(t)
    assert S.split_sentences(t, piece_size=piece_size) == _punkt_sents(t), repr(t)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=". \n\u00a0-x", max_size=40))
def test_dot_runs_are_the_runs_of_punkts_pattern_with_a_period(t):
    ours = [m.span() for m in S._DOT_RUNS.finditer(t)]
    pattern = S._punkt().tokenizer.rules.multi_char_punct_pattern  # "--" runs too: never a candidate
    theirs = [m.span() for m in re.finditer(pattern, t) if "." in m.group()]
    assert ours == theirs


def test_text_without_a_space_between_words_is_still_cut_after_question_and_exclamation_marks():
    # MulDimIF's hostile 1 MB: no word-space-word gap at all; cutting only there once left Punkt one 1 MB piece
    t = "Wait... what?! Really!? " * 200
    pieces = list(S._piece_spans(t, 50))
    assert len(pieces) > 50 and not any(joined for _, _, joined in pieces)  # no sentence across these cuts
    assert _joined_as_punkt_says(t, 50)
    assert S.count_sentences(t, piece_size=50) == _punkt_count(t)
    assert list(S.iter_sentences(t, piece_size=50)) == _punkt_sents(t)


def _joined_as_punkt_says(t, size):
    """Each piece's joined flag is True exactly when one of Punkt's whole-text sentences runs across its start."""
    spans, pos = [], 0
    for sentence in _punkt_sents(t):
        start = t.index(sentence, pos)
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    return all(joined == any(s < start < e for s, e in spans) for start, _, joined in S._piece_spans(t, size))


def test_cuts_next_to_marks_whose_context_reaches_across_equal_punkt():
    # "x.?", ")!", "? !" and "a?\u00a0b? c" (Punkt sees no space before "b", so the second "?" reaches back and the
    # first is skipped): a piece's last mark is decided only with the next token read along
    for t in ["Hi x.? Yes. Ok", "(so)! Then no.", "Mr.?! Smith came.", 'He said "no"? And', "what? ! Really",
              "a?\u00a0B. c", "what?\u00a0what? what? "]:
        for size in range(1, len(t)):
            assert S.split_sentences(t, piece_size=size) == _punkt_sents(t), (t, size)


def test_text_is_cut_after_periods_with_punkts_decision_on_them():
    # "Why?. " x 200: no word-space-word gap either; a cut after "word." carries Punkt's verdict on that period
    t = "Why?. " * 200 + "Dr. Smith met Mr. Jones in the U.S. today. He left at 3. Business is J. Bach's. " * 20
    pieces = list(S._piece_spans(t, 20))
    assert len(pieces) > 100 and any(joined for _, _, joined in pieces) and not all(j for _, _, j in pieces[1:])
    assert _joined_as_punkt_says(t, 20)
    for size in (1, 7, 20, 300):
        assert S.count_sentences(t, piece_size=size) == _punkt_count(t), size
        assert list(S.iter_sentences(t, piece_size=size)) == _punkt_sents(t), size


MARKY_WORDS = ["what", "Really", "x", "Mr", "e.g", "3", "I", "the", "Aron", "é", "_", "Dr", "J", "U.S", "However"]
MARKY_MARKS = ["?", "!", "?!", "!?", "??", "!!!", ".", ".", ".", "...", ".?", "?.", ")", '"', "'", ".)", "?)", '!"', ""]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(MARKY_WORDS), st.sampled_from(MARKY_MARKS),
                          st.sampled_from([" ", " ", "\n", "  ", "\t", "\r\n", "", "\u00a0"])), max_size=40),
       st.integers(1, 30))
def test_cuts_after_marks_and_periods_equal_punkt_on_the_whole_text(atoms, piece_size):
    t = "".join(w + m + s for w, m, s in atoms)
    assert S.count_sentences(t, piece_size=piece_size) == _punkt_count(t), repr(t)
    assert S.split_sentences(t, piece_size=piece_size) == _punkt_sents(t), repr(t)

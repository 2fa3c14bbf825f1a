"""muldimif_content.py / muldimif_keywords.py: the official verdicts of Content_Keywords, Content_Punctuation and
Content_Others (reference set, quirks read off the official code), each linear scan against the official regex it
replaces, and hostile 1 MB responses in bounded time."""
import json
import random
import re
import time

import pytest
from hypothesis import given, settings, strategies as st

from checkers import muldimif
from checkers import muldimif_content as C
from checkers import muldimif_keywords as K
from muldimif_ref import cases, disagreements, needs_shared

CLASSES = ("Content_Keywords", "Content_Punctuation", "Content_Others")


@needs_shared
@pytest.mark.parametrize("cls", CLASSES)
def test_official_verdicts_on_the_scripted_set(cls):
    assert cases({cls})
    assert disagreements({cls}) == []


# ---- the rewrites against the official regexes (small inputs, so that the regexes finish) --------------------
def official_cells(rows):
    return [s for s in [c.strip() for row in rows for c in re.split(r"\s*\|\s*", row.strip("|")) if c.strip()]
            if s.strip("-")]


def official_sources(t):
    return bool(re.search(r"Sources:\s*.+$", t))


def official_table_line(t):
    return bool(re.search(r"^\s*\|.+\|", t, re.M))


PIPEY = st.text(alphabet=" \t|-\r\u3000\x85a", max_size=40)
SOURCEY = st.lists(st.sampled_from(["Sources:", "Sources", ":", " ", "\n", "\t", "\r", "\x85", "x", "S"]),
                   max_size=14).map("".join)
TABLEY = st.text(alphabet=" \t\n\r|x\u2028", max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(PIPEY, max_size=4))
def test_cells_equal_official_split(rows):
    assert C._cells(rows) == official_cells(rows)


@settings(max_examples=150, deadline=None)
@given(SOURCEY)
def test_sources_line_equals_official_regex(t):
    assert C._sources_line(t) == official_sources(t)
    assert C._sources_line(t.strip()) == official_sources(t.strip())


@settings(max_examples=150, deadline=None)
@given(TABLEY)
def test_table_line_equals_official_regex(t):
    assert K._has_table_line(t) == official_table_line(t)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["ab", "a_b", "C++", "U.S.", "x1", "Ab", "é", "a b"]),
       st.text(alphabet="abAB_1 .+éCxUS\n", max_size=30))
def test_whole_word_matches_equal_the_official_regex(word, t):
    official = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.I)
    assert len(list(K._WholeWord(word).finditer(t))) == len(official.findall(t))
    assert K._WholeWord(word).search(t) == bool(official.search(t))


def test_rewrites_on_seeded_random_and_adversarial_strings():
    rng = random.Random(7)
    pieces = ["Sources:", " ", "\n", "|", "-", "x", "\t", "#", "1.", "* ", "[", "{"]
    samples = ["".join(rng.choice(pieces) for _ in range(rng.randrange(30))) for _ in range(6000)]
    samples += ["Sources:" * 50, "Sources:" + " " * 300 + "\nx", "\n" * 300 + "|x|", " " * 300 + "|", "|" * 300]
    for t in samples:
        assert C._sources_line(t) == official_sources(t), t
        assert K._has_table_line(t) == official_table_line(t), t
        assert C._cells(t.split("\n")) == official_cells(t.split("\n")), t
        # the format detectors and the cell cleaner, written without the official regexes
        assert (t.lstrip()[:1] in ("{", "[")) == bool(re.search(r"^\s*[{\[]", t))
        assert bool(K._NUMBERED.match(t)) == bool(re.search(r"^\s*\d+\.\s+", t))
        assert bool(K._BULLET.match(t)) == bool(re.search(r"^\s*[-*] ", t))
        assert K._clean_cell(t) == re.sub(r"^#+\s*", "", t).strip()


def test_an_item_without_sentence_marks_is_one_punkt_sentence():
    rng = random.Random(3)
    for _ in range(300):  # the bullet check skips Punkt for such items
        item = "-" + "".join(rng.choice(" \t\nab,;:)'\"Dr") for _ in range(rng.randrange(40)))
        assert C.split_sentences(item) == [item.rstrip()]


def test_whitespace_of_regex_is_that_of_str_strip():
    # the scans use str.strip()/isspace() where the official regexes say \s
    everything = "".join(map(chr, range(0x110000)))
    assert re.findall(r"\s", everything) == [c for c in everything if c.isspace()]


def test_emoji_class_is_everything_from_u24c2_up():
    official = re.compile("[\U0001F600-\U0001F64F\U0001F300-\U0001F5FF\U0001F680-\U0001F6FF\U0001F700-\U0001F77F"
                          "\U0001F780-\U0001F7FF\U0001F800-\U0001F8FF\U0001F900-\U0001F9FF\U0001FA00-\U0001FA6F"
                          "\U0001FA70-\U0001FAFF\U00002702-\U000027B0\U000024C2-\U0001F251\U00010000-\U0010FFFF]+")
    sample = "".join(map(chr, list(range(0, 0x3000)) + list(range(0x3000, 0x110000, 97)) + [0x10FFFF]))
    assert official.findall(sample) == C._EMOJI_RUN.findall(sample)


# ---- hand-written cases: the official verdict, read off the official code -----------------------------------
KEYWORDS = [
    ("The answer must include the keyword 'Mulan'.", "hihi MULAN", True),       # any case
    ("The answer must include the keyword 'Mulan'.", "hihi Mulans", False),     # whole words only
    ("必须包含'小明'", "今天小明上学了", True),                                  # CJK: anywhere, no word edges
    ("Must include 'apple' or 'orange'", "I like apple.", True),
    ("Must include 'apple' and 'orange'", "I like apple.", False),
    ("Must include 'test' at least three times", "test test", False),
    ("Must include 'C++' at least 3 times", "C++ C++ C++", True),
    ('The names ""LSU"" and ""Zach Wilson"" must appear multiple times', "LSU and Zach Wilson, LSU", False),
    ('The names ""LSU"" and ""Zach Wilson"" must appear multiple times', "LSU Zach Wilson LSU Zach Wilson", True),
    ('"""Must include the keyword \'psychosis\'."""', "this is a psychosis", True),  # wrapping quotes peeled
    # include + avoid: plain, case-sensitive substrings
    ("includes the keyword 'Natwest' and avoids the keyword 'dormant'.", "Natwest is a dormant one", False),
    ("includes the keyword 'Natwest' and avoids the keyword 'dormant'.", "natwest is fine", False),
    ("includes the keyword 'Natwest' and avoids the keyword 'dormant'.", "Natwests", True),
    ("the keyword 'explosive' must be avoided in the answer", "An Explosive end", False),
    ("Avoid using term slur", "slur", True),                                      # nothing quoted: nothing to find
    ("If discussing Iranian culture, the summary must include the keyword 'tradition'. If discussing California "
     "housing/property laws, the summary must include the keyword 'regulation'.", "California property laws", False),
    ("If discussing Iranian culture, the summary must include the keyword 'tradition'.", "About Spain.", True),
    ("the response is a single word that includes the keyword 'five'", "five words", False),
    ("be at least 5 words long, and include the keyword 'gas giant'", "Gas giant is a planet", True),
    ("be at least 5 words long, and include the keyword 'gas giant'", "Gas giant is big", False),
    ("ensure the word 'Friend' is included, and the translation does not exceed three words", "Friend is family", True),
    ("the translation does not exceed many words and includes 'x'", "x", False),  # unreadable number: a fail
    ("The answer must use capitalized letters for each word and must include the keyword 'beasts'.",
     "Beasts are great", False),
    ("The answer must use capitalized letters for each word and must include the keyword 'beasts'.",
     "Beasts Are Great", True),
    ("Use capitalized letters For Each Word and include 'x'", "X X", False),    # "each": no must/should after it
    # each / every: the rule holds for every element
    ("Each item must include the keyword 'apple'", '["apple pie", "an apple"]', True),
    ("Each item must include the keyword 'apple'", '{"a": "apple", "b": "pear"}', False),
    ("Each item must include the keyword 'apple'", '"apple"', True),              # plain text: one section
    ("Each item must include the keyword 'apple'", "[apple", False),              # not JSON: no elements
    ("Each item must include the keyword 'apple'", "1. apple one\n2. an apple\nfoot", True),
    ("Each item must include the keyword 'apple'", "1. apple one\n2. a pear", False),
    ("Each item must not exceed one word", "- apple\n- pear", True),
    ("Each item must not exceed one word", "  - apple\n  - pear", False),         # indented: "- apple" is the item
    ("Each part must include the keyword 'apple'", "An apple\n---\nMore apple", True),
    ("Each part must include the keyword 'apple'", "An apple\n---\nMore apple\n---\n", False),  # '' section after
    ("Each part must include the keyword 'apple'", "=====", False),               # no sections: the whole text
    ("Each description must include the keyword 'upper body'",
     "| Day | Description |\n|---|---|\n| 1 | Upper body day |\n| 2 | Upper body again |", True),
    ("Each description must include the keyword 'upper body'",
     "| Day | Description |\n|---|---|\n| 1 | Upper body day |\n| 2 | Legs |", False),
    # no header word matches "title": the wordiest column (the second) is checked
    ("Each title must include the keyword 'Scooby'",
     "| A | B |\n|-|-|\n| x | ## Scooby Meets Ghost |\n| y | Scooby Faces Baron |", True),
    ("Each title must include the keyword 'Scooby'", "| A | B |\n|-|-|\n| x | y z |", False),
    ("Each title must include the keyword 'Scooby'", "| A | B |\n|-|-|\n| x |", False),  # ragged rows dropped
]


@pytest.mark.parametrize("text,response,verdict", KEYWORDS)
def test_content_keywords_quirks(text, response, verdict):
    assert muldimif.check(["Content", "Keywords", text], response) is verdict


PUNCTUATION = [
    ("The answer must end with a period", "  hi? Hi.  ", True),                 # the last character only
    ("The answer must end with a period", "", False),
    ("Names must not end with punctuation marks", "", True),                    # empty: the negation's verdict
    ("Names must not end with punctuation marks", "Anna,", False),
    ("Each sentence ends with a period", "Yes. Right? Okay!", False),
    ("Each sentence ends with a period", "", True),                             # no sentences at all
    ("Finally, the answer must end with a period", "Yes? Done.", False),        # "all" in "Finally": sentences
    ("The answer must end with a period", "Yes? Done.", True),
    ("Each cell must end with a period", "| Date. | Location. |", True),        # one line: nothing skipped
    ("Each cell must end with a period", "| Date | Place |\n|---|---|\n| a. | b. |\n|---|---|", True),
    ("Each cell must end with a period", "| Date | Place |\n|---|---|\n| a. | b |", False),
    ("Each paragraph must end with a period.", "This is a test. This is only a test \n Hi! Hi.", False),
    ("Each paragraph must end with a period.", "This is a test. This is only a test. \n\n Hi! Hi.", True),
    ("Each bullet point concludes with an exclamation mark", "- This is a test! - This is not!", True),
    ("Each bullet point concludes with an exclamation mark", "- This is a test. - This is not!", False),
    ("Each bullet point ends with a period", "No bullets here", True),
    ("Each bullet point ends with punctuation", "-\nnext line,", True),         # `\s` took the newline
    ("Each bullet point ends with punctuation", "- a\n- b", False),
    ("Ending punctuation must be a period followed by a `~`", "End.~", True),
    ("Ending punctuation must be a period followed by a `~`", "End~", False),
    ("Avoid using exclamation marks", "Hi.", True),
    ("Avoid using exclamation marks", "Hi!", False),
    ("Ending punctuation must be a semicolon", "List;", True),
    ("Ending punctuation must be a period or a question mark", "Why?", True),
    ("Ending punctuation must be a period or a question mark", "No!", False),
    ("The improved title must not end with a period.", "Hello!", True),
    ("Conclude on a high note", "Done.", False),                                # no mark named: nothing allowed
]


@pytest.mark.parametrize("text,response,verdict", PUNCTUATION)
def test_content_punctuation_quirks(text, response, verdict):
    assert muldimif.check(["Content", "Punctuation", text], response) is verdict


OTHERS = [
    ("Keep it a paragraph long", "One line.", True),
    ("Keep it a paragraph long", "One.\nTwo.", False),
    ("Start identifier: 'List of Models:'", "## list of models: a, b", True),   # ' #' stripped, any case
    ("Start identifier must be 'Absolutely!'", "Sure. Absolutely!", False),
    ("Start identifier: Each example must start with the word 'Example:'", "see Example: x", True),  # anywhere
    ("Each example must start with 'Example:'", "Example: x", False),           # no identifier: AttributeError
    ("it is essential to start with the phrase 'Absolutely! Here's'", "Absolutely! Here we go", True),  # stops at '
    ("begin with the identifier 'The following are:'", "the following are: a", True),
    ("End identifier: Sources must be cited at the end of the response", "Text\nSources: [1]", True),
    ("End identifier: Sources must be cited at the end of the response", "Text\nSources:\n \n[1]", True),
    ("End identifier: Sources must be cited at the end of the response", "Sources: [1]\nmore", False),
    ("End identifier: Sources must be cited at the end of the response", "Text Sources:  ", False),
    ("The name of the showroom must start with the letter 'p'.", "Visit Pristine", True),  # the letter made upper
    ("The name of the showroom must start with the letter 'P'.", "visit p2 and P2", False),
    ("The name of the showroom must start with the letter 'P'.", "Go to P.", True),
    ("Response must be written as a short blurb", "a" * 200, True),
    ("Response must be written as a short blurb", "a" * 201, False),
    ("The response should be concise, with a maximum of 50 words", "w " * 51, False),
    ("Each sentence must include at least three emojis.", "Great 😀😀😀. Nice 😀 😃 😄.", False),  # a run is one
    ("Each sentence must include at least three emojis.", "A 😀 b 😃 c 😄! 你 好 吗", True),          # CJK counts
    ("Must mention old steam trains and the famous DNA model", "old steam trains and the famous DNA model", True),
    ("It must mention old steam trains and the famous DNA model", "only old steam trains", False),
    ("Must include quotes from the sources", "He said ‘yes’", True),
    ("Must provide sources that are cited", "Cite [1]. Sources: [1] ref\n", True),  # `$` before a final newline
    ("Must provide sources that are cited", "Cite [a]. Sources: ref", False),
    ("It must include in-text citations", "As shown (Smith, 2020).", True),
    ("It must include in-text citations", "As shown (Smith 2020).", False),
    ("Answers must be in full sentences", "no", True),
    ("Mention the sources", "Sources: [1]", False),                             # nothing recognised: a fail
]


@pytest.mark.parametrize("text,response,verdict", OTHERS)
def test_content_others_quirks(text, response, verdict):
    assert muldimif.check(["Content", "Identifiers", text], response) is verdict


def test_unparsable_each_and_deep_json_fail():
    deep = "[" * 100_000 + "]" * 100_000  # RecursionError in json.loads: the official evaluation raises there
    assert muldimif.check(["Content", "Keywords", "Each item must include 'a'"], deep) is False
    assert json.loads("[[1]]") and K._number("one-two") == 3 and K._number("1,000") == 1000 and K._number("x") is None


# ---- hostile responses: bounded time ---------------------------------------------------------------------
MB = 1_000_000
HOSTILE = {"space run": "x" + " " * MB + "x", "blank lines": "\n" * MB, "pipes and spaces": ("|" + " " * 5000) * 200,
           "ragged table": "|a|b\n|c\n" * (MB // 8), "sources": "Sources:" * (MB // 8),
           "sources then spaces": "Sources:" + " " * MB + "\nx", "deep json": "[" * MB,
           "crlf": "Fine. Yes.\r\n" * (MB // 12),
           "chinese": "中文句子。这是测试！" * (MB // 10), "one char": "a" * MB, "empty": ""}
HOSTILE_CONSTRAINTS = [
    ("Keywords", "The answer must include the keyword 'a' at least twice"),
    ("Keywords", "Each entry must include the keyword 'a'"),
    ("Punctuation", "Each entry in the table must end with a period"),
    ("Punctuation", "Each paragraph must end with a period"),
    ("Punctuation", "Each bullet point ends with a period"),
    ("Punctuation", "The answer must end with a period"),
    ("Identifiers", "End identifier: Sources must be cited at the end of the response"),
    ("Identifiers", "Must provide sources that are cited"),
    ("Identifiers", "Each sentence must include at least three emojis."),
]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_responses_take_bounded_time(name):
    response = HOSTILE[name]
    for second, text in HOSTILE_CONSTRAINTS:
        start = time.process_time()  # CPU time: the test box's two cores are shared
        muldimif.check(["Content", second, text], response)
        assert time.process_time() - start < 2.0, (name, text)


def test_hostile_verdicts():
    assert C._sources_line("Sources:" * (MB // 8)) and not C._sources_line(("Sources:" + " " * MB).strip())
    assert C._cells(["|" + " " * MB + "|", "| a | --- |"]) == ["a"]
    assert not K._has_table_line("\n" * MB + "|") and K._has_table_line("\n" * MB + " |x|")
    table = "| h |\n|---|\n| a." + " " * MB + "|\n|" + " " * MB + "b. |"
    assert C.content_punctuation("Each cell must end with a period", table)
    assert not C.content_punctuation("Each cell must end with a period", table + "\n| c |")

"""muldimif_length.py: the official MulDimIF verdicts of Length_Words / _Sentences / _Paragraphs, quirks included,
each linear rewrite equal to the official regex or loop it replaces, and every check fast on hostile 1 MB text."""
import json
import random
import re
import time

import pytest
from hypothesis import given, settings, strategies as st

from checkers import muldimif
from checkers import muldimif_length as L
from muldimif_ref import disagreements, needs_shared

CLASSES = {"Length_Words", "Length_Sentences", "Length_Paragraphs"}


@needs_shared
def test_scripted_verdicts_equal_the_official_ones():
    assert disagreements(CLASSES) == []


# ------------------------------------------------------------------- linear rewrites against the originals
TERMINATORY = st.text(alphabet=".!? \n\tab\u3000。", max_size=60)
TABLEY = st.text(alphabet="| \t\n\r\u00a0\x1c-*ab", max_size=60)


@settings(max_examples=200, deadline=None)
@given(TERMINATORY)
def test_sentence_count_equals_the_official_findall(t):
    assert L.count_terminators(t) == len([s for s in re.findall(r"[^.!?]*[.!?]", t) if s.strip()])


@settings(max_examples=200, deadline=None)
@given(TABLEY)
def test_table_test_equals_the_official_multiline_regex(t):
    assert bool(L._TABLE_TEST.search(t)) == bool(re.search(r"^\s*\|.+\|", t, re.M))


@settings(max_examples=150, deadline=None)
@given(TABLEY)
def test_table_lines_are_the_stripped_lines_starting_with_a_pipe(t):
    lines = [line.strip() for line in t.split("\n") if line.strip().startswith("|")]
    assert list(map(str.rstrip, L._TABLE_LINE.findall(t))) == lines
    for line in lines:   # and the |---| test is the official `^[\s|*-]+$`
        assert (not line.strip(L._RULE_CHARS)) == bool(re.match(r"^[\s|*-]+$", line))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet="|a \t", max_size=8), max_size=6))
def test_cells_split_in_one_go_equal_a_split_per_row(rows):
    assert L._split_cells(rows) == [c.strip() for row in rows for c in row.split("|") if c.strip()]


def test_whitespace_of_re_is_str_isspace():   # \s, strip() and the |---| character set agree
    every = "".join(map(chr, range(0x110000)))
    spaces = "".join(filter(str.isspace, every))
    assert spaces == "".join(re.findall(r"\s", every)) and set(L._RULE_CHARS) == set(spaces) | set("|*-")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="|#*:'\" \tab\r", max_size=30))
def test_plain_line_filter_equals_the_official_regex(line):
    line = line.strip()
    assert (len(line) > 1 and line[0] == line[-1] == "|") == bool(re.match(r"^\|.*\|$", line))


def test_cjk_count_equals_findall():
    rng = random.Random(0)
    for _ in range(200):
        t = "".join(rng.choice(["a", " ", "中", "。", "\u3000", "Ｈ", "\U00020001", "\n"]) for _ in range(20))
        found = re.findall(L._CJK.pattern, t)
        assert L.count_words(t) == (len(found) if found else len(t.split()))


def naive_table_pick(cells, target):
    """The official row/column selection spelled out per row: a dict per row, every header lowered every time."""
    if "<TitleSplit>" in cells:
        cut = cells.index("<TitleSplit>")
        headers, body = cells[:cut], [c for c in cells[cut + 1:] if c != "<TitleSplit>"]
    else:
        headers, body = cells, []
    if not headers:
        return []
    rows = [dict(zip(headers, body[i:i + len(headers)])) for i in range(0, len(body), len(headers))
            if len(body[i:i + len(headers)]) == len(headers)]
    picked = [v for row in rows for k, v in row.items() if k.lower() != v.lower() and target.lower() in k.lower()]
    return picked or cells


def test_table_selection_equals_the_per_row_loop():
    rng = random.Random(1)
    words = ["Name", "name", "Cell", "a b", "x", "NAME", "<TitleSplit>", "entry"]
    for _ in range(500):
        lines = []
        for _ in range(rng.randint(0, 6)):
            if rng.random() < 0.25:
                lines.append(rng.choice(["|---|", "| - | * |", "|"]))
            else:
                lines.append("| " + " | ".join(rng.choice(words) for _ in range(rng.randint(0, 3))) + " |")
        text = "\n".join(lines)
        cells = []
        for line in (x.strip() for x in text.split("\n") if x.strip().startswith("|")):
            cells += ["<TitleSplit>"] if re.match(r"^[\s|*-]+$", line) else \
                [c.strip() for c in line[1:-1].split("|") if c.strip()]
        for target in ("name", "cell", "zzz"):
            assert L._table_cells(text, target) == naive_table_pick(cells, target)


# ----------------------------------------------------------------------- official behaviour, read from the code
@pytest.mark.parametrize("text, response, verdict", [
    ("At least 2 paragraphs", "P1\n\nP2", True),
    ("At least 2 paragraphs", "P1\n\n\nP2", True),         # "\n\n" then "\nP2": still two
    ("At least 2 paragraphs", "P1\nP2", False),
    ("At least 2 paragraphs", "P1\r\n\r\nP2", False),      # CRLF: no exact "\n\n", one paragraph
    ("At least 2 paragraphs", "P1\n\n \n\nP2", True),      # blank pieces do not count
    ("Write it well", "P1", False),                        # unreadable: fails
    ("Between three and five paragraphs", "a\n\nb\n\nc", False),   # ranges read digits only
    ("exactly 0 paragraphs", "", True),
    ("The essay: range: 2-3 and more", "a\n\nb", True),    # "range: N-N" needs no "paragraph"
    ("最多分为两个段落", "a\n\nb\n\nc", False),
    ("must be a single paragraph", "a\nb", True),
    ("It is split 2 to 3 paragraphs", "a\n\nb\n\nc\n\nd", False),
])
def test_paragraphs(text, response, verdict):
    assert muldimif.check(["Length", "Paragraphs", text], response) is verdict


@pytest.mark.parametrize("text, response, verdict", [
    ("At most 2 sentences", "Wait... what?", False),       # four terminators, four sentences
    ("At least 4 sentences", "Wait... what?", True),
    ("Be concise", "", True),                              # unreadable: passes
    ("At least sixteen sentences", "", True),              # 'sixteen' is no listed number: unreadable
    ("Between five and ten sentences", "S. " * 7, True),
    ("Exactly 3 topic sentences", "a. b! c?", True),
    ("描述应由3到5个句子组成", "S. " * 6, False),
    ("包含至少5個句子", "S. " * 5, True),
    ("The response must be a single sentence", "One. Two.", False),
    ("no more than 2 sentences", "a" * 5000 + "." + "b" * 5000, True),
])
def test_sentences(text, response, verdict):
    assert muldimif.check(["Length", "Sentences", text], response) is verdict


@pytest.mark.parametrize("text, response, verdict", [
    ("Exactly 3 words", "word is happy.", True),
    ("The answer must be a single word.", "hello", True),  # "a single" reads as "exactly one"
    ("The answer must be a single word.", "hi there", False),
    ("Exactly one hundred words", "word", True),           # the lazy number stops at 'one'
    ("Use exactly the same words, at most 3 words", "a b c d", False),   # 'the' is no number: other rules read
    ("At most 5 words", "中文中文中文", False),              # CJK text: one word per CJK character
    ("At least 2 words", "hello 世界", True),
    ("At least 2 words", "a b c d e。", False),             # one CJK character ('。'): one word in all
    ("limit the response to 150 words", "word " * 150, True),    # half-read range "response to 150" keeps 150
    ("limit the response to 150 words", "word " * 151, False),
    ("Between 100 and 50 words", "word " * 75, True),      # swapped bounds
    ("within a 50-word limit", "word " * 51, False),
    ("range:300-500", "word " * 400, True),
    ("Include the keyword 'words', at most 5 words", "words words", False),   # the keyword became 'word'
    ("Include the keyword 'words', at most 5 words", "a Word b", True),
    ("Don't exceed 5 words, it's short", "hello", False),  # an apostrophe opens a keyword: "t exceed 5 word, it"
    ("Don't exceed 5 words, it's short", "T exceed 5 word, it", True),
    ("Use the '' marker", "abc", False),                   # an empty keyword needs a spot between non-words
    ("Use the '' marker", "abc.", True),
    ("at least ² words", "a b c", False),                  # '²'.isdigit() but int('²') raises
    ("at least 150 words but must not exceed 10 sentences", "word " * 160 + "Wait... " * 10, True),  # runs
    ("at least 150 words but must not exceed 10 sentences", "word " * 160 + "S. " * 11, False),
    ("Please write something nice", "", True),             # nothing read: passes
])
def test_words(text, response, verdict):
    assert muldimif.check(["Length", "Words", text], response) is verdict


TABLE = "| Name | Note |\n|---|---|\n| Ann Lee | one two three four |\n| Bo | x |"
DUPLICATE = "| Name | Name |\n|---|---|\n| a b c d | x |"
@pytest.mark.parametrize("text, response, verdict", [
    ("Each word must be at most 5 characters long", "short words only", True),
    ("Each word must be at least 1 characters long", "a  b", False),   # split on ' ': an empty word
    ("Each word must be at most five characters long", "a", False),    # int('five') raises
    ("Each word must be short", "a", False),                           # no limit found: raises
    ("Each word must be At most 3 characters", "a", False),            # 'At most' is neither branch
    ("Each name must be at most 2 words", TABLE, True),                # only the Name column
    ("Each cell must contain at most 2 words", TABLE, False),          # no 'cell' header: every cell
    ("Each name must be at most 1 words", DUPLICATE, True),            # dict(zip): the last 'Name' column
    ("Each cell must contain at least 2 words", "| Name |\n|---|\n| a b |", False),   # 'Name' and the marker
    ("Each note must contain at most 1 words", "| Big Note |\n|---|\n| big note |\n| a |", True),   # == header
    ("Each cell must contain at most 1 words", "|a|b\n|c", True),      # ragged: "a" is the only cell
    ("Each entry must contain at most 2 words", '{"a": "x y", "b": "z"}', True),
    ("Each entry must contain at most 2 words", '{"a": "x y z"}', False),
    ("Each entry must contain at most 2 words", "[1, 2]", False),      # a list has no .values(): no elements
    ("Each entry must contain at most 2 words", "[" * 100000, False),  # bad JSON: no elements
    ("Each item must contain at most 1 words", "1. Apple: red fruit. Sweet\n2. Pear", True),
    ("Each item must contain at most 2 words", "- a b\n- c", True),
    ("Each item must contain at most 2 words", "  - a b\n- c", False),  # leading space keeps the '-': 3 words
    ("Each line must contain at least 2 words", "## Big Top\n**Note:**\n||\nword two", True),   # plain lines
    ("Each line must contain at most 1 words", "|x y|\nword", False),   # one "|x y|" line makes it a table
    ("Each line must contain at most 1 words", "", False),             # no elements fails
    ("Each answer must be kept short", "a", False),                    # no limit read
])
def test_words_each(text, response, verdict):
    assert muldimif.check(["Length", "Words", text], response) is verdict


# ---------------------------------------------------------------------------------------------- hostile text
MB = 1_000_000
HOSTILE = {"run": "a" * MB, "blank lines": "\n \n" * (MB // 3), "dots": "." * MB, "deep json": "[" * MB,
           "ragged": "|a|b\n|c\n" * (MB // 8), "crlf": "word word.\r\n" * (MB // 11), "chinese": "中文句子。" * (MB // 5),
           "empty": "", "20k lines": ("x" * 20000 + "\n") * 50, "blank then pipe": "\n" * 2000 + "|" + "a" * MB,
           "long header": "|" + "a" * (MB // 2) + "|\n|-|\n" + "|b|\n" * (MB // 8), "a then b": "a" * MB + "b"}
CONSTRAINTS = [["Length", "Words", "Use the keyword '" + "a" * 30 + "b', at most 50 words, at least 2 sentences"],
               ["Length", "Words", "Each cell must contain at most 10 words"],   # json, table, list and plain paths
               ["Length", "Words", "Each word must be at least 1 characters long"],
               ["Length", "Sentences", "At most 3 sentences"], ["Length", "Paragraphs", "At least 2 paragraphs"]]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_megabyte_is_fast(name):
    for constraint in CONSTRAINTS:
        start = time.perf_counter()
        muldimif.check(constraint, HOSTILE[name])
        assert time.perf_counter() - start < 2.0, (name, constraint)


def test_json_elements_read_values_as_strings():
    assert L._elements(json.dumps({"entry": {"a": 1}}), "entry") == ["{'a': 1}"]
    assert L._elements('{"title": "a b"}', "the title") == ["a b"]   # the target's last word is the key

"""MulDimIF's Format_Others, Language_English and Language_Chinese: the official verdicts on the scripted
responses, each linear rewrite against the official regex it replaces, quirks the scripted set never shows
(read off the official code), and hostile inputs that must stay fast."""
import random
import re
import time

import pytest
import zhconv
from hypothesis import given, settings, strategies as st

from checkers import muldimif
from checkers import muldimif_language as L
from checkers import muldimif_misc as M
from tests.checkers.muldimif_ref import cases, disagreements, needs_shared

CLASSES = {"Format_Others", "Language_English", "Language_Chinese"}

# The official super-linear regexes, kept only to compare the rewrites with.
OFFICIAL_TAG = r"<\s*([a-zA-Z_:][\w:.-]*)\s*(?:\s+[a-zA-Z_:][\w:.-]*=['\"][^'\"]*['\"])*\s*/?>"
OFFICIAL_PAIR = r"(\w+)=[\"'][^\"']*[\"']"
OFFICIAL_XML_BLOCK = r"```xml(.*?)```"
OFFICIAL_LINE_STARTS = {r"^\s*[-*]": M._BULLET, r"^\s*\d+\.": M._NUMBERED, r"^\s*(\d+\.)\s": M._NUMBERED_THEN_SPACE}
OFFICIAL_EXCEED = r"must not exceed (\d+|one|two|three|four|five|six|seven|eight|nine|ten)(?:.*)?attributes?"

TAGGY = st.text(alphabet="<>/ =\"'ax_:.-1\n\t\ré", max_size=40)
BLANKY = st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x85\xa0\u2028\u3000-*1.a", max_size=30)
fast = settings(max_examples=300, deadline=None)


@needs_shared
def test_the_official_verdicts_on_the_scripted_responses():
    found = {cls: sum(muldimif.CLASS_OF[muldimif.key_of(c)] == cls for c, _, _ in cases(CLASSES)) for cls in CLASSES}
    assert all(found.values()), found
    assert disagreements(CLASSES) == []


# ----------------------------------------------------------------------------- rewrites vs the originals
@fast
@given(TAGGY)
def test_tag_scan_finds_the_official_tags(text):
    assert list(M.tag_spans(text)) == [m.span() for m in re.finditer(OFFICIAL_TAG, text)]


ADVERSARIAL_TAGS = ["<a" + " " * 300, "<a" + " x='1'" * 50 + " " * 50, "<a x=\"<a y=\" x=\" y=\" x=\">", "<" * 300,
                    "<a<a<a<a>", "< a\r\n b='1'\r\n/>", "<a x='1'y='2'>", "<a b:c.d-e='1' f='>'/>", "a" * 300 + "='1'",
                    "<" + "a" * 300 + " =''>", "<a\t\n>text</a>", "<a x='1' / >", "<_:x ._='1'>"]


@pytest.mark.parametrize("text", ADVERSARIAL_TAGS)
def test_tag_scan_and_pair_count_on_adversarial_strings(text):
    assert list(M.tag_spans(text)) == [m.span() for m in re.finditer(OFFICIAL_TAG, text)]
    assert [m.span() for m in M._PAIR.finditer(text)] == [m.span() for m in re.finditer(OFFICIAL_PAIR, text)]


@fast
@given(st.text(alphabet="a1_é=\"'<> .-\n", max_size=40))
def test_pair_count_is_the_official_findall(text):
    assert [m.group(0) for m in M._PAIR.finditer(text)] == [m.group(0) for m in
                                                              re.finditer(OFFICIAL_PAIR, text)]


@fast
@given(st.text(alphabet="`xml a\n", max_size=30))
def test_xml_block_is_the_official_lazy_match(text):
    found = re.search(OFFICIAL_XML_BLOCK, text, re.DOTALL)
    assert M.xml_block(text) == (text if "```xml" not in text else found.group(1) if found else None)


@fast
@given(BLANKY)
def test_line_start_searches_agree_with_the_official_ones(text):
    for official, ours in OFFICIAL_LINE_STARTS.items():
        assert bool(re.search(official, text, flags=re.MULTILINE)) == bool(ours.search(text)), official


WORDS = st.sampled_from(["must not exceed ", "Must Not Exceed ", "3", "12", "three", "Ten", "tenth", " ", "\n",
                         "attribute", "ATTRIBUTES", "attr", "include ", "use ", "Traditional Chinese characters",
                         "x", "must not exceed"])


@fast
@given(st.lists(WORDS, max_size=12).map("".join))
def test_line_scans_find_what_the_official_lazy_regexes_find(text):
    ours = M._RULES[1][0](text)
    official = re.search(OFFICIAL_EXCEED, text, flags=re.IGNORECASE)
    assert (ours and (ours.start(), ours.groups())) == (official and (official.start(), official.groups()))
    for head in ("include", "use"):
        ours = L._then_traditional(head)(text)
        official = re.search(head + " .*?Traditional Chinese characters", text, flags=re.IGNORECASE)
        assert bool(ours) == bool(official)


def _zh_pool():
    """Characters and table keys of both directions, length-changing keys, and unchanged keys that hide a
    changed character (the hard case: a changing place that is no segment start)."""
    pool = list("的中国國这這个個们們了在我是人有爱干幹后後里裡发發面麵台臺 ，。!1a\n")
    for locale in ("zh-tw", "zh-cn"):
        table = zhconv.zhconv.getdict(locale)
        keys = sorted(k for k in table if len(k) > 1)
        hiding = [k for k in keys if table[k] == k and any(table.get(c, c) != c for c in k)]
        pool += random.Random(locale).sample(keys, 60) + [table[k] for k in keys[:30]] + hiding[:40]
        pool += [k for k, v in table.items() if len(k) != len(v) and (v.startswith(k) or k.startswith(v))]
        pool += [v for k, v in table.items() if len(k) != len(v) and (v.startswith(k) or k.startswith(v))]
    return pool


ZH_POOL = _zh_pool()
ZH = st.lists(st.sampled_from(ZH_POOL), max_size=10).map("".join)


@fast
@given(ZH)
def test_chinese_checks_agree_with_zhconv(text):
    for locale in ("zh-tw", "zh-cn"):
        assert L._left_as_is(text, locale) == (zhconv.convert(text, locale) == text), locale
        assert L._changes_a_character(text, locale) == any(zhconv.convert(c, locale) != c for c in text)


def test_chinese_walk_agrees_with_zhconv_on_long_texts():
    # long enough for several walk blocks and jumps; few distinct tokens, so that some texts are left as is
    rng = random.Random(7)
    for _ in range(60):
        tokens = rng.sample(ZH_POOL, 3)
        text = "".join(rng.choice(tokens) for _ in range(rng.randrange(100, 1500)))
        for locale in ("zh-tw", "zh-cn"):
            assert L._left_as_is(text, locale) == (zhconv.convert(text, locale) == text), (locale, text[:20])


def test_chinese_length_changing_segments():
    # 道瓊斯 -> 道瓊 (zh-tw): the walk meets a shorter output that still reads as the text, and hands over
    for text in ("道瓊斯", "道瓊斯道瓊", "厄瓜多尔", "厄瓜多", "阿聯酋阿聯", "尼日尔尼日"):
        for locale in ("zh-tw", "zh-cn"):
            assert L._left_as_is(text, locale) == (zhconv.convert(text, locale) == text)


# ----------------------------------------------------------------------------- Format_Others quirks
MOST3 = "Each XML element must have no more than three attributes"


@pytest.mark.parametrize("constraint, response, verdict", [
    (MOST3, "<a x='1' y='2' z=\"3\"/>", True),
    (MOST3, "<a x='1' y='2' z='3' w='4'>", False),
    (MOST3, "```xml\n<a x='1'/>", False),                               # "```xml" never closed: a fail
    (MOST3, "<a a='1' b='2' c='3' d='4'/>\n```xml\n<b x='1'/>\n```", True),  # only the block is read
    (MOST3, "<a x='1'y='2' z='3' w='4'>", True),                        # no space between: not a tag at all
    (MOST3, "<a x='>' y='2' z='3' w='4'>", False),                      # ">" inside a value
    (MOST3, "<a\r\n x='1'\r\n y='2' z='3' w='4'\r\n>", False),          # CRLF is space
    ("no more than ３ attributes", "<a x='1' y='2' z='3' w='4'>", False),  # a full-width digit counts
    ("at least 1 attribute", "<t a-=\"1\">", False),                    # pair count: "a-=" is no \w+=
    ("at least 5 attributes", "no tags here", True),                    # no tag: passes
    ("Number of attributes must be exactly 2", "<a x='1' y='2'><b x='1' y='2'/>", True),
    ("Number of attributes must be exactly 2", "<a x='1' y='2'><b/>", False),
    ("Limit the number of attributes to two", "<comic title='x'/>", False),
    ("Each slide must not exceed three visual elements or attributes", "<e a='1' b='2' c='3' d='4'/>", False),
    ("must not exceed 3 items, attributes", "plain", True),
    ("must not exceed 3 items\nattributes", "plain", False),             # "." stops at the line end: no rule
    ("Must include 'Key'", "the key.", True),
    ("Must include 'key'", "keyboard", False),
    ("Must include 'two'", "two", False),                               # number word becomes an int: raises
    ("Must be in APA format", "(van_Dijk,2020)", True),
    ("Must be in APA format", "(Smith ,2020)", False),
    ("No bullet points", "a - b * c", True),
    ("No bullet points", "text\n\n\t- item", False),
    ("No bullet points", "\xa0* x", False),
    ("No bullet points", "x\r\n\r- y", False),
    ("Must be listed as bullet points", "***", True),
    ("No number points", "1.5 is a number", False),
    ("No lists", "1.5 is a number", True),
    ("No lists", "\n\n  12.\tx", False),
    ("The quotes must be presented in block quotes format", " > q", False),
    ("The quotes must be presented in block quotes format", "<BLOCKQUOTE>q", True),
    ("The answer must include a table with no more than 2 rows", "|a|\n|---|\n|b|", True),
    ("The answer must include a table with no more than 2 rows", "|a|\n|:---|\n|b|", False),  # colon: data
    ("The answer must include a table with no more than 2 rows", "|a|\r\n|b|\r\n|c|\r\n", True),  # "\r|" ends no row
    ("The answer must include a table with no more than 2 rows", "|a|b\n|c\n<tr><TR><Tr>", False),
    ("The answer must be in full sentences", "", True),
    ("resembling a short blurb", "x" * 200, True),
    ("resembling a short blurb", "x" * 201, False),
    ("Response must be written at medium length", "x" * 201, True),
    ("The answer must include at least 2 references", "[1] (Smith, 2020)", True),
    ("The answer must include at least 2 references", "[1] (Smith,2020)", False),
    ("Something else entirely", "anything", False),
])
def test_format_others_quirks(constraint, response, verdict):
    assert muldimif.check(["Format", "Text", constraint], response) is verdict


# ----------------------------------------------------------------------------- Language_English quirks
@pytest.mark.parametrize("constraint, response, verdict", [
    ("Response must be written as a short blurb.", "anything at all", True),
    ("Response must be written as a short blurb.", " \n\t", False),       # a blank response always fails
    ("The table headers must be capitalized", "intro text\n| A | B |", False),  # header: first non-blank line
    ("The table headers must be capitalized", "| A | B |\n| c | d |", True),
    ("Each word in the table entries must be capitalized.", "| Ab |", True),     # one line: read whole
    ("Each word in the table entries must be capitalized.", "| A |\n| b |", False),
    ("All keys in the JSON object must be capitalized.", '{"Name": "john"}', True),
    ("All values in the JSON must be capitalized.", '{"name": "John"}', True),
    ("All headings and table entries must be capitalized", "# Title\ntext lower", False),  # no "|": all of it
    ("All headings and table entries must be capitalized", "| A |\n# title", False),  # every line's "cells"
    ("Headings must use capitalized letters for each word", "# Main Title\nbody text", True),
    ("The text must be in capitalized form", "Hello World", False),     # "capitalized form" is uppercase
    ("The answer must be in all uppercase letters", "ÉCOLE 123!", True),
    ("The answer must be in all uppercase letters", "STRASSE ß", False),
    ("The answer must use capitalized letters for each word", "élan Vital", True),  # only ASCII a-z fails
    ("The answer must use capitalized letters for each word", "Hello\u3000world", False),
    ("The answer must be written entirely in lowercase letters", "hello World", False),
    ("Use English", "Hello", False),                                   # no case rule: a fail
])
def test_language_english_quirks(constraint, response, verdict):
    assert muldimif.check(["Language", "English", constraint], response) is verdict


# ----------------------------------------------------------------------------- Language_Chinese quirks
@pytest.mark.parametrize("constraint, response, verdict", [
    ("Must use Traditional Chinese characters", "", True),               # empty: nothing changes
    ("Must use Traditional Chinese characters", "這是繁體字", True),
    ("Must use Traditional Chinese characters", "这是简体", False),
    ("Must use Traditional Chinese characters", "繁體 abc", False),       # any ASCII letter fails
    ('Must include the phrase "中国" somewhere', "我爱中国", True),
    ('Must include the phrase ""中国是一个国家"" meaning', "中国是一个国家", True),
    ("Must include conjugations in Traditional Chinese characters", "喜歡", True),
    ("Must include conjugations in Traditional Chinese characters", "喜欢", False),
    ("Must include\nTraditional Chinese characters", "喜歡", False),      # "." stops at the line end: no rule
    ("確保使用繁體中文書寫", "這是", True),
    ("必须将文本翻译为简体中文", "这是简体", True),
    ("Must translate the text into Simplified Chinese", "这是简体", True),
    ("Must translate the text into Simplified Chinese", "这是 simplified", False),
    ("The answer must be provided in Simplified Chinese.", "This is English", False),
    ("Simplified", "个", True),
    ("Answer in Chinese", "中文", False),                              # no pattern: a fail
])
def test_language_chinese_quirks(constraint, response, verdict):
    assert muldimif.check(["Language", "Chinese", constraint], response) is verdict


# ----------------------------------------------------------------------------- hostile inputs stay fast
HOSTILE = ["<a" + " " * 200_000, "a" * 200_000, "\n" * 200_000, " \n" * 100_000, "<a x='1'" + " y='2'" * 30_000,
           "|a|b\n|c\n" * 25_000, "[" * 200_000, "1.\r\n" * 50_000, "的" * 200_000, "中国国际信托投资公" * 20_000,
           "```xml" + "<" * 200_000, "<a" * 100_000, "<a>" * 60_000, "# \n" * 60_000, '{"a": "b",' * 20_000,
           "一伙人" * 60_000, ""]
PROMPTS = [("Format", "Text", c) for c in (MOST3, "at least 2 attributes", "Must include 'k'", "No bullet points",
                                           "No lists", "No number points", "Must be in APA format",
                                           "no more than 3 rows",
                                           "The answer must include at least 2 references")]
PROMPTS += [("Language", "English", c) for c in ("each word capitalized", "The table headers must be capitalized",
                                                 "headings and table", "JSON keys capitalized", "all lowercase")]
PROMPTS += [("Language", "Chinese", c) for c in ("Must use Traditional Chinese characters", "Simplified",
                                                 "Must translate the text into Simplified Chinese")]


def test_hostile_inputs_take_linear_time():
    for response in HOSTILE:
        for constraint in PROMPTS:
            start = time.perf_counter()
            muldimif.check(list(constraint), response)
            assert time.perf_counter() - start < 1.0, (constraint, response[:30])

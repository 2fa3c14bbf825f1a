"""checkers/muldimif_markup.py: MulDimIF's Format_Json and Format_Markdown, verdict for verdict with the official code.

The official verdicts come from ../shared/muldimif; the hand cases pin branches and quirks the scripted responses
never reach, each verdict worked out from the official code; every scan is checked against the official regex or
recursion it replaces; hostile 1 MB responses (deep nesting, long whitespace runs) must be judged in under 2 s.
"""
import json
import random
import re
import time

import pytest
from hypothesis import given, settings, strategies as st

from checkers import muldimif
from checkers.muldimif_markup import (_each_holds, _rule_holds, format_json, format_markdown, headings, json_depth,
                                      json_levels, markdown_rules)
from muldimif_ref import cases, disagreements, needs_shared

# whitespace that str.split('\n') keeps inside a line but strip() and re's \s remove, plus "#", ">", bullets
LINEY = st.text(alphabet="# \t\n\r\x0b\x1c\x85\xa0\u2028\u3000a?>-*+", max_size=40)


@needs_shared
def test_official_verdicts_on_the_scripted_responses():
    assert (len(cases({"Format_Json"})), len(cases({"Format_Markdown"}))) == (17, 642)
    assert disagreements({"Format_Json", "Format_Markdown"}) == []


# ------------------------------------------------------------------------ scans against the official code
def official_headings(text):
    found = []
    for line in text.split('\n'):
        match = re.match(r'^(#+)\s+(.*?)\s*$', line.strip())
        if match:
            found.append((len(match.group(1)), match.group(2).strip()))
    return found


@settings(max_examples=400, deadline=None)
@given(LINEY)
def test_line_scans_equal_the_official_per_line_regexes(text):
    assert headings(text) == official_headings(text)
    lines = text.split('\n')
    bullets = any(re.search(r'^\s*[-\*\+]\s', line) for line in lines)
    assert format_markdown("Use bullet points", text) == bullets
    quoted = sum(1 for line in lines if line.strip() and line.strip().startswith('>'))
    assert format_markdown("Use block quotes", text) == (quoted > 0)
    assert format_markdown("Write it all in block quotes", text) == (quoted == len(lines))


def test_whitespace_sets_agree():
    # the scans lean on re's \s, str.strip() and str.isspace() being one set of characters
    for code in range(0x3100):
        char = chr(code)
        assert bool(re.match(r'\s', char)) == char.isspace() == (char.strip() == '')


def official_depth(value, depth=0):
    members = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return max((official_depth(member, depth + 1) for member in members), default=depth)


def random_json(rng, levels):
    if levels == 0 or rng.random() < 0.25:
        return rng.choice([1, "x", None, True, [], {}])
    if rng.random() < 0.5:
        return {f"k{i}": random_json(rng, levels - 1) for i in range(rng.randint(0, 3))}
    return [random_json(rng, levels - 1) for _ in range(rng.randint(0, 3))]


def test_depth_equals_the_official_recursion():
    rng = random.Random(7)
    for _ in range(3000):
        value = random_json(rng, rng.randint(0, 6))
        assert json_depth(value) == official_depth(value)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="`json {}[]1", max_size=40))
def test_json_block_equals_the_official_regex(response):
    found = re.search(r'```json(.*?)```', response, re.DOTALL)
    source = found.group(1).strip() if found else response
    try:
        value = json.loads(source)
    except (json.JSONDecodeError, RecursionError):
        value = None
    official = value is not None and official_depth(value) >= 1
    assert format_json("at least 1 level of nesting", response) == official


def test_each_rule_equals_the_official_per_heading_loop():
    rng = random.Random(3)
    kinds = {'count': lambda: (rng.choice(['at least', 'at most', 'exactly']), rng.randint(0, 3)),
             'levels': lambda: (set(rng.sample([1, 2, 3], rng.randint(1, 2))),), 'questions': tuple,
             'single_h1': tuple, 'has': lambda: (rng.choice([None, 1, 2]),),
             'titled': lambda: (rng.randint(1, 3), rng.choice(['a', 'b?'])), 'max': lambda: (rng.randint(0, 3),),
             'starts': lambda: (rng.randint(1, 3),)}
    for _ in range(20000):
        heads = [(rng.randint(1, 3), rng.choice(['a', 'b?', 'c'])) for _ in range(rng.randint(1, 4))]
        kind = rng.choice(sorted(kinds))
        rule = (kind,) + kinds[kind]()
        assert _each_holds(rule, heads) == all(_rule_holds(rule, [head]) for head in heads), (rule, heads)


# ------------------------------------------------------------------------------- Format_Json quirks
NESTED = '{"a": {"b": 1}}'


def test_json_levels_from_the_constraint_text():
    assert json_levels("The answer must include a JSON example with exactly two levels of nesting.") == (2, None, None)
    assert json_levels("no more than 3 levels, and must not exceed two levels of nesting") == (None, 2, None)
    assert json_levels("a maximum of three nesting levels and at least two") == (None, 3, 2)
    assert json_levels("Use JSON") == (None, None, None)
    assert not format_json("Use JSON", NESTED)  # no level phrase: fails
    assert format_json("nested at least two levels deep", NESTED) and not format_json("at least 3 levels deep", NESTED)


def test_json_parsing_quirks():
    text = "The JSON must not exceed two levels of nesting"
    assert format_json(text, "Here:\n```json\n" + NESTED + "\n```\nand ```json {} ```")  # the first block
    assert not format_json(text, "```json\n" + NESTED)  # unclosed: the whole response must parse
    assert format_json(text, NESTED) and format_json(text, "[]") and format_json(text, '"text"')  # depth 0
    assert not format_json(text, "null") and not format_json(text, "```json null```")  # None means "no JSON"
    assert not format_json(text, "{'a': 1}")
    assert not muldimif.check(["Format", "Json", text], "1" * 5000)  # int digit limit: a ValueError, officially too


def test_deep_nesting_overflows_where_the_official_helper_does():
    text = "at least 2 levels of nesting"
    assert format_json(text, "[" * 331 + "]" * 331)  # depth 330
    assert format_json(text, "[" * 331 + "1" + "]" * 331)  # depth 331
    with pytest.raises(RecursionError):
        format_json(text, "[" * 332 + "1" + "]" * 332)
    with pytest.raises(RecursionError):  # json.loads itself gives up (~995 levels)
        format_json(text, "[" * 100_000)
    start = time.perf_counter()
    assert not muldimif.check(["Json", "Object nesting levels", text], '{"a":' * 100_000)
    assert not muldimif.check(["Json", "Object nesting levels", text], "```json" + "[" * 1_000_000 + "```")
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------- Format_Markdown quirks
def test_clause_rules():
    assert markdown_rules("The answer must use heading levels 1 and 2") == [('levels', {1, 2})]
    assert markdown_rules("Use heading level 2 in Markdown format") == [('has', 2)]
    assert markdown_rules("It must include a heading level two") == [('levels', {2})]
    assert markdown_rules("Must include a heading level two") == [('has', 2)]  # "must include" is case-sensitive
    assert markdown_rules("Must use exactly three heading levels") == [('count', 'exactly', 3)]
    assert markdown_rules("Use up to 3 heading levels") == [('count', 'at most', 3)]
    assert markdown_rules("Heading levels must be limited to three") == [('max', 3)]
    assert markdown_rules("The answer must begin with a level 2 heading") == [('starts', 2)]
    assert markdown_rules("Include a level 1 heading with the text 'Invoice Details'") == [('has', 1)]
    assert markdown_rules("Must include a level 2 heading titled 'Overview'") == [('titled', 2, 'Overview')]
    assert markdown_rules("Organize it with headings") == [('has', None)]
    # commas cut clauses only between two word characters; each clause then repeats the whole-text special rule
    assert markdown_rules("Use heading level 2, then H3") == [('has', 2)]
    assert markdown_rules("include headings at two levels,always") == [('count', 'at least', 2)] * 2


def test_markdown_verdicts():
    assert format_markdown("Use heading level 2 in Markdown format", "intro\n  ## Hi  \nbody")
    assert not format_markdown("Use heading level 2 in Markdown format", "##Hi\n## \n#")  # none is a heading
    assert format_markdown("Use heading levels 3 and 7", "### a\n####### b")  # any number of "#"
    assert format_markdown("Use at most 2 heading levels", "no headings")  # the count rule passes without any
    assert not format_markdown("The answer must begin with a level 1 heading", "no headings")
    assert format_markdown("Must include a level 2 heading titled 'Overview'", "## Overview")
    assert not format_markdown("Must include a level 2 heading titled 'Overview'", "## Overview.")
    assert format_markdown("Questions must be organized under a level 2 heading.", "# Intro\n## Why?")
    assert not format_markdown("Questions must be organized under a level 2 heading.", "### Why?")
    assert format_markdown("The answer must include a single level 1 heading", "# A\n## B")
    assert not format_markdown("The answer must include a single level 1 heading", "# A\n# B")
    assert format_markdown("Keep it short", "")  # no rule at all


def test_each_or_any_anywhere_tests_every_heading_alone():
    assert format_markdown("Many sections: use heading level 2", "## a\n## b")  # "any" inside "Many"
    assert not format_markdown("Many sections: use heading level 2", "## a\n### b")
    assert format_markdown("Use heading level 2", "## a\n### b")
    assert not format_markdown("Each part must use at least 2 heading levels", "# a\n## b")  # alone: one level
    assert not format_markdown("Keep each answer short", "")  # no headings: fails even with no rules


def test_bold_bullets_and_block_quotes():
    assert format_markdown("Use bold for key terms", "a **b** c") and format_markdown("bold", "__x__")
    assert not format_markdown("Use bold for key terms", "a **b\nc** d")  # not across a line break
    assert format_markdown("Use bullet points", "text\n  - item") and not format_markdown("bullet points", "-item\n-")
    assert format_markdown("Include at least two block quotes", "> a\n\n> b")
    assert not format_markdown("Include at least three block quotes", "> a\n\n> b")
    assert not muldimif.check(["Markdown", "Block quotes", "Quote at least once with block quotes"], "> a")  # raises
    assert format_markdown("Present everything in block quotes", "> a\n> b")
    assert not format_markdown("Present everything in block quotes", "> a\n> b\n")  # the blank last line counts


def test_the_dispatcher_routes_the_keys_here():
    for key in muldimif.KEYS["Format_Json"]:
        assert muldimif.check(key.split("_", 1) + ["must not exceed two levels of nesting"], NESTED)
    for key in muldimif.KEYS["Format_Markdown"]:
        assert muldimif.check(key.split("_", 1) + ["Use heading level 2"], "## Hi")


# --------------------------------------------------------------------------------------- hostile input
def test_hostile_megabyte_responses_are_judged_fast():
    mb = 1_000_000
    hostile = ['# a' + ' ' * mb + 'b', ' ' * mb + 'x', '\n' * mb, '#' * mb, '**' + 'a' * mb, '*' * mb, '_' * mb,
               ''.join(f'## h{i}\n' for i in range(90000)), '> q\r\n' * (mb // 5), '中文' * (mb // 2),
               '[' + '1,' * (mb // 2) + '1]', '']
    texts = ["Each section must use heading level 2, include bold terms and bullet points",
             "Use block quotes and at most 3 heading levels", "The JSON must not exceed three levels of nesting"]
    slowest = 0.0
    for response in hostile:
        for text, check in zip(texts, (format_markdown, format_markdown, format_json)):
            start = time.perf_counter()
            check(text, response)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0

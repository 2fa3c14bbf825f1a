"""checkers/muldimif.py: the dispatch table, the safe entry point, JSON read at the official stack depth."""
import json
import sys

from hypothesis import given, settings, strategies as st

from checkers import muldimif as M

WORDS = ["Length", "Words", "Each character description must not exceed 10 words"]
KEYWORDS = ["Content", "Keywords", "Each entry must include the keyword 'a'"]


def nested(n):
    return '{"a": ' * n + "1" + "}" * n


def at_stack_depth(extra, fn, *args):
    return fn(*args) if extra == 0 else at_stack_depth(extra - 1, fn, *args)


def test_55_keys_onto_12_classes_and_unknown_keys_are_named():
    assert len(M.CLASS_OF) == 55 and len(M.CLASSES) == 12 and len(M.CATEGORY_OF) == 55
    assert M.CLASS_OF["Format_Markdown: Block quotes"] == "Format_Others"  # routes surprisingly, as officially
    assert "'Length_Nope'" in M.problem(["Length", "Nope", "x"]) and M.problem(WORDS) is None


def test_an_exception_inside_a_check_is_a_fail(monkeypatch):
    def broken(text, response):
        raise IndexError("a checker bug")
    monkeypatch.setattr(M, "class_check", lambda cls: broken)
    assert M.check(WORDS, "One two three.") is False
    monkeypatch.undo()
    assert M.check(WORDS, "One two three.") is True
    assert M.check(["Format", "Json", "The JSON must have at least 2 levels"], "[" * 100_000) is False


def test_deep_json_verdicts_do_not_depend_on_the_callers_stack():
    # measured on the official call chain: Length_Words' "each" path reads 990 levels, Content_Keywords' 989
    for extra in (0, 60):
        assert [at_stack_depth(extra, M.check, WORDS, nested(n)) for n in (989, 990, 991)] == [True, True, False]
        assert [at_stack_depth(extra, M.check, KEYWORDS, nested(n)) for n in (988, 989, 990)] == [True, True, False]
    assert sys.getrecursionlimit() == 1000  # restored


def depth_of(value):
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


values = st.recursive(st.none() | st.integers() | st.text(alphabet='a"\\[]{}', max_size=4),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner,
                                                                                  max_size=3), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(values, st.integers(0, 5))
def test_too_deep_equals_the_parsed_values_depth(value, deepest):
    assert M._first_too_deep(json.dumps(value), deepest) == (depth_of(value) > deepest)


def test_a_syntax_error_before_the_deep_part_is_a_decode_error_not_a_recursion():
    assert M._first_too_deep("[1, x, [[[[1]]]]]", 2) is False       # json.loads stops at "x" first
    assert M._first_too_deep('["]]]", [[[1]]]]', 2) is True          # brackets in strings do not count
    assert M._first_too_deep('["[[[[[", 1]', 2) is False

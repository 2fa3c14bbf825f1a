"""IFBench's 58 checks (ifbench.py, ifbench_tasks.py): official verdicts, slow references for every rewritten
scan, hostile text, data errors."""
import json
import random
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import constraints as C
import data as D
import eval as E
import checkers.ifbench as B
import checkers.ifbench_tasks as K
import checkers.ifbench_text as X
from conftest import IFBENCH, SHARED, need_shared

# Key 286 carries notes (n_start = 0, which the official code replaces with a random draw).
SKIP_KEYS = {"286"}
need_nltk_data = pytest.mark.skipif(not (SHARED / "nltk_data").is_dir(), reason="../shared/nltk_data is absent")


def _rows(name):
    return [json.loads(line) for line in open(need_shared(name, IFBENCH))]


@need_nltk_data
def test_every_official_verdict_is_reproduced():
    instructions = D.load_instructions(need_shared("input_data.jsonl", IFBENCH))
    checked = 0
    for ins, ref in zip(instructions, _rows("llama_3b.ref.jsonl"), strict=True):
        if str(ref["key"]) in SKIP_KEYS:
            continue
        strict, loose = C.verify(ins, ref["response"]), C.verify(ins, ref["response"], loose=True)
        for c, s, l_, rs, rl in zip(ins.constraints, strict, loose, ref["follow_list_strict"],
                                    ref["follow_list_loose"]):
            assert s == rs, (ref["key"], c.id, "strict")
            assert l_ == rl, (ref["key"], c.id, "loose")
            checked += 1
    assert checked == 334  # 335 instructions less key 286's one


@need_nltk_data
def test_score_prints_the_four_numbers(tmp_path, capsys):
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n"
                                 for r in _rows("llama_3b.ref.jsonl")))
    E.main(["score", "--input", str(IFBENCH / "input_data.jsonl"), "--responses", str(responses)])
    out = capsys.readouterr().out
    numbers = [float(re.search(rf"{name}\s+([\d.]+)", out).group(1)) for name in
               ("prompt-level strict", "prompt-level loose", "instruction-level strict", "instruction-level loose")]
    assert numbers == [23.81, 26.87, 25.37, 30.15]  # the official scores


# ----------------------------------------------------------------------------- scans vs the official code
def _official_line_indent(value):  # the official loop, verbatim in behaviour: list.remove while iterating
    lines = value.split("\n")
    for line in lines:
        if not line.strip():
            lines.remove(line)
    return all(len(b) - len(b.lstrip(" ")) > len(a) - len(a.lstrip(" ")) for a, b in zip(lines, lines[1:]))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "  ", "\t", "x", " x", "  x", "   x", " \t"]), max_size=12))
def test_line_indent_replays_the_official_removals(lines):
    t = "\n".join(lines)
    assert B.CHECKS["format:line_indent"](t) == _official_line_indent(t)


def _official_mcq_parts(value):
    parts = re.split(r"\n*(?:Question \d+[\.|\):;]?\s*)", value)
    return [q.strip() for q in (parts[1:] if parts[0] == "" else parts) if q.strip()]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["Question 1.", "Question 22)", "Question 3", "\n", "\n\n", " ", "A) x", "b. y",
                                 "What?", "Question", "e) z"]), max_size=20))
def test_mcq_split_equals_the_official_pattern(atoms):
    t = "Question 1: " + "".join(atoms)
    parts = re.split(r"Question \d+[.|):;]?\s*", t)
    ours = [p.rstrip("\n") for p in parts[:-1]] + parts[-1:]
    assert [q.strip() for q in (ours[1:] if ours[0] == "" else ours) if q.strip()] == _official_mcq_parts(t)


@settings(max_examples=600, deadline=None)
@given(st.text(alphabet='"a1 !\n_é-', max_size=12))
def test_special_field_equals_the_official_regex(field):
    assert K._special_field(field) == bool(re.match(r'".*[^\d\w\s].*"', field))


def _official_some_bullets(value):  # the official loop, statement by statement: its flag is overwritten
    flag, sentences, bullets = True, 0, 0
    for line in value.split("\n"):
        if line.strip().startswith("*"):
            flag = False
            if sentences < 2:
                return False
            bullets += 1
        elif flag:
            flag = B.split_sentences(line.strip())  # the official code assigns the list to the flag itself
            sentences += len(flag)
        else:
            return False
    return bullets >= 2


def test_no_bullets_bullets_a_line_without_a_sentence_ends_the_prose():
    check = B.CHECKS["format:no_bullets_bullets"]
    assert check("One. Two.\n\n* a\n* b")                    # a blank line just before the bullets is fine
    assert not check("One.\n\nTwo.\n* a\n* b")                # prose after a blank line fails, as officially
    assert not check("One. Two.\n   \nMore.\n* a\n* b")


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "One.", "Two. Three.", "* a", " * b", "x", "*", "Wait...", "- c"]),
                max_size=10))
def test_no_bullets_bullets_replays_the_official_loop(lines):
    t = "\n".join(lines)
    assert B.CHECKS["format:no_bullets_bullets"](t) == _official_some_bullets(t)


# ----------------------------------------------------------------------------- kwargs, rows, rewrite
def test_float_counts_are_counts_and_nulls_are_dropped():
    c = C.Constraint("count:numbers", {"N": 3.0, "small_n": None, "percentage": None})
    assert c.kwargs == {"N": 3} and c.check("1 2 3") and not c.check("1 2")
    with pytest.raises(ValueError, match="'N' must be int"):
        C.Constraint("count:numbers", {"N": 2.5})
    with pytest.raises(ValueError, match="kwargs must be"):
        C.Constraint("count:numbers", {})


TYPE2_ROW = {"question": "Describe a sunrise.", "q_type": "type3",
             "criteria": ["Include exactly 2 numbers.", "Write the entire response in title case."],
             "ground_truth": json.dumps({"instruction_id_list": ["count:numbers", "format:title_case"],
                                         "kwargs": [{"N": 2.0, "keyword": None}, {}]})}


def test_hir16k_type2_row_loads_verifies_and_rewrites():
    ins = D.parse_row(TYPE2_ROW, "row")
    assert [c.id for c in ins.constraints] == ["count:numbers", "format:title_case"]
    verdicts = C.verify(ins, "The Sun Rose At 6 And Set At 7 .")
    assert verdicts == [True, True]
    assert C.verify(ins, "the sun rose at 6 and set at 7.") == [True, False]
    hindsight = ins.rewrite([True, False])
    assert hindsight.render() == ("Describe a sunrise.\n\nThe output must follow the following rules:\n"
                                  "1. Include exactly 2 numbers.")


def test_sampled_ifbench_constraints_describe_themselves_and_rewrite():
    rng = random.Random(0)
    ids = [i for i in C.IFBENCH_IDS if i in C.SAMPLERS]
    assert len(ids) >= 30
    ins = C.Instruction("Write a story.", [C.Constraint.sample(i, rng, "Write a story.") for i in ids[:4]], "type4")
    assert ins.rewrite([True, False, True, False]).render().count("\n- ") == 2
    with pytest.raises(ValueError, match="not sampled"):
        C.Constraint.sample("custom:multiples", rng)


# ----------------------------------------------------------------------------- hostile text, missing data
def _every_ifbench_constraint():
    kwargs = {"custom:character_reverse": {}}
    for line in open(need_shared("input_data.jsonl", IFBENCH)):
        row = json.loads(line)
        for cid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            kwargs.setdefault(cid, kw)
    assert sorted(kwargs) == C.IFBENCH_IDS
    return [C.Constraint(cid, kw) for cid, kw in sorted(kwargs.items())]


@need_nltk_data
def test_hostile_and_megabyte_strings_never_raise():
    rng = random.Random(0)
    hostile = ["\n" * 100_000, "Question 1\n" + "\n" * 100_000, '"' + "!" * 100_000, "(" * 100_000, "'\"" * 50_000,
               "a." * 50_000, " \n" * 50_000, "".join(rng.choice(string.printable) for _ in range(1_000_000)),
               "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(1_000_000)), "\ud800 lone surrogate."]
    for c in _every_ifbench_constraint():
        for s in hostile:
            assert c.check(s) in (True, False) and c.check_loose(s[:20_000]) in (True, False), c.id


def test_missing_nltk_data_is_an_error_naming_the_download(monkeypatch):
    import nltk
    monkeypatch.setattr(nltk.data, "path", [])
    monkeypatch.delenv("NLTK_DATA", raising=False)
    X.stopwords.cache_clear()
    try:
        with pytest.raises(X.MissingData, match="python -m nltk.downloader stopwords"):
            C.Constraint("ratio:stop_words", {"percentage": 50}).check("the cat sat")
    finally:
        X.stopwords.cache_clear()



def test_score_without_the_nltk_data_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    """The README's IFBench command on a machine without NLTK's data: the download command, not a traceback."""
    need_shared("input_data.jsonl", IFBENCH)
    monkeypatch.setattr(X, "_nltk_path", lambda resource, package: (_ for _ in ()).throw(
        X.MissingData(f"IFBench needs NLTK's {package!r} data; python -m nltk.downloader {package}")))
    for cached in (X._tagger, X.stopwords):  # loaded by earlier tests: forgotten (later uses load them again)
        cached.cache_clear()
    with pytest.raises(SystemExit) as e:
        E.main(["score", "--input", str(IFBENCH / "input_data.jsonl"), "--responses",
                str(IFBENCH / "llama_3b.responses.jsonl")])
    assert "python -m nltk.downloader" in str(e.value.code) and str(e.value.code).startswith("error: ")

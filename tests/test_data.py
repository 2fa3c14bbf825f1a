"""data.py: the three row formats, errors that name file:line: field, the synthetic generator."""
import json

import pytest

import data as D
from constraints import KNOWN_IDS, Constraint


def _write(tmp_path, rows):
    p = tmp_path / "rows.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_three_formats_parse(tmp_path):
    ours = {"id": "a", "task": "Write a poem.", "template": "type4",
            "constraints": [{"id": "punctuation:no_comma", "kwargs": {}, "text": "No commas"}]}
    ifeval = {"key": 7, "prompt": "Write it. No commas.", "instruction_id_list": ["punctuation:no_comma"],
              "kwargs": [{"num_words": None}]}
    hir = {"question": "Write a poem.", "criteria": ["Use under 20 words."], "q_type": "type2",
           "ground_truth": json.dumps({"instruction_id_list": ["length_constraints:number_words"],
                                       "kwargs": [{"num_words": 20, "relation": "less than"}]})}
    a, b, c = D.load_instructions(_write(tmp_path, [ours, ifeval, hir]))
    assert a.render() == "Write a poem.\n\n- No commas." and a.template == "type4"
    assert b.render() == "Write it. No commas." and b.id == "7" and b.prompt is not None
    assert c.render() == "Write a poem.\nUse under 20 words." and c.constraints[0].kwargs["num_words"] == 20


@pytest.mark.parametrize("row,message", [
    ("{not json", "rows.jsonl:2: not valid JSON"),
    ({"task": "x", "constraints": [{"id": "nope"}]}, "rows.jsonl:2: constraints[0]: unknown instruction id"),
    ({"task": 3, "constraints": []}, "rows.jsonl:2: task: must be str"),
    ({"task": "x", "constraints": [], "template": "type9"}, "rows.jsonl:2: template: unknown"),
    ({"prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": []}, "rows.jsonl:2: instruction_id_list"),
    ({"question": "x", "criteria": [], "ground_truth": "{"}, "rows.jsonl:2: ground_truth: not valid JSON"),
    ({"hello": 1}, "rows.jsonl:2: row: unknown format"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, row, message):
    good = {"task": "ok", "constraints": []}
    with pytest.raises(D.DataError, match=message.replace("[", r"\[").replace("]", r"\]")):
        D.load_instructions(_write(tmp_path, [good, row]))


def test_conflict_rules():
    lower, upper = Constraint("change_case:english_lowercase"), Constraint("change_case:english_capital")
    few = Constraint("length_constraints:number_words", {"num_words": 50, "relation": "less than"})
    many = Constraint("length_constraints:number_sentences", {"num_sentences": 30, "relation": "at least"})
    use = Constraint("keywords:existence", {"keywords": ["tea"]})
    ban = Constraint("keywords:forbidden_words", {"forbidden_words": ["Tea"]})
    assert D.conflicts(lower, upper) and D.conflicts(few, many) and D.conflicts(use, ban)
    assert D.conflicts(Constraint("detectable_format:json_format"), Constraint("detectable_format:number_bullet_lists", {"num_bullets": 2}))
    assert not D.conflicts(lower, few) and not D.conflicts(use, few)


def test_synthetic_sets_are_deterministic_compatible_and_disjoint():
    train, again = D.synthetic_set(300, seed=0), D.synthetic_set(300, seed=0)
    held = D.synthetic_set(100, seed=0, split="heldout")
    assert [i.render() for i in train] == [i.render() for i in again]
    assert all(1 <= len(i.constraints) <= 3 and D.compatible(i.constraints) for i in train + held)
    assert not {i.task for i in train} & {i.task for i in held}
    assert {c.id for i in train for c in i.constraints} == set(KNOWN_IDS)
    assert len(D.TASKS) == len(set(D.TASKS)) >= 300


def test_prompt_source_order_is_a_function_of_seed_and_position(tmp_path):
    a, b = D.PromptSource(seed=3), D.PromptSource(seed=3)
    first = [i.render() for i in a.next(5)] + [i.render() for i in a.next(5)]
    b.position = 5
    assert [i.render() for i in b.next(5)] == first[5:]
    rows = tmp_path / "r.jsonl"
    rows.write_text("".join(json.dumps({"id": str(k), "task": f"t{k}", "constraints": []}) + "\n" for k in range(4)))
    src = D.PromptSource(str(rows), seed=1)
    epoch1, epoch2 = [i.id for i in src.next(4)], [i.id for i in src.next(4)]
    assert sorted(epoch1) == sorted(epoch2) == ["0", "1", "2", "3"]

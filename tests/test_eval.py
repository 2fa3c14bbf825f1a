"""eval.py: scoring response files reproduces the official IFEval numbers."""
import json

import pytest

import eval as E
from conftest import need_shared


def _responses_from_ref(ref, tmp_path):
    out = tmp_path / "responses.jsonl"
    with open(out, "w") as f:
        for line in open(ref):
            r = json.loads(line)
            f.write(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n")
    return out


def test_score_reproduces_official_numbers(tmp_path, capsys):
    ref = need_shared("llama_3b.ref.jsonl")
    responses = _responses_from_ref(ref, tmp_path)
    E.main(["score", "--input", str(need_shared("input_data.jsonl")), "--responses", str(responses),
            "--out", str(tmp_path / "results.jsonl")])
    printed = capsys.readouterr().out
    for number in ("70.24", "75.79", "78.66", "82.85"):  # shared/README.md: the official scores
        assert number in printed
    rows = [json.loads(line) for line in open(tmp_path / "results.jsonl")]
    refs = [json.loads(line) for line in open(ref)]
    assert len(rows) == 541
    for row, r in zip(rows, refs):
        assert row["key"] == str(r["key"])
        if "notes" not in r:
            assert row["follow_list_strict"] == r["follow_list_strict"]
            assert row["follow_list_loose"] == r["follow_list_loose"]


def test_missing_response_is_a_clear_error(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"key": 1, "prompt": "Hi.", "instruction_id_list": [], "kwargs": []}) + "\n")
    res = tmp_path / "r.jsonl"
    res.write_text(json.dumps({"prompt": "Other.", "response": "x"}) + "\n")
    with pytest.raises(SystemExit, match="no response for the prompt of '1'"):
        E.main(["score", "--input", str(inp), "--responses", str(res)])


def test_summary_numbers_by_hand():
    results = [{"instruction_id_list": ["a", "b"], "follow_list_strict": [True, False], "follow_list_loose": [True, True],
                "follow_all_strict": False, "follow_all_loose": True},
               {"instruction_id_list": ["a"], "follow_list_strict": [True], "follow_list_loose": [True],
                "follow_all_strict": True, "follow_all_loose": True}]
    s = E.summarize(results)
    assert s["prompt_strict"] == 50.0 and s["prompt_loose"] == 100.0
    assert s["instruction_strict"] == pytest.approx(200 / 3) and s["per_id"] == {"a": 100.0, "b": 0.0}

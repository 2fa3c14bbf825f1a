"""plumbing/report.py: the summary table names each number in both vocabularies; `compare` reads two
results.json files, and refuses a bad one in one line."""
import json

import pytest

import eval as E


def write_results(folder, v):
    folder.mkdir()
    s = {"prompt_strict": v, "prompt_loose": v, "instruction_strict": v, "instruction_loose": v, "ila": v / 100,
         "cla": v / 100, "per_id": {"punctuation:no_comma": v}}
    with open(folder / "results.json", "w") as f:
        json.dump({"summary": s}, f)


def test_compare_prints_deltas(tmp_path, capsys):
    write_results(tmp_path / "a", 40.0)
    write_results(tmp_path / "b", 55.0)
    E.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert "+15.00" in out and "punctuation:no_comma" in out


@pytest.mark.parametrize("content,message", [
    ("{not json", "not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
    ('{"config": {}}', "no 'summary' (not the results.json of eval.py)"),
    ("[1, 2]", "no 'summary' (not the results.json of eval.py)")])
def test_compare_refuses_a_bad_results_json_in_one_line(tmp_path, content, message):
    write_results(tmp_path / "a", 40.0)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results.json").write_text(content)
    with pytest.raises(SystemExit) as e:
        E.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert e.value.code == f"error: {tmp_path / 'b' / 'results.json'}: {message}"


def test_the_table_tells_ila_and_cla_from_ifevals_prompt_and_instruction_levels(tmp_path, capsys):
    # two prompts: [met, failed] and [met]; IFEval's instruction level pools the 3 constraints (2/3), while CLA
    # averages each prompt's share ((1/2 + 1) / 2): the two numbers differ, and each line must say which it is
    rows = [{"key": 1, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma",
                                                                     "change_case:english_lowercase"],
             "kwargs": [{}, {}]},
            {"key": 2, "prompt": "Say bye.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    answers = [{"prompt": "Say hi.", "response": "Hi there"}, {"prompt": "Say bye.", "response": "bye"}]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    E.main(["score", "--input", str(tmp_path / "in.jsonl"), "--responses", str(tmp_path / "r.jsonl")])
    lines = capsys.readouterr().out.splitlines()

    def line(*words):
        found = [x for x in lines if all(w in x for w in words)]
        assert len(found) == 1, (words, lines)
        return found[0].split()[-1]
    assert line("ILA strict", "IFEval prompt-level strict") == "50.00"
    assert line("ILA loose", "IFEval prompt-level loose") == "50.00"
    assert line("constraint accuracy strict", "IFEval instruction-level strict") == "66.67"
    assert line("constraint accuracy loose", "IFEval instruction-level loose") == "66.67"
    assert line("CLA strict", "mean over prompts") == "75.00"

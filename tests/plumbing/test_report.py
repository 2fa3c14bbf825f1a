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


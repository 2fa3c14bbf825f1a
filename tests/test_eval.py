"""eval.py: scoring response files reproduces the official IFEval numbers."""
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import eval as E
from conftest import MULDIMIF, need_shared


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
    inp.write_text(json.dumps({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_comma"],
                               "kwargs": [{}]}) + "\n")
    res = tmp_path / "r.jsonl"
    res.write_text(json.dumps({"prompt": "Other.", "response": "x"}) + "\n")
    with pytest.raises(SystemExit, match="no response for the prompt of '1'"):
        E.main(["score", "--input", str(inp), "--responses", str(res)])


def test_a_response_no_input_asks_for_is_refused_before_any_scoring(tmp_path, monkeypatch):
    # dropped silently, it would leave the score of a file other than the one given
    inp, res = tmp_path / "in.jsonl", tmp_path / "r.jsonl"
    inp.write_text(json.dumps({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_comma"],
                               "kwargs": [{}]}) + "\n")
    res.write_text("".join(json.dumps({"prompt": p, "response": "x"}) + "\n" for p in ("Hi.", "Bye.")))
    monkeypatch.setattr(E, "score_one", lambda *a: pytest.fail("a response was scored before the file was checked"))
    with pytest.raises(SystemExit) as e:
        E.main(["score", "--input", str(inp), "--responses", str(res)])
    assert e.value.code == f"error: {res}:2: prompt: matches no prompt of --input {inp} ('Bye.')"


@pytest.mark.parametrize("option", ["--input", "--responses", "--data"])
def test_a_missing_file_is_named_by_its_option(tmp_path, option):
    good = tmp_path / "in.jsonl"
    good.write_text(json.dumps({"key": 1, "prompt": "Hi.", "instruction_id_list": ["punctuation:no_comma"],
                                "kwargs": [{}]}) + "\n")
    files = {"--input": good, "--responses": good, "--data": good} | {option: tmp_path / "nope.jsonl"}
    argv = (["score", "--input", str(files["--input"]), "--responses", str(files["--responses"])] if option != "--data"
            else ["--model", "toy", "--data", str(files["--data"]), "--out", str(tmp_path / "ev")])
    with pytest.raises(SystemExit) as e:
        E.main(argv)
    assert e.value.code == f"error: {option} {tmp_path / 'nope.jsonl'}: no such file"


def test_summary_numbers_by_hand():
    results = [{"instruction_id_list": ["a", "b"], "follow_list_strict": [True, False],
                "follow_list_loose": [True, True], "follow_all_strict": False, "follow_all_loose": True},
               {"instruction_id_list": ["a"], "follow_list_strict": [True], "follow_list_loose": [True],
                "follow_all_strict": True, "follow_all_loose": True}]
    s = E.summarize(results)
    assert s["prompt_strict"] == 50.0 and s["prompt_loose"] == 100.0
    assert s["instruction_strict"] == pytest.approx(200 / 3) and s["per_id"] == {"a": 100.0, "b": 0.0}


IFEVAL_ROWS = [
    {"key": 1, "prompt": "Write a poem about the ocean. Do not use any commas.",
     "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 2, "prompt": "Say hi. Use the word river.", "instruction_id_list": ["keywords:existence"],
     "kwargs": [{"keywords": ["river"]}]},
    {"key": 3, "prompt": "Describe sleep in fewer than 10 words.",
     "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{"num_words": 10, "relation": "less than"}]},
    {"key": 4, "prompt": "Write a letter to a friend about tea. Wrap it in quotes.",
     "instruction_id_list": ["startend:quotation", "punctuation:no_comma"], "kwargs": [{}, {}]},
    {"key": 5, "prompt": "List the pros and cons of recycling. Answer in lowercase.",
     "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
]


def test_end_to_end_toy_generation_rescores_identically(tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in IFEVAL_ROWS))
    out = tmp_path / "ev"
    summary = E.main(["--model", "toy", "--data", str(data), "--out", str(out), "--max-new-tokens", "12", "--n", "2"])
    assert (out / "responses.jsonl").exists() and (out / "results.json").exists()
    saved = json.load(open(out / "results.json"))
    assert saved["config"]["max_new_tokens"] == 12 and saved["summary"]["n_prompts"] == 10
    assert "pass@2" in summary and "pass@1" in summary
    # one response per prompt is what the official format holds: re-score the first sample of each
    rows = [json.loads(line) for line in open(out / "responses.jsonl")][::2]
    single = tmp_path / "single.jsonl"
    single.write_text("".join(json.dumps(r) + "\n" for r in rows))
    again = E.summarize(E.score_files(str(data), str(single)))
    first = E.summarize([json.loads(line) | {"instruction_id_list": IFEVAL_ROWS[i // 2]["instruction_id_list"]}
                         for i, line in enumerate(open(out / "results.jsonl")) if i % 2 == 0])
    for k in ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose"):
        assert again[k] == first[k]


def test_n1_run_rescored_by_eval_score_gives_the_same_table(tmp_path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in IFEVAL_ROWS))
    out = tmp_path / "ev"
    summary = E.main(["--model", "toy", "--data", str(data), "--out", str(out), "--max-new-tokens", "12"])
    capsys.readouterr()
    E.main(["score", "--input", str(data), "--responses", str(out / "responses.jsonl")])
    printed = capsys.readouterr().out
    for k in ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose"):
        assert f"{summary[k]:6.2f}" in printed


def test_pass_at_k_matches_brute_force():
    import itertools
    import random
    rng = random.Random(0)
    for _ in range(30):
        n = rng.randint(1, 7)
        table = [rng.random() < 0.4 for _ in range(n)]
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(range(n), k))
            brute = sum(any(table[i] for i in s) for s in subsets) / len(subsets)
            assert E.pass_at_k(n, sum(table), k) == pytest.approx(brute)


def test_heldout_numbers_match_train_eval(tmp_path):
    import train as T
    out = str(tmp_path / "run")
    T.main(["--model", "toy", "--out", out, "--steps", "2", "--eval_every", "2", "--eval_size", "12"])
    row = [json.loads(line) for line in open(f"{out}/metrics.jsonl")][-1]
    summary = E.main(["--model", f"{out}/step_000002", "--data", "synthetic", "--out", str(tmp_path / "ev")])
    assert summary["ila"] == row["heldout_ila"] and summary["cla"] == row["heldout_cla"]
    assert summary["n_prompts"] == 12


def eval_error(argv, capsys):
    with pytest.raises(SystemExit) as e:
        E.main(argv)
    assert e.value.code not in (0, None)
    return (e.value.code if isinstance(e.value.code, str) else "") + capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"]])
def test_help_shows_the_usage_of_all_three_commands(argv, capsys):
    with pytest.raises(SystemExit) as e:
        E.main(argv)
    assert e.value.code in (0, None)
    usage = capsys.readouterr().out.split("\n\n")[0]  # the usage block, before the description
    assert usage.startswith("usage: eval.py --model MODEL --data DATA")
    assert "\n       eval.py score --input FILE --responses FILE" in usage
    assert "\n       eval.py compare DIR_A DIR_B" in usage


@pytest.mark.parametrize("argv,message", [
    (["--n", "0"], "--n 0: must be >= 1 (samples per prompt"), (["--temperature", "-1"], "must be >= 0 (0 = greedy)"),
    (["--engine", "turbo"], "--engine 'turbo': must be auto, hf or fast"),
    (["--limit", "-1"], "--limit -1: must be >= 0"),
    (["--size", "5"], "unrecognized arguments: --size 5"), (["--device", "tpu"], "device must be auto, cpu, cuda"),
    (["--dtype", "fp8"], "--dtype 'fp8': must be auto, bf16 or fp32")])
def test_bad_eval_flags_fail_before_the_model_loads(argv, message, capsys, tmp_path):
    assert message in eval_error(["--model", "toy", "--data", "synthetic", "--out", str(tmp_path), *argv], capsys)


def status_and_message(argv, capsys):
    """A refused command's exit status and the last line it wrote (sys.exit(str) exits with status 1)."""
    with pytest.raises(SystemExit) as e:
        E.main(argv)
    code = e.value.code
    return (1, code) if isinstance(code, str) else (code, capsys.readouterr().err.strip().splitlines()[-1])


def test_usage_errors_exit_2_and_refusals_exit_1_all_with_error(tmp_path, capsys):
    # a bad flag or value: status 2, as argparse; a bad file or bad data: status 1; both one line with "error:"
    gen = ["--model", "toy", "--data", "synthetic", "--out", str(tmp_path / "ev")]
    assert status_and_message(["compare", str(tmp_path)], capsys) == (
        2, "error: compare takes two directories, got 1 (usage: eval.py compare DIR_A DIR_B)")
    code, message = status_and_message(gen + ["--device", "tpu"], capsys)
    assert code == 2 and message.startswith("error: --device 'tpu': device must be auto, cpu, cuda")
    code, message = status_and_message(["score", "--input", "x.jsonl"], capsys)
    assert code == 2 and message.endswith("error: the following arguments are required: --responses")
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "eval_config.json").write_text("{")
    code, message = status_and_message(gen, capsys)
    assert code == 1 and message.startswith(f"error: {tmp_path / 'ev' / 'eval_config.json'}: not valid JSON (")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "hir_config.json").write_text("[1]")
    code, message = status_and_message(["--model", str(tmp_path / "m"), *gen[2:]], capsys)
    assert code == 1 and message == f"error: {tmp_path / 'm' / 'hir_config.json'}: must map Config fields to values " \
        "(a checkpoint's hir_config.json)"


def test_compare_and_score_refuse_what_is_not_there(tmp_path, capsys):
    assert "no results.json" in eval_error(["compare", str(tmp_path / "a"), str(tmp_path / "b")], capsys)
    (tmp_path / "empty.jsonl").write_text("")
    assert "no rows to score" in eval_error(["score", "--input", str(tmp_path / "empty.jsonl"), "--responses",
                                            str(tmp_path / "empty.jsonl")], capsys)


def test_eval_greedy_on_a_few_prompts_counts_prompts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a bar is drawn on a terminal only
    summary = E.main(["--model", "toy", "--data", "synthetic", "--out", str(tmp_path), "--temperature=0",
                      "--limit", "3", "--max-new-tokens", "4"])
    assert summary["n_prompts"] == 3 and summary["ila"] in (0.0, 1 / 3, 2 / 3, 1.0)
    bar = capsys.readouterr().err
    assert "0/3 [" in bar and "prompt/s" in bar  # the bar counts prompts, not chunks


def test_generation_draws_no_weight_loading_bar(tmp_path, toy):
    # a fresh process: transformers' "Loading weights" bar is drawn on every from_pretrained (even on a pipe)
    model, tok = toy
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    argv = ["--model", str(tmp_path / "ckpt"), "--data", "synthetic", "--limit", "2", "--max-new-tokens", "2",
            "--out", str(tmp_path / "ev")]
    done = subprocess.run([sys.executable, E.__file__, *argv], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ev" / "results.json").exists()
    assert "Loading weights" not in done.stderr and "it/s]" not in done.stderr, done.stderr


def test_ifeval_score_imports_neither_torch_nor_ifbench_dependencies(tmp_path):
    # a fresh process: `score` on IFEval rows must not pay for torch or NLTK (they load on first use)
    row = {"key": 1, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    (tmp_path / "in.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "r.jsonl").write_text(json.dumps({"prompt": "Say hi.", "response": "hi"}) + "\n")
    code = ("import sys, eval; "
            "eval.main(['score', '--input', 'in.jsonl', '--responses', 'r.jsonl', '--out', 'o.jsonl']); "
            "print(sorted({'torch', 'nltk', 'syllapy', 'emoji'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(pathlib.Path(E.__file__).resolve().parent)})
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_prompt_answered_twice_is_an_error_and_a_missing_model_folder_fails_at_once(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"prompt": "p", "response": "a"}) + "\n" + json.dumps({"prompt": "q", "response": "b"})
                    + "\n" + json.dumps({"prompt": "p", "response": "c"}) + "\n")
    with pytest.raises(E.DataError, match=r"r.jsonl:3: prompt: already answered at line 1"):
        E.read_responses(str(path))
    os.makedirs(tmp_path / "runs")
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        with pytest.raises(SystemExit):
            E.main(["--model", "runs/nope", "--data", "synthetic", "--out", "o"])
    finally:
        os.chdir(cwd)
    assert "--model 'runs/nope': must be toy, smollm2, an existing folder" in capsys.readouterr().err


def test_a_prompt_repeated_in_the_input_is_an_error(tmp_path):
    rows = [{"key": k, "prompt": "Say hi.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
            for k in (1, 2)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "r.jsonl").write_text(json.dumps({"prompt": "Say hi.", "response": "hi"}) + "\n")
    with pytest.raises(E.DataError, match=r"in.jsonl: the prompt of '2' repeats that of '1'"):
        E.score_files(str(tmp_path / "in.jsonl"), str(tmp_path / "r.jsonl"))


# ----------------------------------------------------------------------------- MulDimIF


def test_muldimif_score_equals_the_official_verdicts_in_both_response_formats(tmp_path, capsys):
    test, responses = need_shared("test.json", MULDIMIF), need_shared("scripted.responses.jsonl", MULDIMIF)
    refs = [json.loads(line) for line in open(need_shared("scripted.ref.jsonl", MULDIMIF))]
    out = tmp_path / "o.jsonl"
    E.main(["score", "--input", str(test), "--responses", str(responses), "--out", str(out)])
    rows = [json.loads(line) for line in open(out)]
    assert [r["id"] for r in rows] == [r["id"] for r in refs]
    assert [r["follow_list_strict"] for r in rows] == [r["follow_list_strict"] for r in refs]
    assert [r["follow_all_strict"] for r in rows] == [r["follow_all_strict"] for r in refs]
    printed = capsys.readouterr().out
    passed = sum(r["follow_all_strict"] for r in refs)
    assert f"0-1 accuracy {passed / 1200:.4f}" in printed and "Level 4" in printed and "by pattern" in printed
    flat = tmp_path / "flat.jsonl"  # the same answers as {"prompt", "response"} lines
    flat.write_text("".join(json.dumps({"prompt": it["conversations"][0]["content"],
                                        "response": it["conversations"][-1]["content"]}) + "\n"
                            for it in map(json.loads, open(responses))))
    E.main(["score", "--input", str(test), "--responses", str(flat), "--out", str(tmp_path / "o2.jsonl")])
    assert open(tmp_path / "o2.jsonl").read() == open(out).read()


def test_muldimif_official_scores_by_hand():
    from checkers.muldimif import official_scores
    words, table = ["Length", "Words", "At most 9 words"], ["Table", "Row limit", "At most 2 rows"]
    s = official_scores([([words, table], [True, False], "Listing", "Level 2"),
                         ([words], [True], "Example", "Level 1")])
    assert s["overall"] == {"n": 2, "accuracy": 0.5, "macro": 0.75, "micro": 2 / 3}
    assert s["by_pattern"]["Listing"]["accuracy"] == 0 and list(s["by_difficulty"]) == ["Level 1", "Level 2"]
    assert s["by_first_level"] == {"Length": 1.0, "Format": 0.0}
    assert s["by_second_level"] == {"Length_Words": 1.0, "Format_Table": 0.0}


def test_muldimif_generation_scores_its_own_aggregates(tmp_path, capsys):
    test = need_shared("test.json", MULDIMIF)
    summary = E.main(["--model", "toy", "--data", str(test), "--limit", "3", "--max-new-tokens", "8",
                      "--out", str(tmp_path / "ev")])
    assert summary["n_prompts"] == 3
    assert "MulDimIF (3 prompts): 0-1 accuracy" in capsys.readouterr().out
    rows = [json.loads(line) for line in open(tmp_path / "ev" / "results.jsonl")]
    assert [len(r["follow_list_strict"]) for r in rows] == [len(it["constraints"]) for it in json.load(open(test))[:3]]


def test_a_prompt_over_max_prompt_length_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    import models
    rows = tmp_path / "in.jsonl"
    nc = {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}
    rows.write_text(json.dumps({"key": 1, "prompt": "Say hi.", **nc}) + "\n" +
                    json.dumps({"key": 2, "prompt": "word " * 100, **nc}) + "\n")
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    argv = ["--model", "toy", "--data", str(rows), "--out", str(tmp_path / "ev"), "--max_prompt_length", "64"]
    code, message = status_and_message(argv, capsys)
    assert code == 1 and re.match(rf"error: {re.escape(str(rows))}:2: prompt: \d+ tokens after the chat template, "
                                  r"over --max_prompt_length 64", message)
    assert not (tmp_path / "ev").exists()

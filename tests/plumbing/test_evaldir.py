"""plumbing/evaldir.py: eval.py's --out is checked before the model loads, never overwritten, continued after
a kill with the results of an uninterrupted run, and every file there is read under 'with'."""
import json
import os

import pytest

import eval as E

EVAL = ["--model", "toy", "--data", "synthetic", "--limit", "40", "--micro-batch", "4", "--max-new-tokens", "8",
        "--temperature", "1.0"]


@pytest.mark.parametrize("engine", ["hf", "fast"])
def test_a_killed_eval_rerun_continues_and_equals_an_uninterrupted_one(tmp_path, monkeypatch, capsys, engine):
    """40 prompts appended in blocks of 16; killed during the second block, the same command continues from
    prompt 16 and ends with exactly the results (and summary) of a run that was never killed."""
    flags = EVAL + ["--engine", engine]
    E.main(flags + ["--out", str(tmp_path / "straight")])
    real, calls = E.evaluate, []

    def killed_in_block_2(*a, **k):
        calls.append(k["start"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(E, "evaluate", killed_in_block_2)
    with pytest.raises(KeyboardInterrupt):
        E.main(flags + ["--out", str(tmp_path / "killed")])
    assert len(open(tmp_path / "killed" / "responses.partial.jsonl").readlines()) == 16
    assert not (tmp_path / "killed" / "results.json").exists()
    monkeypatch.setattr(E, "evaluate", lambda *a, **k: calls.append(k["start"]) or real(*a, **k))
    E.main(flags + ["--out", str(tmp_path / "killed")])
    assert calls == [0, 16, 16, 32]                           # the rerun generated only what was missing
    assert "continuing" in capsys.readouterr().out
    for name in ("responses.jsonl", "results.jsonl"):
        assert open(tmp_path / "killed" / name).read() == open(tmp_path / "straight" / name).read()
    summary = [json.load(open(tmp_path / d / "results.json"))["summary"] for d in ("killed", "straight")]
    assert summary[0] == summary[1] and not (tmp_path / "killed" / "responses.partial.jsonl").exists()


def test_eval_closes_every_file_it_reads(tmp_path, monkeypatch, toy):
    # json.load(open(...)) leaves closing to the garbage collector, which warns (ResourceWarning) when it does
    import warnings
    model, tok = toy
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "hir_config.json").write_text(json.dumps({"model": "toy", "eval_size": 4}))
    argv = EVAL + ["--model", str(tmp_path / "ckpt"), "--out", str(tmp_path / "ev")]
    real = E.evaluate
    monkeypatch.setattr(E, "evaluate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):  # killed: the rerun reads eval_config.json and the partial responses
        E.main(argv)
    monkeypatch.setattr(E, "evaluate", real)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        E.main(argv)  # the folder's hir_config.json too: --data synthetic
        E.main(["compare", str(tmp_path / "ev"), str(tmp_path / "ev")])
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert json.load(open(tmp_path / "ev" / "results.json"))["summary"]["n_prompts"] == 4


def test_eval_checks_data_and_out_before_the_model_loads_and_never_overwrites(tmp_path, monkeypatch, capsys):
    import models
    real_load = models.load_model
    monkeypatch.setattr(models, "load_model", lambda *a, **k: pytest.fail("the model loaded before the checks"))
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for flags, message in ((["--out", str(a_file)], "is a file, not a directory"),
                           (["--out", str(a_file / "sub")], "cannot write there"),
                           (["--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")], "nope.jsonl")):
        argv = ["--model", "toy", "--data", "synthetic", *flags]
        with pytest.raises(SystemExit, match=message):
            E.main(argv)
    monkeypatch.setattr(models, "load_model", real_load)
    out = str(tmp_path / "ev")
    E.main(EVAL + ["--limit", "4", "--out", out])
    before = open(os.path.join(out, "results.jsonl")).read()
    for flags, message in (([], "holds a finished evaluation"), (["--seed", "3"], "holds a finished evaluation")):
        with pytest.raises(SystemExit, match=message):
            E.main(EVAL + ["--limit", "4", "--out", out, *flags])
        assert open(os.path.join(out, "results.jsonl")).read() == before
    E.main(EVAL + ["--limit", "4", "--out", out, "--seed", "3", "--overwrite"])
    assert json.load(open(os.path.join(out, "results.json")))["config"]["seed"] == 3

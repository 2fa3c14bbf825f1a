"""plumbing/rundir.py: one run per directory, resume and forks, a run killed before its first checkpoint,
torn metric lines, and the console's plain lines and summary."""
import os
import re

import pytest
import torch
from safetensors.torch import load_file

import config as C
import plumbing.rundir as RD
import plumbing.setup as S
import train as T
from test_train import TIME_KEYS, metrics, run


def weights(out, step):
    return load_file(os.path.join(out, f"step_{step:06d}", "model.safetensors"))


def same_metrics(a, b):
    strip = lambda rows: [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in rows]  # noqa: E731
    return strip(metrics(a)) == strip(metrics(b))


def test_a_run_directory_holds_one_run(tmp_path, capsys):
    a = run(tmp_path, "a", "--steps", "4", "--save_every", "2", "--eval_every", "0")
    with pytest.raises(SystemExit, match="is not empty .2 checkpoints, metrics.; continue that run with --resume"):
        run(tmp_path, "a", "--steps", "1")                                # a second fresh run would mix into it
    assert [r["step"] for r in metrics(a)] == [1, 2, 3, 4]
    with pytest.raises(SystemExit, match="has checkpoints after step 2 .step_000004"):
        T.main(["--resume", os.path.join(a, "step_000002"), "--steps", "4"])  # in place, it would mix timelines
    fork = str(tmp_path / "fork")
    # a checkpoint folder, forked
    T.main(["--resume", os.path.join(a, "step_000002") + "/", "--out", fork, "--steps", "4"])
    assert "resuming " + fork + " from " + os.path.join(a, "step_000002") + " (step 2 of 4)" in capsys.readouterr().out
    assert same_metrics(a, fork) and all(torch.equal(weights(a, 4)[k], weights(fork, 4)[k]) for k in weights(a, 4))
    assert [r["step"] for r in metrics(a)] == [1, 2, 3, 4] and os.path.exists(os.path.join(a, "step_000004"))
    run(tmp_path, "a", "--steps", "1", "--overwrite", "--eval_every", "0")  # start over: nothing of the old run stays
    assert [r["step"] for r in metrics(a)] == [1] and sorted(set(os.listdir(a)) - {"curves.png"}) == [
        "config.json", "metrics.jsonl", "step_000001"]


def test_a_run_killed_before_its_first_checkpoint_starts_over(tmp_path, monkeypatch, capsys):
    with monkeypatch.context() as m:
        m.setattr(T, "save_checkpoint", lambda *a: None)  # as if killed before any checkpoint was written
        out = run(tmp_path, "k", "--steps", "2", "--eval_every", "0")
    assert [r["step"] for r in metrics(out)] == [1, 2]
    T.main(["--resume", out, "--steps", "2"])
    assert "has no checkpoint yet: starting it over from step 0" in capsys.readouterr().out
    assert [r["step"] for r in metrics(out)] == [1, 2] and os.path.exists(os.path.join(out, "step_000002"))


def test_resume_of_something_else_fails_before_any_work(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(SystemExit, match="neither a run directory .config.json. nor a checkpoint folder"):
        T.main(["--resume", str(tmp_path / "notes")])


def test_console_log_lines_summary_and_no_stray_bars(tmp_path, capfd):
    out = run(tmp_path, "c", "--steps", "4", "--log_every", "2", "--eval_every", "4", "--save_every", "2")
    printed, bars = capfd.readouterr()
    lines = [line for line in printed.splitlines() if line.startswith("[hir] step ")]
    assert [line.split()[2] for line in lines] == ["2/4", "4/4"] and "held-out ila" in lines[1]
    rows = metrics(out)
    for line, row in zip(lines, (rows[1], rows[3])):  # the loss keeps 3 significant digits, however small
        loss = float(line.split("| loss ")[1].split()[0])
        assert loss == pytest.approx(row["loss"], rel=5e-3, abs=1e-12)
    assert "[hir] done: steps 1-4" in printed and os.path.join(out, "step_000004") in printed
    assert os.path.join(out, "metrics.jsonl") in printed
    assert "[hir] skipped non-finite updates: 0" in printed  # the summary always reports them
    assert "Writing model shards" not in bars and "Loading weights" not in bars
    assert "\r" not in bars and "it/s" not in bars  # stderr is not a terminal here (as under nohup): no bars


def test_truncate_metrics_drops_later_steps_and_a_torn_line(tmp_path):
    cfg = C.parse_config(["--model", "toy", "--out", str(tmp_path)])
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "ila"')
    RD.truncate_metrics(cfg, 2)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'


def test_resume_refuses_contradictions_and_changes_nothing(tmp_path):
    """A resumed run keeps its model, method, objective, precision and data; --steps must go past its checkpoint.
    A refused call leaves the run directory as it was (config.json, metrics, checkpoints)."""
    out = run(tmp_path, "r", "--steps", "2", "--eval_every", "0")
    before = {name: open(os.path.join(out, name)).read() for name in ("config.json", "metrics.jsonl")}
    for flags, message in ((["--model", "smollm2"], "--model 'smollm2' contradicts the run's model 'toy'"),
                           (["--method", "grpo"], "--method 'grpo' contradicts the run's method 'hir'"),
                           (["--adv", "reinforce_pp"], "--adv 'reinforce_pp' contradicts the run's adv 'grpo'"),
                           (["--steps", "1"], "checkpoint is at step 2, and --steps 1 leaves nothing to train"),
                           (["--steps", "2"], "pass --steps 3 or more")):
        with pytest.raises(SystemExit, match=re.escape(message)):
            T.main(["--resume", out, *flags])
        assert before == {name: open(os.path.join(out, name)).read() for name in before}
        kept = sorted(os.listdir(out))
        assert kept == ["config.json", "curves.png", "metrics.jsonl", "step_000002"], flags


def test_save_total_limit_keeps_the_newest_checkpoints(tmp_path):
    out = run(tmp_path, "lim", "--steps", "4", "--save_every", "1", "--eval_every", "0", "--save_total_limit", "2")
    assert [os.path.basename(c) for c in RD.checkpoints(out)] == ["step_000003", "step_000004"]
    T.main(["--resume", out, "--steps", "5"])  # the limit holds on resume too, and the newest resumes
    assert [os.path.basename(c) for c in RD.checkpoints(out)] == ["step_000004", "step_000005"]


def test_unusable_out_and_mini_batches_fail_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(S, "load_model", lambda *a, **k: pytest.fail("the model loaded before the checks"))
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for out, message in ((a_file, "is a file, not a directory"), (a_file / "sub", "cannot write there")):
        with pytest.raises(SystemExit, match=message):
            T.main(["--model", "toy", "--steps", "1", "--out", str(out)])
    with pytest.raises(SystemExit, match=r"--mini_batches 500 is more than a step's 48 sampled rows"):
        T.main(["--model", "toy", "--steps", "1", "--mini_batches", "500", "--out", str(tmp_path / "mb")])
    assert not (tmp_path / "mb").exists()


def test_a_failed_checkpoint_write_leaves_nothing_partial(tmp_path, monkeypatch):
    real, calls = RD.save_file, []

    def disk_full_on_the_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(*a, **k)
    monkeypatch.setattr(RD, "save_file", disk_full_on_the_second)
    out = str(tmp_path / "full")
    with pytest.raises(SystemExit, match=r"writing checkpoint .*step_000002 failed \(OSError: .*No space left.*newest "
                                         r"complete checkpoint: .*step_000001"):
        T.main(["--model", "toy", "--steps", "3", "--save_every", "1", "--eval_every", "0", "--out", out])
    assert sorted(os.listdir(out)) == ["config.json", "metrics.jsonl", "step_000001"]
    assert RD.checkpoints(out) == [os.path.join(out, "step_000001")]


def test_a_corrupted_checkpoint_names_an_older_complete_one(tmp_path):
    out = run(tmp_path, "bad", "--steps", "2", "--save_every", "1", "--eval_every", "0")
    with open(os.path.join(out, "step_000002", "model.safetensors"), "r+b") as f:
        f.write(b"\x00garbage" * 8)
    with pytest.raises(SystemExit, match=r"checkpoint .*step_000002 is unreadable \(.*\); resume from an older "
                                         r"complete one: --resume .*step_000001 --out NEW_DIR"):
        T.main(["--resume", out, "--steps", "3"])


class _RunsCode:  # a pickle that would run code when loaded: os.system, here a harmless marker file
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_resume_refuses_a_pickle_that_would_run_code(tmp_path, capsys):
    """A downloaded run directory is safe to resume: an old-format trainer_state.pt that would run code is refused
    with one line, and the code never runs (torch.load(weights_only=True); the new format has no pickle at all)."""
    out = run(tmp_path, "evil", "--steps", "2", "--save_every", "1", "--eval_every", "0")
    ckpt, marker = os.path.join(out, "step_000002"), tmp_path / "ran"
    state = RD.read_trainer_state(ckpt)
    for f in ("trainer_state.json", "trainer_state.safetensors"):  # turn it into an old-format checkpoint...
        os.remove(os.path.join(ckpt, f))
    torch.save({**state, "payload": _RunsCode(marker)}, os.path.join(ckpt, "trainer_state.pt"))  # ...with a payload
    with pytest.raises(SystemExit) as e:
        T.main(["--resume", out, "--steps", "3"])
    message = str(e.value)
    assert "\n" not in message and re.match(r"error: checkpoint .*step_000002 is unreadable \(an old-format "
                                            r"trainer_state.pt .* could run code\); resume from an older", message)
    assert not marker.exists()  # the payload never ran
    renamed = os.path.join(out, "mine")  # a renamed folder: its step is read from the state, refused there too
    os.rename(ckpt, renamed)
    with pytest.raises(SystemExit, match=r"^error: checkpoint .*mine: an old-format trainer_state.pt .* could run "
                                         r"code$"):
        T.main(["--resume", renamed, "--out", str(tmp_path / "fork"), "--steps", "3"])
    assert not marker.exists()


def test_the_old_pickle_format_still_resumes_exactly(tmp_path):
    """A checkpoint written before trainer_state.json (a plain pickle of tensors and values) resumes as the new
    format does: the same weights after the next step."""
    out = run(tmp_path, "new", "--steps", "3", "--save_every", "2", "--eval_every", "0")
    old = str(tmp_path / "old")
    os.makedirs(old)
    import shutil
    shutil.copytree(os.path.join(out, "step_000002"), os.path.join(old, "step_000002"))
    shutil.copy(os.path.join(out, "config.json"), old)
    ckpt = os.path.join(old, "step_000002")
    torch.save(RD.read_trainer_state(ckpt), os.path.join(ckpt, "trainer_state.pt"))
    for f in ("trainer_state.json", "trainer_state.safetensors"):
        os.remove(os.path.join(ckpt, f))
    T.main(["--resume", old, "--steps", "3"])
    a, b = weights(out, 3), weights(old, 3)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_trainer_state_round_trips_every_value(tmp_path):
    """write_trainer_state -> read_trainer_state gives back the optimizer's state dict, RNG states and counters
    exactly (tensors bit for bit, plain values equal)."""
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.8, 0.95))
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    torch.rand(5)
    import random
    random.random()
    RD.write_trainer_state(str(tmp_path), 7, opt, 56)
    back = RD.read_trainer_state(str(tmp_path))
    assert back["step"] == 7 and back["data_position"] == 56
    assert torch.equal(back["torch_rng"], torch.get_rng_state()) and back["python_rng"] == random.getstate()
    want = opt.state_dict()
    assert set(back["optimizer"]["state"]) == set(want["state"])
    for i, st in want["state"].items():
        assert set(st) == set(back["optimizer"]["state"][i])
        assert all(torch.equal(v, back["optimizer"]["state"][i][k]) for k, v in st.items())
    assert [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in want["param_groups"]] == \
        back["optimizer"]["param_groups"]
    assert not [f for f in os.listdir(tmp_path) if not f.startswith("trainer_state.")]


def test_a_data_row_over_max_prompt_length_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"task": "x", "constraints": [{"id": "punctuation:no_comma"}]}\n'
                    '{"task": "' + "a long task " * 30 + '", "constraints": [{"id": "punctuation:no_comma"}]}\n')
    monkeypatch.setattr(S, "load_model", lambda *a, **k: pytest.fail("the model loaded"))
    with pytest.raises(SystemExit, match=r"^error: .*rows.jsonl:2: prompt: \d+ tokens after the chat template, over "
                                         r"--max_prompt_length 50 \(1 rows over in all"):
        T.main(["--model", "toy", "--data", str(rows), "--max_prompt_length", "50", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_every_run_writes_curves_and_report_to_tensorboard_logs_each_metrics_line(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = run(tmp_path, "tb", "--steps", "3", "--report_to", "tensorboard")
    assert os.path.getsize(os.path.join(out, "curves.png")) > 1000
    events = EventAccumulator(os.path.join(out, "tensorboard"))
    events.Reload()
    rows = metrics(out)
    for key in ("ila", "cla", "loss", "heldout_ila"):
        logged = {e.step: e.value for e in events.Scalars(key)}
        assert logged == {r["step"]: pytest.approx(r[key], rel=1e-6) for r in rows if key in r}, key
    assert b'"report_to": "tensorboard"' in events.Tensors("config/text_summary")[0].tensor_proto.string_val[0]


def test_train_closes_every_file_it_opens(tmp_path):
    """json.dump(x, open(...)) leaves the closing to the garbage collector, which warns (ResourceWarning) when it
    does: a run, its resume and a --config file, with every warning recorded."""
    import warnings
    conf = tmp_path / "c.json"
    conf.write_text('{"eval_size": 4}')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run(tmp_path, "files", "--steps", "2", "--save_every", "1", "--config", str(conf))
        T.main(["--resume", os.path.join(out, "step_000001"), "--out", str(tmp_path / "fork"), "--steps", "3"])
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert len(metrics(str(tmp_path / "fork"))) == 3

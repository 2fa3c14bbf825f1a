"""train.py: the smoke run's files, replays in the batch, exact resume, bad config, non-finite skips."""
import json
import os

import pytest
import torch
from safetensors.torch import load_file

import hir
import rollout as R
import config as C
import train as T
from constraints import verify

TIME_KEYS = {"time_rollout", "time_verify", "time_replay", "time_update", "tokens_per_s"}


def run(tmp_path, name, *extra):
    out = str(tmp_path / name)
    T.main(["--model", "toy", "--out", out, "--eval_every", "2", "--eval_size", "8", *extra])
    return out


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


def test_smoke_run_writes_everything(tmp_path):
    out = run(tmp_path, "smoke", "--steps", "3")
    assert json.load(open(os.path.join(out, "config.json")))["method"] == "hir"
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for key in ("ila", "cla", "replays", "candidates", "topups", "loss", "clip_frac", "approx_kl", "resp_len",
                "tokens_per_s", "time_rollout", "time_verify", "time_replay", "time_update", "generated", "skipped_updates"):
        assert key in rows[0]
    assert all(r["replays"] > 0 for r in rows) and "heldout_ila" in rows[1] and "heldout_ila" in rows[2]
    assert rows[-1]["generated"] >= 3 * 8 * 6
    ckpt = os.path.join(out, "step_000003")
    for f in ("model.safetensors", "config.json", "tokenizer.json", "trainer_state.pt", "hir_config.json"):
        assert os.path.exists(os.path.join(ckpt, f)), f
    state = torch.load(os.path.join(ckpt, "trainer_state.pt"), weights_only=False)
    assert state["step"] == 3 and state["data_position"] == 3 * 8
    assert not [d for d in os.listdir(out) if d.endswith(".tmp")]


def test_replays_join_their_source_group(toy):
    model, tok = toy
    cfg = C.parse_config(["--model", "toy", "--debug", "true"])
    source = T.D.PromptSource("synthetic", cfg.seed, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    instructions = source.next(cfg.prompts_per_step)
    rollout = T.sample_rollout(cfg, model, tok, instructions, seed=(0, 1))
    verdicts = T.verify_rows(rollout, instructions)
    stats = {"topups": 0, "generated": 0}
    rep = T.make_replays(cfg, 1, model, model, tok, rollout, instructions, verdicts, rollout.logprobs, stats)
    assert 0 < len(rep.source_rows) <= 2 * cfg.prompts_per_step
    assert rep.rollout.group_ids.tolist() == [int(rollout.group_ids[r]) for r in rep.source_rows]
    for ins, text, r in zip(rep.instructions, rep.rollout.texts, rep.source_rows):
        assert all(verify(ins, text)) and 0 < len(ins.constraints) < len(instructions[int(rollout.group_ids[r])].constraints)
        assert torch.equal(rep.rollout.logprobs[rep.source_rows.index(r)], rollout.logprobs[r])


def test_resume_continues_exactly(tmp_path):
    straight = run(tmp_path, "straight", "--steps", "4", "--save_every", "2")
    split = run(tmp_path, "split", "--steps", "2")
    T.main(["--resume", split, "--steps", "4"])
    a, b = load_file(os.path.join(straight, "step_000004", "model.safetensors")), \
        load_file(os.path.join(split, "step_000004", "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(straight)]
    assert strip == [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(split)]
    first = load_file(os.path.join(split, "step_000002", "model.safetensors"))
    assert not all(torch.equal(first[k], b[k]) for k in b)  # the resumed steps did train


@pytest.mark.parametrize("argv,message", [
    (["--lr", "-1"], "bad config value --lr -1.0"), (["--method", "ppo"], "--method 'ppo': must be hir"),
    (["--steps", "ten"], "--steps"), (["--nope", "1"], "unknown option"),
    (["--constraint_ids", "punctuation:no_colon"], "known ids"), (["--lr"], "needs a value")])
def test_bad_config_fails_fast(argv, message):
    with pytest.raises(SystemExit, match=message):
        C.parse_config(["--model", "toy", *argv])


def test_bad_data_row_names_file_and_line(tmp_path):
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"task": "x", "constraints": [{"id": "punctuation:no_comma"}]}\n{"task": "y", "constraints": [{"id": "bogus"}]}\n')
    with pytest.raises(SystemExit, match="rows.jsonl:2: constraints"):
        T.main(["--model", "toy", "--data", str(bad), "--out", str(tmp_path / "o"), "--steps", "1"])


def test_non_finite_update_is_skipped_and_counted(tmp_path, monkeypatch):
    real = hir.hir_loss

    def nan_loss(*a, **k):
        loss, stats = real(*a, **k)
        return loss * float("nan"), stats
    monkeypatch.setattr(T.H, "hir_loss", nan_loss)
    out = run(tmp_path, "nan", "--steps", "1", "--eval_every", "0")
    assert metrics(out)[0]["skipped_updates"] == 1
    before = T.load_model("toy")[0].state_dict()
    after = load_file(os.path.join(out, "step_000001", "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in after)


def test_baselines_run(tmp_path):
    for method in ("grpo", "grpo_cla"):
        out = run(tmp_path, method, "--steps", "1", "--method", method, "--eval_every", "0")
        row = metrics(out)[0]
        assert row["replays"] == 0 and row["generated"] == 8 * 8


def test_seed_int_separates_nearby_tuples():
    seeds = {T.seed_int((0, step, tag, r)) for step in range(2000) for tag, r in (("topup", 0), ("topup", 1), ("order", 0))}
    assert len(seeds) == 6000 and all(0 <= s < 2 ** 63 for s in seeds)


def test_truncate_metrics_drops_later_steps_and_a_torn_line(tmp_path):
    cfg = C.parse_config(["--model", "toy", "--out", str(tmp_path)])
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "ila"')
    T.truncate_metrics(cfg, 2)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2}\n'

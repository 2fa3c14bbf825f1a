"""plumbing/fsdp.py: 2 CPU processes (gloo, under torchrun) with weights, gradients and AdamW's states sharded (FSDP2)
train exactly as one process does, in float64, for HiR (ranks holding different numbers of replays, a step with a
top-up), GRPO and REINFORCE++ with KL in the reward (a sharded reference); a run killed during a save resumes to the
uninterrupted run's weights; its checkpoints are ordinary HF folders a single process loads."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import config as C
import models as M
import train as T

ROOT = pathlib.Path(__file__).resolve().parents[2]
# fp64 so "equal" can be tight; lr 1e-3, since the toy at its preset 1e-2 multiplies a 1e-12 difference (the order
# in which the ranks' gradient sums add up) by about 30 a step; k = 5 of n = 6: some steps top up, some do not
FLAGS = ["--model", "toy", "--dtype", "fp64", "--device", "cpu", "--prompts_per_step", "4", "--eval_every", "0",
         "--save_every", "1", "--k_per_prompt", "5", "--lr", "1e-3", "--share_prompts", "false"]
RUNS = {"hir": ["--steps", "5"], "grpo": ["--method", "grpo", "--steps", "2"],
        "rpp": ["--adv", "reinforce_pp", "--kl_in_reward", "0.01", "--steps", "2"],  # mini-batches: docs/distributed.md
        "fp32": ["--dtype", "fp32", "--steps", "1"]}  # one update on a fixed batch: the same samples, float32 sums
# (|loss difference|, grad norm relative, weights relative to each tensor's largest): float64 as tight as the order
# of the ranks' sums allows; float32 measured 2e-9, 0 and 1.2e-4, the last because AdamW's first step divides each
# gradient element by its own size, so an element whose gradient is float32 noise moves by up to lr either way
TOL = {"hir": (1e-9, 1e-9, 1e-9), "grpo": (1e-9, 1e-9, 1e-9), "rpp": (1e-9, 1e-9, 1e-9), "fp32": (1e-7, 1e-6, 5e-4)}
DRIVER = """
import json, os, sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
import plumbing.distributed as DP
import plumbing.rundir as RD
import train as T
flags, runs, base = {flags!r}, {runs!r}, sys.argv[1]
seen, real = [], T.policy_under
T.policy_under = lambda cfg, policy, rollout: seen.append(len(rollout.texts)) or real(cfg, policy, rollout)
if sys.argv[2] == "kill":
    for name, extra in runs.items():
        seen.clear()
        T.main(flags + extra + ["--fsdp", "--out", base + "/" + name])
        json.dump(seen, open(base + f"/{{name}}_replays_rank{{DP.rank()}}.json", "w"))
    # the CUDA path's CPU twin: bf16 sampling replica, autocast scoring, held-out eval from the replica
    T.main(flags + ["--dtype", "bf16", "--steps", "2", "--eval_every", "2", "--eval_size", "8", "--fsdp",
                    "--out", base + "/bf16"])
    # killed during the save of step 2: rank 0 dies with part of step_000002.tmp written
    save = RD.save_checkpoint
    def dying(cfg, step, model, tok, optimizer, source):
        if step == 2:
            os.makedirs(os.path.join(cfg.out, "step_000002.tmp"), exist_ok=True)
            model.save_pretrained(os.path.join(cfg.out, "step_000002.tmp"))
            os.kill(os.getpid(), 9)
        save(cfg, step, model, tok, optimizer, source)
    T.save_checkpoint = dying
    T.main(flags + runs["hir"] + ["--fsdp", "--out", base + "/killed"])
else:  # then resumed
    T.main(["--resume", base + "/killed"])
DP.finish()  # a finished run leaves here with status 0 (plumbing/distributed.finish says why)
open(base + f"/after_finish_rank{{DP.rank()}}", "w").close()
"""


def torchrun(base, mode):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(base / "driver.py"), str(base), mode], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("fsdp")
    (base / "driver.py").write_text(DRIVER.format(root=str(ROOT), flags=FLAGS, runs=RUNS))
    killed = torchrun(base, "kill")
    assert killed.returncode != 0 and (base / "killed" / "step_000001").exists()  # died in step 2's save
    assert (base / "killed" / "step_000002.tmp").exists() and not (base / "killed" / "step_000002").exists()
    done = torchrun(base, "resume")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not list(base.glob("after_finish_rank*"))  # no rank reached interpreter shutdown with gloo's threads alive
    for name, extra in RUNS.items():
        T.main(FLAGS + extra + ["--out", str(base / f"single_{name}")])
    return base


def weights(out, step):
    return load_file(os.path.join(out, f"step_{step:06d}", "model.safetensors"))


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


@pytest.mark.parametrize("name", list(RUNS))
def test_two_sharded_processes_equal_one_process(runs, name):
    one, two = metrics(runs / f"single_{name}"), metrics(runs / name)
    assert len(one) == len(two) == int(RUNS[name][-1])
    for x, y in zip(one, two):
        for key in ("generated", "replays", "candidates", "topups", "resp_len", "skipped_updates"):
            assert x[key] == y[key], key  # the same samples, replays and top-ups
        loss, grad, weight = TOL[name]
        assert abs(x["loss"] - y["loss"]) < loss and x["grad_norm"] == pytest.approx(y["grad_norm"], rel=grad, abs=0)
    for step in range(1, len(one) + 1):
        a, b = weights(runs / f"single_{name}", step), weights(runs / name, step)
        assert a.keys() == b.keys() and all(t.dtype == a[k].dtype for k, t in b.items())
        assert all(((a[k] - b[k]).abs().max() / a[k].abs().max()) < weight for k in a)
    first, last = weights(runs / name, 1), weights(runs / name, len(one))
    assert len(one) == 1 or not all(torch.equal(first[k], v) for k, v in last.items())  # the later steps trained


def test_the_hir_ranks_held_different_numbers_of_replays_and_a_step_topped_up(runs):
    per_rank = [json.load(open(runs / f"hir_replays_rank{r}.json")) for r in (0, 1)]
    assert len(per_rank[0]) == len(per_rank[1]) == 5
    assert sum(a != b for a, b in zip(*per_rank)) >= 3, per_rank  # each rank scores its own replays
    assert any(r["topups"] for r in metrics(runs / "hir")) and not all(r["topups"] for r in metrics(runs / "hir"))


def test_a_run_killed_during_a_save_resumes_to_the_uninterrupted_runs_weights(runs):
    straight, resumed = weights(runs / "hir", 5), weights(runs / "killed", 5)
    assert all(torch.allclose(straight[k], resumed[k], rtol=0, atol=1e-12) for k in straight)
    assert [r["step"] for r in metrics(runs / "killed")] == [1, 2, 3, 4, 5]
    assert not [d for d in os.listdir(runs / "killed") if d.endswith(".tmp")]


def test_an_fsdp_checkpoint_loads_in_one_process_and_resumes_without_pickle(runs):
    ckpt = runs / "hir" / "step_000005"
    model, _ = M.load_model(str(ckpt), dtype=torch.float64)
    assert all(torch.equal(p, weights(runs / "hir", 5)[k]) for k, p in model.state_dict().items()
               if k in weights(runs / "hir", 5))
    assert not [f for f in os.listdir(ckpt) if f.endswith((".pt", ".bin", ".pkl"))]
    out = T.main(["--resume", str(ckpt), "--out", str(runs / "one_more"), "--steps", "6", "--fsdp", "false"])
    assert out.fsdp is False and [r["step"] for r in metrics(runs / "one_more")][-2:] == [5, 6]


def test_fsdp_refuses_lora_and_a_run_without_torchrun_in_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        C.parse_config(["--model", "toy", "--fsdp", "--lora_rank", "4"])
    assert e.value.code == 2 and "--fsdp with --lora_rank" in str(e.value)
    with pytest.raises(SystemExit) as e:
        T.main(["--model", "toy", "--fsdp", "--out", str(tmp_path / "x")])
    assert "torchrun" in str(e.value) and not (tmp_path / "x").exists()


def test_a_sharded_bf16_run_trains_evaluates_and_saves_fp32_masters(runs):
    rows = metrics(runs / "bf16")
    assert [r["step"] for r in rows] == [1, 2] and all(r["skipped_updates"] == 0 for r in rows)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows) and "heldout_ila" in rows[-1]
    assert all(t.dtype == torch.float32 for t in weights(runs / "bf16", 2).values())  # masters, not the replica

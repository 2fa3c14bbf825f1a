"""plumbing/distributed.py: 2 CPU processes (gloo, under torchrun) train exactly as one process on the union
batch, resume exactly, and select replays globally."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

import plumbing.distributed as DP
import replay as RP
import train as T

ROOT = pathlib.Path(__file__).resolve().parents[2]
# fp64 so that "equal" can be tight; each prompt samples from its own stream (its global index), so its samples are
# the same whether one process or two draw them; hir with top-ups and global selection
FLAGS = ["--model", "toy", "--dtype", "fp64", "--device", "cpu", "--prompts_per_step", "4",
         "--eval_every", "0", "--save_every", "1", "--k_per_prompt", "3"]
DRIVER = """
import sys
import torch
torch.set_num_threads(1)
sys.path.insert(0, {root!r})
import plumbing.distributed as DP
import train as T
flags, base = {flags!r}, sys.argv[1]
T.main(flags + ["--out", base + "/ddp", "--steps", "2"])
T.main(["--resume", base + "/ddp/step_000001", "--out", base + "/ddp_resumed", "--steps", "2"])
DP.finish()
"""


def weights(out, step):
    return load_file(os.path.join(out, f"step_{step:06d}", "model.safetensors"))


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ddp")
    driver = base / "driver.py"
    driver.write_text(DRIVER.format(root=str(ROOT), flags=FLAGS))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(driver), str(base)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    T.main(FLAGS + ["--out", str(base / "single"), "--steps", "2"])
    return base


def test_two_processes_equal_one_process_on_the_union_batch(runs):
    one, two = weights(runs / "single", 2), weights(runs / "ddp", 2)
    assert one.keys() == two.keys() and all(t.dtype == torch.float64 for t in one.values())
    assert all(torch.allclose(one[k], two[k], rtol=0, atol=1e-10) for k in one)
    assert not all(torch.equal(weights(runs / "single", 1)[k], one[k]) for k in one)  # step 2 did train
    a, b = metrics(runs / "single"), metrics(runs / "ddp")
    for x, y in zip(a, b):  # the same samples, replays and top-ups, counted over both ranks
        for key in ("generated", "replays", "candidates", "topups", "skipped_updates"):
            assert x[key] == y[key], key
        for key in ("ila", "cla", "resp_len", "loss", "approx_kl"):
            assert x[key] == pytest.approx(y[key], rel=1e-6, abs=1e-9), key  # float32 means, summed apart
    assert sum(r["replays"] for r in a) > 0


def test_a_resumed_two_process_run_equals_an_uninterrupted_one(runs):
    straight, resumed = weights(runs / "ddp", 2), weights(runs / "ddp_resumed", 2)
    assert all(torch.allclose(straight[k], resumed[k], rtol=0, atol=1e-12) for k in straight)  # measured: 1.1e-16
    assert [r["step"] for r in metrics(runs / "ddp_resumed")] == [1, 2]


def two_ranks(monkeypatch, rank1):
    """Play rank 0 of 2: sum_all doubles a count, gather appends rank 1's next tensor from `rank1`."""
    theirs = iter(rank1)
    monkeypatch.setattr(DP, "sum_all", lambda x: 2 * x)
    monkeypatch.setattr(DP, "gather", lambda x: torch.cat([x, next(theirs)]))


def test_rows_are_gathered_in_single_process_order(monkeypatch):
    """Two rounds (n = 2, then a top-up of 1), B = 4 prompts, rank 0 holding prompts 0-1, rank 1 prompts 2-3.
    A naive loop lists each row's single-process index; gathered, the rows come out in that order."""
    rounds, B, n_local = [2, 1], 4, 2

    def index(rank, rnd, prompt, sample):  # the naive single-process layout: round-major, then prompt, then sample
        return sum(B * m for m in rounds[:rnd]) + (rank * n_local + prompt) * rounds[rnd] + sample
    local = {r: torch.tensor([index(r, rnd, i, j) for rnd, m in enumerate(rounds) for i in range(n_local)
                              for j in range(m)]) for r in (0, 1)}
    keys_rank1 = local[1]  # rank 1's keys are its own single-process indices too
    two_ranks(monkeypatch, [keys_rank1, local[1]])
    (values,), to_local = DP.gather_in_global_order([local[0]], rounds, n_local, first=0)
    assert values.tolist() == list(range(B * sum(rounds)))
    assert to_local([0, 1, 4, 5, 9]) == [0, 1, 5] and to_local([]) == []  # 4, 5 are rank 1's; 9 is rank 0's row 5


def test_selection_is_global_not_per_rank(monkeypatch):
    """Rank 0 holds the 4 best candidates, rank 1 four weak ones; a budget of 4 takes all of rank 0's.
    Per-rank selection (2 each, the alternative) would take rank 1's weaker two instead."""
    two_ranks(monkeypatch, [torch.arange(4, 8), torch.tensor([1.0, 2.0, 3.0, 0.5]), torch.ones(4, dtype=torch.bool),
                            torch.tensor([2, 2, 3, 3])])
    (scores, cand, groups), to_local = DP.gather_in_global_order(
        [torch.tensor([9.0, 8.0, 7.0, 6.0]), torch.ones(4, dtype=torch.bool), torch.tensor([0, 0, 1, 1])],
        rounds=[2], n_local=2, first=0)
    assert to_local(RP.select(scores, cand, groups, budget=4)) == [0, 1, 2, 3]


def test_one_process_is_unchanged_by_the_distributed_helpers():
    t = torch.tensor([1.0, 2.0])
    assert DP.world() == 1 and DP.sum_all(3) == 3 and DP.sum_all(t) is t and DP.gather(t) is t
    assert DP.gather_objects("x") == ["x"] and DP.on_rank0(lambda: 5) == 5

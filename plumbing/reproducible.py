"""Same seed, same run: what train.py sets once so that a run repeats bit for bit on one machine.

    python train.py --model toy --steps 40 --seed 5 --out runs/a    # twice: identical metrics.jsonl but timings
    python -m pytest -q tests/plumbing/test_reproducible.py          # two processes, and a kill -9 then --resume

Every random draw of the loop is seeded by (seed, step, global index) (train.py's seed_int), so what remains is
the order in which floating-point sums are taken. What broke it on the CPU (measured, torch 2.13, 2 threads):
the backward of advanced indexing with repeated rows (`x[rows]`, as shared-prompt scoring gathers each prompt's
keys and values for its n responses) is an index_put_ that, with more than one thread, adds float rows with
atomics, in whatever order the threads arrive: about 1e-7 in the gradients of step 1, 1e-6 in the loss of step 2,
and on a busy machine a flipped sampled token from step 27 on. Fixed at the source (index_select, whose backward
adds rows in order: engines/shared_prompt.py) and, for any other such op, by torch's deterministic mode, which
on the CPU costs nothing measurable here (it makes index_put_ accumulate serially). Matmuls (MKL, oneDNN) give
the same bits run after run for a given thread count, so results depend on --threads, not on the machine's load.

GOMP_SPINCOUNT=10000 (set by train.py and eval.py before torch loads, unless the environment sets it): torch's
OpenMP threads spin while they wait for each other, by default for 300,000 turns, and on a machine whose cores are
busy with other work a spinning thread holds the core its partner needs. Measured on this 2-core machine, the toy,
50 steps, seconds (quiet: twice; busy: two other processes spinning on both cores):
    OpenMP's default 15.1 / 13.1 quiet, 96.3 busy;  GOMP_SPINCOUNT=10000 14.3 / 12.6 quiet, 39.6 busy;
    OMP_WAIT_POLICY=PASSIVE 23.7 / 18.5 quiet, 28.3 busy;  one thread (--threads 1) 14.3 / 12.5 quiet, 21.4 busy.
A short spin keeps the quiet machine's speed and takes most of the busy machine's loss away. On a machine shared
with other work, --threads 1 is faster still for a small model (a larger one gains from the second core).

CUDA (not measured here: no GPU was lent): sampling and scoring are seeded the same way, but cuBLAS may pick
split-K reductions, and some backward kernels (embedding, index_add, scatter_add, sdpa's memory-efficient and
flash attention) add with atomics, so two runs drift apart after a few steps. --deterministic sets
CUBLAS_WORKSPACE_CONFIG=:4096:8 and torch.use_deterministic_algorithms(True) (which raises on an op that has no
deterministic kernel; PyTorch's reproducibility notes list them) and turns off cuDNN's autotuner; it costs speed.
Across GPUs models, drivers or torch versions, nothing is bitwise.
"""
import os

import torch


def set_threads_and_determinism(cfg):
    """Called once, before the models load (cuBLAS reads its workspace setting when it starts)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.device == "cpu":
        torch.use_deterministic_algorithms(True)
    elif cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False

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

OMP_WAIT_POLICY=PASSIVE (set by train.py and eval.py before torch loads, unless the environment sets it): torch's
OpenMP threads otherwise spin while they wait for each other, and on a machine whose cores are busy with other
work a spinning thread holds the core its partner needs. Measured on 2 busy cores, toy 8 steps: 52.8 s spinning,
17.3 s passive, 17.2 s with one thread.

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

"""Run plumbing: what train.py needs to run for real, and a first-time reader may skip.

    distributed.py  torchrun: ranks, reductions, gathers in the single-process order
    rundir.py       one run per directory: checkpoints, resume, forks, metrics lines, curves
    trackers.py     --report_to: the metrics rows also to TensorBoard or W&B, resumes continuing their curves
    reproducible.py same seed, same run: threads and deterministic kernels, and why runs differed before
    evaldir.py      eval.py's --out: claimed, appended block by block, finished atomically
    report.py       eval.py's tables and its compare command
"""

"""Why HiR degrades late on the toy: its updates never stop. Reads the runs of bench/sample_efficiency.py.

    python bench/update_norms.py [--runs runs/sample_efficiency]

For each regime x method: the mean gradient norm over steps 1-20 and 61-100 (averaged over seeds), and
per seed the train ILA of the last 20 steps. GRPO's advantages vanish once a group is all-pass or
all-fail, so its updates fade; every HiR group keeps replays at reward 1 beside failures at 0, so
HiR's updates keep their size (at the toy's lr 1e-2) after ILA has plateaued.
"""
import argparse
import collections
import glob
import json
import os

ap = argparse.ArgumentParser()
ap.add_argument("--runs", default="runs/sample_efficiency")
args = ap.parse_args()
table = collections.defaultdict(list)
for path in sorted(glob.glob(os.path.join(args.runs, "*", "*_seed*", "metrics.jsonl"))):
    regime, run = path.split(os.sep)[-3:-1]
    method, seed = run.rsplit("_seed", 1)
    rows = [json.loads(line) for line in open(path)]
    rows = [r for r in rows if "grad_norm" in r]
    mean = lambda rs, k: sum(r[k] for r in rs) / max(len(rs), 1)  # noqa: E731
    table[regime, method].append((mean(rows[:20], "grad_norm"), mean(rows[60:100], "grad_norm"),
                                  mean(rows[-20:], "ila"), seed))
print(f"{'regime':6s} {'method':9s} {'|grad| 1-20':>12s} {'|grad| 61-100':>14s}  train ILA, last 20 steps, per seed")
for (regime, method), runs in sorted(table.items()):
    early, late = (sum(r[i] for r in runs) / len(runs) for i in (0, 1))
    print(f"{regime:6s} {method:9s} {early:12.3f} {late:14.3f}  " + " ".join(f"{r[2]:.2f}" for r in runs))

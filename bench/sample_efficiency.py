"""Sample efficiency: HiR vs GRPO (and optionally CLA-GRPO) at equal numbers of generated responses.

    python bench/sample_efficiency.py --seeds 0 1 2 --steps 100        # toy model, ~6 minutes on 2 cores

Each method trains with the same seeds, data and settings except for its own defaults (HiR: 6
samples + up to 2 replays per prompt; GRPO: 8 samples per prompt). Held-out ILA is read from each
run's metrics.jsonl and linearly interpolated at common budgets of generated responses (top-up
samples count as generated). Prints mean and per-seed values.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import train  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--methods", nargs="+", default=["hir", "grpo"])
ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--model", default="toy")
ap.add_argument("--out", default="runs/sample_efficiency")
ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py flags")
args = ap.parse_args()


def heldout_curve(out):
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return [(0, None)] + [(r["generated"], r["heldout_ila"]) for r in rows if "heldout_ila" in r]


def at(curve, budget):
    pts = [(g, v) for g, v in curve if v is not None]
    for (g0, v0), (g1, v1) in zip(pts, pts[1:]):
        if g0 <= budget <= g1:
            return v0 + (v1 - v0) * (budget - g0) / max(g1 - g0, 1)
    return None


curves = {}
for method in args.methods:
    for seed in args.seeds:
        out = os.path.join(args.out, f"{method}_seed{seed}")
        if not os.path.exists(os.path.join(out, f"step_{args.steps:06d}")):
            train.main(["--model", args.model, "--method", method, "--seed", str(seed), "--steps", str(args.steps),
                        "--eval_every", "10", "--out", out, "--overwrite", *args.extra])
        curves[method, seed] = heldout_curve(out)

top = min(max(g for g, _ in c) for c in curves.values())
budgets = [int(top * f) for f in (0.2, 0.4, 0.6, 0.8, 1.0)]
print(f"held-out ILA at equal generated responses ({args.model}, seeds {args.seeds}, {args.steps} steps)")
print(f"{'generated':>10s}  " + "  ".join(f"{m:>24s}" for m in args.methods))
for b in budgets:
    cells = []
    for m in args.methods:
        vals = [at(curves[m, s], b) for s in args.seeds]
        vals = [v for v in vals if v is not None]
        cells.append(f"{sum(vals) / len(vals):.3f} ({', '.join(f'{v:.2f}' for v in vals)})" if vals else "-")
    print(f"{b:>10d}  " + "  ".join(f"{c:>24s}" for c in cells))

"""Sample efficiency: HiR vs GRPO vs GRPO-CLA at equal numbers of generated responses, on two regimes.

    python bench/sample_efficiency.py                                    # 5 seeds x 3 methods x 2 regimes, CPU
    python bench/sample_efficiency.py --regimes multi --seeds 0 1 2 --steps 100 --methods hir grpo
    python bench/sample_efficiency.py --preset smollm2-gpu  # one GPU: HiR then GRPO, ~10 min (estimate, not yet run)

Regimes (on the toy, whose three constraint ids make three its maximum per instruction):
  * multi: every instruction carries all three constraints, on the toy that reads its instruction
    (bench/warmstart.py; made once into runs/toy_reader if absent);
  * zero:  the same instructions on the random-init toy, whose ILA starts near 0, so most binary
    GRPO groups start with reward 0 on every sample.
Each method trains with the same seeds and data (HiR: 6 samples + up to 2 replays per prompt;
GRPO: 8 samples per prompt). Held-out ILA (and CLA) on --eval_size instructions (625 keeps one run's
standard error at or below 0.02) is interpolated at common budgets of generated responses (top-ups
count). With --preset smollm2-gpu the same study runs on SmolLM2-135M-Instruct (one seed, 40 steps, the paper's
regime of 5 to 7 constraints per instruction, 625 held-out instructions at 256 new tokens, fast engine);
finished runs are reused, so `--methods hir` then `--methods hir grpo` splits it into two calls. The ratio
of responses HiR needs to reach GRPO's final mean ILA, with a bootstrap interval over seeds, is printed per
regime, and the curves go to curves_<regime>.png (matplotlib, optional).
"""
import argparse
import json
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import train  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--methods", nargs="+", default=["hir", "grpo", "grpo_cla"])
ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
ap.add_argument("--regimes", nargs="+", default=["multi", "zero"], choices=["multi", "zero"])
ap.add_argument("--steps", type=int, default=100)
ap.add_argument("--eval_size", type=int, default=625)
ap.add_argument("--eval_every", type=int, default=10)
ap.add_argument("--reader", default="runs/toy_reader", help="the warm-started toy (made if absent)")
ap.add_argument("--out", default="runs/sample_efficiency")
ap.add_argument("--model", default=None,
                help="train every regime on this model (default: toy for zero, the reader for multi)")
ap.add_argument("--constraints", type=int, nargs=2, default=[3, 3], metavar=("MIN", "MAX"),
                help="constraints per synthetic instruction")
ap.add_argument("--preset", choices=["smollm2-gpu"],
                help="SmolLM2 on one GPU (see above); flags given after it still apply")
ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py flags")
PRESETS = {"smollm2-gpu": dict(model="smollm2", methods=["hir", "grpo"], seeds=[0], steps=40, eval_every=20,
                               eval_size=625, regimes=["multi"], constraints=[5, 7],
                               out="runs/sample_efficiency_smollm2",
                               extra=["--engine", "fast", "--max_new_tokens", "256"])}
args = ap.parse_args()
if args.preset:
    given = {a.lstrip("-").split("=")[0] for a in sys.argv[1:] if a.startswith("--")}
    for k, v in PRESETS[args.preset].items():
        if k not in given:
            setattr(args, k, v)


def model_for(regime):
    if regime == "zero":
        return "toy"
    if not os.path.exists(os.path.join(args.reader, "config.json")):
        import warmstart
        warmstart.main(["--out", args.reader])
    return args.reader


def curve(out):
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return [(r["generated"], r["heldout_ila"], r["heldout_cla"]) for r in rows if "heldout_ila" in r]


def at(points, budget, k=1):
    """Linear interpolation of column k at `budget` generated responses (None outside the run)."""
    for a, b in zip(points, points[1:]):
        if a[0] <= budget <= b[0]:
            return a[k] + (b[k] - a[k]) * (budget - a[0]) / max(b[0] - a[0], 1)
    return None


def mean_at(curves, seeds, budget, k=1):
    vals = [at(curves[s], budget, k) for s in seeds]
    return None if None in vals else sum(vals) / len(vals)


def responses_to_reach(curves, seeds, target, budgets):
    return next((b for b in budgets if (m := mean_at(curves, seeds, b)) is not None and m >= target), None)


def ratio(hir, grpo, seeds, budgets, rng=None):
    """Responses HiR needs to reach GRPO's final mean ILA, over GRPO's final budget (inf: never)."""
    pick = [rng.choice(seeds) for _ in seeds] if rng else seeds
    target = mean_at(grpo, pick, budgets[-1])
    need = responses_to_reach(hir, pick, target, budgets)
    return float("inf") if need is None else need / budgets[-1]


for regime in args.regimes:
    curves = {}
    for method in args.methods:
        for seed in args.seeds:
            out = os.path.join(args.out, regime, f"{method}_seed{seed}")
            if not os.path.exists(os.path.join(out, f"step_{args.steps:06d}")):
                flags = (["--model", args.model] if args.model else ["--model", "toy"] if regime == "zero"
                         else ["--config", os.path.join(model_for(regime), "preset.json")])
                train.main([*flags, "--method", method, "--seed", str(seed), "--steps", str(args.steps),
                            "--min_constraints", str(args.constraints[0]),
                            "--max_constraints", str(args.constraints[1]), "--eval_every", str(args.eval_every),
                            "--eval_size", str(args.eval_size), "--log_every", str(args.steps), "--out", out,
                            "--overwrite", *args.extra])
            curves.setdefault(method, {})[seed] = curve(out)
    top = min(c[-1][0] for m in curves.values() for c in m.values())
    budgets = [int(top * f / 20) for f in range(1, 21)]
    print(f"\n== regime {regime}: held-out ILA / CLA at equal generated responses ({len(args.seeds)} seeds, "
          f"{args.eval_size} held-out instructions, {args.steps} steps)")
    print(f"{'generated':>10s}  " + "  ".join(f"{m:>22s}" for m in args.methods))
    for b in budgets[3::4]:
        cells = [f"{mean_at(curves[m], args.seeds, b):.3f} / {mean_at(curves[m], args.seeds, b, 2):.3f}"
                 if mean_at(curves[m], args.seeds, b) is not None else "-" for m in args.methods]
        print(f"{b:>10d}  " + "  ".join(f"{c:>22s}" for c in cells))
    if "hir" in curves and "grpo" in curves:
        rng = random.Random(0)
        point = ratio(curves["hir"], curves["grpo"], args.seeds, budgets)
        boot = sorted(ratio(curves["hir"], curves["grpo"], args.seeds, budgets, rng) for _ in range(1000))
        print(f"responses HiR needs to reach GRPO's final ILA, over GRPO's: {point:.2f} "
              f"(bootstrap over seeds, 95%: {boot[25]:.2f} to {boot[974]:.2f}; inf = never reached)")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(curves PNG skipped: pip install matplotlib)")
        continue
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for m in args.methods:
        for k, ax in zip((1, 2), axes):
            ys = [mean_at(curves[m], args.seeds, b, k) for b in budgets]
            ax.plot(budgets, ys, "o-", label=m)
    for ax, name in zip(axes, ("held-out ILA", "held-out CLA")):
        ax.set(xlabel="generated responses (top-ups included)", ylabel=name, title=f"{regime}: {name}")
        ax.legend()
    path = os.path.join(args.out, f"curves_{regime}.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"curves: {path}")

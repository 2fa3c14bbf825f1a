"""Does HiR learn faster than GRPO? Held-out ILA per generated response, on the testbed's two regimes.

    python bench/sample_efficiency.py                         # the study: 2 regimes x 5 arms x 5 seeds (CPU, 2 jobs)
    python bench/sample_efficiency.py --seeds 10 11 12 13 14 --out runs/se_rerun     # the same study, other seeds
    python bench/sample_efficiency.py --sweep                 # the lr sweep: 3 lrs x 2 seeds per arm and regime
    python bench/sample_efficiency.py --preset smollm2-gpu    # one GPU: SmolLM2, HiR then GRPO (docs/gpu.md)

Regimes: the testbed (bench/testbed.py, docs/testbed.md) warm-started by a scripted writer that obeys each asked
constraint with probability p: `easy` (p = 0.7: held-out ILA about 0.1, CLA about 0.64) and `hard` (p = 0.4: ILA
near 0, where binary GRPO starves). The warm starts are built once into --warm (runs/testbed_p0.7, _p0.4).

Arms (ARMS below): grpo (binary reward), grpo_cla (reward = CLA), hir (GRPO advantages over originals and
replays), and the release's estimator for hir and grpo (REINFORCE++, KL in the reward 0.001, 2 mini-batches).
Each arm trains at its own lr: the best of --sweep's (mean held-out ILA of its last two evaluations over 2
seeds), read from DIR/sweep.json, else bench/results/sweep.json, else LR below. The x-axis counts every
generated response (top-ups included; replays are not generated). Held-out: 625 instructions (one run's standard
error at most 0.02), one sample each at the testbed's temperature 1.0.

Writes DIR/summary.json ({"regimes": {NAME: {"start", "final", "collapsed", "ratio_hir_vs_grpo", "ci95", ...}}}),
DIR/table.txt and DIR/curves_<regime>.png; --results also copies them into bench/results/. ratio_hir_vs_grpo is
the responses HiR needs to reach GRPO's final mean ILA over GRPO's total (below 1: HiR needs fewer; null: never),
with a 95% bootstrap interval over seeds.
"""
import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from smollm2_cpu import IDS as SMOL_IDS  # noqa: E402 - the SmolLM2 signal's constraint ids

REGIMES = {"easy": 0.7, "hard": 0.4}  # the writer's obey probability p of each regime's warm start
RPP = ["--adv", "reinforce_pp", "--kl_in_reward", "0.001", "--mini_batches", "2"]  # the release's estimator
ARMS = {"grpo": ["--method", "grpo"], "grpo_cla": ["--method", "grpo_cla"], "hir": ["--method", "hir"],
        "hir_rpp": ["--method", "hir", *RPP], "grpo_rpp": ["--method", "grpo", *RPP],
        # the ablation: replays out of the originals' baseline (an all-fail group's failures get 0, as in GRPO)
        "hir_obase": ["--method", "hir", "--replay_baseline", "originals"],
        "grpo_n6": ["--method", "grpo", "--n", "6"]}  # a control: binary GRPO with HiR's 6 samples per prompt
LR = {arm: 3e-3 for arm in ARMS}  # used only when no sweep.json exists
SWEEP_LRS = [1e-4, 3e-4, 1e-3]
# One GPU, both methods in well under 8 minutes (an estimate: never run, no device was lent). Sized from the CPU
# signal (bench/smollm2_cpu.py, docs/testbed.md): its lr 2e-5, its 7 ids, 2-3 constraints, 64 new tokens, 30 steps,
# with 4x its batch (8 prompts) and held-out ILA on 625 instructions at steps 10, 20 and 30.
PRESETS = {"smollm2-gpu": dict(model="smollm2", arms=["hir", "grpo"], seeds=[0], steps=30, eval_every=10,
                               regimes=["model"], out="runs/sample_efficiency_smollm2", jobs=1,
                               lr=["hir=2e-5", "grpo=2e-5"],
                               extra=["--engine", "fast", "--max_new_tokens", "64", "--constraint_ids", SMOL_IDS,
                                      "--min_constraints", "2", "--max_constraints", "3", "--prompts_per_step", "8",
                                      "--eval_temperature", "0.6"])}


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--regimes", nargs="+", default=list(REGIMES), help="easy hard (or model with --model)")
    ap.add_argument("--arms", nargs="+", default=[a for a in ARMS if a not in ("hir_obase", "grpo_n6")],
                    choices=list(ARMS), help="the study's five by default; hir_obase and grpo_n6: the ablation and "
                                             "its control (docs/testbed.md)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--eval_every", type=int, default=10)
    ap.add_argument("--eval_size", type=int, default=625)
    ap.add_argument("--lr", nargs="*", default=[], metavar="ARM=LR", help="override an arm's lr")
    ap.add_argument("--sweep", action="store_true", help="run the lr sweep (--lrs x --seeds) and write sweep.json")
    ap.add_argument("--lrs", nargs="+", type=float, default=SWEEP_LRS)
    ap.add_argument("--warm", default="runs", help="where the testbed warm starts live (built if absent)")
    ap.add_argument("--model", default="", help="regime 'model': train this model instead of a testbed")
    ap.add_argument("--jobs", type=int, default=2, help="training runs at once (one thread each)")
    ap.add_argument("--out", default="runs/sample_efficiency")
    ap.add_argument("--results", action="store_true", help="also copy summary, table and PNGs into bench/results")
    ap.add_argument("--preset", choices=list(PRESETS))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train.py flags, for every run")
    args = ap.parse_args(argv)
    if args.preset:
        given = {a.lstrip("-").split("=")[0] for a in (argv if argv is not None else sys.argv[1:])
                 if a.startswith("--")}
        for k, v in PRESETS[args.preset].items():
            if k not in given:
                setattr(args, k, v)
    if args.sweep and args.seeds == [0, 1, 2, 3, 4]:
        args.seeds = [0, 1]
    for r in args.regimes:
        if r not in REGIMES and not (r == "model" and args.model):
            ap.error(f"--regimes: unknown regime {r!r} (easy, hard; 'model' needs --model)")
    return args


# ----------------------------------------------------------------------------- runs
def warm_start(args, regime):
    """The regime's model flags for train.py; a testbed is built once (bench/testbed.py) if absent."""
    if regime == "model":
        return ["--model", args.model]
    folder = os.path.join(args.warm, f"testbed_p{REGIMES[regime]}")
    if not os.path.exists(os.path.join(folder, "preset.json")):
        import testbed
        testbed.main(["--out", folder, "--p", str(REGIMES[regime]), "--seed", "0"])
    return ["--config", os.path.join(folder, "preset.json")]


def run_flags(args, regime, arm, seed, lr, out):
    return [*warm_start(args, regime), *ARMS[arm], "--lr", str(lr), "--seed", str(seed), "--steps", str(args.steps),
            "--eval_every", str(args.eval_every), "--eval_size", str(args.eval_size), "--save_every", str(args.steps),
            "--log_every", str(args.eval_every), "--out", out, "--overwrite", *args.extra]


def _train(job):
    """One training run in a worker process, its output in OUT.log (a finished run with the same flags is reused;
    one with other flags, an lr from a newer sweep say, is trained again)."""
    flags, out = job
    done = os.path.join(out, "done.json")
    if os.path.exists(done) and json.load(open(done))["flags"] == flags:
        return out
    import torch
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    with open(os.path.join(out + ".log"), "w") as log:
        sys.stdout = sys.stderr = log
        import train
        try:
            train.main(flags)
        except SystemExit as e:  # a run that stops itself (non-finite updates) is a result, not a crash
            print(f"stopped: {e}")
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    json.dump({"seconds": time.perf_counter() - t0, "flags": flags}, open(os.path.join(out, "done.json"), "w"))
    return out


def run_all(args, jobs):
    if args.jobs <= 1:
        return [_train(j) for j in jobs]
    with multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=1) as pool:
        return pool.map(_train, jobs, chunksize=1)


def start_point(args, regime):
    """Held-out ILA / CLA of the warm start itself, on the runs' own held-out set and settings (measured once)."""
    path = os.path.join(args.out, regime, f"start_{args.eval_size}.json")  # measured per held-out size
    if not os.path.exists(path):
        import torch
        from config import heldout_set, parse_config
        from eval import evaluate
        from models import DTYPES, load_model, resolve_device, resolve_dtype, resolve_engine
        torch.set_num_threads(1)
        cfg = parse_config([*warm_start(args, regime), "--eval_size", str(args.eval_size), "--out", "unused",
                            *args.extra])
        device = resolve_device(cfg.device)  # the runs' own device, precision and engine
        model, tok = load_model(cfg.model, dtype=DTYPES[resolve_dtype(cfg.dtype, device)], device=device)
        summary = evaluate(model, tok, heldout_set(cfg), n=1, temperature=cfg.eval_temperature,
                           max_new_tokens=cfg.max_new_tokens, seed=0, micro_batch=cfg.rollout_batch or 64,
                           engine=resolve_engine(cfg.engine, device))[1]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        json.dump({"heldout_ila": summary["ila"], "heldout_cla": summary["cla"]}, open(path, "w"))
    return json.load(open(path))


def curve(out, start):
    """[(generated responses, held-out ILA, held-out CLA)] of one run, from (0, start)."""
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    return [(0, start["heldout_ila"], start["heldout_cla"])] + [
        (r["generated"], r["heldout_ila"], r["heldout_cla"]) for r in rows if "heldout_ila" in r]


DIAGNOSTICS = ["ila", "cla", "orig_entropy", "clip_frac", "approx_kl", "grad_norm", "all_fail_groups", "orig_adv_neg",
               "replays", "replay_ratio_mean", "replay_clip_frac", "replay_approx_kl", "replay_adv_pos", "resp_len"]


def diagnostics(outs, first=10):
    """Per arm, the mean over seeds of each run's training metrics averaged over its first and its last `first`
    steps (the evidence for a collapse: entropy, clipped shares, the negative advantage of all-fail groups)."""
    out = {}
    for arm, dirs in outs.items():
        rows = [[json.loads(line) for line in open(os.path.join(d, "metrics.jsonl"))] for d in dirs]
        for part, pick in (("first", lambda r: r[:first]), ("last", lambda r: r[-first:])):
            means = [{k: sum(x.get(k, 0) for x in pick(r)) / len(pick(r)) for k in DIAGNOSTICS} for r in rows]
            out.setdefault(arm, {})[part] = {k: round(sum(m[k] for m in means) / len(means), 4) for k in DIAGNOSTICS}
    return out


def diagnostics_table(diag):
    keys = ["ila", "cla", "orig_entropy", "clip_frac", "all_fail_groups", "replays", "replay_ratio_mean",
            "replay_clip_frac"]
    lines = ["  training diagnostics, mean of the first / last 10 steps: " + ", ".join(keys)]
    for arm, parts in diag.items():
        lines.append(f"  {arm:9s} " + "  ".join(f"{parts['first'][k]:.3g}/{parts['last'][k]:.3g}" for k in keys))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the numbers
def at(points, budget, k=1):
    """Column k of a curve at `budget` generated responses, linearly interpolated (None past its end)."""
    for a, b in zip(points, points[1:]):
        if a[0] <= budget <= b[0]:
            return a[k] + (b[k] - a[k]) * (budget - a[0]) / max(b[0] - a[0], 1)
    return points[0][k] if budget == points[0][0] else None


def mean_at(curves, seeds, budget, k=1):
    vals = [at(curves[s], budget, k) for s in seeds]
    return None if None in vals else sum(vals) / len(vals)


def ratio(hir, grpo, seeds, budgets):
    """Responses HiR needs (first budget where its mean ILA reaches GRPO's final mean) over GRPO's total; nan
    when GRPO ends no higher than it started (every method "reaches" that at 0 responses: no answer)."""
    target = mean_at(grpo, seeds, budgets[-1])
    if target <= mean_at(grpo, seeds, 0):
        return math.nan
    need = next((b for b in budgets if mean_at(hir, seeds, b) >= target), None)
    return math.inf if need is None else need / budgets[-1]


def bootstrap(hir, grpo, seeds, budgets, n=2000, seed=0):
    """95% interval of ratio over seeds resampled with replacement (one draw feeds both arms: same seeds);
    draws where GRPO does not rise (nan) are left out, and the interval is nan if more than 5% are."""
    rng = random.Random(seed)
    draws = [ratio(hir, grpo, [rng.choice(seeds) for _ in seeds], budgets) for _ in range(n)]
    kept = sorted(d for d in draws if not math.isnan(d))
    if len(kept) < 0.95 * n:
        return [math.nan, math.nan]
    return [kept[int(0.025 * len(kept))], kept[int(0.975 * len(kept)) - 1]]


def collapsed(curves):
    """Seeds whose final held-out ILA is below half their best (a run that learned, then lost it)."""
    return sorted(s for s, c in curves.items() if c[-1][1] < 0.5 * max(p[1] for p in c))


def finite(x):
    """JSON for a ratio: null for never (inf) and for no answer (nan; ratio_note says which)."""
    return None if x is None or math.isinf(x) or math.isnan(x) else round(x, 4)


def summarize(curves, start, seeds):
    """One regime's entry of summary.json from {arm: {seed: curve}}."""
    top = min(c[-1][0] for arm in curves.values() for c in arm.values())
    budgets = [round(top * f / 20) for f in range(1, 21)]
    entry = {"start": start, "budget_responses": top, "seeds": seeds,
             "final": {arm: {"heldout_ila_mean": round(sum(c[s][-1][1] for s in seeds) / len(seeds), 4),
                             "heldout_cla_mean": round(sum(c[s][-1][2] for s in seeds) / len(seeds), 4),
                             "per_seed": {str(s): round(c[s][-1][1], 4) for s in seeds}} for arm, c in curves.items()},
             "collapsed": {arm: collapsed(c) for arm, c in curves.items()},
             "curves": {arm: [[b, mean_at(c, seeds, b), mean_at(c, seeds, b, 2)] for b in budgets]
                        for arm, c in curves.items()}}
    entry["ratio_hir_vs_grpo"], entry["ci95"], entry["ratio_note"] = None, [None, None], "no hir or grpo arm"
    if "hir" in curves and "grpo" in curves:
        r = ratio(curves["hir"], curves["grpo"], seeds, budgets)
        entry["ratio_hir_vs_grpo"] = finite(r)
        entry["ci95"] = [finite(x) for x in bootstrap(curves["hir"], curves["grpo"], seeds, budgets)]
        entry["ratio_note"] = ("undefined: GRPO's final mean ILA is not above the start" if math.isnan(r) else
                               "never: HiR's mean ILA never reaches GRPO's final" if math.isinf(r) else
                               "responses HiR needs to reach GRPO's final mean ILA, over GRPO's total")
    return entry


def table(name, entry, lrs):
    lines = [f"== regime {name}: start held-out ILA {entry['start']['heldout_ila']:.3f} / CLA "
             f"{entry['start']['heldout_cla']:.3f}; {len(entry['seeds'])} seeds; mean held-out ILA / CLA at equal "
             "generated responses"]
    arms = list(entry["curves"])
    lines.append(f"{'generated':>10s}  " + "  ".join(f"{a + ' @' + format(lrs[a], 'g'):>16s}" for a in arms))
    for i in range(3, 20, 4):
        b = entry["curves"][arms[0]][i][0]
        lines.append(f"{b:>10d}  " + "  ".join(f"{entry['curves'][a][i][1]:>7.3f} / {entry['curves'][a][i][2]:.3f}"
                                              for a in arms))
    for a in arms:
        per = ", ".join(f"{v:.3f}" for v in entry["final"][a]["per_seed"].values())
        lines.append(f"  {a:9s} final ILA per seed {per}; collapsed seeds {entry['collapsed'][a] or 'none'}")
    r, (lo, hi) = entry["ratio_hir_vs_grpo"], entry["ci95"]
    show = (lambda x: "null" if x is None else f"{x:.2f}")
    lines.append(f"  ratio_hir_vs_grpo {show(r)} (95% bootstrap over seeds: {show(lo)} to {show(hi)}; null: never "
                 f"or undefined) - {entry['ratio_note']}")
    return "\n".join(lines)


def plot(name, entry, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return print("(curves PNG skipped: pip install matplotlib)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, points in entry["curves"].items():
        xs = [0] + [p[0] for p in points]
        for k, ax in zip((1, 2), axes):
            ax.plot(xs, [entry["start"]["heldout_" + ("ila" if k == 1 else "cla")]] + [p[k] for p in points],
                    "o-", ms=3, label=arm)
    for ax, what in zip(axes, ("held-out ILA", "held-out CLA")):
        ax.set(xlabel="generated responses (top-ups included)", ylabel=what, title=f"{name}: {what}")
        ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")


# ----------------------------------------------------------------------------- the two commands
def lrs_for(args, regime):
    found = next((p for p in (os.path.join(args.out, "sweep.json"), os.path.join(HERE, "results", "sweep.json"))
                  if os.path.exists(p)), None)
    swept = json.load(open(found))["best"] if found else {}
    best = swept.get(regime) or swept.get("easy", {})  # a regime the sweep did not cover takes the easy one's lrs
    lrs = {arm: best.get(arm, LR[arm]) for arm in args.arms}
    for item in args.lr:
        arm, _, value = item.partition("=")
        lrs[arm] = float(value)
    return lrs


def sweep(args):
    jobs, where = [], {}
    for regime in args.regimes:
        for arm in args.arms:
            for lr in args.lrs:
                for seed in args.seeds:
                    out = os.path.join(args.out, "sweep", regime, f"{arm}_lr{lr:g}_seed{seed}")
                    jobs.append((run_flags(args, regime, arm, seed, lr, out), out))
                    where[(regime, arm, lr, seed)] = out
    run_all(args, jobs)
    score = {}
    for (regime, arm, lr, seed), out in where.items():
        evals = [json.loads(x)["heldout_ila"] for x in open(os.path.join(out, "metrics.jsonl")) if "heldout_ila" in x]
        score.setdefault(regime, {}).setdefault(arm, {}).setdefault(f"{lr:g}", []).append(sum(evals[-2:]) / 2)
    mean = {r: {a: {lr: sum(v) / len(v) for lr, v in by.items()} for a, by in arms.items()}
            for r, arms in score.items()}
    path = os.path.join(args.out, "sweep.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    if old and [old.get(k) for k in ("seeds", "steps", "eval_size")] != [args.seeds, args.steps, args.eval_size]:
        print(f"{path}: swept with other seeds, steps or held-out size; replaced, not merged", file=sys.stderr)
    elif old:  # a later sweep adds arms and lrs
        for r, arms in old["score"].items():
            for a, by in arms.items():
                mean.setdefault(r, {}).setdefault(a, {})
                mean[r][a] = dict(sorted({**by, **mean[r][a]}.items(), key=lambda kv: float(kv[0])))
        args.lrs = sorted(set(old["lrs"]) | set(args.lrs))
    best = {r: {a: float(max(by, key=by.get)) for a, by in arms.items()} for r, arms in mean.items()}
    result = {"seeds": args.seeds, "steps": args.steps, "eval_size": args.eval_size, "lrs": args.lrs, "score": mean,
              "best": best}
    json.dump(result, open(path + ".tmp", "w"), indent=1)
    os.replace(path + ".tmp", path)
    for r, arms in mean.items():
        print(f"== sweep {r} (mean held-out ILA of the last two evaluations, {len(args.seeds)} seeds)")
        for a, by in arms.items():
            print(f"  {a:9s} " + "  ".join(f"lr {lr}: {v:.3f}" for lr, v in by.items()) + f"  -> {best[r][a]:g}")
    return result


def study(args):
    path = os.path.join(args.out, "summary.json")
    old = json.load(open(path)) if os.path.exists(path) else {}
    same = old.get("steps") == args.steps and old.get("eval_size") == args.eval_size
    # a study of some regimes (the ablation's arms on the easy one, say) keeps the other regimes' entries, if they
    # ran with the same steps, held-out size and seeds; a regime studied again is replaced whole (its arms: these)
    kept = {r: e for r, e in old.get("regimes", {}).items() if same and e.get("seeds") == args.seeds}
    summary = {"regimes": kept, "steps": args.steps, "eval_size": args.eval_size}
    for regime in args.regimes:
        lrs = lrs_for(args, regime)
        start = start_point(args, regime)
        outs = {(arm, s): os.path.join(args.out, regime, f"{arm}_seed{s}") for arm in args.arms for s in args.seeds}
        run_all(args, [(run_flags(args, regime, arm, s, lrs[arm], out), out) for (arm, s), out in outs.items()])
        curves = {arm: {s: curve(outs[(arm, s)], start) for s in args.seeds} for arm in args.arms}
        entry = summarize(curves, start, args.seeds)
        entry["lr"] = lrs
        entry["diagnostics"] = diagnostics({arm: [outs[(arm, s)] for s in args.seeds] for arm in args.arms})
        summary["regimes"][regime] = json.loads(json.dumps(entry))  # as a later study reads it back
        print(table(regime, entry, lrs) + "\n" + diagnostics_table(entry["diagnostics"]), flush=True)
        plot(regime, entry, os.path.join(args.out, f"curves_{regime}.png"))
    texts = [table(r, e, e["lr"]) + "\n" + diagnostics_table(e["diagnostics"]) for r, e in summary["regimes"].items()]
    json.dump(summary, open(path + ".tmp", "w"), indent=1)
    os.replace(path + ".tmp", path)
    open(os.path.join(args.out, "table.txt"), "w").write("\n\n".join(texts) + "\n")
    if args.results:
        for name in ["summary.json", "table.txt"] + [f"curves_{r}.png" for r in args.regimes]:
            if os.path.exists(os.path.join(args.out, name)):
                shutil.copy(os.path.join(args.out, name), os.path.join(HERE, "results", "study_" + name))
    return summary


def main(argv=None):
    args = parse(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    for regime in args.regimes:
        warm_start(args, regime)  # built before the pool forks, once
    result = sweep(args) if args.sweep else study(args)
    print(f"done in {time.perf_counter() - t0:.0f} s: {args.out}")
    return result


if __name__ == "__main__":
    main()

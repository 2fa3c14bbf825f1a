"""Does HiR learn faster than GRPO? Held-out ILA per generated response, on the testbed's two regimes.

    python bench/sample_efficiency.py                         # the study: 2 regimes x 5 arms x 5 seeds (CPU, 2 jobs)
    python bench/sample_efficiency.py --seeds 10 11 12 13 14 --out runs/se_rerun     # the same study, other seeds
    python bench/sample_efficiency.py --sweep --regimes easy --eval_size 256 --responses 10240   # the lr sweep
    python bench/sample_efficiency.py --preset smollm2-gpu    # one GPU: SmolLM2, HiR then GRPO (docs/gpu.md)

Regimes: the testbed (bench/testbed.py, docs/testbed.md) warm-started by a scripted writer that obeys each asked
constraint with probability p: `easy` (p = 0.7: held-out ILA about 0.1, CLA about 0.64) and `hard` (p = 0.4: ILA
near 0, where binary GRPO starves). The warm starts are built once into --warm (runs/testbed_p0.7, _p0.4).

Arms (ARMS below): grpo (binary reward), grpo_cla (reward = CLA), hir (GRPO advantages over originals and
replays), and the release's estimator for hir and grpo (REINFORCE++, KL in the reward 0.001, 2 mini-batches).
Each arm trains at its own lr: the best of --sweep's (mean held-out ILA of its last two evaluations over 2
seeds), read from DIR/sweep.json, else bench/results/sweep.json, else LR below. Every arm generates the same
--responses (15,360: 240 steps of 8 x 8 for the GRPO arms, 320 of 8 x 6 for HiR's), and the x-axis counts every
generated response (top-ups included; replays are not generated); --steps gives every arm the same steps instead.
Held-out: 625 instructions (one run's standard error at most 0.02), one sample each at the testbed's temperature
1.0, --evals times per run (6).

Writes DIR/summary.json ({"regimes": {NAME: {"start", "final", "collapsed", "ratio_hir_vs_grpo", "ci95", ...}}}),
DIR/table.txt and DIR/curves_<regime>.png; --results also copies them into bench/results/. ratio_hir_vs_grpo is
the responses HiR needs to reach GRPO's final mean ILA over GRPO's total (below 1: HiR needs fewer; null: never),
with a 95% bootstrap interval over seeds.
"""
import argparse
import itertools
import json
import math
import multiprocessing
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from smollm2_cpu import IDS as SMOL_IDS  # noqa: E402 - the SmolLM2 signal's constraint ids
from study_numbers import curve, diagnostics, diagnostics_table, plot, plot_diagnostics, summarize, table  # noqa: E402

REGIMES = {"easy": 0.7, "hard": 0.4}  # the writer's obey probability p of each regime's warm start
RPP = ["--adv", "reinforce_pp", "--kl_in_reward", "0.001", "--mini_batches", "2"]  # the release's estimator
ARMS = {"grpo": ["--method", "grpo"], "grpo_cla": ["--method", "grpo_cla"], "hir": ["--method", "hir"],
        "hir_rpp": ["--method", "hir", *RPP], "grpo_rpp": ["--method", "grpo", *RPP],
        # the ablation: replays out of the originals' baseline (an all-fail group's failures get 0, as in GRPO)
        "hir_obase": ["--method", "hir", "--replay_baseline", "originals"],
        "grpo_n6": ["--method", "grpo", "--n", "6"]}  # a control: binary GRPO with HiR's 6 samples per prompt
# HiR's targeted ablations (docs/testbed.md), each a train.py flag that is off by default: an arm hir_A or hir_A_B
# (any of these, in this order) is HiR with GRPO advantages and those flags
ABLATIONS = {"obase": ["--replay_baseline", "originals"],   # replays out of the originals' baseline
             "notrunc": ["--replay_truncated", "false"],     # a response cut at the length cap is not a candidate
             "qprime": ["--replay_old", "q_prime"],          # a replay's pi_old (and reference) scored under q'
             "notopup": ["--topup", "false"]}                # no top-up: the released runs never reached it
for _n in range(1, len(ABLATIONS) + 1):
    for _combo in itertools.combinations(ABLATIONS, _n):
        ARMS.setdefault("hir_" + "_".join(_combo), ["--method", "hir", *sum((ABLATIONS[a] for a in _combo), [])])
LR = {arm: 3e-3 for arm in ARMS}  # used only when no sweep.json exists
SWEEP_LRS = [1e-4, 3e-4, 1e-3]
# Every arm generates the same number of responses (the x-axis), not the same number of steps: 240 steps of 8 prompts x
# 8 samples for the GRPO arms, 320 steps of 8 x 6 for HiR's (plus its top-ups). At 10,240 the best arm's mean held-out
# ILA was 0.78 on the easy testbed, below the 0.8 the study must reach (docs/testbed.md); it takes 50 such runs.
RESPONSES = 15360
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
    ap.add_argument("--arms", nargs="+", default=["grpo", "grpo_cla", "hir", "hir_rpp", "grpo_rpp"],
                    choices=list(ARMS), metavar="ARM", help="the study's five by default (grpo grpo_cla hir hir_rpp "
                    "grpo_rpp); grpo_n6: a control; hir_obase hir_notrunc hir_qprime hir_notopup: HiR with one "
                    "ablation (ABLATIONS: --replay_baseline originals, --replay_truncated false, --replay_old q_prime, "
                    "--topup false), hir_A_B...: with several, in that order (hir_notrunc_qprime)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--responses", type=int, default=RESPONSES, help="generated responses per run: each arm trains "
                    "ceil(N / (prompts per step x samples per prompt)) steps, so every arm ends at the same x")
    ap.add_argument("--steps", type=int, default=0, help="instead of --responses: every arm trains this many steps")
    ap.add_argument("--evals", type=int, default=6, help="held-out evaluations per run, evenly spaced in its steps")
    ap.add_argument("--eval_every", type=int, default=0, help="instead of --evals: evaluate every this many steps")
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


def schedule(args, regime, arm):
    """(steps, eval_every) of one arm's runs: --steps as given, else enough steps for --responses generated
    responses at the arm's own prompts per step and samples per prompt (HiR samples 6, the baselines 8)."""
    steps = args.steps
    if not steps:
        from config import parse_config
        cfg = parse_config([*warm_start(args, regime), *ARMS[arm], *args.extra, "--out", "unused"])
        steps = math.ceil(args.responses / (cfg.prompts_per_step * cfg.n))
    return steps, args.eval_every or math.ceil(steps / args.evals)


def run_flags(args, regime, arm, seed, lr, out):
    steps, every = schedule(args, regime, arm)
    return [*warm_start(args, regime), *ARMS[arm], "--lr", str(lr), "--seed", str(seed), "--steps", str(steps),
            "--eval_every", str(every), "--eval_size", str(args.eval_size), "--save_every", str(steps),
            "--log_every", str(every), "--out", out, "--overwrite", *args.extra]


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


# ----------------------------------------------------------------------------- the two commands
def lrs_for(args, regime):
    found = next((p for p in (os.path.join(args.out, "sweep.json"), os.path.join(HERE, "results", "sweep.json"))
                  if os.path.exists(p)), None)
    swept = json.load(open(found))["best"] if found else {}
    # an arm the sweep did not cover in this regime takes its easy-regime lr
    lrs = {arm: swept.get(regime, {}).get(arm, swept.get("easy", {}).get(arm, LR.get(arm, 3e-3))) for arm in args.arms}
    for item in args.lr:
        arm, _, value = item.partition("=")
        lrs[arm] = float(value)
    return lrs


HORIZON = ("seeds", "steps", "responses", "eval_size")  # what makes two sweeps (or studies) comparable


def horizon(args):
    """[steps, responses, eval_size]: --steps, or else --responses, decides how long every run trains."""
    return [args.steps, 0 if args.steps else args.responses, args.eval_size]


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
    if old and [old.get(k) for k in HORIZON] != [args.seeds, *horizon(args)]:
        print(f"{path}: swept with another horizon ({', '.join(HORIZON)}); replaced, not merged", file=sys.stderr)
    elif old:  # a later sweep adds arms and lrs
        for r, arms in old["score"].items():
            for a, by in arms.items():
                mean.setdefault(r, {}).setdefault(a, {})
                mean[r][a] = dict(sorted({**by, **mean[r][a]}.items(), key=lambda kv: float(kv[0])))
        args.lrs = sorted(set(old["lrs"]) | set(args.lrs))
    best = {r: {a: float(max(by, key=by.get)) for a, by in arms.items()} for r, arms in mean.items()}
    result = {**dict(zip(HORIZON, [args.seeds, *horizon(args)])), "lrs": args.lrs, "score": mean,
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
    same = [old.get(k) for k in HORIZON[1:]] == horizon(args)
    # a study of some regimes (the ablation's arms on the easy one, say) keeps the other regimes' entries, if they
    # ran with the same horizon and seeds; a regime studied again is replaced whole (its arms: these)
    kept = {r: e for r, e in old.get("regimes", {}).items() if same and e.get("seeds") == args.seeds}
    summary = {"regimes": kept, **dict(zip(HORIZON[1:], horizon(args)))}
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
        plot_diagnostics(regime, {arm: [outs[(arm, s)] for s in args.seeds] for arm in args.arms},
                         os.path.join(args.out, f"diagnostics_{regime}.png"))
    texts = [table(r, e, e["lr"]) + "\n" + diagnostics_table(e["diagnostics"]) for r, e in summary["regimes"].items()]
    json.dump(summary, open(path + ".tmp", "w"), indent=1)
    os.replace(path + ".tmp", path)
    open(os.path.join(args.out, "table.txt"), "w").write("\n\n".join(texts) + "\n")
    if args.results:
        for name in ["summary.json", "table.txt"] + [f"{k}_{r}.png" for k in ("curves", "diagnostics")
                                                      for r in args.regimes]:
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

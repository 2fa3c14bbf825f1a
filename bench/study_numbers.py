"""The study's numbers, from its runs' metrics.jsonl: held-out curves per generated response, the ratio
"responses HiR needs to reach GRPO's final mean ILA" with its bootstrap interval over seeds, collapses, the
training diagnostics, summary.json's entry per regime, the text table and the PNG curves.

    python -m pytest -q tests/bench/test_sample_efficiency.py     # each against its definition spelled out

bench/sample_efficiency.py runs the study and calls these; nothing here trains.
"""
import json
import math
import os
import random

def curve(out, start):
    """[(generated responses, held-out ILA, held-out CLA)] of one run, from (0, start)."""
    rows = _rows(os.path.join(out, "metrics.jsonl"))
    return [(0, start["heldout_ila"], start["heldout_cla"])] + [
        (r["generated"], r["heldout_ila"], r["heldout_cla"]) for r in rows if "heldout_ila" in r]


DIAGNOSTICS = ["ila", "cla", "orig_entropy", "clip_frac", "approx_kl", "grad_norm", "all_fail_groups", "orig_adv_neg",
               "replays", "replay_ratio_mean", "replay_clip_frac", "replay_approx_kl", "replay_adv_pos", "resp_len",
               "truncated", "replay_resp_len", "dual_clip_frac", "replay_dual_clip_frac", "topups"]
# more pairs for summary.json's "ratios" (A_vs_B: the responses A needs to reach B's final mean ILA, over B's total):
# GRPO against HiR (the reverse reading), the release's pair, HiR against GRPO-CLA (the best arm of the hard regime)
PAIRS = [("grpo", "hir"), ("hir_rpp", "grpo_rpp"), ("grpo_rpp", "hir_rpp"), ("hir", "grpo_cla")]


def pairs(arms):
    """PAIRS, plus every HiR variant (hir_X, hir_X_Y: sample_efficiency.ABLATIONS) against grpo, grpo_cla and hir:
    the responses the variant needs to reach that arm's final mean ILA, over its total."""
    variants = [a for a in arms if a.startswith("hir_") and a != "hir_rpp"]
    return [p for p in PAIRS if p[0] in arms and p[1] in arms] + [(v, b) for v in variants
                                                                    for b in ("grpo", "grpo_cla", "hir") if b in arms]


def diagnostics(outs, first=10):
    """Per arm, the mean over seeds of each run's training metrics averaged over its first and its last `first`
    steps (the evidence for a collapse: entropy, clipped shares, the negative advantage of all-fail groups)."""
    out = {}
    for arm, dirs in outs.items():
        rows = [_rows(os.path.join(d, "metrics.jsonl")) for d in dirs]
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
                             "per_seed": {str(s): round(c[s][-1][1], 4) for s in seeds},
                             "generated_mean": round(sum(c[s][-1][0] for s in seeds) / len(seeds))}  # top-ups: > top
                       for arm, c in curves.items()},
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
    entry["ratios"] = {f"{a}_vs_{b}": {"ratio": finite(ratio(curves[a], curves[b], seeds, budgets)),
                                       "ci95": [finite(x) for x in bootstrap(curves[a], curves[b], seeds, budgets)]}
                       for a, b in pairs(curves)}  # null: never or undefined
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


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def _pyplot():
    import matplotlib  # pinned in requirements.txt: every study writes its PNGs
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot(name, entry, path):
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for arm, points in entry["curves"].items():
        xs = [0] + [p[0] for p in points]
        for k, ax in zip((1, 2), axes):
            ax.plot(xs, [entry["start"]["heldout_" + ("ila" if k == 1 else "cla")]] + [p[k] for p in points],
                    "o-", ms=3, label=arm)
    for ax, what in zip(axes, ("held-out ILA (all constraints met)", "held-out CLA (share of constraints met)")):
        ax.set(xlabel="generated responses (top-ups included)", ylabel=what, title=f"{name}: {what}")
        ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


DIAG_PLOT = {"all_fail_groups": "groups whose originals all fail", "orig_adv_neg": "originals' negative advantage",
             "truncated": "share cut at the length cap", "orig_entropy": "originals' entropy (nats/token)",
             "replay_clip_frac": "replay tokens clipped"}


def plot_diagnostics(name, outs, path):
    """The reading's evidence as curves: per arm, the seeds' mean of each training diagnostic at each step, against
    generated responses (outs: {arm: [run dirs]})."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(DIAG_PLOT), figsize=(4.2 * len(DIAG_PLOT), 3.6))
    for arm, dirs in outs.items():
        runs = [_rows(os.path.join(d, "metrics.jsonl")) for d in dirs]
        steps = min(len(r) for r in runs)
        xs = [sum(r[i]["generated"] for r in runs) / len(runs) for i in range(steps)]
        for (key, what), ax in zip(DIAG_PLOT.items(), axes):
            ax.plot(xs, [sum(r[i].get(key, 0) for r in runs) / len(runs) for i in range(steps)], lw=1, label=arm)
            ax.set(xlabel="generated responses", title=f"{name}: {what}")
    axes[0].legend()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path

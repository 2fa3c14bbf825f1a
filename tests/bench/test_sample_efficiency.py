"""bench/sample_efficiency.py and study_numbers.py (no training): the ratio and its interval, collapse, schema, runs."""
import json
import math
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import sample_efficiency as S  # noqa: E402
import study_numbers as N  # noqa: E402


def line(points):
    return [(x, y, y / 2 + 0.5) for x, y in points]


def test_interpolation_is_linear_and_ends_at_the_run():
    c = line([(0, 0.0), (100, 0.4), (200, 0.2)])
    assert N.at(c, 50) == pytest.approx(0.2)
    assert N.at(c, 150) == pytest.approx(0.3)
    assert N.at(c, 0) == 0.0 and N.at(c, 200) == pytest.approx(0.2)
    assert N.at(c, 201) is None


def naive_ratio(hir, grpo, seeds, budgets):
    """The definition spelled out: GRPO's final mean ILA, then the first budget where HiR's mean reaches it."""
    target = sum(N.at(grpo[s], budgets[-1]) for s in seeds) / len(seeds)
    for b in budgets:
        if sum(N.at(hir[s], b) for s in seeds) / len(seeds) >= target:
            return b / budgets[-1]
    return math.inf


def test_ratio_against_the_definition():
    hir = {0: line([(0, 0.0), (100, 0.5), (200, 0.6)]), 1: line([(0, 0.0), (100, 0.3), (200, 0.4)])}
    grpo = {0: line([(0, 0.0), (100, 0.1), (200, 0.4)]), 1: line([(0, 0.0), (100, 0.1), (200, 0.2)])}
    budgets = [10 * i for i in range(1, 21)]
    assert N.ratio(hir, grpo, [0, 1], budgets) == naive_ratio(hir, grpo, [0, 1], budgets) == 0.4
    assert N.ratio(grpo, hir, [0, 1], budgets) == math.inf  # GRPO never reaches HiR's final
    flat = {s: line([(0, 0.0), (100, 0.0), (200, 0.0)]) for s in (0, 1)}
    assert math.isnan(N.ratio(hir, flat, [0, 1], budgets))  # GRPO never rose: no answer, not "HiR is 20x faster"
    assert all(math.isnan(x) for x in N.bootstrap(hir, flat, [0, 1], budgets, n=50))
    lo, hi = N.bootstrap(hir, grpo, [0, 1], budgets, n=200)
    assert lo <= 0.4 <= hi


def test_collapse_is_final_below_half_the_best():
    curves = {0: line([(0, 0.1), (10, 0.6), (20, 0.29)]), 1: line([(0, 0.1), (10, 0.6), (20, 0.31)]),
              2: line([(0, 0.0), (10, 0.0), (20, 0.0)])}
    assert N.collapsed(curves) == [0]


def test_summary_schema(tmp_path):
    start = {"heldout_ila": 0.02, "heldout_cla": 0.5}
    curves = {arm: {s: line([(0, 0.02), (480, 0.1 + 0.1 * s), (960, 0.2 + (arm == "hir") * 0.1)]) for s in (0, 1)}
              for arm in ("hir", "grpo", "grpo_cla")}
    entry = N.summarize(curves, start, [0, 1])
    summary = json.loads(json.dumps({"regimes": {"easy": entry}}))  # it is JSON (no inf)
    e = summary["regimes"]["easy"]
    assert e["start"] == start and set(e["final"]) == {"hir", "grpo", "grpo_cla"}
    assert e["final"]["hir"]["heldout_ila_mean"] == pytest.approx(0.3)
    assert e["final"]["grpo"]["per_seed"] == {"0": 0.2, "1": 0.2}
    assert e["collapsed"] == {"hir": [], "grpo": [], "grpo_cla": []}
    assert 0 < e["ratio_hir_vs_grpo"] < 1 and len(e["ci95"]) == 2
    grpo_vs_hir = naive_ratio(curves["grpo"], curves["hir"], [0, 1], [48 * i for i in range(1, 21)])
    assert e["ratios"]["grpo_vs_hir"]["ratio"] is None and math.isinf(grpo_vs_hir)  # GRPO never reaches HiR's 0.3
    assert set(e["ratios"]) == {"grpo_vs_hir", "hir_vs_grpo_cla"} and e["final"]["hir"]["generated_mean"] == 960
    hir_vs_cla = naive_ratio(curves["hir"], curves["grpo_cla"], [0, 1], [48 * i for i in range(1, 21)])
    assert e["ratios"]["hir_vs_grpo_cla"]["ratio"] == pytest.approx(hir_vs_cla) and 0 < hir_vs_cla < 1
    assert "ratio_hir_vs_grpo" in N.table("easy", entry, {a: 1e-3 for a in curves})


def test_a_run_curve_starts_at_the_warm_start(tmp_path):
    rows = [{"step": 1, "generated": 48}, {"step": 2, "generated": 96, "heldout_ila": 0.1, "heldout_cla": 0.6}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert N.curve(str(tmp_path), {"heldout_ila": 0.0, "heldout_cla": 0.5}) == [(0, 0.0, 0.5), (96, 0.1, 0.6)]


def test_flags_reach_train_and_bad_regimes_are_refused(tmp_path):
    args = S.parse(["--out", str(tmp_path), "--steps", "7", "--model", "toy", "--regimes", "model"])
    flags = S.run_flags(args, "model", "hir_rpp", 3, 1e-3, "OUT")
    assert flags[:2] == ["--model", "toy"] and "reinforce_pp" in flags and flags[flags.index("--steps") + 1] == "7"
    with pytest.raises(SystemExit):
        S.parse(["--regimes", "medium"])


def test_every_arm_generates_the_same_responses_unless_steps_are_given(tmp_path):
    args = S.parse(["--out", str(tmp_path), "--model", "toy", "--regimes", "model", "--responses", "960"])
    for arm in ("grpo", "grpo_cla", "grpo_rpp", "hir", "hir_rpp", "grpo_n6"):
        flags = S.run_flags(args, "model", arm, 0, 1e-3, "OUT")
        steps, every = (int(flags[flags.index(f) + 1]) for f in ("--steps", "--eval_every"))
        per_step = 8 * (6 if arm in ("hir", "hir_rpp", "grpo_n6") else 8)  # the toy's 8 prompts x n samples
        assert steps * per_step >= 960 > (steps - 1) * per_step  # 15 steps of 64, 20 of 48
        evals = [s for s in range(1, steps + 1) if s % every == 0 or s == steps]  # as train.py evaluates
        assert 5 <= len(evals) <= 6 and evals[-1] == steps
    fixed = S.parse(["--out", str(tmp_path), "--model", "toy", "--regimes", "model", "--steps", "7",
                     "--eval_every", "2"])
    assert all(S.schedule(fixed, "model", arm) == (7, 2) for arm in ("grpo", "hir"))
    assert S.horizon(fixed) == [7, 0, 625] and S.horizon(args) == [0, 960, 625]


def test_diagnostics_average_first_and_last_steps_then_seeds(tmp_path):
    runs = []
    for s in (0, 1):
        d = tmp_path / f"run{s}"
        d.mkdir()
        rows = [{k: 0.0 for k in N.DIAGNOSTICS} | {"step": i, "orig_entropy": i + s} for i in range(1, 21)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs.append(str(d))
    diag = N.diagnostics({"hir": runs})["hir"]
    assert diag["first"]["orig_entropy"] == pytest.approx((5.5 + 6.5) / 2)  # steps 1..10, then the two seeds
    assert diag["last"]["orig_entropy"] == pytest.approx((15.5 + 16.5) / 2)
    assert "hir" in N.diagnostics_table(N.diagnostics({"hir": runs}))


def fake_runs(monkeypatch, ila_of):
    """run_all replaced: each job writes metrics whose held-out ILA is ila_of(flags), and done.json."""
    trained = []

    def run_all(args, jobs):
        for flags, out in jobs:
            if os.path.exists(os.path.join(out, "done.json")) and json.load(open(os.path.join(out, "done.json")))[
                    "flags"] == flags:
                continue
            trained.append(out)
            os.makedirs(out, exist_ok=True)
            rows = [{"step": 10, "heldout_ila": ila_of(flags)}, {"step": 20, "heldout_ila": ila_of(flags)}]
            open(os.path.join(out, "metrics.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
            json.dump({"flags": flags}, open(os.path.join(out, "done.json"), "w"))
    monkeypatch.setattr(S, "run_all", run_all)
    monkeypatch.setattr(S, "warm_start", lambda args, regime: ["--model", "toy"])
    return trained


def test_a_later_sweep_adds_arms_and_lrs_to_sweep_json(monkeypatch, tmp_path):
    lr_of = lambda flags: float(flags[flags.index("--lr") + 1])  # noqa: E731
    fake_runs(monkeypatch, lambda flags: 1 - abs(math.log10(lr_of(flags)) + 4))  # best at 1e-4
    S.sweep(S.parse(["--sweep", "--regimes", "easy", "--arms", "hir", "grpo", "--lrs", "1e-4", "1e-3",
                     "--out", str(tmp_path)]))
    result = S.sweep(S.parse(["--sweep", "--regimes", "easy", "--arms", "hir", "hir_obase", "--lrs", "3e-5",
                              "--out", str(tmp_path)]))
    score = json.load(open(tmp_path / "sweep.json"))["score"]["easy"]
    assert list(score["hir"]) == ["3e-05", "0.0001", "0.001"] and list(score["grpo"]) == ["0.0001", "0.001"]
    assert list(score["hir_obase"]) == ["3e-05"] and result["lrs"] == [3e-5, 1e-4, 1e-3]
    assert result["best"]["easy"] == {"hir": 1e-4, "grpo": 1e-4, "hir_obase": 3e-5}


def test_a_finished_run_is_reused_only_with_the_same_flags(monkeypatch, tmp_path):
    job = (["--model", "toy", "--lr", "1e-3"], str(tmp_path / "run"))
    os.makedirs(job[1])
    json.dump({"flags": ["--model", "toy", "--lr", "3e-3"]}, open(os.path.join(job[1], "done.json"), "w"))
    ran = []
    monkeypatch.setitem(sys.modules, "train", type(sys)("train"))
    sys.modules["train"].main = lambda flags: ran.append(flags)
    S._train(job)  # other flags (a newer sweep's lr): trained again
    assert ran == [job[0]] and json.load(open(os.path.join(job[1], "done.json")))["flags"] == job[0]
    S._train(job)  # the same flags: reused
    assert len(ran) == 1


def test_a_study_of_one_regime_keeps_the_other_regimes_entries(monkeypatch, tmp_path):
    def ila_of(flags):  # hir learns more than grpo; the regime is in the run's path
        return 0.3 if "hir" in flags else 0.2

    def run_all(args, jobs):
        for flags, out in jobs:
            os.makedirs(out, exist_ok=True)
            rows = [{"step": s, "generated": 48 * s, "heldout_ila": ila_of(flags) * s / 4, "heldout_cla": 0.6}
                    for s in range(1, 5)]
            open(os.path.join(out, "metrics.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(S, "run_all", run_all)
    monkeypatch.setattr(S, "warm_start", lambda args, regime: ["--model", "toy"])
    monkeypatch.setattr(S, "start_point", lambda args, regime: {"heldout_ila": 0.0, "heldout_cla": 0.5})
    monkeypatch.setattr(S, "plot", lambda *a: None)
    monkeypatch.setattr(S, "plot_diagnostics", lambda *a: None)
    S.study(S.parse(["--out", str(tmp_path), "--regimes", "easy", "hard", "--arms", "grpo", "hir", "--seeds", "0",
                     "1", "--lr", "grpo=1e-3", "hir=1e-3"]))
    S.study(S.parse(["--out", str(tmp_path), "--regimes", "easy", "--arms", "grpo", "hir", "hir_obase", "--seeds",
                     "0", "1", "--lr", "grpo=1e-3", "hir=1e-3", "hir_obase=1e-3"]))
    summary = json.load(open(tmp_path / "summary.json"))
    assert set(summary["regimes"]) == {"easy", "hard"}
    assert set(summary["regimes"]["easy"]["final"]) == {"grpo", "hir", "hir_obase"}
    assert set(summary["regimes"]["hard"]["final"]) == {"grpo", "hir"}
    assert summary["regimes"]["hard"]["final"]["hir"]["heldout_ila_mean"] == pytest.approx(0.3)
    text = (tmp_path / "table.txt").read_text()
    assert "== regime easy" in text and "== regime hard" in text and "hir_obase" in text


def test_the_gpu_preset_is_the_cpu_signal_at_four_times_its_batch(tmp_path):
    import config as C
    args = S.parse(["--preset", "smollm2-gpu", "--out", str(tmp_path)])
    assert args.arms == ["hir", "grpo"] and args.steps == 30 and args.regimes == ["model"]
    lrs = S.lrs_for(args, "model")
    cfg = C.parse_config(S.run_flags(args, "model", "hir", 0, lrs["hir"], str(tmp_path / "run")) + ["--device", "cpu"])
    assert cfg.model == "smollm2" and cfg.lr == pytest.approx(2e-5) and cfg.max_new_tokens == 64
    assert cfg.prompts_per_step == 8 and cfg.eval_size == 625 and cfg.eval_every == 10
    assert C.constraint_ids(cfg) == S.SMOL_IDS.split(",") and (cfg.min_constraints, cfg.max_constraints) == (2, 3)


def test_diagnostics_png_has_a_curve_per_arm_and_diagnostic(tmp_path):
    import matplotlib.pyplot as plt
    runs = []
    for s in (0, 1):
        d = tmp_path / f"run{s}"
        d.mkdir()
        rows = [{k: float(i) for k in N.DIAG_PLOT} | {"generated": 48 * i} for i in range(1, 6)]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        runs.append(str(d))
    drawn = []
    real = plt.Axes.plot
    plt.Axes.plot = lambda ax, xs, ys, **kw: drawn.append((list(xs), list(ys), kw["label"])) or real(ax, xs, ys, **kw)
    try:
        path = N.plot_diagnostics("easy", {"hir": runs, "grpo": runs[:1]}, str(tmp_path / "d.png"))
    finally:
        plt.Axes.plot = real
    assert open(path, "rb").read(4) == b"\x89PNG" and len(drawn) == 2 * len(N.DIAG_PLOT)
    assert drawn[0] == ([48, 96, 144, 192, 240], [1.0, 2.0, 3.0, 4.0, 5.0], "hir")  # the seeds' mean per step


def test_ablation_arms_are_hir_with_their_flags_and_are_compared_with_grpo_and_hir(tmp_path):
    import config as C
    cfg = C.parse_config([*S.ARMS["hir_notrunc_qprime"], "--out", str(tmp_path)])
    assert (cfg.method, cfg.replay_truncated, cfg.replay_old, cfg.topup, cfg.replay_baseline) == \
        ("hir", False, "q_prime", True, "shared")
    cfg = C.parse_config([*S.ARMS["hir_notopup"], "--out", str(tmp_path)])
    assert (cfg.topup, cfg.replay_truncated, cfg.replay_old) == (False, True, "q")
    assert len([a for a in S.ARMS if a.startswith("hir_") and a != "hir_rpp"]) == 2 ** len(S.ABLATIONS) - 1
    pairs = N.pairs(["grpo", "hir", "hir_obase", "hir_qprime", "hir_rpp"])
    assert ("hir_qprime", "grpo") in pairs and ("hir_qprime", "hir") in pairs and ("hir_obase", "grpo") in pairs
    assert ("hir_obase", "hir") in pairs and len(set(pairs)) == len(pairs)
    assert ("hir_rpp", "grpo") not in pairs and ("hir_rpp", "grpo_rpp") not in pairs  # grpo_rpp absent
    assert not [p for p in pairs if "grpo_cla" in p]  # grpo_cla absent
    pairs = N.pairs(["grpo", "grpo_cla", "hir", "hir_notrunc"])
    assert {("hir", "grpo_cla"), ("hir_notrunc", "grpo_cla"), ("hir_notrunc", "grpo")} <= set(pairs)


def test_an_arm_the_regimes_sweep_left_out_takes_its_easy_lr(tmp_path):
    json.dump({"best": {"easy": {"grpo": 3e-4, "hir_rpp": 3e-4}, "hard": {"hir_rpp": 1e-4}}},
              open(tmp_path / "sweep.json", "w"))
    lrs = S.lrs_for(S.parse(["--out", str(tmp_path), "--arms", "grpo", "hir_rpp"]), "hard")
    assert lrs == {"grpo": 3e-4, "hir_rpp": 1e-4}

"""Does SmolLM2-135M-Instruct move at all under HiR and GRPO? A CPU signal that calibrates the GPU study.

    nohup python bench/smollm2_cpu.py --out runs/smol_cpu > runs/smol_cpu.log 2>&1 &    # about 75 min, 2 cores
    python bench/smollm2_cpu.py --out runs/smol_cpu --report                           # the table again

HiR and GRPO train side by side (one thread each) for 30 steps of 2 prompts, 64 new tokens, on synthetic
instructions of 2 or 3 constraints drawn from 7 IFEval ids that SmolLM2 meets in a short answer some of the time
(measured rates when asked alone, 64 tokens, temperature 1.0: title 0.50, keywords:existence 0.33, forbidden
words 0.83, number_words 0.83, highlighted sections 0.33, postscript 0.17, number_sentences 0.33). Held-out
ILA / CLA on 48 instructions (temperature 0.6) at steps 0, 10, 20, 30; train ILA / CLA averaged per 10 steps.
Both methods see the same prompts in the same order (same seed), so their windows are paired.
Writes OUT/{hir,grpo}/ (train.py run directories), OUT/start.json (step 0) and OUT/table.txt.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
IDS = ",".join(["detectable_format:title", "keywords:existence", "keywords:forbidden_words",
                "length_constraints:number_words", "detectable_format:number_highlighted_sections",
                "detectable_content:postscript", "length_constraints:number_sentences"])


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--out", default="runs/smol_cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--prompts_per_step", type=int, default=2)
    ap.add_argument("--eval_size", type=int, default=48)
    ap.add_argument("--report", action="store_true", help="only print the table of finished runs")
    return ap.parse_args(argv)


def train_flags(args, method):
    return ["--method", method, "--model", "smollm2", "--steps", str(args.steps), "--prompts_per_step",
            str(args.prompts_per_step), "--max_new_tokens", "64", "--constraint_ids", IDS, "--min_constraints", "2",
            "--max_constraints", "3", "--lr", str(args.lr), "--eval_every", "10", "--eval_size", str(args.eval_size),
            "--log_every", "1", "--save_every", str(args.steps), "--save_total_limit", "1", "--seed", str(args.seed),
            "--out", os.path.join(args.out, method)]


def start_point(args):
    """Held-out ILA / CLA of the model itself, on the runs' held-out set and settings."""
    path = os.path.join(args.out, "start.json")
    if not os.path.exists(path):
        import torch
        sys.path.insert(0, ROOT)
        from config import heldout_set, parse_config
        from eval import evaluate
        from models import load_model
        torch.set_num_threads(2)
        cfg = parse_config(train_flags(args, "hir")[:-2] + ["--out", os.path.join(args.out, "unused")])
        model, tok = load_model(cfg.model, dtype=torch.float32, device="cpu")
        summary = evaluate(model, tok, heldout_set(cfg), n=1, temperature=cfg.eval_temperature,
                           max_new_tokens=cfg.max_new_tokens, seed=0, micro_batch=args.eval_size, engine="hf")[1]
        json.dump({"heldout_ila": summary["ila"], "heldout_cla": summary["cla"]}, open(path + ".tmp", "w"))
        os.replace(path + ".tmp", path)
    return json.load(open(path))


def table(args, start):
    lines = [f"SmolLM2-135M-Instruct on the CPU, lr {args.lr:g}, {args.prompts_per_step} prompts per step, 64 new "
             f"tokens, seed {args.seed}",
             f"{'':6s} {'steps':>7s} {'train ILA':>9s} {'train CLA':>9s} {'held-out ILA':>12s} {'held-out CLA':>12s}"
             f" {'resp len':>8s}",
             f"{'both':6s} {'0':>7s} {'':>9s} {'':>9s} {start['heldout_ila']:12.3f} {start['heldout_cla']:12.3f}"]
    for method in ("hir", "grpo"):
        path = os.path.join(args.out, method, "metrics.jsonl")
        rows = [json.loads(line) for line in open(path)] if os.path.exists(path) else []
        for lo in range(0, len(rows), 10):
            w = rows[lo:lo + 10]
            mean = {k: sum(r[k] for r in w) / len(w) for k in ("ila", "cla", "resp_len")}
            last = w[-1]
            steps = f"{w[0]['step']}-{last['step']}"
            held = (f"{last['heldout_ila']:12.3f} {last['heldout_cla']:12.3f}" if "heldout_ila" in last
                    else f"{'':>12s} {'':>12s}")
            lines.append(f"{method:6s} {steps:>7s} {mean['ila']:9.3f} {mean['cla']:9.3f} {held} "
                         f"{mean['resp_len']:8.1f}")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    os.makedirs(args.out, exist_ok=True)
    if not args.report:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs = []
        for method in ("hir", "grpo"):
            log = open(os.path.join(args.out, f"{method}.log"), "w")
            command = [sys.executable, os.path.join(ROOT, "train.py"), *train_flags(args, method)]
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        if any(p.wait() for p in procs):
            raise SystemExit(f"a training run failed: see {args.out}/hir.log and grpo.log")
    text = table(args, start_point(args))
    open(os.path.join(args.out, "table.txt"), "w").write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

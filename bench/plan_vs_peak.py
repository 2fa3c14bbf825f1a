"""The memory plan against what a CUDA run measured: per phase, the most memory the caching allocator reserved
(torch.cuda.max_memory_reserved, the metrics' peak_<phase>_gib, over every step) beside plumbing/plan.py's GiB for
the run's own flags, at the longest prompt it met and its full --max_new_tokens (responses that end sooner make the
plan the larger).

    python bench/plan_vs_peak.py RUN_DIR         # bench/gpu_check.sh runs it after each training run

Measured phases: rollout (sampling), scoring (a top-up's sampling, pi_old, the reference, the replays' entropy), update
(forward, backward and the optimizer step); the plan's update is the larger of its update and optimizer phases.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from config import parse_config  # noqa: E402
from plumbing import plan as P  # noqa: E402


def compare(run):
    rows = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    cfg = parse_config(["--config", os.path.join(run, "config.json")])
    prompt_len = max(r.get("prompt_len_max", cfg.max_prompt_length) for r in rows)
    phases = P.plan(cfg, P.config_of(cfg.model), None, P.rows_per_step(cfg), prompt_len)
    planned = {k: sum(v.values()) / P.GIB for k, v in phases.items()}
    planned = {"rollout": planned["rollout"], "scoring": max(planned["scoring"], planned["rollout"]),
               "update": max(planned["update"], planned["optimizer"])}
    lines = [f"{run}: plan vs measured (GiB), {cfg.model}, {cfg.dtype}, rollout batch {P.rollout_rows(cfg)}, "
             f"longest prompt {prompt_len}, max_new_tokens {cfg.max_new_tokens}"]
    for phase, plan_gib in planned.items():
        got = [r[f"peak_{phase}_gib"] for r in rows if f"peak_{phase}_gib" in r]
        if not got:
            lines.append(f"  {phase:<8} plan {plan_gib:7.2f}  measured: none (not a CUDA run)")
            continue
        lines.append(f"  {phase:<8} plan {plan_gib:7.2f}  measured {max(got):7.2f}  measured/plan "
                     f"{max(got) / plan_gib:.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    for run in sys.argv[1:]:
        print(compare(run))

"""docs/scale.md's table: train.py --plan for the paper's three models (their config.json in bench/model_configs/,
shapes only), full fine-tuning and LoRA, on an H100 and an H200 (78 and 139 GiB usable: the GiB such cards report,
not the GB on their labels), with the first settings that fit.

    python bench/plan_table.py            # a markdown table, about 15 s on the CPU (meta device: no weights)

Per row: the phases' GiB at the settings shown, tried in order (micro-batch 8 without checkpointing, then with it,
then micro-batch 1, each with the largest --rollout_batch that fits), or "none fits" with the smallest plan.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from config import parse_config  # noqa: E402
from plumbing import plan as P  # noqa: E402

MODELS = ["Llama-3.2-3B-Instruct", "Qwen3-4B-Instruct-2507", "Qwen2.5-7B-Instruct"]
LENGTHS = {"release 2048 + 4096": ("2048", "4096"), "short 512 + 1024": ("512", "1024")}
TRIES = [("8", "false"), ("8", "true"), ("1", "true")]
ROLLOUT = ["0", "128", "64", "32", "16", "8"]


def phases(model, lengths, gpu, lora, micro, ckpt, rollout):
    folder = os.path.join(os.path.dirname(__file__), "model_configs", model)
    cfg = parse_config(["--model", folder, "--device", "cpu", "--dtype", "bf16", "--method", "hir", "--n", "6",
                        "--prompts_per_step", "64", "--max_prompt_length", lengths[0], "--max_new_tokens", lengths[1],
                        "--micro_batch", micro, "--grad_checkpointing", ckpt, "--rollout_batch", rollout,
                        "--lora_rank", "32" if lora else "0", "--kl_in_reward", "0.001", "--adv", "reinforce_pp"])
    out = P.plan(cfg, P.config_of(folder), gpu, P.rows_per_step(cfg), int(lengths[0]))
    return {k: sum(v.values()) / P.GIB for k, v in out.items()}


print("| model | GPU | training | lengths | settings | rollout | scoring | update | optimizer | fits |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model in MODELS:
    for gpu in (78, 139):
        for lora in (False, True):
            for name, lengths in LENGTHS.items():
                best = None
                for micro, ckpt in TRIES:
                    for rollout in ROLLOUT:
                        got = phases(model, lengths, gpu, lora, micro, ckpt, rollout)
                        peak = max(v for k, v in got.items() if k != "scoring")  # scoring: not bounded yet
                        fits = peak <= gpu
                        if best is None or peak < max(v for k, v in best[1].items() if k != "scoring"):
                            best = ((micro, ckpt, rollout), got, fits)
                        if fits:
                            best = ((micro, ckpt, rollout), got, True)
                            break
                    if best[2]:
                        break
                (micro, ckpt, rollout), got, fits = best
                setting = f"micro {micro}, ckpt {ckpt}, rollout_batch {rollout}"
                verdict = "yes, but scoring" if fits and got["scoring"] > gpu else "yes" if fits else "none fits"
                print(f"| {model} | {gpu} GiB | {'LoRA r32' if lora else 'full'} | {name} | {setting} | "
                      + " | ".join(f"{got[k]:.0f}" for k in ("rollout", "scoring", "update", "optimizer"))
                      + f" | {verdict} |")

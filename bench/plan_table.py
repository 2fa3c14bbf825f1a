"""docs/scale.md's table: train.py --plan for the paper's three models (their config.json in bench/model_configs/,
shapes only), full fine-tuning and LoRA, on an H100 and an H200 (78 and 139 GiB usable: the GiB such cards report,
not the GB on their labels), with the first settings that fit.

    python bench/plan_table.py            # a markdown table, about 15 s on the CPU (meta device: no weights)

Per row: the phases' GiB at the settings shown, tried in order (micro-batch 8 without checkpointing, then with it,
then micro-batch 1), each with --rollout_batch auto (the most rows whose KV cache fits) and the defaults
--score_tokens 32768 and --lm_head_chunk 1024; or "none fits" with the smallest plan.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from config import parse_config  # noqa: E402
from plumbing import plan as P  # noqa: E402

MODELS = ["Llama-3.2-3B-Instruct", "Qwen3-4B-Instruct-2507", "Qwen2.5-7B-Instruct"]
LENGTHS = {"release 2048 + 4096": ("2048", "4096"), "short 512 + 1024": ("512", "1024")}
TRIES = [("8", "false"), ("8", "true"), ("1", "true")]


def phases(model, lengths, gpu, lora, micro, ckpt, fsdp=0):
    folder = os.path.join(os.path.dirname(__file__), "model_configs", model)
    cfg = parse_config(["--model", folder, "--device", "cpu", "--dtype", "bf16", "--method", "hir", "--n", "6",
                        "--prompts_per_step", "64", "--max_prompt_length", lengths[0], "--max_new_tokens", lengths[1],
                        "--micro_batch", micro, "--grad_checkpointing", ckpt, "--plan", "--gpu_memory", str(gpu),
                        "--lora_rank", "32" if lora else "0", "--kl_in_reward", "0.001", "--adv", "reinforce_pp",
                        "--fsdp", str(bool(fsdp)).lower()])
    cfg.device, config, world = "cuda", P.config_of(folder), fsdp or 1  # a CUDA run's plan (its context and slack)
    cfg.rollout_batch = P.auto_rollout_batch(cfg, config, gpu, world)
    out = P.plan(cfg, config, gpu, P.rows_per_step(cfg, world), int(lengths[0]), world)
    return cfg.rollout_batch, {k: sum(v.values()) / P.GIB for k, v in out.items()}


def best(model, lengths, gpu, lora, fsdp=0):
    """The first setting of TRIES that fits, else the smallest plan: ((micro, ckpt, rollout), phases, fits)."""
    found = None
    for micro, ckpt in TRIES:
        rollout, got = phases(model, lengths, gpu, lora, micro, ckpt, fsdp)
        fits = max(got.values()) <= gpu
        if found is None or fits or max(got.values()) < max(found[1].values()):
            found = ((micro, ckpt, rollout), got, fits)
        if fits:
            break
    return found


def row(model, gpu, training, name, found):
    (micro, ckpt, rollout), got, fits = found
    return (f"| {model} | {gpu} GiB | {training} | {name} | micro {micro}, ckpt {ckpt}, rollout_batch auto = {rollout} "
            "| " + " | ".join(f"{got[k]:.0f}" for k in ("rollout", "scoring", "update", "optimizer"))
            + f" | {'yes' if fits else 'none fits'} |")


print("| model | GPU | training | lengths | settings | rollout | scoring | update | optimizer | fits |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model in MODELS:
    for gpu in (78, 139):
        for lora in (False, True):
            for name, lengths in LENGTHS.items():
                print(row(model, gpu, "LoRA r32" if lora else "full", name, best(model, lengths, gpu, lora)))
print("\nFull fine-tuning with FSDP2 (`--fsdp`, per GPU; 64 prompts a step shared by the GPUs), the release's "
      "lengths:\n")
print("| model | GPU | training | lengths | settings | rollout | scoring | update | optimizer | fits |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model in MODELS:
    for gpu in (78, 139):
        for n in (4, 8):
            print(row(model, gpu, f"full, FSDP x{n}", "release 2048 + 4096",
                      best(model, LENGTHS["release 2048 + 4096"], gpu, False, n)))

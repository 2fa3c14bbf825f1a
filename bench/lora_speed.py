"""LoRA against full fine-tuning on the CPU, side by side in one run: a training step's time (forward, backward,
AdamW), and decode speed with the adapters unmerged (the policy itself) or merged into a copy (plumbing/lora.py's
two samplers; --lora_merged_sampler picks, merged by default).

    python bench/lora_speed.py                                  # SmolLM2-135M-Instruct (offline wheel), rank 32
    python bench/lora_speed.py --model toy --rank 4             # the toy: seconds

Each number is the median of --repeats, the ways interleaved, so a busy machine slows them alike; read the ratios.
"""
import argparse
import os
import statistics
import sys
import time

import torch
from transformers.utils import logging as hf_logging

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rollout as R  # noqa: E402
from config import heldout_set, parse_config  # noqa: E402
from models import load_model  # noqa: E402
from plumbing import lora  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--model", default="smollm2")
ap.add_argument("--rank", type=int, default=32)
ap.add_argument("--batch", type=int, default=4, help="prompts")
ap.add_argument("--n", type=int, default=4, help="samples per prompt")
ap.add_argument("--new", type=int, default=32, help="new tokens per response")
ap.add_argument("--repeats", type=int, default=3)
ap.add_argument("--threads", type=int, default=2)
args = ap.parse_args()
torch.set_num_threads(args.threads)
hf_logging.disable_progress_bar()

cfg = parse_config(["--model", args.model, "--device", "cpu", "--lora_rank", str(args.rank), "--out", "unused",
                    "--eval_size", str(args.batch)])
prompts = [ins.render() for ins in heldout_set(cfg)]
full, tok = load_model(args.model)
policy, _ = lora.load_policy(cfg, None, torch.float32)
with torch.no_grad():  # adapters that are not zero, as after a few steps (the work is the same either way)
    for name, p in policy.named_parameters():
        if "lora_B" in name:
            p.normal_(0, 1e-3)
t0 = time.perf_counter()
merged = lora.make_merged_sampler(policy, torch.float32)
t_build = time.perf_counter() - t0
n_full = sum(p.numel() for p in full.parameters())
n_lora = sum(p.numel() for p in lora.trainable(policy))
print(f"{args.model}: {n_full / 1e6:.1f} M parameters; LoRA rank {args.rank}: {n_lora / 1e6:.2f} M trainable "
      f"({100 * n_lora / n_full:.2f}%); {args.batch} prompts x {args.n} samples x {args.new} new tokens, "
      f"{args.threads} threads")


def decode(model):
    t0 = time.perf_counter()
    out = R.sample(model, tok, prompts, n=args.n, max_new_tokens=args.new, seed=0)
    return float(out.response_mask.sum()) / (time.perf_counter() - t0)


batch = R.sample(full, tok, prompts, n=args.n, max_new_tokens=args.new, seed=1)
rows = (batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask)
optimizers = {"full": torch.optim.AdamW(full.parameters(), lr=1e-9),
              "lora": torch.optim.AdamW(lora.trainable(policy), lr=1e-9)}


def step(kind):
    model = full if kind == "full" else policy
    t0 = time.perf_counter()
    R.token_logprobs(model, *rows).sum().backward()
    optimizers[kind].step()
    optimizers[kind].zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def refresh():
    t0 = time.perf_counter()
    lora.refresh_merged_sampler(merged, policy)
    return time.perf_counter() - t0


times = {k: [] for k in ("full", "lora", "plain tok/s", "unmerged tok/s", "merged tok/s", "refresh")}
for _ in range(args.repeats):
    times["full"].append(step("full"))
    times["lora"].append(step("lora"))
    times["plain tok/s"].append(decode(full))
    times["unmerged tok/s"].append(decode(policy))
    times["merged tok/s"].append(decode(merged))
    times["refresh"].append(refresh())
m = {k: statistics.median(v) for k, v in times.items()}
print(f"training step (forward + backward + AdamW): full {m['full']:.2f} s, LoRA {m['lora']:.2f} s "
      f"(LoRA / full {m['lora'] / m['full']:.2f})")
print(f"decode: no adapters {m['plain tok/s']:.0f} tok/s, unmerged {m['unmerged tok/s']:.0f} tok/s, merged copy "
      f"{m['merged tok/s']:.0f} tok/s (unmerged / merged {m['unmerged tok/s'] / m['merged tok/s']:.2f}); the merged "
      f"copy: built in {t_build:.2f} s, refreshed in {m['refresh']:.3f} s per step")

"""The update's scoring, side by side in one run: each distinct prompt once (engines/shared_prompt.py) vs the plain
pass over every row's prompt. A training step's batch: B prompts x n samples, plus k * B replays (prompts of their
own), forward and backward as `train.update` runs them.

    python bench/score_speed.py                                        # the easy testbed if built, else the toy
    python bench/score_speed.py --model runs/testbed_p0.7 --n 8 --replays 0         # a GRPO step
    python bench/score_speed.py --model smollm2 --batch 2 --n 6 --new 64 --repeats 2  # SmolLM2 on the CPU (slow)

Prints seconds per pass (the median of --repeats, both ways interleaved) and their ratio; the values agree
(tests/engines/test_shared_prompt.py checks them in float64).
"""
import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rollout as R  # noqa: E402
from config import heldout_set, parse_config  # noqa: E402
from models import load_model  # noqa: E402

TESTBED = "runs/testbed_p0.7"
ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--model", default=TESTBED if os.path.exists(os.path.join(TESTBED, "preset.json")) else "toy")
ap.add_argument("--batch", type=int, default=8, help="prompts per step")
ap.add_argument("--n", type=int, default=6, help="samples per prompt")
ap.add_argument("--replays", type=int, default=16, help="rows with a prompt of their own (HiR: k * B)")
ap.add_argument("--new", type=int, default=40, help="max new tokens per response")
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
torch.set_num_threads(args.threads)

preset = os.path.join(args.model, "preset.json")
flags = ["--config", preset] if os.path.exists(preset) else ["--model", args.model]
cfg = parse_config([*flags, "--out", "unused", "--eval_size", str(args.batch + args.replays)])
model, tok = load_model(cfg.model)
prompts = [ins.render() for ins in heldout_set(cfg)]
rollout = R.sample(model, tok, prompts[:args.batch], n=args.n, max_new_tokens=args.new, seed=0)
if args.replays:
    solo = R.sample(model, tok, prompts[args.batch:args.batch + args.replays], n=1, max_new_tokens=args.new, seed=1)
    rollout = R.cat_rollouts(rollout, solo, tok.pad_token_id)
batch = (rollout.input_ids, rollout.attention_mask, rollout.position_ids, rollout.response_mask)
print(f"{args.model}: {len(rollout.texts)} rows, prompt width {rollout.prompt_ids.shape[1]}, "
      f"{int(rollout.response_mask.sum())} response tokens")


def one(share):
    model.zero_grad(set_to_none=True)
    t0 = time.perf_counter()
    R.token_logprobs(model, *batch, share_prompts=share).sum().backward()
    return time.perf_counter() - t0


times = {True: [], False: []}
for _ in range(args.repeats):
    for share in (False, True):
        times[share].append(one(share))
plain, shared = statistics.median(times[False]), statistics.median(times[True])
print(f"forward + backward: plain {plain:.3f} s, shared prompts {shared:.3f} s: {plain / shared:.2f}x")

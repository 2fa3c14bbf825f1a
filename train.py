"""The training loop: HiR (or a GRPO baseline) on instructions with verifiable constraints.

    python train.py                                               # HiR on SmolLM2-135M-Instruct, offline
    python train.py --model toy --steps 100 --out runs/toy_hir    # tiny model, 18 s on 2 quiet CPU cores
    python train.py --model toy --method grpo --out runs/toy_grpo # the binary-reward baseline
    python train.py --resume runs/toy_hir --steps 200             # continue where it stopped
    torchrun --nproc_per_node 8 train.py                          # several GPUs (plumbing/distributed.py)

One step (`train_step`), B prompts:
  1. sample n responses per prompt (rollout.py)                 -> B * n originals
  2. verify every constraint of every response (constraints.py) -> reward = ILA (or CLA for grpo_cla)
  3. HiR only, one call (replay.py): top up when near-misses are short, select failures with
     0 < CLA < 1, rewrite their instructions to what they met -> replays, reward 1, in their source's group
  4. pi_old: scored under each original prompt; a replay copies its source row's (ratio pi(y|q') / pi_old(y|q))
  5. advantages over originals and replays together (hir.py), then ppo_epochs x mini_batches
     optimizer steps of the clipped surrogate (`update`)
  6. a metrics line from this step's values; every eval_every steps held-out ILA/CLA; checkpoints
What it simplifies: one optimizer, no value model, no learning-rate schedule, and a plain loop of
forward calls where verl and OpenRLHF run vLLM (rollout engines: docs/engines.md).
"""
import os
os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # before torch loads: plumbing/reproducible.py says why
import dataclasses  # noqa: E402 (the rest of the imports)
import functools
import hashlib
import math
import sys
import time

import torch
from tqdm import tqdm
from transformers.utils import logging as hf_logging

import hir
import replay
from config import UsageError, heldout_set, parse_config
from constraints import cla, ila, verify
from eval import heldout_eval
from plumbing import distributed, fsdp, lora, plan
from plumbing.setup import make_sampler, setup  # noqa: F401 (make_sampler: for the tests)
from plumbing.trackers import open_tracker
from plumbing.rundir import (log_line, log_metrics, plot_curves, print_summary, read_metrics, save_checkpoint,
                             stop_broken_run)
from rollout import Rollout, cat_right_padded, cat_rollouts, chat_ids, sample, token_logprobs

# one non-finite batch is skipped safely (an inf advantage from a degenerate group, say); this many steps in a
# row whose every update was non-finite means the weights themselves are broken (e.g. --lr 2e6 for 2e-6)
NON_FINITE_STEPS = 3


# ----------------------------------------------------------------------------- precision (plumbing/setup.py)
@torch.no_grad()
def refresh_sampler(sampler, policy):
    if fsdp.is_sharded(policy):  # every rank gathers the shards into its replica, a parameter at a time
        fsdp.refresh(sampler, policy)
    elif sampler is not policy and lora.is_lora(policy):
        lora.refresh_merged_sampler(sampler, policy)
    elif sampler is not policy:  # one cast per training step, not one per decoded token
        for dst, src in zip(sampler.parameters(), policy.parameters()):
            dst.copy_(src)


def autocast(cfg):
    """Every forward that feeds the loss (old, reference and current log-probs) runs here."""
    return torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.dtype == "bf16")


def score(cfg, model, batch, grad=False):
    """Token log-probs (N, R) of `batch`: a Rollout, or a tuple (ids, mask, positions, response_mask)."""
    if isinstance(model, lora.AdaptersOff):  # the reference with LoRA: the policy with its adapters disabled
        with model.policy.disable_adapter():
            return score(cfg, model.policy, batch, grad)
    if isinstance(batch, Rollout):
        batch = (batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask)
    with torch.set_grad_enabled(grad), autocast(cfg):
        if fsdp.is_sharded(model):  # through the root's hooks, as many calls on every rank (plumbing/fsdp.py)
            return fsdp.score(model, *batch, cfg.temperature, False, cfg.lm_head_chunk, cfg.score_tokens)
        return token_logprobs(model, *batch, cfg.temperature, chunk_tokens=cfg.lm_head_chunk,
                              share_prompts=cfg.share_prompts, max_tokens=cfg.score_tokens)  # no grad: by tokens


def old_logprobs(cfg, policy, rollout):
    """pi_old: by definition the policy's own scoring pass, `score()` (the full distribution at the sampling
    temperature, no top-p, under the update's autocast), so the ratio is 1 on every token before the first optimizer
    step. Never the sampler's behaviour log-probs, even where they are the same numbers up to rounding (the policy
    itself, fp32, top_p 1): their rounding depends on how many rows decoded together, and a run's numbers must not
    (--rollout_batch). verl recomputes them too (`recompute_log_prob`)."""
    return score(cfg, policy, rollout)


# ----------------------------------------------------------------------------- one step
def seed_int(parts):
    """A stable 63-bit seed from a tuple such as (seed, step, "topup", 0)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


def sample_rollout(cfg, sampler, tok, instructions, seed, first=0, n=None):
    """n responses per instruction, rollout_batch rows at a time (0: all at once). Each prompt samples from its
    own stream, seeded by `seed` and its global index, so its samples depend neither on how the step's rows are
    chunked (--rollout_batch) nor on how many ranks share the step."""
    sampler.eval()
    n = n or cfg.n
    per_call = max(1, cfg.rollout_batch // n) if cfg.rollout_batch else len(instructions)
    texts = [ins.render() for ins in instructions]
    width = max(map(len, chat_ids(tok, texts)))  # every call left-pads to the step's width: the same shapes
    parts = []
    for i in range(0, len(instructions), per_call):
        chunk = instructions[i:i + per_call]
        with torch.no_grad():  # no autocast: the sampler's weights already have the rollout's dtype
            part = sample(sampler, tok, texts[i:i + per_call], n=n, max_new_tokens=cfg.max_new_tokens,
                          temperature=cfg.temperature, top_p=cfg.top_p, micro_batch=len(chunk) * n, engine=cfg.engine,
                          seed=[seed_int((*seed, first + i + j)) for j in range(len(chunk))], prompt_width=width)
        part.group_ids += i  # group ids index `instructions`
        parts.append(part)
    return functools.reduce(lambda a, b: cat_rollouts(a, b, tok.pad_token_id), parts)


def verify_rows(rollout, instructions):
    """Per row: the verdict list of its group's instruction on its text."""
    return [verify(instructions[int(g)], text) for g, text in zip(rollout.group_ids, rollout.texts)]


def advantages(cfg, rewards, batch, kl=None, is_replay=None):
    """(N,) group-relative advantages, or (N, T) token advantages for REINFORCE++ (whitened over all ranks)."""
    if cfg.adv == "reinforce_pp":
        return hir.reinforce_pp_advantages(rewards, batch.response_mask, kl, cfg.kl_in_reward,
                                           sum_all=distributed.sum_all)
    scale = "std" if cfg.adv == "grpo" else "none"
    if cfg.replay_baseline == "originals" and is_replay is not None:
        return hir.originals_baseline_advantages(rewards, batch.group_ids, is_replay, scale)
    return hir.group_advantages(rewards, batch.group_ids, scale)


def update(cfg, step, policy, optimizer, batch, old_logp, ref_logp, adv, is_replay=None):
    """ppo_epochs passes over the step's rows, each split into mini_batches optimizer steps (the
    release takes 2), each accumulated over micro-batches. A micro-batch's loss is normalized by its
    mini-batch's token (or sequence) count over all ranks, so the summed gradients are the gradient
    of the mini-batch's loss, whatever the micro-batch size or the number of ranks. -> metrics, with
    the ratio, clip and KL of originals and of replays (`is_replay`, (N,) bool) kept apart."""
    policy.train()
    mask, params = batch.response_mask, lora.trainable(policy)  # with LoRA, the adapters alone
    is_replay = torch.zeros(len(mask), dtype=torch.bool, device=mask.device) if is_replay is None else is_replay
    kinds = {"orig": ~is_replay, "replay": is_replay}
    sums = {k: torch.zeros(5, dtype=torch.float64, device=mask.device) for k in kinds}  # tokens, ratio, cut, k3, dual
    ratio_max = {k: torch.zeros(1, dtype=torch.float64, device=mask.device) for k in kinds}
    order_rng = torch.Generator().manual_seed(seed_int((cfg.seed, step, "order")))
    full = (batch.input_ids, batch.attention_mask, batch.position_ids, mask)  # built once, sliced per micro-batch
    losses, skipped = [], 0
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(len(mask), generator=order_rng, device="cpu").to(mask.device)
        for part in order.tensor_split(cfg.mini_batches):  # (rows,) each; every rank takes the same number of steps
            tokens = distributed.sum_all(mask[part].sum())
            total = tokens if cfg.agg == "token_mean" else distributed.sum_all(float(len(part)))
            optimizer.zero_grad(set_to_none=True)
            loss_sum, count = 0.0, len(part.split(cfg.micro_batch))
            most = fsdp.most_calls(policy, count)  # FSDP: every rank runs as many forward-backward passes
            for rows in part.split(cfg.micro_batch):
                logp = score(cfg, policy, tuple(x[rows] for x in full), grad=True)
                loss, stats = hir.hir_loss(logp, old_logp[rows], adv[rows], mask[rows],
                                           None if ref_logp is None else ref_logp[rows], cfg.beta, cfg.clip_low,
                                           cfg.clip_high, cfg.agg, total, cfg.clip_ratio_c)
                loss.backward()
                loss_sum += loss.item()
                n, ratio, row_max, cut, k3, dual = stats["rows"]  # per-row sums, from the loss's own ratio
                for kind, sel in kinds.items():
                    sel = sel[rows]
                    sums[kind] += torch.stack([x[sel].sum() for x in (n, ratio, cut, k3, dual)]).double()
                    if sel.any():
                        ratio_max[kind] = torch.maximum(ratio_max[kind], row_max[sel].max().double())
            if fsdp.is_sharded(policy):  # dummies up to the rank with the most micro-batches
                fsdp.pad_micro_batches(policy, most - count, lambda: autocast(cfg))
            else:  # FSDP reduce-scatters (sums) in each backward; here one sum over ranks per optimizer step
                distributed.sum_gradients(params)  # every rank now holds the mini-batch's whole gradient
            loss_sum = distributed.sum_all(loss_sum)
            grad_norm = fsdp.local(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
            if math.isfinite(loss_sum) and torch.isfinite(grad_norm):
                optimizer.step()
            else:  # never apply a non-finite update: skip it and count it
                skipped += 1
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss_sum)
    out = {"loss": sum(losses) / len(losses), "grad_norm": float(grad_norm), "skipped_updates": skipped}
    for kind, prefix in (("orig", ""), ("replay", "replay_")):  # token means over every pass; originals first
        n, ratio, cut, k3, dual = distributed.sum_all(sums[kind]).tolist()
        out |= {f"{prefix}clip_frac": cut / max(n, 1), f"{prefix}approx_kl": k3 / max(n, 1),
                f"{prefix}dual_clip_frac": dual / max(n, 1),
                f"{prefix}ratio_mean": ratio / max(n, 1),
                f"{prefix}ratio_max": float(distributed.gather(ratio_max[kind]).max())}
    return out


def policy_under(cfg, policy, rollout):
    """The policy's (N, R) token log-probs of `rollout` (score()'s numbers) and (N,) mean token entropy of its full
    distribution at the sampling temperature: for the replays, under q'."""
    sharded = fsdp.is_sharded(policy)  # then a rank without replays still makes every rank's calls
    if not rollout.texts and not sharded:  # a step whose budget allowed no replays
        return rollout.logprobs[:0], torch.zeros(0, device=rollout.response_ids.device)
    args = (rollout.input_ids, rollout.attention_mask, rollout.position_ids, rollout.response_mask, cfg.temperature)
    with torch.no_grad(), autocast(cfg):
        logp, ent = (fsdp.score(policy, *args, True, cfg.lm_head_chunk, cfg.score_tokens) if sharded else
                     token_logprobs(policy, *args, with_entropy=True, chunk_tokens=cfg.lm_head_chunk,
                                    share_prompts=cfg.share_prompts, max_tokens=cfg.score_tokens))
    if not rollout.texts:
        return rollout.logprobs[:0], torch.zeros(0, device=rollout.response_ids.device)
    return logp, (ent * rollout.response_mask).sum(1) / rollout.response_mask.sum(1).clamp(min=1)


def train_step(cfg, step, policy, sampler, ref_model, tok, optimizer, instructions, first=0):
    """One step on this rank's `instructions` (global prompt indices first, first + 1, ...) -> metrics."""
    t0, _ = time.perf_counter(), plan.peak_gib(cfg.device, "")  # CUDA: the step's peaks per phase, from here
    rollout = sample_rollout(cfg, sampler, tok, instructions, seed=(cfg.seed, step), first=first)   # 1. sample
    sampled_tokens = float(distributed.sum_all(rollout.response_mask.sum()))
    t1, peaks = time.perf_counter(), plan.peak_gib(cfg.device, "rollout")
    verdicts = verify_rows(rollout, instructions)                                                   # 2. verify
    t2 = time.perf_counter()
    sources, topup_rows, n_cand, budget, replays = [], 0, 0, 0, None
    if cfg.method == "hir":                                                                         # 3. replay
        def sample_more(n):  # the released top-up: n more samples per prompt, trained as originals
            extra = sample_rollout(cfg, sampler, tok, instructions, seed=(cfg.seed, step, "topup", 0), first=first, n=n)
            return extra, verify_rows(extra, instructions)
        found = replay.hindsight(step, rollout, verdicts, instructions, tok, sample_more, k=cfg.k_per_prompt,
                                 lam0=cfg.lam0, eta=cfg.eta, mode=cfg.select, topup=cfg.topup, seed=cfg.seed,
                                 first=first, pad_id=tok.pad_token_id, debug=cfg.debug,
                                 replay_truncated=cfg.replay_truncated)
        rollout, verdicts, replays = found.rollout, found.verdicts, found.replays
        sources, topup_rows, n_cand, budget = replays.source_rows, found.topup_rows, found.candidates, found.budget
    device = rollout.response_ids.device
    ilas = torch.tensor([float(ila(v)) for v in verdicts], device=device)                          # (B * n,)
    clas = torch.tensor([cla(v) for v in verdicts], device=device)
    rewards = clas if cfg.method == "grpo_cla" else ilas
    old_logp = old_logprobs(cfg, policy, rollout)                                                   # 4. pi_old
    ref_logp = score(cfg, ref_model, rollout) if ref_model is not None else None  # the reference, also under q
    batch, replay_entropy = rollout, torch.zeros(0, device=device)
    if replays is not None:  # replays succeed, in their source's group; pi_old(y | q) and ref(y | q) copied
        batch = cat_rollouts(rollout, replays.rollout, tok.pad_token_id)
        under_q_prime, replay_entropy = policy_under(cfg, policy, replays.rollout)  # entropy: the diagnostics'
        old_rep, ref_rep = old_logp[sources], None if ref_logp is None else ref_logp[sources]
        if cfg.replay_old == "q_prime":  # an ablation: the trust region is taken around pi(y | q'), the ratio starts
            # at 1; what it gives up is the importance correction pi(y | q') / pi_old(y | q) of an off-policy replay
            old_rep = under_q_prime
            ref_rep = None if ref_logp is None else score(cfg, ref_model, replays.rollout)  # KL under q' too
        old_logp = cat_right_padded([old_logp, old_rep], 0.0)
        ref_logp = None if ref_logp is None else cat_right_padded([ref_logp, ref_rep], 0.0)
        rewards = torch.cat([rewards, torch.ones(len(sources), device=device)])
    is_replay = torch.arange(len(batch.texts), device=device) >= len(verdicts)                     # (N,)
    t3, peaks = time.perf_counter(), peaks | plan.peak_gib(cfg.device, "scoring")  # with a top-up's sampling
    kl = old_logp - ref_logp if ref_logp is not None else None  # k1 per sampled token, for KL in the reward
    adv = advantages(cfg, rewards, batch, kl, is_replay)                                            # 5. update
    learned = update(cfg, step, policy, optimizer, batch, old_logp, ref_logp, adv, is_replay)
    refresh_sampler(sampler, policy)
    t4, peaks = time.perf_counter(), peaks | plan.peak_gib(cfg.device, "update")  # with the optimizer step
    rows = distributed.sum_all(len(verdicts))  # 6. metrics: means over every rank's original rows
    return {"generated": rows, "topups": int(distributed.sum_all(topup_rows) > 0),
            "candidates": n_cand, "replays": distributed.sum_all(len(sources)),
            "replay_budget": budget, **replay.diagnostics(adv, batch.response_mask, is_replay, ilas, rollout,
                                                           replay_entropy, len(instructions)),
            "ila": float(distributed.sum_all(ilas.sum())) / rows, "cla": float(distributed.sum_all(clas.sum())) / rows,
            "resp_len": float(distributed.sum_all(rollout.response_mask.sum())) / rows,
            "prompt_len_max": int(rollout.prompt_mask.sum(1).max()),  # rank 0's longest prompt: the GPU check's plan
            "truncated": float(distributed.sum_all(rollout.truncated.sum())) / rows, **learned,
            "time_rollout": t1 - t0, "time_verify": t2 - t1, "time_replay": t3 - t2, "time_update": t4 - t3,
            "tokens_per_s": sampled_tokens / (t1 - t0), **peaks}


# ----------------------------------------------------------------------------- main (setup: plumbing/setup.py)
def main(argv=None):
    cfg = parse_config(sys.argv[1:] if argv is None else argv, usage=__doc__)
    if cfg.plan:  # the memory plan of this run, from the model's config alone: nothing loads, nothing is written
        return plan.main(cfg, cfg.gpu_memory or None)
    rank, world = distributed.init()  # (0, 1) without torchrun
    if cfg.fsdp and "RANK" not in os.environ:
        raise UsageError("--fsdp shards over the processes torchrun starts: torchrun --nproc_per_node N train.py ...")
    cfg.device = distributed.local_device(cfg.device)
    if cfg.prompts_per_step % world:
        raise UsageError(f"--prompts_per_step {cfg.prompts_per_step} must be a multiple of the {world} ranks")
    share = cfg.prompts_per_step // world
    if cfg.mini_batches > share * cfg.n:  # checked before any work: each mini-batch needs rows of its own
        raise UsageError(f"--mini_batches {cfg.mini_batches} is more than a step's {share * cfg.n} sampled rows "
                         f"per process (--prompts_per_step {cfg.prompts_per_step} x --n {cfg.n} / {world} processes)")
    hf_logging.disable_progress_bar()  # one bar on the console: ours (not transformers' loading and saving bars)
    policy, sampler, ref_model, tok, optimizer, source, start = setup(cfg)
    heldout = heldout_set(cfg)
    rows = read_metrics(cfg.out) if start else []
    generated, t_start = (rows[-1]["generated"] if rows else 0), time.perf_counter()
    tracker = open_tracker(cfg.report_to, cfg.out, dataclasses.asdict(cfg), start, rank)  # rank 0 alone logs
    # a bar only on a terminal: under nohup (stderr a file) the plain log lines every log_every steps stay readable
    bar = tqdm(range(start + 1, cfg.steps + 1), initial=start, total=cfg.steps, desc=cfg.method, dynamic_ncols=True,
               disable=rank != 0 or not sys.stderr.isatty())
    broken = 0  # consecutive steps whose every update was non-finite (and so skipped)
    for step in bar:
        t_step = time.perf_counter()
        mine = source.next(cfg.prompts_per_step)[rank * share:(rank + 1) * share]  # every rank reads the same stream
        metrics = train_step(cfg, step, policy, sampler, ref_model, tok, optimizer, mine, first=rank * share)
        generated += metrics["generated"]
        metrics = {"step": step, **metrics, "generated": generated}  # the log counts responses from the start
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            metrics["heldout_ila"], metrics["heldout_cla"] = heldout_eval(cfg, sampler, tok, heldout)
        bar.set_postfix_str(f"ila {metrics['ila']:.2f} cla {metrics['cla']:.2f} rep {metrics['replays']} "
                            f"loss {metrics['loss']:+.3g}"
                            + (f" | held-out ila {metrics['heldout_ila']:.2f}" if "heldout_ila" in metrics else ""))
        broken = broken + 1 if metrics["skipped_updates"] == cfg.ppo_epochs * cfg.mini_batches else 0
        if rank == 0:
            log_metrics(cfg, metrics)
            tracker.log(metrics)
        if broken >= NON_FINITE_STEPS:  # the weights themselves are broken: stop (every rank)
            bar.close()
            tracker.finish()
            stop_broken_run(cfg, step, broken, rank)
        if rank == 0 and (step % cfg.log_every == 0 or step == cfg.steps):
            bar.write(log_line(cfg, metrics, time.perf_counter() - t_step))
        if step % cfg.save_every == 0 or step == cfg.steps:  # FSDP: every rank gathers, rank 0 writes
            model, states = fsdp.gathered(policy, optimizer, sampler) if cfg.fsdp else (policy, optimizer)
            if rank == 0:
                save_checkpoint(cfg, step, model, tok, states, source)
                tracker.flush()  # what a resume will not redo is on disk, even if the run is killed next
        distributed.barrier()  # no rank runs ahead of a checkpoint being written
    bar.close()
    tracker.finish()
    if rank == 0:
        plot_curves(cfg)
        print_summary(cfg, start, time.perf_counter() - t_start)
    return cfg


if __name__ == "__main__":
    try:
        main()
    except UsageError as e:  # a bad flag or value: `error:` and status 2, as argparse's own errors
        print(e, file=sys.stderr)
        sys.exit(2)
    distributed.finish()

"""The training loop: HiR (or a GRPO baseline) on instructions with verifiable constraints.

    python train.py                                               # HiR on SmolLM2-135M-Instruct, offline
    python train.py --model toy --steps 100 --out runs/toy_hir    # tiny model, 45 s on 2 CPU cores
    python train.py --model toy --method grpo --out runs/toy_grpo # the binary-reward baseline
    python train.py --resume runs/toy_hir --steps 200             # continue where it stopped
    torchrun --nproc_per_node 8 train.py                          # several GPUs (distributed.py)

Each step, top to bottom: sample n responses per prompt -> verify every constraint -> (HiR only)
top up when near-misses are short, select failures and rewrite their instructions into replays ->
old log-probs and group advantages over originals and replays together -> ppo_epochs x mini_batches
optimizer steps of micro-batched clipped-surrogate updates -> log a metrics line -> every eval_every
steps, held-out ILA/CLA -> checkpoint (rundir.py).

Precision, one decision (`--dtype`; auto = bf16 on CUDA, fp32 on the CPU), as in verl and OpenRLHF:
  * the optimizer updates fp32 master weights (`policy`), and AdamW's state is fp32;
  * with bf16, every forward that feeds the loss (old, reference and current log-probs) runs those
    fp32 weights under bf16 autocast: bf16 matmuls, fp32 norms, softmax and log-probs;
  * the rollout reads `sampler`: in bf16 a bf16 copy of the weights (parameters only; RoPE buffers
    stay fp32), refreshed once after each optimizer step, so decoding never casts weights per token
    and its KV cache, static or dynamic, is bf16 like the keys it stores. In fp32, the policy itself.
  * pi_old is defined by the policy's scoring pass (`old_logprobs`), never by the sampler, so the
    ratio is exactly 1 before the first update whatever the dtype, temperature or top-p. The
    behaviour log-probs are reused as pi_old only where they are the same numbers (fp32, top_p = 1).
Devices: the models live on cfg.device; every tensor the loop builds is made on the rollout's
device (`verdict_tensors` is where verdicts become rewards and CLA), never on a default device.
"""
import copy
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import random
import sys
import time

import torch
from tqdm import tqdm
from transformers.utils import logging as hf_logging

import data as D
import distributed as DP
import eval as E
import hir as H
import replay as RP
import rollout as R
from config import constraint_ids, heldout_set, keyword_pool, parse_config
from constraints import cla, ila, verify
from models import DTYPES, cast_weights, load_model
from rundir import log_line, log_metrics, plot_curves, prepare_run_dir, print_summary, save_checkpoint


# ----------------------------------------------------------------------------- precision and devices
def make_sampler(cfg, policy):
    """What the rollout reads. fp32: the policy itself. bf16: a bf16 copy of its weights, made once
    and refreshed after every optimizer step (`refresh_sampler`), so sampling never casts weights."""
    if cfg.dtype != "bf16":  # fp32 (or fp64, for tests against references): sample from the policy itself
        return policy
    return cast_weights(copy.deepcopy(policy), DTYPES[cfg.dtype]).eval().requires_grad_(False)


@torch.no_grad()
def refresh_sampler(sampler, policy):
    if sampler is not policy:  # one cast per training step, not one per decoded token
        for dst, src in zip(sampler.parameters(), policy.parameters()):
            dst.copy_(src)


def autocast(cfg):
    """Every forward that feeds the loss (old, reference and current log-probs) runs here."""
    return torch.autocast(cfg.device.split(":")[0], dtype=torch.bfloat16, enabled=cfg.dtype == "bf16")


def verdict_tensors(verdicts, device):
    """The one place where Python verdicts become tensors: (B,) ILA and (B,) CLA, on the rollout's device."""
    return (torch.tensor([float(ila(v)) for v in verdicts], device=device),
            torch.tensor([cla(v) for v in verdicts], device=device))


# ----------------------------------------------------------------------------- one step
def verify_rows(rollout, instructions):
    """Per row: the verdict list of its group's instruction on its text."""
    return [verify(instructions[int(g)], text) for g, text in zip(rollout.group_ids, rollout.texts)]


def released_topup(cfg, step, sampler, tok, instructions, rollout, verdicts, stats, first=0):
    """The released top-up. When the candidates of all ranks fall short of the budget k * B, draw
    resample_n = ceil((k * B - candidates) / B) more samples per prompt: they join the batch as
    originals (rewarded and trained, and candidates too), and the replay budget shrinks to
    (k - resample_n) * B, so a step trains on about (n + k) * B rows either way. -> (rollout,
    verdicts, resample_n)."""
    n_prompts = DP.sum_all(len(instructions))
    n_cand = DP.sum_all(int(RP.candidates(verdict_tensors(verdicts, rollout.response_ids.device)[1]).sum()))
    budget = int(round(cfg.k_per_prompt * n_prompts))
    if n_cand >= budget:
        return rollout, verdicts, 0
    resample_n = math.ceil((budget - n_cand) / n_prompts)
    extra = sample_rollout(cfg, sampler, tok, instructions, seed=(cfg.seed, step, "topup", 0), first=first, n=resample_n)
    stats["topups"] += 1
    stats["generated"] += DP.sum_all(len(extra.texts))
    return R.cat_rollouts(rollout, extra, tok.pad_token_id), verdicts + verify_rows(extra, instructions), resample_n


def make_replays(cfg, step, policy, sampler, tok, rollout, instructions, verdicts, old_logp, stats, first=0,
                 samples=None, k=None):
    """SELECT + REWRITE. `samples` lists the samples per prompt of each round `rollout` holds (default
    [n]), `k` the replays per prompt (default k_per_prompt). With --topup_mode sources, extra rounds
    are drawn while the candidates of all ranks are short of the budget; they only serve as replay
    sources, never as trained originals. `first` is the global index of this rank's first prompt."""
    samples, k = list(samples or [cfg.n]), cfg.k_per_prompt if k is None else k
    n_prompts = DP.sum_all(len(instructions))  # the whole step's B
    budget = max(0, int(round(k * n_prompts)))
    pool, pool_verdicts, pool_old = rollout, verdicts, old_logp
    rounds = cfg.topup if cfg.topup_mode == "sources" else 0  # released: train_step has topped up already
    for rnd in range(rounds + 1):
        clas = verdict_tensors(pool_verdicts, pool.response_ids.device)[1]
        is_cand = RP.candidates(clas)
        n_cand = DP.sum_all(int(is_cand.sum()))
        if rnd == rounds or n_cand >= budget:
            break
        stats["topups"] += 1  # not enough near-misses: sample more responses per prompt (replay sources only)
        extra = sample_rollout(cfg, sampler, tok, instructions, seed=(cfg.seed, step, "topup", rnd), first=first)
        stats["generated"] += DP.sum_all(len(extra.texts))
        pool, samples = R.cat_rollouts(pool, extra, tok.pad_token_id), samples + [cfg.n]
        pool_verdicts = pool_verdicts + verify_rows(extra, instructions)
        pool_old = R.cat_right_padded([pool_old, old_logprobs(cfg, policy, extra)], 0.0)
    scores = RP.replay_scores(clas, RP.mean_entropy(pool), step, cfg.lam0, cfg.eta)
    rows = select_global(cfg, step, scores, is_cand, samples, len(instructions), n_prompts, first, budget, k)
    stats["candidates"], stats["replays"] = n_cand, DP.sum_all(len(rows))
    return RP.rewrite(pool, instructions, pool_verdicts, rows, tok, pool_old, debug=cfg.debug)


def select_global(cfg, step, scores, is_cand, samples, n_local, n_prompts, first, budget, k):
    """RP.select over the candidates of every rank (the released selection is global), returning
    this rank's rows. A pool row is (round, prompt, sample); its key, the row's index in the pool of
    a single process holding all B prompts, does not depend on the number of ranks, and RP.select
    breaks ties by it. Gathered rows are put in key order before selecting."""
    keys = torch.cat([base + (first * m) + torch.arange(n_local * m, device=scores.device)  # (rows,)
                      for base, m in zip(itertools.accumulate([0] + [n_prompts * m for m in samples]), samples)])
    groups = torch.cat([first + torch.arange(n_local, device=scores.device).repeat_interleave(m) for m in samples])
    all_keys, order = DP.gather(keys).sort()
    picked = RP.select(DP.gather(scores)[order], DP.gather(is_cand)[order], DP.gather(groups)[order], budget,
                       cfg.select, int(round(k)), random.Random(f"select:{cfg.seed}:{step}"))
    mine = set(all_keys[picked].tolist()) if picked else set()
    return [r for r, key in enumerate(keys.tolist()) if key in mine]


def old_logprobs(cfg, policy, rollout):
    """pi_old: by definition the policy's own scoring pass, `score()` (the full distribution at the
    sampling temperature, no top-p, under the update's autocast), so the ratio pi_theta / pi_old is 1
    on every token before the first optimizer step. The behaviour log-probs are reused only where
    they are those same numbers: fp32 sampling from the policy itself, with top_p = 1. With top-p
    they are renormalized over the nucleus, and in bf16 they come from the bf16 copy."""
    if cfg.dtype != "bf16" and cfg.top_p == 1.0:
        return rollout.logprobs
    return score(cfg, policy, rollout)


def sample_rollout(cfg, sampler, tok, instructions, seed, first=0, n=None):
    """n responses per instruction, rollout_batch rows at a time (0: all at once). Each chunk has its
    own seed, made of `seed` and the global index of its first prompt, so the samples a prompt gets do
    not depend on how many ranks share the step (given the same rollout_batch)."""
    sampler.eval()
    n = n or cfg.n
    per_call = max(1, cfg.rollout_batch // n) if cfg.rollout_batch else len(instructions)
    parts = []
    for i in range(0, len(instructions), per_call):
        chunk = instructions[i:i + per_call]
        with torch.no_grad():  # no autocast: the sampler's weights already have the rollout's dtype
            part = R.sample(sampler, tok, [ins.render() for ins in chunk], n=n, max_new_tokens=cfg.max_new_tokens,
                            temperature=cfg.temperature, top_p=cfg.top_p, seed=seed_int((*seed, first + i)),
                            micro_batch=len(chunk) * n, engine=cfg.engine)
        part.group_ids += i  # group ids index `instructions`
        parts.append(part)
    return functools.reduce(lambda a, b: R.cat_rollouts(a, b, tok.pad_token_id), parts)


def seed_int(parts):
    """A stable 63-bit seed from a tuple such as (seed, step, "topup", 0)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


def score(cfg, model, batch, grad=False):
    """Token log-probs (N, R) of `batch`: a Rollout, or a tuple (ids, mask, positions, response_mask)."""
    if isinstance(batch, R.Rollout):
        batch = (batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask)
    with torch.set_grad_enabled(grad), autocast(cfg):
        return R.token_logprobs(model, *batch, cfg.temperature)


def advantages(cfg, rewards, batch, kl=None):
    """(N,) group-relative advantages, or (N, T) token advantages for REINFORCE++ (whitened over all ranks)."""
    if cfg.adv == "reinforce_pp":
        return H.reinforce_pp_advantages(rewards, batch.response_mask, kl, cfg.kl_in_reward, sum_all=DP.sum_all)
    return H.group_advantages(rewards, batch.group_ids, "std" if cfg.adv == "grpo" else "none")


def update(cfg, step, policy, optimizer, batch, old_logp, ref_logp, adv, stats):
    """ppo_epochs passes over the step's rows, each split into mini_batches optimizer steps (the
    release takes 2), each accumulated over micro-batches. A micro-batch's loss is normalized by its
    mini-batch's token (or sequence) count over all ranks, so the summed gradients are the gradient
    of the mini-batch's loss, whatever the micro-batch size or the number of ranks."""
    policy.train()
    mask = batch.response_mask
    order_rng = torch.Generator().manual_seed(seed_int((cfg.seed, step, "order")))
    full = (batch.input_ids, batch.attention_mask, batch.position_ids, mask)  # built once, sliced per micro-batch
    losses, clip, kl, tokens_all = [], 0.0, 0.0, DP.sum_all(mask.sum())
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(len(mask), generator=order_rng, device="cpu").to(mask.device)
        for part in order.tensor_split(cfg.mini_batches):  # (rows,) each; every rank takes the same number of steps
            tokens = DP.sum_all(mask[part].sum())
            total = tokens if cfg.agg == "token_mean" else DP.sum_all(float(len(part)))
            optimizer.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for rows in part.split(cfg.micro_batch):
                logp = score(cfg, policy, tuple(x[rows] for x in full), grad=True)
                loss, s = H.hir_loss(logp, old_logp[rows], adv[rows], mask[rows],
                                     None if ref_logp is None else ref_logp[rows],
                                     cfg.beta, cfg.clip_low, cfg.clip_high, cfg.agg, total)
                loss.backward()
                share = float(mask[rows].sum() / tokens_all) / cfg.ppo_epochs
                loss_sum, clip, kl = loss_sum + loss.item(), clip + share * s["clip_frac"].item(), kl + share * s["approx_kl"].item()
            DP.sum_gradients(policy.parameters())  # every rank now holds the mini-batch's whole gradient
            loss_sum = DP.sum_all(loss_sum)
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
            if math.isfinite(loss_sum) and torch.isfinite(grad_norm):
                optimizer.step()
            else:  # never apply a non-finite update: skip it and count it
                stats["skipped_updates"] += 1
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss_sum)
    stats.update(loss=sum(losses) / len(losses), clip_frac=DP.sum_all(clip), approx_kl=DP.sum_all(kl),
                 grad_norm=float(grad_norm))


def train_step(cfg, step, policy, sampler, ref_model, tok, optimizer, instructions, stats, first=0):
    """One step on this rank's `instructions` (global prompt indices first, first + 1, ...)."""
    t0 = time.perf_counter()
    rollout = sample_rollout(cfg, sampler, tok, instructions, seed=(cfg.seed, step), first=first)
    stats["generated"] += DP.sum_all(len(rollout.texts))
    sampled_tokens = float(DP.sum_all(rollout.response_mask.sum()))
    t1 = time.perf_counter()
    verdicts = verify_rows(rollout, instructions)
    t2 = time.perf_counter()
    samples, resample_n = [cfg.n], 0
    if cfg.method == "hir" and cfg.topup and cfg.topup_mode == "released":  # extra samples, trained as originals
        rollout, verdicts, resample_n = released_topup(cfg, step, sampler, tok, instructions, rollout, verdicts, stats, first)
        samples += [resample_n] if resample_n else []
    old_logp = old_logprobs(cfg, policy, rollout)
    ilas, clas = verdict_tensors(verdicts, rollout.response_ids.device)
    batch, rewards = rollout, (clas if cfg.method == "grpo_cla" else ilas)
    rows, mask = DP.sum_all(len(verdicts)), rollout.response_mask  # logs: means over every rank's rows
    stats.update(ila=float(DP.sum_all(ilas.sum())) / rows, cla=float(DP.sum_all(clas.sum())) / rows,
                 resp_len=float(DP.sum_all(mask.sum())) / rows, truncated=float(DP.sum_all(rollout.truncated.sum())) / rows)
    if cfg.method == "hir":
        rep = make_replays(cfg, step, policy, sampler, tok, rollout, instructions, verdicts, old_logp, stats, first,
                           samples, cfg.k_per_prompt - resample_n)
        batch = R.cat_rollouts(rollout, rep.rollout, tok.pad_token_id)
        old_logp = R.cat_right_padded([old_logp, rep.rollout.logprobs], 0.0)  # replays: copied from q
        rewards = torch.cat([rewards, torch.ones(len(rep.source_rows), device=rewards.device)])  # replays succeed
    t3 = time.perf_counter()
    ref_logp = score(cfg, ref_model, batch) if ref_model is not None else None
    kl = old_logp - ref_logp if ref_logp is not None else None  # k1 per sampled token, for KL in the reward
    adv = advantages(cfg, rewards, batch, kl)  # group advantages are local: groups never cross ranks
    update(cfg, step, policy, optimizer, batch, old_logp, ref_logp, adv, stats)
    refresh_sampler(sampler, policy)
    t4 = time.perf_counter()
    stats.update(time_rollout=t1 - t0, time_verify=t2 - t1, time_replay=t3 - t2, time_update=t4 - t3,
                 tokens_per_s=sampled_tokens / (t1 - t0))


# ----------------------------------------------------------------------------- main
def setup(cfg):
    try:  # the data first: a bad row fails before the model loads
        source = D.PromptSource(cfg.data, cfg.seed, constraint_ids(cfg), cfg.max_constraints, keyword_pool(cfg),
                                cfg.min_constraints)
    except (D.DataError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    if cfg.method == "hir" and source.rows and any(r.prompt is not None for r in source.rows):
        raise SystemExit(f"{cfg.data}: IFEval rows have fixed prompts that HiR cannot rewrite; use our rows or HIR-16K rows")
    ckpt = DP.on_rank0(lambda: prepare_run_dir(cfg))  # rank 0 owns the run directory
    torch.manual_seed(cfg.seed)
    master = torch.float64 if cfg.dtype == "fp64" else torch.float32
    try:
        policy, tok = load_model(ckpt or cfg.model, dtype=master, device=cfg.device)  # the weights AdamW updates
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if cfg.grad_checkpointing:  # (renamed activation_checkpointing_enable in recent transformers)
        getattr(policy, "activation_checkpointing_enable", policy.gradient_checkpointing_enable)()
    sampler = make_sampler(cfg, policy)
    # the reference is scored exactly as the policy is (master weights, the same autocast), so KL = 0 at step 0
    needs_ref = cfg.beta > 0 or (cfg.adv == "reinforce_pp" and cfg.kl_in_reward > 0)
    ref_model = load_model(cfg.model, dtype=master, device=cfg.device)[0].eval() if needs_ref else None
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step = 0
    if ckpt:  # every random draw of the loop is seeded by (seed, step, global index): no per-rank streams
        state = torch.load(os.path.join(ckpt, "trainer_state.pt"), weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        step, source.position = state["step"], state["data_position"]
    DP.on_rank0(lambda: json.dump(dataclasses.asdict(cfg), open(os.path.join(cfg.out, "config.json"), "w"), indent=1))
    return policy, sampler, ref_model, tok, optimizer, source, step


def heldout_eval(cfg, sampler, tok, heldout):
    """Held-out ILA / CLA: each rank samples its share (every world-th instruction), all are scored."""
    mine = heldout[DP.rank()::DP.world()]
    results = E.evaluate(sampler, tok, mine, n=1, temperature=cfg.eval_temperature, max_new_tokens=cfg.max_new_tokens,
                         seed=cfg.seed, micro_batch=cfg.rollout_batch or len(mine), engine=cfg.engine,
                         progress=DP.rank() == 0, stream_ids=range(DP.rank(), len(heldout), DP.world()))[0]
    results = [r for part in DP.gather_objects(results) for r in part]
    return E.ila_cla(results)


def main(argv=None):
    cfg = parse_config(sys.argv[1:] if argv is None else argv, usage=__doc__)
    rank, world = DP.init()  # (0, 1) without torchrun
    cfg.device = DP.local_device(cfg.device)
    if cfg.prompts_per_step % world:
        raise SystemExit(f"error: --prompts_per_step {cfg.prompts_per_step} must be a multiple of the {world} ranks")
    share = cfg.prompts_per_step // world
    hf_logging.disable_progress_bar()  # one bar on the console: ours (not transformers' loading and saving bars)
    policy, sampler, ref_model, tok, optimizer, source, start = setup(cfg)
    heldout = heldout_set(cfg)
    rows = [json.loads(line) for line in open(os.path.join(cfg.out, "metrics.jsonl"))] if start else []
    generated, t_start, stats = (rows[-1]["generated"] if rows else 0), time.perf_counter(), None
    bar = tqdm(range(start + 1, cfg.steps + 1), initial=start, total=cfg.steps, desc=cfg.method, dynamic_ncols=True,
               disable=rank != 0)
    for step in bar:
        t_step = time.perf_counter()
        stats = {"step": step, "generated": generated, "topups": 0, "candidates": 0, "replays": 0, "skipped_updates": 0}
        mine = source.next(cfg.prompts_per_step)[rank * share:(rank + 1) * share]  # every rank reads the same stream
        train_step(cfg, step, policy, sampler, ref_model, tok, optimizer, mine, stats, first=rank * share)
        generated = stats["generated"]
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            stats["heldout_ila"], stats["heldout_cla"] = heldout_eval(cfg, sampler, tok, heldout)
        bar.set_postfix_str(f"ila {stats['ila']:.2f} cla {stats['cla']:.2f} rep {stats['replays']} loss {stats['loss']:+.3g}"
                            + (f" | held-out ila {stats['heldout_ila']:.2f}" if "heldout_ila" in stats else ""))
        if rank == 0:
            log_metrics(cfg, stats)
            if step % cfg.log_every == 0 or step == cfg.steps:
                bar.write(log_line(cfg, stats, time.perf_counter() - t_step))
            if step % cfg.save_every == 0 or step == cfg.steps:
                save_checkpoint(cfg, step, policy, tok, optimizer, source)
        DP.barrier()  # no rank runs ahead of a checkpoint being written
    bar.close()
    if rank == 0:
        plot_curves(cfg)
        print_summary(cfg, start, time.perf_counter() - t_start)
    return cfg


if __name__ == "__main__":
    main()
    DP.finish()

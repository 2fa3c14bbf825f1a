"""The objective: group-relative advantages and the clipped policy loss, for originals and replays.

    python -m pytest -q tests/test_hir.py     # every function against a float64 loop

A batch mixes original samples (prompt q, response y, reward in {0, 1}) and hindsight replays
(prompt q' = q rewritten to keep only what y satisfied, the same y, reward 1). A replay carries the
group id of its source, so advantages are normalized over originals and replays together, and its
old log-probs are those of y under the ORIGINAL q: its ratio is pi_theta(y | q') / pi_old(y | q).

Why this helps (the dual-preference reading). Take one prompt q with two samples: y1 satisfies
all constraints (r = 1); y2 misses one (r = 0) and is replayed as (q', y2) with r = 1. The group's
rewards are [1, 0, 1]: mean 2/3, std 0.577, so the advantages are
    y1 | q : +0.577      y2 | q : -1.155      y2 | q' : +0.577
The same response y2 is pushed down under the instruction it failed and up under the one it
satisfies, while within q the success y1 is still preferred to the failure y2. A group whose
samples all fail gets no signal from plain GRPO, but replays give it one.
(tests/test_hir.py checks these signs and the gradient direction on a one-parameter policy.)

Shapes: N samples (rows), T response tokens; masks are 1 on tokens that count.
"""
import torch


def group_advantages(rewards, group_ids, scale="std", eps=1e-6):
    """A_i = (r_i - mean_g) / (std_g + eps) with g the group of i (GRPO, unbiased std), or
    r_i - mean_g with scale="none" (Dr. GRPO). A group with zero variance (or one member) gets 0.
    rewards (N,) float, group_ids (N,) long -> (N,)."""
    if scale not in ("std", "none"):
        raise ValueError(f"scale must be 'std' or 'none', got {scale!r}")
    rewards = rewards.to(torch.promote_types(rewards.dtype, torch.float32))
    _, g = torch.unique(group_ids, return_inverse=True)                  # groups as 0..G-1
    count = torch.zeros(int(g.max()) + 1, dtype=rewards.dtype, device=rewards.device)
    count = count.index_add_(0, g, torch.ones_like(rewards))             # (G,) members per group
    mean = torch.zeros_like(count).index_add_(0, g, rewards) / count      # (G,)
    centered = rewards - mean[g]                                          # (N,)
    if scale == "none":
        return centered
    var = torch.zeros_like(count).index_add_(0, g, centered ** 2) / (count - 1).clamp(min=1)
    std = var.sqrt()[g]
    return torch.where(std > 0, centered / (std + eps), torch.zeros_like(centered))


def originals_baseline_advantages(rewards, group_ids, is_replay, scale="std", eps=1e-6):
    """An ablation (--replay_baseline originals): originals get group_advantages over the originals alone, as in
    plain GRPO; replays keep those of the shared group (originals and replays). In the docstring's example the
    advantages become y1 | q : +0.707, y2 | q : -0.707, y2 | q' : +0.577. Its point is an all-fail group: shared,
    its k failures with r replays get -sqrt(r (k + r - 1) / (k (k + r))) each (-0.54 for k = 6, r = 2), a push down
    that plain GRPO never gives; here they get 0. rewards, group_ids, is_replay (N,) -> (N,)."""
    adv = group_advantages(rewards, group_ids, scale, eps)
    originals = ~is_replay
    if originals.any():
        adv = adv.clone()
        adv[originals] = group_advantages(rewards[originals], group_ids[originals], scale, eps)
    return adv


def reinforce_pp_advantages(rewards, mask, kl=None, kl_coef=0.0, sum_all=lambda x: x, eps=1e-8):
    """REINFORCE++ as released (OpenRLHF's, which the HiR script uses): every token gets the reward
    -kl_coef * kl_t, the last real token also the outcome reward; returns are summed to the end
    (gamma = 1) and whitened over every real token of the batch (mean and unbiased variance), with
    no group baseline. `sum_all` sums over the whole batch (train.py passes the sum over ranks).
    rewards (N,), mask (N, T), kl (N, T) per-token KL estimate to the reference -> (N, T)."""
    dtype = torch.promote_types(rewards.dtype, torch.float32)
    m = mask.to(dtype if kl is None else torch.promote_types(dtype, kl.dtype))  # float64 runs whiten in float64
    per_token = torch.zeros_like(m)
    last = (m.sum(1).long() - 1).clamp(min=0)                              # (N,) index of each last token
    per_token[torch.arange(len(m), device=m.device), last] = rewards.to(m.dtype)
    if kl is not None and kl_coef:
        per_token = per_token - kl_coef * kl.to(m.dtype) * m
    returns = per_token.flip(1).cumsum(1).flip(1) * m                      # (N, T) sum from t to the end
    n = sum_all(m.sum())
    mean = sum_all(returns.sum()) / n
    var = sum_all((((returns - mean) * m) ** 2).sum()) / (n - 1).clamp(min=1)
    return (returns - mean) * torch.rsqrt(var + eps) * m


def aggregate(per_token, mask, agg="token_mean", total=None):
    """Reduce (N, T) per-token losses to a scalar.
    token_mean:              sum(l * m) / total tokens
    seq_mean_token_mean:     sum_i [sum_t(l * m) / len_i] / total sequences
    seq_mean_token_sum_norm: sum(l * m) / (total sequences * T)   (Dr. GRPO's constant normalizer)
    `total` lets micro-batches normalize by the whole step's count (tokens, or sequences)."""
    mask = mask.to(per_token.dtype)
    if agg == "token_mean":
        return (per_token * mask).sum() / max(float(mask.sum() if total is None else total), 1.0)
    n = mask.shape[0] if total is None else total
    if agg == "seq_mean_token_mean":
        return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).sum() / n
    if agg == "seq_mean_token_sum_norm":
        return (per_token * mask).sum() / (n * mask.shape[1])
    raise ValueError(f"unknown agg {agg!r}")


def policy_loss(logp, old_logp, adv, mask, clip_low=0.2, clip_high=0.2, agg="token_mean", total=None, clip_c=3.0):
    """PPO clipped surrogate: l_t = max(-A r_t, -A clip(r_t, 1 - clip_low, 1 + clip_high)), with
    r_t = exp(logp_t - old_logp_t), the log-ratio clamped to [-20, 20]; and dual-clip, as verl (and so the
    release) has it: where A < 0 the loss is at most -A clip_c, so a token whose ratio ran far above 1 cannot
    push the policy down without bound (clip_c <= 1 turns it off). logp, old_logp, mask (N, T); adv (N,) or (N, T).
    Returns (loss, stats): clip_frac = share of tokens whose gradient the clip cuts (r below the
    range with A < 0, or above it with A > 0); approx_kl = mean k3(old || new) over tokens; rows =
    per-row sums for the diagnostics (train.update keeps originals and replays apart): (N,) real
    tokens, sum of ratios, max ratio (0 on an empty row), clipped tokens, sum of k3, tokens dual-clip capped."""
    log_ratio = (logp - old_logp).clamp(-20.0, 20.0)  # as verl: exp never overflows
    ratio = log_ratio.exp()
    a = adv if adv.dim() == 2 else adv[:, None]  # (N, T) token advantages, or (N,) one per sequence
    per_token = torch.maximum(-a * ratio, -a * ratio.clamp(1 - clip_low, 1 + clip_high))
    capped = (a < 0) & (per_token > -a * clip_c) if clip_c > 1 else torch.zeros_like(per_token, dtype=torch.bool)
    per_token = torch.where(capped, -a * clip_c, per_token)  # dual-clip: the same as min(per_token, -A c) where A < 0
    loss = aggregate(per_token, mask, agg, total)
    with torch.no_grad():  # from the same ratio the loss used: computed once per micro-batch
        m = mask.to(logp.dtype)
        cut = ((ratio < 1 - clip_low) & (a < 0)) | ((ratio > 1 + clip_high) & (a > 0))
        rows = (m.sum(1), (ratio * m).sum(1), (ratio * m).amax(1) if m.shape[1] else m.sum(1), (cut * m).sum(1),
                ((ratio - 1 - log_ratio) * m).sum(1), (capped * m).sum(1))
        n = rows[0].sum().clamp(min=1)
        stats = {"clip_frac": rows[3].sum() / n, "approx_kl": rows[4].sum() / n, "dual_clip_frac": rows[5].sum() / n,
                 "rows": rows}
    return loss, stats


def kl_penalty(logp, ref_logp, mask, kind="k3", clamp=10.0):
    """Per-token KL(pi || pi_ref) estimate on sampled tokens, (N, T), 0 where masked.
    k1 = logp - ref; k2 = (logp - ref)^2 / 2; k3 = exp(ref - logp) - (ref - logp) - 1 (>= 0,
    unbiased, low variance). Clamped to [-clamp, clamp] so one outlier token cannot dominate."""
    d = ref_logp - logp
    per_token = {"k1": -d, "k2": 0.5 * d ** 2, "k3": d.exp() - d - 1}[kind]
    return per_token.clamp(-clamp, clamp) * mask.to(per_token.dtype)


def hir_loss(logp, old_logp, adv, mask, ref_logp=None, beta=0.0, clip_low=0.2, clip_high=0.2,
             agg="token_mean", total=None, clip_c=3.0):
    """The whole objective for a mixed batch of originals and replays: the clipped surrogate plus
    beta * KL to the reference (beta = 0 by default, as in TRL). Replays need nothing special here:
    their old_logp (scored under the original prompt) and shared-group advantages come in."""
    loss, stats = policy_loss(logp, old_logp, adv, mask, clip_low, clip_high, agg, total, clip_c)
    if beta > 0 and ref_logp is not None:
        kl = aggregate(kl_penalty(logp, ref_logp, mask), mask, agg, total)
        loss = loss + beta * kl
        stats["kl_ref"] = kl.detach()
    return loss, stats

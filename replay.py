"""SELECT then REWRITE: HiR's hindsight replays for one step, built from a verified rollout.

    python -m pytest -q tests/test_replay.py

train.py calls `hindsight(...)` once per step. It does, in order:
1. Candidates: failures that did something right, 0 < CLA < 1. Complete successes need no replay
   and complete failures have nothing to replay.
2. The budget and the released top-up. The step has B prompts (over all ranks) and wants k * B
   replays (k = k_per_prompt, 2 as released). When the candidates C fall short, C < k * B, the
   release samples resample_n = ceil((k * B - C) / B) more responses per prompt; they join the batch
   as ORIGINALS (rewarded, trained, and candidates too), and the replay budget shrinks to
   (k - resample_n) * B, so a step trains on about (n + k) * B rows either way. With k = 2:
       C >= 2B       no top-up       budget 2B
       B <= C < 2B   resample_n = 1  budget B
       C < B         resample_n = 2  budget 0: the step makes NO replays at all (as released)
   `topup_plan` is that arithmetic, alone.
3. Scores: `lam * CLA + mean token entropy`, with `lam = lam0 * (1 + eta) ** step`: early in
   training entropy matters (diverse responses), later CLA dominates (near-successes).
4. Selection: the top `budget` candidates over the whole batch ("global", the released default),
   the top k of each group ("group"), or a random set ("random", an ablation). Over several ranks
   the candidates are gathered in the order one process would hold them (plumbing/distributed.py),
   so the choice does not depend on the number of ranks. In one process every `distributed.*` call
   returns its input unchanged (sum_all(x) is x; gather_in_global_order keeps the rows as they are).
5. REWRITE: each kept response gets the same task and template with only the constraints it
   satisfied. It is now a success (reward 1) in its source's group. Its pi_old (and reference)
   log-probs are its source row's, scored under the ORIGINAL prompt: train.py copies them by
   `source_rows`, so the ratio is pi(y|q') / pi_old(y|q), as released.
"""
import math
import random
from dataclasses import dataclass

import torch

from constraints import cla, verify
from plumbing import distributed
from rollout import Rollout, cat_rollouts, encode_prompts


def hindsight_lambda(step, lam0=2.0, eta=0.05):
    return lam0 * (1 + eta) ** step


def replay_scores(cla, mean_entropy, step, lam0=2.0, eta=0.05):
    """(B,) CLA and (B,) mean token entropy -> (B,) selection scores."""
    return hindsight_lambda(step, lam0, eta) * cla + mean_entropy


def candidates(cla, truncated=None):
    """(B,) bool: failures that satisfied at least one constraint; with `truncated` ((B,) bool, the ablation
    --replay_truncated false), not the responses cut at the length cap, whose replays teach long answers."""
    out = (cla > 0) & (cla < 1)
    return out if truncated is None else out & ~truncated.bool()


def mean_entropy(rollout):
    m = rollout.response_mask
    return (rollout.entropy * m).sum(1) / m.sum(1).clamp(min=1)


def topup_plan(n_candidates, n_prompts, k):
    """The released top-up rule (docstring, point 2) -> (resample_n, replay budget)."""
    budget = max(0, int(round(k * n_prompts)))
    if n_candidates >= budget:
        return 0, budget
    resample_n = math.ceil((budget - n_candidates) / n_prompts)
    return resample_n, max(0, int(round((k - resample_n) * n_prompts)))


def select(scores, is_candidate, group_ids, budget, mode="global", k_per_group=2, rng=None):
    """Row indices (sorted) of the replays to make.
    global: the `budget` best-scoring candidates over the whole batch (ties: the lower row);
    group:  the `k_per_group` best candidates inside each group;
    random: `budget` candidates drawn uniformly (ablation; needs rng)."""
    rows = torch.nonzero(is_candidate).flatten().tolist()
    if mode == "global":
        rows = sorted(rows, key=lambda r: (-float(scores[r]), r))[:budget]
    elif mode == "group":
        picked = []
        for g in sorted(set(int(group_ids[r]) for r in rows)):
            mine = [r for r in rows if int(group_ids[r]) == g]
            picked += sorted(mine, key=lambda r: (-float(scores[r]), r))[:k_per_group]
        rows = picked
    elif mode == "random":
        rows = (rng or random.Random(0)).sample(rows, min(budget, len(rows)))
    else:
        raise ValueError(f"select mode must be global, group or random, got {mode!r}")
    return sorted(rows)


@dataclass
class Replays:
    rollout: Rollout           # new prompt ids/mask, reused response ids/mask and behaviour log-probs
    instructions: list         # the hindsight instructions q', one per replay
    source_rows: list          # the rollout row each replay came from (its pi_old and ref are that row's)


def rewrite(rollout, instructions, verdicts, rows, tokenizer, debug=False):
    """REWRITE `rows` of `rollout`: `instructions[g]` is group g's instruction, `verdicts[row]` the
    row's per-constraint verdicts. The response tokens and their log-probs are copied, not resampled."""
    hind = [instructions[int(rollout.group_ids[r])].rewrite(verdicts[r]) for r in rows]
    if debug:  # the replay's reward is 1 by construction: check it
        for r, ins in zip(rows, hind):
            assert all(verify(ins, rollout.texts[r])), (ins.render(), rollout.texts[r])
    idx = torch.tensor(rows, dtype=torch.long, device=rollout.response_ids.device)
    if not rows:
        ids, mask = rollout.prompt_ids[:0], rollout.prompt_mask[:0]
    else:
        ids, mask = encode_prompts(tokenizer, [ins.render() for ins in hind], rollout.prompt_ids.device)
    replay = Rollout(ids, mask, rollout.response_ids[idx], rollout.response_mask[idx],
                     rollout.logprobs[idx].clone(), rollout.entropy[idx], [rollout.texts[r] for r in rows],
                     rollout.truncated[idx], rollout.group_ids[idx])
    return Replays(replay, hind, rows)


@dataclass
class Hindsight:
    rollout: Rollout           # the step's originals: the first sampling plus any top-up samples
    verdicts: list             # one verdict list per original row
    replays: Replays
    topup_rows: int            # originals the top-up generated on this rank
    candidates: int            # over all ranks, after the top-up
    budget: int                # replays the rule allowed, over all ranks


def hindsight(step, rollout, verdicts, instructions, tokenizer, sample_more, *, k=2.0, lam0=2.0, eta=0.05,
              mode="global", topup=True, seed=0, first=0, pad_id=None, debug=False, replay_truncated=True):
    """Points 1-5 of the docstring for one step. `sample_more(n)` returns (rollout, verdicts) of n
    more samples per prompt (the caller's sampler); `first` is the global index of this rank's first
    prompt. Rows are ordered (round, prompt, sample): the first sampling, then the top-up.
    replay_truncated=False (an ablation): a response cut at the length cap is no candidate, for the top-up's count
    too. The release replays them."""
    cut = (lambda r: None) if replay_truncated else (lambda r: r.truncated)
    n_local = len(instructions)
    n_prompts = distributed.sum_all(n_local)                      # the whole step's B
    clas = torch.tensor([cla(v) for v in verdicts], device=rollout.response_ids.device)
    n_cand = distributed.sum_all(int(candidates(clas, cut(rollout)).sum()))
    resample_n, budget = topup_plan(n_cand, n_prompts, k) if topup else (0, max(0, int(round(k * n_prompts))))
    rounds, topup_rows = [len(verdicts) // max(n_local, 1)], 0
    if resample_n:                                                # released: more originals, a smaller budget
        extra, extra_verdicts = sample_more(resample_n)
        rollout, verdicts = cat_rollouts(rollout, extra, pad_id), verdicts + extra_verdicts
        rounds, topup_rows = rounds + [resample_n], len(extra_verdicts)
        clas = torch.tensor([cla(v) for v in verdicts], device=rollout.response_ids.device)
        n_cand = distributed.sum_all(int(candidates(clas, cut(rollout)).sum()))
    scores = replay_scores(clas, mean_entropy(rollout), step, lam0, eta)
    # every rank's rows in single-process order, so ties and "random" draw the same rows for any world size
    (all_scores, all_cand, all_groups), to_local = distributed.gather_in_global_order(
        [scores, candidates(clas, cut(rollout)), rollout.group_ids + first], rounds, n_local, first)
    picked = select(all_scores, all_cand, all_groups, budget, mode, max(0, int(round(k - resample_n))),
                    random.Random(f"select:{seed}:{step}"))
    rows = to_local(picked)
    return Hindsight(rollout, verdicts, rewrite(rollout, instructions, verdicts, rows, tokenizer, debug),
                     topup_rows, n_cand, budget)


def diagnostics(adv, mask, is_replay, ilas, rollout, replay_entropy, n_groups):
    """Replays apart from originals (sums over every rank): advantage mass of each sign (a row's
    advantage; for token advantages its token mean), mean token entropy (originals: the sampling
    distribution under q; replays: the policy under q'), the replays' mean response length (replay_resp_len: HiR's
    replays of long, cut responses lengthen them), and the share of groups whose originals all fail."""
    row_adv = adv if adv.dim() == 1 else (adv * mask).sum(1) / mask.sum(1).clamp(min=1)          # (N,)
    out = {}
    for prefix, sel in (("orig_", ~is_replay), ("replay_", is_replay)):
        out[f"{prefix}adv_pos"] = float(distributed.sum_all(row_adv[sel].clamp(min=0).sum()))
        out[f"{prefix}adv_neg"] = float(distributed.sum_all(row_adv[sel].clamp(max=0).sum()))
    orig_entropy = mean_entropy(rollout)
    out["orig_entropy"] = float(distributed.sum_all(orig_entropy.sum())) / max(distributed.sum_all(len(ilas)), 1)
    n_rep = distributed.sum_all(len(replay_entropy))
    out["replay_entropy"] = float(distributed.sum_all(replay_entropy.sum())) / n_rep if n_rep else 0.0
    out["replay_resp_len"] = float(distributed.sum_all(mask[is_replay].sum())) / n_rep if n_rep else 0.0
    best = torch.zeros(n_groups, device=ilas.device).scatter_reduce(0, rollout.group_ids, ilas, "amax")  # (G,)
    out["all_fail_groups"] = float(distributed.sum_all((best == 0).sum())) / max(distributed.sum_all(n_groups), 1)
    return out

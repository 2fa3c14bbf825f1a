"""SELECT then REWRITE: HiR's hindsight replays, built from a verified rollout.

    python -m pytest -q tests/test_replay.py

1. Candidates are failures that did something right: 0 < CLA < 1. Complete successes need no
   replay and complete failures have nothing to replay.
2. Each candidate is scored `lam * CLA + mean token entropy`, with `lam = lam0 * (1 + eta) ** step`:
   early in training entropy matters (diverse responses), later CLA dominates (near-successes).
3. The top `k_per_prompt * B` candidates over the whole batch are kept ("global", the released
   default), or the top k of each group ("group"), or a random set ("random", an ablation).
4. REWRITE: each kept response gets the same task and template with only the constraints it
   satisfied. It is now a success (reward 1) and joins its source's group, with the old log-probs
   it had under the ORIGINAL prompt, copied as they are (so the ratio is pi(y|q') / pi_old(y|q)).
"""
import random
from dataclasses import dataclass

import torch

from constraints import verify
from rollout import Rollout, encode_prompts


def hindsight_lambda(step, lam0=2.0, eta=0.05):
    return lam0 * (1 + eta) ** step


def replay_scores(cla, mean_entropy, step, lam0=2.0, eta=0.05):
    """(B,) CLA and (B,) mean token entropy -> (B,) selection scores."""
    return hindsight_lambda(step, lam0, eta) * cla + mean_entropy


def candidates(cla):
    """(B,) bool: failures that satisfied at least one constraint."""
    return (cla > 0) & (cla < 1)


def select(scores, is_candidate, group_ids, budget, mode="global", k_per_group=2, rng=None):
    """Row indices (sorted) of the replays to make.
    global: the `budget` best-scoring candidates over the whole batch;
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
    rollout: Rollout           # new prompt ids/mask, reused response ids/mask, copied old log-probs
    instructions: list         # the hindsight instructions q', one per replay
    source_rows: list          # the rollout row each replay came from


def rewrite(rollout, instructions, verdicts, rows, tokenizer, old_logprobs=None, debug=False):
    """Build the replays for `rows` of `rollout`. `instructions[g]` is group g's instruction,
    `verdicts[row]` the row's per-constraint verdicts, `old_logprobs` (B, R) the log-probs the
    trainer uses as pi_old for originals (default: the behaviour log-probs)."""
    old = rollout.logprobs if old_logprobs is None else old_logprobs
    hind = [instructions[int(rollout.group_ids[r])].rewrite(verdicts[r]) for r in rows]
    if debug:  # the replay's reward is 1 by construction: check it
        for r, ins in zip(rows, hind):
            assert all(verify(ins, rollout.texts[r])), (ins.render(), rollout.texts[r])
    idx = torch.tensor(rows, dtype=torch.long, device=rollout.response_ids.device)
    if not rows:
        ids = rollout.prompt_ids[:0]
        mask = rollout.prompt_mask[:0]
    else:
        ids, mask = encode_prompts(tokenizer, [ins.render() for ins in hind], rollout.prompt_ids.device)
    replay = Rollout(ids, mask, rollout.response_ids[idx], rollout.response_mask[idx],
                     old[idx].clone(), rollout.entropy[idx], [rollout.texts[r] for r in rows],
                     rollout.truncated[idx], rollout.group_ids[idx])
    return Replays(replay, hind, rows)


def mean_entropy(rollout):
    m = rollout.response_mask
    return (rollout.entropy * m).sum(1) / m.sum(1).clamp(min=1)

"""train.py's replays: a replay's pi_old is its source row's (never its own behaviour log-probs), and the
released top-up draws fresh samples (never copies of the step's first sampling)."""
import copy

import pytest
import torch

import config as C
import data as D
import rollout as R
import train as T
from test_train import STEP, crafted_step

B = 12  # CRAFTED: 2 prompts x 6 samples


@pytest.mark.parametrize("flags", [("--top_p", "0.7"), ("--dtype", "bf16"),
                                   ("--dtype", "bf16", "--top_p", "0.8", "--temperature", "1.3")])
def test_a_replays_old_logprobs_are_its_source_rows_not_its_behaviour_logprobs(monkeypatch, toy, flags):
    """Where pi_old and the behaviour log-probs differ (top-p renormalizes over the nucleus; bf16 samples
    from a bf16 copy), each replay row's pi_old is exactly its source row's, i.e. pi_old(y | q) scored
    by the policy under the ORIGINAL prompt."""
    cfg, policy, seen, stats = crafted_step(monkeypatch, toy, *flags)
    batch, old, (_, sources) = seen["batch"], seen["old_logp"], seen["rewrites"][0]
    assert stats["replays"] == len(sources) == 4 and seen["is_replay"].tolist() == [False] * B + [True] * 4
    assert torch.equal(old[B:], old[sources])  # copied from the source row, bit for bit
    first = seen["rollout"]  # the reference: the policy's plain scoring pass of the originals, under q
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.dtype == "bf16"):
        want = R.token_logprobs(policy, first.input_ids, first.attention_mask, first.position_ids, first.response_mask,
                                temperature=cfg.temperature)
    for j, src in enumerate(sources):
        assert torch.allclose(old[B + j, :want.shape[1]], want[src], atol=1e-5), (j, src)
    # ...and not the replay's own behaviour log-probs (so the check above can tell the two apart)
    mask = batch.response_mask[B:].bool()
    assert torch.equal(batch.logprobs[B:], first.logprobs[sources])  # the replays' behaviour log-probs
    assert float((old[B:] - batch.logprobs[B:])[mask].abs().max()) > 1e-4  # top-p: 0.2-0.4; bf16: 2e-3


def test_the_released_topup_draws_fresh_samples_not_copies_of_the_first(monkeypatch, toy):
    """No candidate at all (every verdict True, CLA 1) with k = n = 4 and 2 prompts: resample_n = ceil(4 * 2 / 2)
    = 4 = n more samples per prompt. The top-up has a seed of its own: none of its rows repeats, token for token,
    a first-sampling row of its prompt (a top-up seeded as the first sampling, drawing as many, copies every row)."""
    model, tok = toy
    # seed 1: every row is 3 tokens or longer
    cfg = C.parse_config(["--model", "toy", "--n", "4", "--k_per_prompt", "4", "--topup", "1", "--seed", "1"])
    policy = copy.deepcopy(model)
    drawn, seen, real_sample = [], {}, T.sample_rollout

    def sample(*a, **k):
        drawn.append(real_sample(*a, **k))
        return drawn[-1]

    def update(cfg, step, policy, optimizer, batch, *a, **k):
        seen["batch"] = batch
        return {"loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0, "grad_norm": 0.0, "skipped_updates": 0}
    monkeypatch.setattr(T, "sample_rollout", sample)
    monkeypatch.setattr(T, "update", update)
    monkeypatch.setattr(T, "verify_rows", lambda rollout, instructions: [[True] for _ in rollout.texts])
    source = D.PromptSource("synthetic", 0, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    stats = T.train_step(cfg, STEP, policy, T.make_sampler(cfg, policy), None, tok, None, source.next(2))
    assert stats["topups"] == 1 and stats["replays"] == stats["replay_budget"] == 0 and len(drawn) == 2
    first, extra = drawn
    assert extra.group_ids.tolist() == first.group_ids.tolist() == [0] * 4 + [1] * 4  # as many per prompt

    def tokens(rollout, rows=range(8)):  # each row's real response tokens
        return [rollout.response_ids[r][rollout.response_mask[r].bool()].tolist() for r in rows]
    assert tokens(seen["batch"], range(8, 16)) == tokens(extra)  # trained as originals, after the first sampling
    old, new = tokens(first), tokens(extra)
    assert all(len(t) >= 3 for t in old + new)  # long enough that a chance repeat is out of the question
    for j, t in enumerate(new):
        g = j // 4
        assert t not in old[g * 4:(g + 1) * 4], (j, t)  # a fresh draw, not a copy of its prompt's first rows


@pytest.mark.parametrize("flags", [(), ("--adv", "reinforce_pp", "--kl_in_reward", "0.01")])
def test_replay_old_q_prime_scores_pi_old_and_the_reference_under_the_hindsight_prompt(monkeypatch, toy, flags):
    """The ablation --replay_old q_prime: a replay's pi_old is the policy's own score of y under q' (so its ratio
    starts at 1), and its reference log-probs are scored under q' too; the originals' rows do not change."""
    model, tok = toy
    ref = copy.deepcopy(model).eval()
    cfg, policy, seen, _ = crafted_step(monkeypatch, toy, "--replay_old", "q_prime", *flags, ref=ref)
    base = crafted_step(monkeypatch, toy, *flags, ref=ref)[2]
    batch, old, (_, sources) = seen["batch"], seen["old_logp"], seen["rewrites"][0]
    rows = slice(B, B + len(sources))
    args = (batch.input_ids[rows], batch.attention_mask[rows], batch.position_ids[rows], batch.response_mask[rows])
    with torch.no_grad():  # the reference: a plain scoring pass of the replay rows, each under its own q'
        want, want_ref = R.token_logprobs(policy, *args), R.token_logprobs(ref, *args)
    mask = batch.response_mask[rows].bool()
    assert float((old[rows] - want)[mask].abs().max()) < 1e-5
    assert float((old[rows] - base["old_logp"][rows])[mask].abs().max()) > 1e-3  # not the source rows' pi_old(y|q)
    assert torch.equal(old[:B], base["old_logp"][:B])
    if seen["ref_logp"] is not None:
        assert float((seen["ref_logp"][rows] - want_ref)[mask].abs().max()) < 1e-5

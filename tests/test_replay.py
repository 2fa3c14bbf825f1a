"""replay.py: candidates, the lambda schedule, selection budgets, REWRITE, copied old log-probs."""
import random

import pytest
import torch

import replay as RP
import rollout as R
from constraints import Constraint, Instruction, verify


def test_only_partial_failures_are_candidates():
    cla = torch.tensor([0.0, 0.5, 1.0, 1 / 3, 2 / 3, 1.0, 0.0])
    assert RP.candidates(cla).tolist() == [False, True, False, True, True, False, False]


def test_lambda_schedule():
    assert RP.hindsight_lambda(0) == 2.0
    assert RP.hindsight_lambda(10) == pytest.approx(2.0 * 1.05 ** 10)
    s = RP.replay_scores(torch.tensor([0.5, 0.25]), torch.tensor([1.0, 3.0]), step=0)
    assert s.tolist() == [2.0, 3.5]  # early: entropy can beat CLA
    late = RP.replay_scores(torch.tensor([0.5, 0.25]), torch.tensor([1.0, 3.0]), step=60)
    assert late[0] > late[1]         # later: near-successes win


def _scores():
    scores = torch.tensor([5.0, 1.0, 4.0, 3.0, 9.0, 2.0, 8.0, 7.0])
    cand = torch.tensor([True, True, True, False, False, True, True, True])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    return scores, cand, groups


def test_global_selection_takes_the_best_candidates_over_the_batch():
    scores, cand, groups = _scores()
    assert RP.select(scores, cand, groups, budget=3, mode="global") == [0, 6, 7]
    assert RP.select(scores, cand, groups, budget=10, mode="global") == [0, 1, 2, 5, 6, 7]


def test_group_selection_takes_k_per_group():
    scores, cand, groups = _scores()
    assert RP.select(scores, cand, groups, budget=99, mode="group", k_per_group=2) == [0, 2, 6, 7]
    assert RP.select(scores, cand, groups, budget=99, mode="group", k_per_group=1) == [0, 6]


def test_random_selection_respects_budget_and_candidates():
    scores, cand, groups = _scores()
    for seed in range(20):
        rows = RP.select(scores, cand, groups, budget=3, mode="random", rng=random.Random(seed))
        assert len(rows) == 3 and all(cand[r] for r in rows)
    picks = {tuple(RP.select(scores, cand, groups, 3, "random", rng=random.Random(s))) for s in range(20)}
    assert len(picks) > 1


def _instruction():
    return Instruction("Write about tea.", [
        Constraint("punctuation:no_comma", text="Do not use commas"),
        Constraint("keywords:existence", {"keywords": ["river"]}, text="Mention the word river"),
        Constraint("startend:quotation", text="Wrap it in double quotes"),
        Constraint("length_constraints:number_words", {"num_words": 3, "relation": "at least"},
                   text="Use at least 3 words"),
    ], template="type3")


def test_rewrite_renders_kept_constraints_in_order_and_copies_the_response(toy):
    model, tok = toy
    ins = _instruction()
    rollout = R.sample(model, tok, [ins.render()], n=3, max_new_tokens=6, seed=0)
    texts = ['"river, river, river"', "no river here at all", "x"]
    rollout.texts = texts
    verdicts = [verify(ins, t) for t in texts]
    assert verdicts[0] == [False, True, True, True] and verdicts[1] == [True, True, False, True]
    rep = RP.rewrite(rollout, [ins], verdicts, [0, 1], tok, debug=True)
    assert rep.instructions[0].render() == ("Write about tea.\n\nThe output must follow the following rules:\n"
                                            "1. Mention the word river\n2. Wrap it in double quotes\n"
                                            "3. Use at least 3 words")  # type3 adds no period, as released
    assert [c.id for c in rep.instructions[1].constraints] == ["punctuation:no_comma", "keywords:existence",
                                                               "length_constraints:number_words"]
    assert all(i.template == "type3" for i in rep.instructions)
    assert torch.equal(rep.rollout.logprobs, rollout.logprobs[[0, 1]])  # copied, not recomputed
    assert torch.equal(rep.rollout.response_ids, rollout.response_ids[[0, 1]])
    assert rep.rollout.group_ids.tolist() == [0, 0]                # joins its source's group
    assert rep.rollout.texts == texts[:2]
    prompt = tok.decode(rep.rollout.prompt_ids[0][rep.rollout.prompt_mask[0].bool()])
    assert "do not use commas" not in prompt and "the word river" in prompt and "rules" in prompt
    with pytest.raises(AssertionError):  # debug mode catches a replay that would not succeed
        RP.rewrite(rollout, [ins], [[True] * 4] * 3, [2], tok, debug=True)


def test_cat_rollouts_keeps_each_row(toy64):
    model, tok = toy64
    a = R.sample(model, tok, ["Say hi."], n=2, max_new_tokens=5, seed=0)
    b = R.sample(model, tok, ["Write a long poem about the ocean and a lost cat."], n=2, max_new_tokens=9, seed=1)
    both = R.cat_rollouts(a, b, tok.pad_token_id)
    lp = R.token_logprobs(model, both.input_ids, both.attention_mask, both.position_ids, both.response_mask)
    la = R.token_logprobs(model, a.input_ids, a.attention_mask, a.position_ids, a.response_mask)
    assert torch.allclose(lp[:2, :la.shape[1]], la, atol=1e-6)
    assert torch.equal(both.group_ids, torch.tensor([0, 0, 0, 0]))


def test_mean_entropy_is_over_each_rows_real_tokens(toy):
    model, tok = toy
    out = R.sample(model, tok, ["Write a poem about the ocean.", "Say hi.",
                                "Explain sleep to a ten-year-old. Avoid commas completely."],
                   n=8, max_new_tokens=64, temperature=40.0, seed=3)  # some rows stop early (as in test_rollout)
    lengths = out.response_mask.sum(1)
    assert lengths.min() < lengths.max()  # rows of several lengths, so padding would show
    for b in range(len(lengths)):
        real = [float(out.entropy[b, t]) for t in range(out.response_ids.shape[1]) if out.response_mask[b, t] > 0]
        assert float(RP.mean_entropy(out)[b]) == pytest.approx(sum(real) / len(real), rel=1e-6)


def naive_topup(candidates, prompts, k):
    """The released rule, step by step: while short, one more sample per prompt costs one replay per prompt."""
    want = round(k * prompts)
    if candidates >= want:
        return 0, want
    resample_n = 0
    while candidates + resample_n * prompts < want:
        resample_n += 1
    return resample_n, max(0, round((k - resample_n) * prompts))


def test_topup_plan_is_the_released_arithmetic():
    for prompts in (1, 2, 3, 8):
        for k in (0.0, 1.0, 1.5, 2.0, 3.0, 4.0):
            for c in range(0, 6 * prompts + 1):
                assert RP.topup_plan(c, prompts, k) == naive_topup(c, prompts, k), (c, prompts, k)
    B = 8  # with k = 2: fewer than B candidates -> 2 more samples per prompt and no replays at all
    assert [RP.topup_plan(c, B, 2.0) for c in (0, 7, 8, 15, 16, 40)] == [(2, 0), (2, 0), (1, 8), (1, 8), (0, 16),
                                                                         (0, 16)]


def test_hindsight_makes_no_replays_when_the_topup_takes_the_budget(toy):
    """k = 2, B = 1, no candidate in the first sampling nor in the top-up: 2 more samples, budget 0."""
    model, tok = toy
    ins = _instruction()
    rollout = R.sample(model, tok, [ins.render()], n=3, max_new_tokens=4, seed=0)
    rollout.texts = ["x, y", "x, y", "x, y"]                      # CLA 0: no candidates
    calls = []

    def sample_more(n):
        calls.append(n)
        extra = R.sample(model, tok, [ins.render()], n=n, max_new_tokens=4, seed=1)
        extra.texts = ['"river, river, river"'] * n                 # candidates now, but the budget is 0
        return extra, [verify(ins, t) for t in extra.texts]
    out = RP.hindsight(0, rollout, [verify(ins, t) for t in rollout.texts], [ins], tok, sample_more, k=2.0,
                       pad_id=tok.pad_token_id)
    assert calls == [2] and out.budget == 0 and out.replays.source_rows == [] and out.candidates == 2
    assert len(out.verdicts) == 5 and out.topup_rows == 2 and out.rollout.response_ids.shape[0] == 5


@pytest.mark.parametrize("replay_truncated", [True, False])
def test_replay_truncated_false_keeps_cut_responses_out_of_the_candidates_and_the_topup(toy, replay_truncated):
    """B = 1, k = 2, 6 samples: 4 partial successes, 3 of them cut at the cap. The release (true) replays from all 4;
    the ablation counts 1 candidate, so the released top-up draws 1 more sample and the budget is 1."""
    model, tok = toy
    ins = _instruction()
    rollout = R.sample(model, tok, [ins.render()], n=6, max_new_tokens=4, seed=0)
    rollout.texts = ['"river, tea"', '"river, river"', '"x y, river"', '"river tea"', "x, y", "x, y"]
    rollout.truncated = torch.tensor([True, True, True, False, False, False])
    verdicts = [verify(ins, t) for t in rollout.texts]
    calls = []

    def sample_more(n):
        calls.append(n)
        extra = R.sample(model, tok, [ins.render()], n=n, max_new_tokens=4, seed=1)
        extra.texts, extra.truncated = ["x, y"] * n, torch.zeros(n, dtype=torch.bool)  # no candidate
        return extra, [verify(ins, t) for t in extra.texts]
    out = RP.hindsight(0, rollout, verdicts, [ins], tok, sample_more, k=2.0, pad_id=tok.pad_token_id,
                       replay_truncated=replay_truncated)
    partial = [r for r, v in enumerate(verdicts) if 0 < sum(v) < len(v)]
    assert partial == [0, 1, 2, 3]  # the crafted texts do what they say
    eligible = [r for r in partial if replay_truncated or not bool(rollout.truncated[r])]  # the slow reference
    assert out.candidates == len(eligible) and set(out.replays.source_rows) <= set(eligible)
    assert (calls, out.budget, len(out.replays.source_rows)) == (([], 2, 2) if replay_truncated else ([1], 1, 1))

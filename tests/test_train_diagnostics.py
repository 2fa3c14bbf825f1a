"""train.py's replay diagnostics: originals and replays apart, each number against a naive loop."""
import math

import pytest
import torch

import replay
import train as T
from constraints import ila
from test_train import CRAFTED, crafted_step, crafted_verdicts


def naive_ratio_stats(policy, cfg, batch, old_logp, adv, rows):
    """Token by token over `rows`: ratio mean and max, the clip's cut share, mean k3(old || new)."""
    ratios, cut, k3 = [], 0, 0.0
    with torch.no_grad():
        logp = T.token_logprobs(policy, batch.input_ids, batch.attention_mask, batch.position_ids,
                                batch.response_mask, cfg.temperature)
    for i in rows:
        for t in range(batch.response_mask.shape[1]):
            if batch.response_mask[i, t] == 0:
                continue
            r = math.exp(float(logp[i, t]) - float(old_logp[i, t]))
            a = float(adv[i] if adv.dim() == 1 else adv[i, t])
            ratios.append(r)
            cut += (r < 1 - cfg.clip_low and a < 0) or (r > 1 + cfg.clip_high and a > 0)
            k3 += r - 1 - math.log(r)
    return sum(ratios) / len(ratios), max(ratios), cut / len(ratios), k3 / len(ratios)


def naive_entropy(policy, cfg, batch, row):
    """Mean over the row's response tokens of the entropy of softmax(logits / T), from one plain forward."""
    P = batch.prompt_ids.shape[1]
    with torch.no_grad():
        logits = policy(input_ids=batch.input_ids[row:row + 1], attention_mask=batch.attention_mask[row:row + 1],
                        position_ids=batch.position_ids[row:row + 1]).logits[0].double()
    ents = []
    for t in range(batch.response_mask.shape[1]):
        if batch.response_mask[row, t]:
            p = (logits[P - 1 + t] / cfg.temperature).softmax(-1)
            ents.append(float(-(p * p.log()).sum()))
    return sum(ents) / len(ents)


@pytest.mark.parametrize("adv", ["grpo", "reinforce_pp"])
def test_replay_diagnostics_equal_a_naive_loop(monkeypatch, toy, adv):
    model, _ = toy
    # a tight clip so that some tokens are cut; the update runs at lr 0, so pi_theta is the starting policy
    cfg, _, seen, stats = crafted_step(monkeypatch, toy, "--adv", adv, "--clip_low", "0.0005", "--clip_high",
                                       "0.0005", "--temperature", "0.7", real_update=True)
    batch, old_logp, adv_t = seen["batch"], seen["old_logp"], seen["adv"]
    originals, replays = list(range(12)), list(range(12, len(batch.texts)))
    assert len(replays) == stats["replays"] == 4 and stats["replay_budget"] == 4
    for prefix, rows in (("", originals), ("replay_", replays)):
        mean, top, cut, k3 = naive_ratio_stats(model, cfg, batch, old_logp, adv_t, rows)
        assert stats[f"{prefix}ratio_mean"] == pytest.approx(mean, abs=1e-6)
        assert stats[f"{prefix}ratio_max"] == pytest.approx(top, abs=1e-6)
        assert stats[f"{prefix}clip_frac"] == pytest.approx(cut, abs=1e-9)
        assert stats[f"{prefix}approx_kl"] == pytest.approx(k3, abs=1e-7)
    assert stats["replay_ratio_mean"] != pytest.approx(1.0, abs=1e-6)  # a replay's ratio is pi(y|q') / pi_old(y|q)
    assert stats["ratio_mean"] == pytest.approx(1.0, abs=1e-5)         # an original's is 1 before the update
    row_adv = [float(adv_t[i]) if adv_t.dim() == 1 else
               float((adv_t[i] * batch.response_mask[i]).sum() / batch.response_mask[i].sum()) for i in range(16)]
    for prefix, rows in (("orig_", originals), ("replay_", replays)):
        assert stats[f"{prefix}adv_pos"] == pytest.approx(sum(max(row_adv[i], 0) for i in rows), abs=1e-5)
        assert stats[f"{prefix}adv_neg"] == pytest.approx(sum(min(row_adv[i], 0) for i in rows), abs=1e-5)
    ent = [sum(float(e) for e, m in zip(batch.entropy[i], batch.response_mask[i]) if m) /
           float(batch.response_mask[i].sum()) for i in originals]
    assert stats["orig_entropy"] == pytest.approx(sum(ent) / 12, rel=1e-5)
    want = sum(naive_entropy(model, cfg, batch, i) for i in replays) / 4
    assert stats["replay_entropy"] == pytest.approx(want, rel=1e-4)
    assert stats["replay_resp_len"] == sum(float(batch.response_mask[i].sum()) for i in replays) / 4
    groups = [[ila(v) for v in crafted_verdicts()[g * 6:(g + 1) * 6]] for g in range(len(CRAFTED))]
    assert stats["all_fail_groups"] == sum(max(g) == 0 for g in groups) / len(groups)


def test_all_fail_share_counts_groups_with_no_success():
    """Three groups: one all fail, one mixed, one all fail; adv signs split by kind."""
    class Rows:
        group_ids = torch.tensor([0, 0, 1, 1, 2, 2])
        entropy = torch.ones(6, 2)
        response_mask = torch.ones(6, 2)
    ilas = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    adv = torch.tensor([-1.0, 0.5, 2.0, -0.25, 0.0, 0.0, 3.0])
    is_replay = torch.tensor([False] * 6 + [True])
    out = replay.diagnostics(adv, torch.ones(7, 2), is_replay, ilas, Rows(), torch.tensor([0.5]), 3)
    assert out["all_fail_groups"] == pytest.approx(2 / 3)
    assert (out["orig_adv_pos"], out["orig_adv_neg"], out["replay_adv_pos"]) == (2.5, -1.25, 3.0)
    assert out["orig_entropy"] == 1.0 and out["replay_entropy"] == 0.5 and out["replay_resp_len"] == 2.0

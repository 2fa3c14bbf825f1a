"""hir.py: every function against a naive float64 loop, the dual-preference example, masks, clipping."""
import math

import pytest
import torch

import hir as H


def naive_group_advantages(rewards, groups, scale):
    out = []
    for i, r in enumerate(rewards):
        members = [rewards[j] for j in range(len(rewards)) if groups[j] == groups[i]]
        mean = sum(members) / len(members)
        if scale == "none":
            out.append(r - mean)
            continue
        std = math.sqrt(sum((m - mean) ** 2 for m in members) / (len(members) - 1)) if len(members) > 1 else 0.0
        out.append((r - mean) / (std + 1e-6) if std > 0 else 0.0)
    return out


@pytest.mark.parametrize("scale", ["std", "none"])
@pytest.mark.parametrize("seed", range(5))
def test_group_advantages_match_naive(scale, seed):
    g = torch.Generator().manual_seed(seed)
    groups = torch.randint(0, 6, (40,), generator=g) * 7  # non-contiguous ids
    rewards = (torch.rand(40, generator=g) > 0.5).double()
    rewards[groups == groups[0]] = 1.0                    # one zero-variance group
    groups[-1] = 999                                      # one singleton group
    got = H.group_advantages(rewards, groups, scale)
    ref = naive_group_advantages(rewards.tolist(), groups.tolist(), scale)
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64), atol=1e-12)
    assert (got[groups == groups[0]] == 0).all() and got[-1] == 0


@pytest.mark.parametrize("scale", ["std", "none"])
@pytest.mark.parametrize("seed", range(3))
def test_originals_baseline_matches_naive(scale, seed):
    g = torch.Generator().manual_seed(seed)
    groups = torch.randint(0, 5, (30,), generator=g) * 3
    rewards = (torch.rand(30, generator=g) > 0.6).double()
    is_replay = torch.rand(30, generator=g) > 0.7
    rewards[is_replay] = 1.0                                  # replays succeed
    rewards[(groups == groups[0]) & ~is_replay] = 0.0         # one group whose originals all fail
    got = H.originals_baseline_advantages(rewards, groups, is_replay, scale)
    shared = naive_group_advantages(rewards.tolist(), groups.tolist(), scale)
    keep = [i for i in range(30) if not is_replay[i]]
    alone = naive_group_advantages([rewards[i].item() for i in keep], [groups[i].item() for i in keep], scale)
    ref = list(shared)
    for i, a in zip(keep, alone):
        ref[i] = a
    assert torch.allclose(got, torch.tensor(ref, dtype=torch.float64), atol=1e-12)
    fails = (groups == groups[0]) & ~is_replay
    assert (got[fails] == 0).all()                             # plain GRPO's 0 for an all-fail group ...
    if (is_replay & (groups == groups[0])).any():
        assert (H.group_advantages(rewards, groups, scale)[fails] < 0).all()  # ... where shared pushes down


def test_originals_baseline_on_the_worked_example():
    rewards, groups = torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0, 0, 0])  # y1|q, y2|q, y2|q'
    adv = H.originals_baseline_advantages(rewards, groups, torch.tensor([False, False, True]))
    assert adv.tolist() == pytest.approx([0.7071, -0.7071, 0.5774], abs=1e-3)
    k, r = 6, 2  # an all-fail group, shared: the docstring's -sqrt(r (k + r - 1) / (k (k + r)))
    shared = H.group_advantages(torch.tensor([0.0] * k + [1.0] * r), torch.zeros(k + r, dtype=torch.long))
    assert shared[0].item() == pytest.approx(-math.sqrt(r * (k + r - 1) / (k * (k + r))), abs=1e-5)


@pytest.mark.parametrize("kl_coef", [0.0, 0.1])
def test_reinforce_pp_matches_a_token_loop(kl_coef):
    """Per-token rewards (-kl_coef * kl, plus the outcome on the last real token), returns to the end,
    whitened over all real tokens with the unbiased variance: a float64 loop."""
    g = torch.Generator().manual_seed(3)
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.float64)
    kl = torch.randn(4, 4, generator=g, dtype=torch.float64)
    got = H.reinforce_pp_advantages(rewards, mask, kl, kl_coef)
    returns = {}
    for i in range(4):
        L = int(mask[i].sum())
        for t in range(L):
            returns[i, t] = sum(-kl_coef * kl[i, u].item() for u in range(t, L)) + rewards[i].item()
    vals = list(returns.values())
    mean = sum(vals) / len(vals)
    var = sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)
    for i in range(4):
        for t in range(4):
            want = (returns[i, t] - mean) / math.sqrt(var + 1e-8) if (i, t) in returns else 0.0
            assert got[i, t].item() == pytest.approx(want, abs=1e-12)
    if kl_coef == 0:  # no KL: each token carries its sequence's whitened reward, so long sequences weigh more
        assert got[2, 0] == got[2, 3] and got[0, :3].sum() > 0


def naive_policy_loss(logp, old, adv, mask, cl, ch, agg, total):
    N, T = len(logp), len(logp[0])
    per = [[0.0] * T for _ in range(N)]
    for i in range(N):
        for t in range(T):
            ratio = math.exp(logp[i][t] - old[i][t])
            per[i][t] = max(-adv[i] * ratio, -adv[i] * min(max(ratio, 1 - cl), 1 + ch)) * mask[i][t]
    if agg == "token_mean":
        return sum(map(sum, per)) / (total or sum(map(sum, mask)))
    if agg == "seq_mean_token_mean":
        return sum(sum(per[i]) / sum(mask[i]) for i in range(N)) / (total or N)
    return sum(map(sum, per)) / ((total or N) * T)


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
@pytest.mark.parametrize("total", [None, 50])
def test_policy_loss_matches_naive(agg, total):
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(6, 9, generator=g, dtype=torch.float64) * 3
    old = logp + torch.randn(6, 9, generator=g, dtype=torch.float64) * 0.3
    adv = torch.randn(6, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 9, generator=g) > 0.3).double()
    mask[:, 0] = 1
    got, stats = H.policy_loss(logp, old, adv, mask, 0.2, 0.28, agg, total)
    ref = naive_policy_loss(logp.tolist(), old.tolist(), adv.tolist(), mask.tolist(), 0.2, 0.28, agg, total)
    assert got.item() == pytest.approx(ref, abs=1e-12)
    assert 0 <= stats["clip_frac"] <= 1 and stats["approx_kl"] >= 0


def released_dual_clip(logp, old, adv, cl, ch, c):
    """The released loss per token (verl's vanilla policy loss, read from its formula), in plain float64 scalars."""
    log_ratio = min(max(logp - old, -20.0), 20.0)
    ratio = math.exp(log_ratio)
    clipped = max(-adv * ratio, -adv * min(max(ratio, 1 - cl), 1 + ch))
    return min(-adv * c, clipped) if adv < 0 else clipped


@pytest.mark.parametrize("c", [3.0, 1.5, 1.0])
def test_dual_clip_equals_the_released_formula_in_a_float64_loop(c):
    g = torch.Generator().manual_seed(1)
    logp = -torch.rand(8, 12, generator=g, dtype=torch.float64) * 3
    old = logp - torch.randn(8, 12, generator=g, dtype=torch.float64) * 1.5  # ratios from about 0.01 to 100
    old[0, 0] = logp[0, 0] - 30  # a log-ratio beyond the clamp
    adv = torch.randn(8, generator=g, dtype=torch.float64)
    mask = torch.ones(8, 12, dtype=torch.float64)
    logp = logp.clone().requires_grad_(True)
    got, stats = H.policy_loss(logp, old, adv, mask, 0.2, 0.28, "token_mean", None, clip_c=c)
    ref = sum(released_dual_clip(a, b, adv[i].item(), 0.2, 0.28, c if c > 1 else float("inf"))
              for i in range(8) for a, b in zip(logp[i].tolist(), old[i].tolist())) / mask.sum().item()
    assert got.item() == pytest.approx(ref, rel=1e-12, abs=1e-12)  # off: exp(20) dominates, hence rel
    got.backward()
    ratio = (logp - old).clamp(-20, 20).exp().detach()
    capped = (adv[:, None] < 0) & (ratio > max(c, 1.2)) & (c > 1)  # the cap holds: no gradient there
    assert capped.any() == (c > 1) and (logp.grad[capped] == 0).all()
    loop_capped = sum(c > 1 and adv[i] < 0 and released_dual_clip(a, b, adv[i].item(), 0.2, 0.28, c) ==
                      -adv[i].item() * c < released_dual_clip(a, b, adv[i].item(), 0.2, 0.28, float("inf"))
                      for i in range(8) for a, b in zip(logp[i].tolist(), old[i].tolist()))
    assert stats["dual_clip_frac"].item() == loop_capped / 96 and (loop_capped > 0) == (c > 1)  # the metric
    assert (logp.grad[(adv[:, None] < 0) & (ratio > 1.2) & (ratio < c)] != 0).all()  # below the cap: PPO's


def test_clipping_engages_exactly_outside_the_range():
    ratios = torch.tensor([0.5, 0.79, 0.81, 1.0, 1.19, 1.21, 2.0], dtype=torch.float64)
    for sign in (1.0, -1.0):
        logp = ratios.log().clone().requires_grad_(True)
        adv = torch.full((7,), sign, dtype=torch.float64)
        loss, stats = H.policy_loss(logp[:, None], torch.zeros(7, 1, dtype=torch.float64), adv,
                                    torch.ones(7, 1), clip_low=0.2, clip_high=0.2, agg="seq_mean_token_mean")
        loss.backward()
        cut = (ratios > 1.2) if sign > 0 else (ratios < 0.8)  # the clip only removes gradient that would push further
        assert ((logp.grad == 0) == cut).all()
        assert stats["clip_frac"].item() == pytest.approx(cut.double().mean().item())


def test_masked_tokens_change_nothing():
    g = torch.Generator().manual_seed(1)
    logp, old = -torch.rand(4, 5, generator=g), -torch.rand(4, 5, generator=g)
    adv, mask = torch.randn(4, generator=g), torch.ones(4, 5)
    mask[:, 3:] = 0
    ref = torch.rand(4, 5, generator=g)
    a, _ = H.hir_loss(logp, old, adv, mask, ref_logp=-ref, beta=0.1)
    logp2, old2, ref2 = logp.clone(), old.clone(), ref.clone()
    logp2[:, 3:], old2[:, 3:], ref2[:, 3:] = 5.0, -7.0, 3.0
    b, _ = H.hir_loss(logp2, old2, adv, mask, ref_logp=-ref2, beta=0.1)
    assert a.item() == b.item()


@pytest.mark.parametrize("kind", ["k1", "k2", "k3"])
def test_kl_penalty_matches_naive(kind):
    g = torch.Generator().manual_seed(2)
    logp = -torch.rand(3, 4, generator=g, dtype=torch.float64) * 4
    ref = -torch.rand(3, 4, generator=g, dtype=torch.float64) * 4
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.float64)
    got = H.kl_penalty(logp, ref, mask, kind)
    for i in range(3):
        for t in range(4):
            d = ref[i, t].item() - logp[i, t].item()
            v = {"k1": -d, "k2": 0.5 * d * d, "k3": math.exp(d) - d - 1}[kind]
            assert got[i, t].item() == pytest.approx(max(-10, min(10, v)) * mask[i, t].item(), abs=1e-12)


def test_dual_preference_worked_example():
    """Docstring example: y1 | q succeeds, y2 | q fails, (q', y2) is y2's replay; one group."""
    rewards = torch.tensor([1.0, 0.0, 1.0])  # y1|q, y2|q, y2|q'
    adv = H.group_advantages(rewards, torch.tensor([0, 0, 0]))
    assert adv[0] > 0 and adv[1] < 0 and adv[2] > 0          # y2 down under q, up under q'
    assert adv.tolist() == pytest.approx([0.5774, -1.1547, 0.5774], abs=1e-3)
    assert adv[0] > adv[1]                                   # success preferred to failure under q
    # gradient direction on a one-parameter policy: logp(y2 | .) = log sigmoid(theta * s), with
    # s = +1 under q' and -1 under q; old log-probs of the replay come from q (the released HiR code)
    theta = torch.zeros((), requires_grad=True)
    old_q = torch.nn.functional.logsigmoid(torch.tensor(0.0))
    logp = torch.stack([torch.nn.functional.logsigmoid(-theta), torch.nn.functional.logsigmoid(theta)])[:, None]
    loss, _ = H.hir_loss(logp, torch.stack([old_q, old_q])[:, None], adv[1:], torch.ones(2, 1))
    loss.backward()
    assert theta.grad < 0  # gradient descent raises theta: pi(y2|q') up and pi(y2|q) down


def test_hir_loss_adds_beta_kl():
    logp, ref = torch.full((2, 3), -1.0), torch.full((2, 3), -1.5)
    base, _ = H.hir_loss(logp, logp, torch.tensor([1.0, -1.0]), torch.ones(2, 3))
    with_kl, stats = H.hir_loss(logp, logp, torch.tensor([1.0, -1.0]), torch.ones(2, 3), ref_logp=ref, beta=0.5)
    k3 = math.exp(-0.5) + 0.5 - 1
    assert with_kl.item() == pytest.approx(base.item() + 0.5 * k3) and stats["kl_ref"].item() == pytest.approx(k3)

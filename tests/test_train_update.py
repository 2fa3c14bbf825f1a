"""train.update: micro-batches, mini-batches and the gradient clip against one plain full-batch step; non-finite
updates are never applied."""
import copy

import pytest
import torch

import config as C
import hir as H
import rollout as R
import train as T


class Recorder(torch.optim.SGD):
    """An optimizer that records the gradients it is asked to apply."""
    def __init__(self, params):
        super().__init__(params, lr=0.0)
        self.grads = []

    def step(self, closure=None):
        self.grads.append([p.grad.clone() for g in self.param_groups for p in g["params"]])


def full_batch_gradient(cfg, model, batch, old, adv):
    model.zero_grad()
    logp = R.token_logprobs(model, batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask,
                            cfg.temperature, share_prompts=False)
    loss = H.hir_loss(logp, old, adv, batch.response_mask, clip_low=cfg.clip_low, clip_high=cfg.clip_high, agg=cfg.agg)
    loss[0].backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    return grads


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean"])
def test_update_equals_one_full_batch_step_for_any_micro_batch(toy64, agg):
    model, tok = toy64
    model = copy.deepcopy(model)
    batch = R.sample(model, tok, ["Say hi.", "Write a poem about the ocean."], n=5, max_new_tokens=10, seed=3)
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(batch.logprobs.shape, generator=g, dtype=torch.float64)
    old = batch.logprobs + 0.3 * noise * batch.response_mask
    adv = torch.randn(10, generator=g, dtype=torch.float64)  # every row its own advantage
    # the plain pass is exact in any grouping; shared prompts agree to the toy's float32 norms (test_shared_prompt.py)
    for mb, share, rtol in [(mb, "false", 1e-9) for mb in (1, 3, 7, 10)] + [(mb, "true", 1e-5) for mb in (3, 10)]:
        cfg = C.parse_config(["--model", "toy", "--micro_batch", str(mb), "--agg", agg, "--grad_clip", "1e9",
                              "--temperature", "0.9", "--share_prompts", share])
        want = full_batch_gradient(cfg, model, batch, old, adv)
        opt = Recorder(model.parameters())
        T.update(cfg, 1, model, opt, batch, old, None, adv)
        assert len(opt.grads) == 1
        assert all(torch.allclose(a, b, rtol=rtol, atol=rtol * 1e-3) for a, b in zip(opt.grads[0], want)), mb
    # the gradient clip: the applied gradient is the full one, scaled to norm grad_clip
    norm = torch.sqrt(sum((w ** 2).sum() for w in want))
    cfg = C.parse_config(["--model", "toy", "--micro_batch", "3", "--agg", agg, "--grad_clip", str(float(norm) / 4),
                          "--temperature", "0.9", "--share_prompts", "false"])
    opt = Recorder(model.parameters())
    stats = T.update(cfg, 1, model, opt, batch, old, None, adv)
    assert all(torch.allclose(a, w / 4, rtol=1e-6, atol=1e-12) for a, w in zip(opt.grads[0], want))
    assert stats["grad_norm"] == pytest.approx(float(norm)) and stats["skipped_updates"] == 0


def test_a_non_finite_gradient_is_never_applied(toy64):
    model, tok = toy64
    model = copy.deepcopy(model)
    batch = R.sample(model, tok, ["Say hi."], n=4, max_new_tokens=6, seed=1)
    adv = torch.tensor([1.0, -1.0, float("inf"), 0.5], dtype=torch.float64)
    opt = Recorder(model.parameters())
    stats = T.update(C.parse_config(["--model", "toy"]), 1, model, opt, batch, batch.logprobs, None, adv)
    assert opt.grads == [] and stats["skipped_updates"] == 1


def test_mini_batches_are_sequential_optimizer_steps_on_parts_of_the_step(toy64):
    """--mini_batches 2 (the release's 2 optimizer steps per training step): the same as two plain
    full-batch steps, one on each half of the shuffled rows, each normalized by its own tokens."""
    model, tok = toy64
    batch = R.sample(model, tok, ["Say hi.", "Write a poem about the ocean."], n=4, max_new_tokens=10, seed=3)
    adv = torch.randn(8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cfg = C.parse_config(["--model", "toy", "--mini_batches", "2", "--micro_batch", "3", "--grad_clip", "1e9"])
    got = copy.deepcopy(model)
    T.update(cfg, 5, got, torch.optim.SGD(got.parameters(), lr=0.5), batch, batch.logprobs, None, adv)
    ref = copy.deepcopy(model)
    opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(T.seed_int((cfg.seed, 5, "order"))))
    for part in order.tensor_split(2):
        opt.zero_grad()
        sub = R.Rollout(*(getattr(batch, f)[part] if torch.is_tensor(getattr(batch, f)) else None for f in
                          ("prompt_ids", "prompt_mask", "response_ids", "response_mask", "logprobs", "entropy", "texts",
                           "truncated", "group_ids")))
        logp = R.token_logprobs(ref, sub.input_ids, sub.attention_mask, sub.position_ids, sub.response_mask)
        H.hir_loss(logp, batch.logprobs[part], adv[part], sub.response_mask)[0].backward()
        opt.step()
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(got.parameters(), ref.parameters()))
    assert not all(torch.allclose(a, b) for a, b in zip(got.parameters(), model.parameters()))

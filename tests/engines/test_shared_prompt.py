"""engines/shared_prompt.py: scoring each distinct prompt once equals the plain pass (float64), values and grads."""
import copy

import pytest
import torch

import rollout as R


PROMPTS = ["Write a poem about the ocean.", "Say hi.", "Explain sleep to a ten-year-old. Avoid commas completely."]


def batch_of(model, tok, n=3):
    """Groups of n sampled responses, then one row with a prompt of its own (a replay's q'), re-padded as
    train.py's cat_rollouts does: prompts of three widths, responses of several lengths."""
    out = R.sample(model, tok, PROMPTS, n=n, max_new_tokens=12, seed=5)
    solo = R.sample(model, tok, ["Say hi, and nothing else at all."], n=1, max_new_tokens=5, seed=6)
    return R.cat_rollouts(out, solo, tok.pad_token_id)


def score(model, b, share, **kw):
    return R.token_logprobs(model, b.input_ids, b.attention_mask, b.position_ids, b.response_mask,
                            share_prompts=share, **kw)


def test_values_and_entropies_equal_the_plain_pass(toy64):
    model, tok = toy64
    b = batch_of(model, tok)
    assert b.response_mask.sum(1).unique().numel() > 1  # responses of several lengths (right padding is read)
    with torch.no_grad():
        plain, ent_plain = score(model, b, False, temperature=0.7, with_entropy=True)
        shared, ent_shared = score(model, b, True, temperature=0.7, with_entropy=True)
    assert plain.abs().sum() > 0
    assert torch.allclose(shared, plain, atol=1e-10, rtol=0) and torch.allclose(ent_shared, ent_plain, atol=1e-10)


def test_gradients_equal_the_plain_pass(toy64):
    """Under autograd the gather sums each prompt's gradient over its rows. The toy's float64 pass carries float32
    rounding (LlamaRMSNorm normalizes in float32, and the two passes sum in another order), so gradients agree to
    about 1e-7, not 1e-15; a gradient lost through the gathered keys and values differs by far more (tried)."""
    model, tok = toy64
    b = batch_of(model, tok)
    weights = torch.linspace(-1, 2, b.response_mask.numel(), dtype=torch.float64).view_as(b.response_mask)
    grads = []
    for share in (False, True):
        m = copy.deepcopy(model).train()
        (score(m, b, share) * weights).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[1], grads[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("width", [1, 2])
def test_one_and_two_token_responses(toy64, width):
    model, tok = toy64
    ids, mask = R.encode_prompts(tok, PROMPTS[:2])
    ids, mask = ids.repeat_interleave(2, 0), mask.repeat_interleave(2, 0)
    resp = torch.tensor([[5, 6], [7, 8], [9, 10], [11, 12]])[:, :width]
    full = torch.cat([mask, torch.ones_like(resp)], 1)
    args = (torch.cat([ids, resp], 1), full, R.position_ids_from(full), torch.ones_like(resp))
    with torch.no_grad():
        plain = R.token_logprobs(model, *args, share_prompts=False)
        shared = R.token_logprobs(model, *args, share_prompts=True)
    assert shared.shape == (4, width) and torch.allclose(shared, plain, atol=1e-10, rtol=0)


def test_all_distinct_prompts_and_a_short_sliding_window_take_the_plain_pass(toy64):
    """Nothing to share (every prompt distinct: SFT batches, replays' entropies), or a cache that keeps only a window
    of the prompt's keys (which would be silently wrong): response_states declines and the plain pass runs."""
    from transformers import MistralConfig, MistralForCausalLM
    from engines.shared_prompt import response_states
    model, tok = toy64
    b = R.sample(model, tok, PROMPTS, n=1, max_new_tokens=6, seed=2)
    P = b.prompt_ids.shape[1]
    assert response_states(model.model, b.input_ids, b.attention_mask, b.position_ids, P) is None
    torch.manual_seed(0)
    cfg = MistralConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, sliding_window=4)
    windowed = MistralForCausalLM(cfg).double().eval()
    b = batch_of(windowed, tok)  # prompts of 8+ tokens, longer than the window
    assert response_states(windowed.model, b.input_ids, b.attention_mask, b.position_ids,
                           b.prompt_ids.shape[1]) is None
    with torch.no_grad():
        assert torch.allclose(score(windowed, b, True), score(windowed, b, False), atol=1e-10, rtol=0)


@pytest.mark.parametrize("fixture", ["toy", "toy64"])
@pytest.mark.parametrize("max_tokens", [1, 60, 130])
def test_scoring_in_token_bounded_chunks_equals_one_forward_bit_for_bit(request, fixture, max_tokens):
    """--score_tokens: a prompt's rows stay together and every chunk takes the pass the whole batch takes (here the
    shared-prompt one, also for a chunk that holds only the solo row), so log-probs and entropies are identical.
    Bit for bit as far as the CPU's kernels give a row the same numbers in a batch of another size: its matmuls of
    1-3 rows (float32) or of rows not a multiple of 4 (float64) round otherwise, hence the LM head's padded calls."""
    model, tok = request.getfixturevalue(fixture)
    b = batch_of(model, tok)
    extra = R.sample(model, tok, PROMPTS[:1], n=2, max_new_tokens=7, seed=9)  # a top-up: group 0's rows, apart
    b = R.cat_rollouts(b, extra, tok.pad_token_id)
    group = R.prompt_groups(b.input_ids, b.attention_mask, b.input_ids.shape[1] - b.response_mask.shape[1])[1]
    chunks = R.prompt_chunks(group, b.input_ids.shape[1], max_tokens)
    assert sorted(torch.cat(chunks).tolist()) == list(range(len(group)))  # every row once
    for c in chunks:  # never a prompt split; over the bound only when one prompt's rows alone are
        assert all(set((group == g).nonzero()[:, 0].tolist()) <= set(c.tolist()) for g in group[c].tolist())
        assert len(c) * b.input_ids.shape[1] <= max_tokens or len(set(group[c].tolist())) == 1
    assert len(chunks) > 1
    with torch.no_grad():
        whole = score(model, b, True, temperature=0.7, with_entropy=True)
        parts = score(model, b, True, temperature=0.7, with_entropy=True, max_tokens=max_tokens)
        plain_whole = score(model, b, False)
        plain_parts = score(model, b, False, max_tokens=max_tokens)
    assert all(torch.equal(x, y) for x, y in zip(whole, parts)) and torch.equal(plain_whole, plain_parts)

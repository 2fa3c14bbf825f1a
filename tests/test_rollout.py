"""rollout.py: masks, padding, behaviour log-probs, seeding, contracts, memory. Run on both engines
where the contract is shared."""
import copy
import math

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

import rollout as R

PROMPTS = ["Write a poem about the ocean.", "Say hi.", "Explain sleep to a ten-year-old. Avoid commas completely."]
ENGINES = ["hf", "fast"]


@pytest.mark.parametrize("engine", ENGINES)
def test_contract_shapes_groups_and_masks(toy, engine):
    model, tok = toy
    out = R.sample(model, tok, PROMPTS, n=8, max_new_tokens=64, temperature=40.0, seed=3, engine=engine)
    B = len(PROMPTS) * 8
    assert out.prompt_ids.shape[0] == out.response_ids.shape[0] == B and len(out.texts) == B
    assert out.response_ids.shape[1] <= 64
    assert out.group_ids.tolist() == [i // 8 for i in range(B)]
    assert out.input_ids.shape == out.attention_mask.shape == out.position_ids.shape
    eos = tok.eos_token_id
    ended = 0
    for b in range(B):
        ids, m = out.response_ids[b].tolist(), out.response_mask[b].tolist()
        if eos in ids:  # mask is 1 up to and including the first EOS, 0 after
            k = ids.index(eos)
            assert m == [1.0] * (k + 1) + [0.0] * (len(ids) - k - 1) and not out.truncated[b]
            ended += 1
        else:
            assert m == [1.0] * 64 and out.truncated[b]
        assert (out.logprobs[b] != 0).sum() <= sum(m)
    assert 0 < ended < B  # at temperature 40 some rows stop early, some run out (fixed seed)


def test_response_mask_when_eos_equals_pad():
    eos = torch.tensor([7])
    tokens = torch.tensor([[3, 7, 7, 7], [7, 7, 7, 7], [1, 2, 3, 4], [1, 2, 3, 7]])
    assert R.response_mask_from(tokens, eos).tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]


@pytest.mark.parametrize("engine", ENGINES)
def test_pad_equal_to_eos_end_to_end(toy, engine):
    model, tok = toy
    tok = copy.deepcopy(tok)
    tok.pad_token = tok.eos_token
    out = R.sample(model, tok, PROMPTS, n=8, max_new_tokens=64, temperature=40.0, seed=3, engine=engine)
    lengths = out.response_mask.sum(1).long()
    for b in range(len(lengths)):
        if not out.truncated[b]:
            assert out.response_ids[b, lengths[b] - 1] == tok.eos_token_id  # the EOS itself counts
    assert (out.response_mask.sum(1) < out.response_ids.shape[1]).any()


@pytest.mark.parametrize("engine", ENGINES)
def test_behaviour_logprobs_equal_a_fresh_scoring_pass(toy64, engine):
    model, tok = toy64
    out = R.sample(model, tok, PROMPTS, n=3, max_new_tokens=16, temperature=0.7, seed=1, engine=engine)
    lp, ent = R.token_logprobs(model, out.input_ids, out.attention_mask, out.position_ids, out.response_mask,
                               temperature=0.7, with_entropy=True)
    assert torch.allclose(lp, out.logprobs, atol=1e-5)
    assert torch.allclose(ent, out.entropy, atol=1e-5)


def test_left_padding_matches_each_sequence_alone(toy64):
    model, tok = toy64
    out = R.sample(model, tok, PROMPTS, n=2, max_new_tokens=12, seed=5)
    batched = R.token_logprobs(model, out.input_ids, out.attention_mask, out.position_ids, out.response_mask)
    for b in range(out.input_ids.shape[0]):
        real = out.prompt_mask[b].bool()
        ids = torch.cat([out.prompt_ids[b][real], out.response_ids[b]])[None]
        mask = torch.cat([torch.ones(int(real.sum()), dtype=torch.long), out.response_mask[b].long()])[None]
        alone = R.token_logprobs(model, ids, mask, R.position_ids_from(mask), out.response_mask[b:b + 1])
        assert torch.allclose(alone[0], batched[b], atol=1e-5)
    assert (out.prompt_mask == 0).any()  # the prompts really were padded


@pytest.mark.parametrize("engine", ENGINES)
def test_same_seed_same_samples_and_groups_diverge(toy, engine):
    model, tok = toy
    a = R.sample(model, tok, PROMPTS[:1], n=4, max_new_tokens=10, seed=11, engine=engine)
    b = R.sample(model, tok, PROMPTS[:1], n=4, max_new_tokens=10, seed=11, engine=engine)
    c = R.sample(model, tok, PROMPTS[:1], n=4, max_new_tokens=10, seed=12, engine=engine)
    assert a.texts == b.texts and torch.equal(a.logprobs, b.logprobs)
    assert len(set(a.texts)) > 1 and a.texts != c.texts


def test_small_micro_batches_keep_rows_groups_and_exact_logprobs(toy64):
    model, tok = toy64
    c = R.sample(model, tok, PROMPTS, n=2, max_new_tokens=8, seed=2, micro_batch=2)
    assert c.response_ids.shape[0] == 6 and c.group_ids.tolist() == [0, 0, 1, 1, 2, 2]
    assert c.texts == R.sample(model, tok, PROMPTS, n=2, max_new_tokens=8, seed=2, micro_batch=2).texts
    lp = R.token_logprobs(model, c.input_ids, c.attention_mask, c.position_ids, c.response_mask)
    assert torch.allclose(lp, c.logprobs, atol=1e-5)  # micro-batches padded to one R stay aligned


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    logits = torch.randn(5, 30, dtype=torch.float64)
    got = R.sampling_logprobs(logits, temperature=0.8, top_p=0.6)
    for row in range(5):  # naive reference
        p = torch.softmax(logits[row] / 0.8, -1)
        order = sorted(range(30), key=lambda i: -p[i].item())
        keep, mass = [], 0.0
        for i in order:
            keep.append(i)
            mass += p[i].item()
            if mass >= 0.6:
                break
        ref = torch.full((30,), float("-inf"), dtype=torch.float64)
        ref[keep] = torch.log(p[keep] / p[keep].sum())
        assert torch.allclose(got[row], ref)


def test_token_logprobs_gradient_matches_full_log_softmax(toy64):
    model, tok = toy64
    out = R.sample(model, tok, PROMPTS[:2], n=2, max_new_tokens=6, seed=0)
    args = (out.input_ids, out.attention_mask, out.position_ids, out.response_mask)
    model.zero_grad()
    # the plain pass, so only the chunking differs (shared prompts: tests/engines/test_shared_prompt.py)
    R.token_logprobs(model, *args, temperature=0.9, chunk_tokens=5, share_prompts=False).sum().backward()
    chunked = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    P = out.prompt_ids.shape[1]
    logits = model(input_ids=args[0], attention_mask=args[1], position_ids=args[2]).logits[:, P - 1:-1] / 0.9
    ref = logits.log_softmax(-1).gather(-1, out.response_ids[..., None])[..., 0]
    (ref * out.response_mask).sum().backward()
    for g, p in zip(chunked, model.parameters()):
        assert torch.allclose(g, p.grad, atol=1e-8)
    model.zero_grad()


def test_token_logprobs_never_builds_full_logits():
    """Vocab 50k: the LM head only ever sees chunks of `chunk_tokens` rows."""
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=50_000, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(config).eval()
    B, P, T = 8, 20, 64
    ids = torch.randint(0, 50_000, (B, P + T))
    mask = torch.ones(B, P + T, dtype=torch.long)
    seen = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, o: seen.append(o.numel() * 4))
    with torch.no_grad():
        lp = R.token_logprobs(model, ids, mask, R.position_ids_from(mask), torch.ones(B, T), chunk_tokens=128)
    hook.remove()
    full = B * (P + T) * 50_000 * 4
    assert lp.shape == (B, T) and max(seen) <= 128 * 50_000 * 4 and max(seen) * 4 <= full


@pytest.mark.parametrize("engine", ENGINES)
def test_behaviour_logprobs_under_top_p_are_the_nucleus_distribution(toy64, engine):
    """With top-p, a token's behaviour log-prob is log(p / mass of the nucleus): the distribution it
    was drawn from, built here by a naive loop over the full-forward logits (float64)."""
    model, tok = toy64
    out = R.sample(model, tok, PROMPTS[:2], n=3, max_new_tokens=8, temperature=0.8, top_p=0.6, seed=4, engine=engine)
    P = out.prompt_ids.shape[1]
    with torch.no_grad():
        logits = model(input_ids=out.input_ids, attention_mask=out.attention_mask,
                       position_ids=out.position_ids).logits[:, P - 1:-1] / 0.8
    checked = 0
    for b in range(out.response_ids.shape[0]):
        for t in range(int(out.response_mask[b].sum())):
            p = torch.softmax(logits[b, t], -1).tolist()
            nucleus, mass = [], 0.0
            for i in sorted(range(len(p)), key=lambda i: -p[i]):
                nucleus.append(i)
                mass += p[i]
                if mass >= 0.6:
                    break
            token = int(out.response_ids[b, t])
            assert token in nucleus
            assert abs(float(out.logprobs[b, t]) - math.log(p[token] / mass)) < 1e-6
            checked += 1
    assert checked > 10


@pytest.mark.parametrize("engine", ENGINES)
def test_temperature_zero_is_greedy(toy64, engine):
    model, tok = toy64
    out = R.sample(model, tok, PROMPTS[:2], n=2, max_new_tokens=8, temperature=0.0, seed=1, engine=engine)
    P = out.prompt_ids.shape[1]
    with torch.no_grad():
        logits = model(input_ids=out.input_ids, attention_mask=out.attention_mask,
                       position_ids=out.position_ids).logits[:, P - 1:-1]
    keep = out.response_mask.bool()
    assert torch.equal(out.response_ids[keep], logits.argmax(-1)[keep])       # every token the argmax
    assert torch.equal(out.response_ids[0], out.response_ids[1]) and (out.logprobs == 0).all()

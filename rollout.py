"""Sampling a group of responses per prompt, and scoring response tokens.

    python models.py toy      # samples through this file

`sample(model, tokenizer, prompts, n)` renders each prompt as one user turn with the chat template,
left-pads the batch, and decodes `n` responses per prompt with a KV cache, in micro-batches. It
returns a `Rollout`: token ids, masks, position ids, the behaviour log-probs and entropies of the
exact distribution each token was drawn from (temperature and top-p applied), texts, truncation.

`token_logprobs(...)` re-scores response tokens (old, reference and current log-probs). It runs the
transformer body over each distinct prompt once, then over every row's response (the n responses of a
prompt read its keys and values: engines/shared_prompt.py), keeps only the hidden states that predict
response tokens, and applies the LM head in chunks of `chunk_tokens` rows, so no (B, T, V) float32 tensor
ever exists; under autograd each chunk is checkpointed, so the backward pass holds one chunk of logits at
a time.

Two engines share this contract: "hf" (here: HF model forward with its dynamic cache, one decode
step per token) and "fast" (engines/fast.py: prefill once per group, static cache, CUDA graphs).
The sampling step both use (inverse-CDF draws, behaviour log-probs) is engines/step.py.
"""
import json
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from data import PromptLimit
from engines.fast import decode_fast
from engines.shared_prompt import prompt_groups, response_states
from engines.step import (cat_right_padded, forward, position_ids_from, response_mask_from, sample_token,  # noqa: F401
                          sampling_logprobs, stream_uniforms)  # noqa: F401 (sampling_logprobs: re-exported)


@dataclass
class Rollout:
    prompt_ids: torch.Tensor      # (B, P) left-padded; B = len(prompts) * n, row b is prompt b // n
    prompt_mask: torch.Tensor     # (B, P) 1 on real prompt tokens
    response_ids: torch.Tensor    # (B, R) right-padded after the first EOS
    response_mask: torch.Tensor   # (B, R) 1 up to and including the first EOS, 0 after
    logprobs: torch.Tensor        # (B, R) behaviour log-probs of the sampled tokens (0 where masked)
    entropy: torch.Tensor         # (B, R) entropy of the sampling distribution at each step
    texts: list                   # B decoded responses (special tokens removed)
    truncated: torch.Tensor       # (B,) True if no EOS within max_new_tokens
    group_ids: torch.Tensor       # (B,) index of the prompt each row answers

    @property
    def input_ids(self):          # (B, P + R)
        return torch.cat([self.prompt_ids, self.response_ids], 1)

    @property
    def attention_mask(self):     # (B, P + R)
        return torch.cat([self.prompt_mask, self.response_mask.to(self.prompt_mask.dtype)], 1)

    @property
    def position_ids(self):       # (B, P + R) positions count real tokens only (left padding)
        return position_ids_from(self.attention_mask)


def eos_token_ids(model, tokenizer):
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos])
    return torch.tensor(sorted(i for i in ids if i is not None), device=model.device)


def chat_ids(tokenizer, prompts):
    """Each prompt as one user turn of the chat template -> its token ids (a list per prompt)."""
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True) for p in prompts]
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def bytes_cover_text(tokenizer):
    """True when no token stands for more characters than its vocabulary string has: byte-level BPE (SmolLM2,
    Llama 3, Qwen) and byte-fallback BPE. False for word-level, WordPiece or Unigram tokenizers, whose unknown
    token can stand for a word of any length (the toy's)."""
    try:
        spec = json.loads(tokenizer.backend_tokenizer.to_str())
    except (AttributeError, ValueError):
        return False
    model = spec.get("model") or {}
    return model.get("type") == "BPE" and ("ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or
                                           bool(model.get("byte_fallback")))


def prompt_limit(tokenizer, max_tokens, skip=False):
    """data.PromptLimit for this tokenizer: chat-templated lengths, and a size in characters past which nothing is
    tokenized: max_tokens x the longest vocabulary entry where that bounds a prompt of max_tokens (bytes_cover_text),
    else a size limit of 64 characters per token."""
    if bytes_cover_text(tokenizer):
        max_chars = max_tokens * max(map(len, tokenizer.get_vocab()))
        why = f"more than {max_tokens} tokens of this tokenizer can hold (--max_prompt_length)"
    else:
        max_chars = max_tokens * 64
        why = (f"over the size limit of {max_chars:,} (64 per token of --max_prompt_length; this tokenizer's unknown "
               "token can stand for a word of any length)")
    return PromptLimit(max_tokens, lambda prompts: [len(r) for r in chat_ids(tokenizer, prompts)], max_chars, why,
                       skip)


def encode_prompts(tokenizer, prompts, device="cpu", width=0):
    """Chat-template each prompt as one user turn, then left-pad: (B, P) ids and mask, P at least `width`."""
    rows = chat_ids(tokenizer, prompts)
    P = max(width, max(len(r) for r in rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    ids = torch.tensor([[pad] * (P - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (P - len(r)) + [1] * len(r) for r in rows], device=device)
    return ids, mask


# ----------------------------------------------------------------------------- the hf engine
@torch.no_grad()
def decode_hf(model, ids, mask, max_new_tokens, temperature, top_p, uniforms, eos_ids, pad_id):
    """Plain decoding: prefill (b, P), then one cached forward per new token until every row has
    emitted EOS; row b draws step t's token with uniforms[b, t]. Returns (b, r) tokens, log-probs and
    entropies, r <= max_new_tokens."""
    pos = position_ids_from(mask)
    logits, cache = forward(model, input_ids=ids, attention_mask=mask, position_ids=pos,
                            use_cache=True, logits_to_keep=1)
    done = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
    tokens, logps, ents = [], [], []
    for t in range(max_new_tokens):
        tok, lp, ent = sample_token(logits[:, -1], temperature, top_p, uniforms[:, t])
        tok = tok.masked_fill(done, pad_id)  # finished rows keep decoding pads (masked out later)
        tokens.append(tok), logps.append(lp), ents.append(ent)
        done |= torch.isin(tok, eos_ids)
        if done.all():
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        pos = pos[:, -1:] + 1
        logits, cache = forward(model, input_ids=tok[:, None], attention_mask=mask, position_ids=pos,
                                cache=cache, use_cache=True)
    return torch.stack(tokens, 1), torch.stack(logps, 1), torch.stack(ents, 1)


# ----------------------------------------------------------------------------- sample
def sample(model, tokenizer, prompts, n=6, max_new_tokens=256, temperature=1.0, top_p=1.0, seed=0,
           micro_batch=64, engine="hf", prompt_width=0):
    """n responses for each prompt (rows grouped: prompt i owns rows i*n .. i*n+n-1). seed: one per prompt (a
    list), or an int: prompt i's seed is seed + i. Prompt i's rows draw from the stream of its seed alone, so
    its responses do not depend on the other prompts of the call nor on micro_batch. prompt_width: left-pad to
    at least this many tokens (a caller that splits one batch into calls passes the batch's width, so every call
    computes on the same shapes as one call would)."""
    if n < 1 or max_new_tokens < 1 or temperature < 0 or not 0 < top_p <= 1:
        raise ValueError(f"need n >= 1, max_new_tokens >= 1, temperature >= 0 (0 = greedy), 0 < top_p <= 1; got "
                         f"{n}, {max_new_tokens}, {temperature}, {top_p}")
    device = model.device
    seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
    if len(seeds) != len(prompts):
        raise ValueError(f"need one seed per prompt: {len(seeds)} seeds for {len(prompts)} prompts")
    uniforms = stream_uniforms(seeds, n, max_new_tokens, device)  # (G * n, max_new_tokens)
    eos_ids = eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else int(eos_ids[0])
    ids, mask = encode_prompts(tokenizer, prompts, device, prompt_width)  # (G, P)
    if engine == "fast":
        tokens, logps, ents = decode_fast(model, ids, mask, n, max_new_tokens, temperature, top_p,
                                          uniforms, eos_ids, pad_id, micro_batch)
        ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    elif engine == "hf":
        ids, mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)  # (B, P): n copies each
        parts = [decode_hf(model, ids[i:i + micro_batch], mask[i:i + micro_batch], max_new_tokens,
                           temperature, top_p, uniforms[i:i + micro_batch], eos_ids, pad_id)
                 for i in range(0, ids.shape[0], micro_batch)]
        tokens, logps, ents = (cat_right_padded([p[k] for p in parts], fill) for k, fill in
                               enumerate([pad_id, 0.0, 0.0]))
    else:
        raise ValueError(f"engine must be 'hf' or 'fast', got {engine!r}")
    resp_mask = response_mask_from(tokens, eos_ids)                # (B, R)
    tokens = tokens.masked_fill(resp_mask == 0, pad_id)
    lengths = resp_mask.sum(1).long()
    texts = [tokenizer.decode(tokens[b, :lengths[b]], skip_special_tokens=True) for b in range(len(tokens))]
    truncated = ~torch.isin(tokens, eos_ids).any(1)
    return Rollout(ids, mask, tokens, resp_mask, logps * resp_mask, ents * resp_mask, texts, truncated,
                   torch.arange(len(prompts), device=device).repeat_interleave(n))


# ----------------------------------------------------------------------------- scoring tokens
def _body_and_head(model):
    body = model.get_decoder() if hasattr(model, "get_decoder") else model.model
    return body, model.get_output_embeddings()


def _chunk_logprobs(head, h, targets, temperature, softcap, with_entropy):
    # without autograd, rows padded to a multiple of 8: a CPU matmul of 1-3 rows (float32) or of rows not a multiple
    # of 4 (float64) takes another kernel and rounds a row otherwise than in a larger call; this keeps a token's
    # scores the same whichever LM-head chunk it falls in (--score_tokens). Not under autograd: zero rows would change
    # the head's weight gradient's summation, and the update's chunks do not move
    c = h.shape[0]
    if not torch.is_grad_enabled():
        h, targets = F.pad(h, (0, 0, 0, -c % 8)), F.pad(targets, (0, -c % 8))
    logits = head(h)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # (c, V): float32 at least
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    logp = (logits / temperature).log_softmax(-1)
    del logits  # three (c, V) float32 tensors at most, with or without autograd (plumbing/plan.py's logits chunk)
    entropy = -(logp.exp() * logp).sum(-1) if with_entropy else None  # another (c, V) pass: only if asked
    return logp.gather(-1, targets[:, None])[:c, 0], None if entropy is None else entropy[:c]


def prompt_chunks(group, per_row, max_tokens):
    """Row index tensors that split a batch into forwards of at most max_tokens (rows x padded length per_row)
    each, a prompt's rows (equal `group`, (B,)) always together, so every chunk scores its rows as the whole batch
    would (a prompt with more rows than the bound is a chunk of its own). Prompts in order of first appearance."""
    chunks, rows = [], []
    for g in dict.fromkeys(group.tolist()):
        members = (group == g).nonzero()[:, 0].tolist()
        if rows and (len(rows) + len(members)) * per_row > max_tokens:
            chunks.append(rows)
            rows = []
        rows = rows + members
    chunks.append(rows)
    return [torch.tensor(sorted(c), device=group.device) for c in chunks]


def token_logprobs(model, input_ids, attention_mask, position_ids, response_mask, temperature=1.0,
                   with_entropy=False, chunk_tokens=1024, share_prompts=True, max_tokens=0, _distinct_ok=False):
    """Log-probs (B, R) of the last R = response_mask.shape[1] tokens of input_ids (B, P + R),
    at `temperature`; with entropy (B, R) too if asked. 0 where response_mask is 0. share_prompts: run
    each distinct prompt once (the same numbers up to rounding; False: the plain pass, the reference).
    chunk_tokens: response tokens per LM-head call. max_tokens: without autograd, forwards of at most this many
    tokens (prompt_chunks), each taking the path the whole batch takes (0 = one forward)."""
    B, R = response_mask.shape
    if max_tokens and not torch.is_grad_enabled() and B * input_ids.shape[1] > max_tokens and R > 0:
        group = prompt_groups(input_ids, attention_mask, input_ids.shape[1] - R)[1]
        shares = len(set(group.tolist())) < B  # then every chunk takes the shared-prompt pass, as the batch would
        out = None
        for rows in prompt_chunks(group, input_ids.shape[1], max_tokens):
            got = token_logprobs(model, input_ids[rows], attention_mask[rows], position_ids[rows], response_mask[rows],
                                 temperature, with_entropy, chunk_tokens, share_prompts, 0, shares)
            got = got if with_entropy else (got,)
            out = out or [torch.zeros(B, R, dtype=x.dtype, device=x.device) for x in got]
            for o, x in zip(out, got):
                o[rows] = x
        return tuple(out) if with_entropy else out[0]
    P = input_ids.shape[1] - R
    body, head = _body_and_head(model)
    checkpointed = getattr(body, "gradient_checkpointing", False) and torch.is_grad_enabled()  # it drops caches
    states = None
    if share_prompts and R > 0 and not checkpointed:  # each distinct prompt once (engines/shared_prompt.py)
        states = response_states(body, input_ids, attention_mask, position_ids, P, _distinct_ok)  # (B, R, H) / None
    if states is None:  # the plain pass: every row's prompt again
        states = body(input_ids=input_ids, attention_mask=attention_mask,
                      position_ids=position_ids).last_hidden_state[:, P - 1:P - 1 + R]  # (B, R, H)
    keep = response_mask.bool()                                  # (B, R)
    h = states[keep]                                             # (N, H) states that predict tokens
    targets = input_ids[:, P:][keep]                             # (N,)
    softcap = getattr(model.config, "final_logit_softcapping", None)
    lps, ents = [], []
    for i in range(0, h.shape[0], chunk_tokens):
        args = (head, h[i:i + chunk_tokens], targets[i:i + chunk_tokens], temperature, softcap, with_entropy)
        if torch.is_grad_enabled():  # recompute the chunk's logits in backward instead of storing them
            lp, ent = checkpoint(_chunk_logprobs, *args, use_reentrant=False)
        else:
            lp, ent = _chunk_logprobs(*args)
        lps.append(lp), ents.append(ent)
    zeros = torch.zeros(B, R, device=input_ids.device, dtype=torch.promote_types(h.dtype, torch.float32))
    logp = zeros.masked_scatter(keep, torch.cat(lps).to(zeros.dtype)) if lps else zeros
    if not with_entropy:
        return logp
    return logp, (zeros.masked_scatter(keep, torch.cat(ents).to(zeros.dtype)) if ents else zeros)


def cat_rollouts(a, b, pad_id):
    """Stack two rollouts (e.g. originals and replays) into one: prompts re-padded on the left,
    responses on the right, so every row keeps its own tokens, masks and positions."""
    P = max(a.prompt_ids.shape[1], b.prompt_ids.shape[1])

    def left(x, y, fill):
        return torch.cat([F.pad(t, (P - t.shape[1], 0), value=fill) for t in (x, y)])
    return Rollout(left(a.prompt_ids, b.prompt_ids, pad_id), left(a.prompt_mask, b.prompt_mask, 0),
                   cat_right_padded([a.response_ids, b.response_ids], pad_id),
                   cat_right_padded([a.response_mask, b.response_mask], 0),
                   cat_right_padded([a.logprobs, b.logprobs], 0), cat_right_padded([a.entropy, b.entropy], 0),
                   a.texts + b.texts, torch.cat([a.truncated, b.truncated]), torch.cat([a.group_ids, b.group_ids]))

"""Continuous batching for evaluation: a fixed set of slots decodes together, and a slot whose
response has ended takes the next prompt from the queue at once.

    python eval.py --model smollm2 --data ../shared/ifeval/input_data.jsonl --engine fast   # decodes here

Evaluation decodes hundreds of prompts whose responses end anywhere from 20 to 4,096 tokens. In
micro-batches, each batch decodes until its longest response ends while its finished rows idle;
here a finished slot is refilled on the next step, so the batch stays full until the queue is empty.

How a prompt joins a running batch without changing any shape (so a captured CUDA graph stays valid):
every slot writes its next key/value at the same cache column c (the static cache's one write
position). A new prompt's first P-1 tokens are prefilled on their own (positions 0..P-2) and their
keys/values are copied into its slot's columns c-P+1 .. c-1; its last prompt token is then fed by
the shared decode step at column c, with position P-1, which yields its first-token distribution.
The slot's mask row is reset to exactly those columns. Attention sees a row's own columns only, and
RoPE positions travel with the keys, so the row decodes as if alone. A cache holds
`P_max + span` columns; prompts are admitted while `max_new_tokens` columns remain, after which the
batch drains and a new one starts (a "wave").

Randomness is per prompt: token k of prompt i is drawn with `draws(i)[k]` (inverse CDF, see
engines/step.sample_token), so a response does not depend on which prompts shared its batch;
tests/engines/test_continuous.py checks every token and log-prob against decoding each prompt alone.
"""
import torch
import torch.nn.functional as F

from engines.fast import _decode_step, _static_cache_from_prefill
from engines.step import forward, kv_layers, position_ids_from, sample_token


def _left_pad(rows, pad_id, device):
    """list of 1-D token tensors -> (b, P) left-padded ids and mask."""
    P = max(len(r) for r in rows)
    ids = torch.full((len(rows), P), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros(len(rows), P, dtype=torch.long, device=device)
    for i, r in enumerate(rows):
        if len(r):
            ids[i, P - len(r):], mask[i, P - len(r):] = r, 1
    return ids, mask


def _admit(model, cache, full_mask, slots, prompts, c):
    """Place prompts[i][:-1]'s keys/values in columns c-P_i+1 .. c-1 of each slot, and open the slot's
    mask on those columns and on column c (where the shared step feeds the last prompt token)."""
    heads = [p[:-1] for p in prompts]
    full_mask[slots] = 0
    for s, p in zip(slots, prompts):
        full_mask[s, c - len(p) + 1:c + 1] = 1
    if max(len(h) for h in heads) == 0:
        return
    ids, mask = _left_pad(heads, 0, full_mask.device)
    _, prefill = forward(model, input_ids=ids, attention_mask=mask, position_ids=position_ids_from(mask),
                         use_cache=True, logits_to_keep=1)
    P = ids.shape[1]
    for layer, (k, v) in zip(cache.layers, kv_layers(prefill)):
        for j, (s, h) in enumerate(zip(slots, heads)):
            if len(h):
                layer.keys[s, :, c - len(h):c] = k[j, :, P - len(h):].to(layer.keys.dtype)
                layer.values[s, :, c - len(h):c] = v[j, :, P - len(h):].to(layer.values.dtype)


@torch.no_grad()
def decode_queue(model, prompts, max_new_tokens, temperature, top_p, draws, eos_ids, slots=64, span=None,
                 on_done=None):
    """prompts: list of 1-D token tensors (2 tokens or more). draws(i) -> (max_new_tokens,) uniforms in
    [0, 1) for prompt i. Returns [(tokens, log-probs)] per prompt, in input order, each up to and
    including its first EOS, or max_new_tokens long. on_done(i) is called as each prompt finishes."""
    if min(len(p) for p in prompts) < 2:
        raise ValueError("decode_queue needs prompts of 2 tokens or more (a chat-templated prompt always is)")
    device = model.device
    H = max(len(p) for p in prompts) - 1                # every prompt's first P-1 tokens fit left of column H
    span = span or 2 * max_new_tokens                   # columns after H: admissions stop max_new_tokens before the end
    if span < max_new_tokens:
        raise ValueError(f"span ({span}) must hold max_new_tokens ({max_new_tokens})")
    L = H + span
    queue, out = list(range(len(prompts)))[::-1], [None] * len(prompts)
    while queue:                                        # one wave per static cache
        owner = [queue.pop() for _ in range(min(slots, len(queue)))]     # the prompt each slot decodes; None: idle
        S = len(owner)
        ids, mask = _left_pad([prompts[i][:-1] for i in owner], 0, device)
        ids, mask = F.pad(ids, (H - ids.shape[1], 0)), F.pad(mask, (H - mask.shape[1], 0))   # (S, H)
        _, prefill = forward(model, input_ids=ids, attention_mask=mask, position_ids=position_ids_from(mask),
                             use_cache=True, logits_to_keep=1)
        cache = _static_cache_from_prefill(model, prefill, 1, L)          # writes next at column c = H
        full_mask = torch.zeros(S, L, dtype=mask.dtype, device=device)
        full_mask[:, :H], full_mask[:, H] = mask, 1
        step = _decode_step(model, cache, full_mask, use_graph=device.type == "cuda")
        feed = torch.stack([prompts[i][-1] for i in owner]).to(device)           # (S,) last prompt tokens
        pos = torch.tensor([[len(prompts[i]) - 1] for i in owner], device=device)  # (S, 1)
        got, c = {i: ([], [], draws(i).double().cpu()) for i in owner}, H
        while any(o is not None for o in owner):
            logits = step(feed, pos)                    # (S, V), writes column c
            u = torch.tensor([float(got[o][2][len(got[o][0])]) if o is not None else 0.0 for o in owner],
                             dtype=torch.float64, device=device)
            tok, lp, _ = sample_token(logits, temperature, top_p, u)
            ended, toks_now, lps_now = torch.isin(tok, eos_ids).tolist(), tok.tolist(), lp.tolist()
            c += 1
            refill = []
            for s, o in enumerate(owner):
                if o is None:
                    continue
                toks, lps, _ = got[o]
                toks.append(toks_now[s]), lps.append(lps_now[s])
                if ended[s] or len(toks) == max_new_tokens:
                    out[o], owner[s] = (torch.tensor(toks), torch.tensor(lps, dtype=torch.float64)), None
                    if on_done:
                        on_done(o)
                    if queue and c + max_new_tokens <= L:   # the freed slot takes the next prompt
                        owner[s] = queue.pop()
                        got[owner[s]] = ([], [], draws(owner[s]).double().cpu())
                        refill.append(s)
            if c == L:                                  # the wave's last column: every row has ended
                break
            full_mask[:, c] = 1
            feed, pos = tok.clone(), pos + 1
            if refill:
                _admit(model, cache, full_mask, refill, [prompts[owner[s]] for s in refill], c)
                for s in refill:
                    feed[s], pos[s, 0] = prompts[owner[s]][-1], len(prompts[owner[s]]) - 1
    return out

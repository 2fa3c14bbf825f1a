"""The fast sampling engine: `sample(..., engine="fast")`, same contract as the hf engine.

    python bench/rollout_speed.py --engines generate hf fast          # side by side on this machine

Five ideas, each a few lines below:
1. Shared prefill. The n samples of a prompt share that prompt, so prefill each prompt once
   (G rows, not G * n) and copy its keys/values into its n rows of the cache (as nanochat's
   Engine does). The n samples also share the first next-token distribution.
2. Static cache. Keys/values live in buffers preallocated for prompt + max_new_tokens
   (transformers' StaticCache), so every decode step has the same shapes: one token per row in,
   one write at the current position, attention over the full (masked) buffer.
3. Graph replay (CUDA only). Because the shapes never change, one decode step is captured once
   in a CUDA graph and replayed for every token: the CPU launches one graph instead of hundreds of
   small kernels, which is what limits a 135M model at batch 48. If capture fails (for example a
   transformers version whose mask code synchronizes), it falls back to eager steps, with a warning.
4. Compaction. Rows finish at different times (responses of 20 to 256 tokens), and a finished row
   decoded on costs as much as a live one. Once the live rows fit half the batch, the cache, mask and
   positions are cut to those rows (a bucket of size B/2, B/4, ...), and a graph is captured for the
   new shape. Every row samples from its own uniform per step (engines/step.stream_uniforms), so compacting
   never changes a row's tokens: tests/engines/test_fast.py checks it token for token in float64.
5. Fewer host syncs. Reading `done` on the host stalls the GPU queue, so on CUDA the loop looks every 8
   steps (stop, compact); rows that ended meanwhile decode pads, and the trailing columns are trimmed.
The loop stops as soon as every row has emitted EOS. Sampling (temperature, top-p) and the behaviour
log-probs use engines/step.sample_token, so both engines draw from the same distribution.
"""
import warnings

import torch
from torch.profiler import record_function
from transformers import StaticCache

from engines.step import (cat_right_padded, forward, kv_layers, position_ids_from, response_mask_from,
                          sample_token)


def _static_cache_from_prefill(model, prefill_cache, n, max_len):
    """A StaticCache for G * n rows holding each group's prompt keys/values n times. Its buffers
    take the dtype of the model's weights, stated here rather than left to whichever dtype the
    first keys happen to have: decoding reads weights of one dtype and writes keys of that dtype
    (bf16 weights: a bf16 cache; never fp32 weights under autocast, whose keys came out bf16)."""
    cache = StaticCache(config=model.config, max_cache_len=max_len)
    dtype = model.get_output_embeddings().weight.dtype
    for layer, (k, v) in zip(cache.layers, kv_layers(prefill_cache)):
        positions = {"cache_position": torch.arange(k.shape[2], device=k.device)}  # read by older versions
        layer.update(k.repeat_interleave(n, 0).to(dtype), v.repeat_interleave(n, 0).to(dtype), positions)
    return cache


def _decode_step(model, cache, mask, use_graph):
    """step(tok (B,), pos (B, 1)) -> next-token logits (B, V). `mask` (B, L) is updated in place
    by the caller; on CUDA the step is a captured graph replayed on static input buffers."""
    def eager(tok, pos):
        return forward(model, input_ids=tok[:, None], attention_mask=mask, position_ids=pos,
                       cache=cache, use_cache=True)[0][:, -1]
    if not use_graph:
        return eager
    tok_buf = torch.zeros(mask.shape[0], dtype=torch.long, device=mask.device)
    pos_buf = torch.zeros(mask.shape[0], 1, dtype=torch.long, device=mask.device)
    lengths = None
    try:
        lengths = [layer.cumulative_length.clone() for layer in cache.layers]  # the write position
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            eager(tok_buf, pos_buf)                      # warm-up: allocations happen outside capture
        torch.cuda.current_stream().wait_stream(side)
        _restore(cache, lengths)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = eager(tok_buf, pos_buf)
        _restore(cache, lengths)
    except Exception as e:  # noqa: BLE001 - any capture failure: run eagerly, correctly
        warnings.warn(f"CUDA graph capture failed ({type(e).__name__}: {e}); decoding eagerly")
        if lengths is not None:  # None: it failed before the warm-up touched the cache
            _restore(cache, lengths)
        return eager

    def replay(tok, pos):
        tok_buf.copy_(tok)
        pos_buf.copy_(pos)
        graph.replay()  # also advances the cache's write position, as the eager step does
        return out
    return replay


def _restore(cache, lengths):
    for layer, length in zip(cache.layers, lengths):
        layer.cumulative_length.copy_(length)


def _compact(cache, mask, rows):
    """Keep only `rows` (an index tensor) of the static cache and the mask: finished rows stop costing.
    Returns the new mask; the cache's layers are cut in place."""
    for layer in cache.layers:
        layer.keys, layer.values = layer.keys[rows], layer.values[rows]
        layer.batch_size = len(rows)
    return mask[rows]


def _bucket(live, size):
    """The batch to decode `live` unfinished rows in: the largest power-of-two fraction of `size` that
    holds them, so CUDA graphs are captured for a handful of shapes (size, size/2, size/4, ...)."""
    while size % 2 == 0 and size // 2 >= live:
        size //= 2
    return size


@torch.no_grad()
def _decode_groups(model, ids, mask, n, max_new_tokens, temperature, top_p, uniforms, eos_ids, pad_id,
                   compact=True, check_every=1):
    G, P = ids.shape
    B, L = G * n, P + max_new_tokens
    pos = position_ids_from(mask)                                   # (G, P)
    logits, prefill = forward(model, input_ids=ids, attention_mask=mask, position_ids=pos,
                              use_cache=True, logits_to_keep=1)     # 1. one prefill per group
    cache = _static_cache_from_prefill(model, prefill, n, L)        # 2. static, n rows per group
    full_mask = torch.zeros(B, L, dtype=mask.dtype, device=ids.device)
    full_mask[:, :P] = mask.repeat_interleave(n, 0)
    use_graph = ids.device.type == "cuda"
    step = _decode_step(model, cache, full_mask, use_graph)         # 3.
    logits = logits[:, -1].repeat_interleave(n, 0)                  # (b, V) shared first distribution
    pos = pos[:, -1:].repeat_interleave(n, 0)                       # (b, 1)
    rows = torch.arange(B, device=ids.device)                       # (b,) the output row of each decoding row
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    tokens = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=ids.device)
    dtype = torch.promote_types(logits.dtype, torch.float32)        # what sample_token returns
    logps, ents = (torch.zeros(B, max_new_tokens, dtype=dtype, device=ids.device) for _ in range(2))
    for t in range(max_new_tokens):
        with record_function("rollout.sample"):                     # labels for bench/rollout_speed.py --profile
            u = uniforms[rows, t]                                   # every row's own draw, compacted or not
            tok, lp, ent = sample_token(logits, temperature, top_p, u)
            tok = tok.masked_fill(done, pad_id)
            tokens[rows, t], logps[rows, t], ents[rows, t] = tok, lp, ent
            done |= torch.isin(tok, eos_ids)
        if t == max_new_tokens - 1:
            break
        # the host reads `done` (a sync: the GPU queue drains) only every check_every steps; a row that ended
        # meanwhile decodes pads, which are trimmed below
        if (t + 1) % check_every == 0:
            with record_function("rollout.host_check"):
                live = int((~done).sum())
            if live == 0:
                break
            # 4. compaction: once the unfinished rows fit a smaller bucket, decode only those (plus a few
            # finished ones to fill the bucket)
            if compact and _bucket(live, len(rows)) < len(rows):
                keep = torch.cat([(~done).nonzero()[:, 0], done.nonzero()[:, 0]])[:_bucket(live, len(rows))]
                full_mask, rows, done, pos, tok = (_compact(cache, full_mask, keep), rows[keep], done[keep], pos[keep],
                                                   tok[keep])
                step = _decode_step(model, cache, full_mask, use_graph)
        full_mask[:, P + t] = 1
        pos = pos + 1
        with record_function("rollout.decode_step"):
            logits = step(tok, pos)
    R = int(response_mask_from(tokens[:, :t + 1], eos_ids).sum(1).max())  # drop columns after every row ended
    return tokens[:, :R], logps[:, :R], ents[:, :R]


def decode_fast(model, ids, mask, n, max_new_tokens, temperature, top_p, uniforms, eos_ids, pad_id,
                micro_batch=64, compact=True, check_every=None):
    """(G, P) prompts -> (G * n, R) tokens, log-probs, entropies; rows grouped by prompt. uniforms: (G * n,
    max_new_tokens), row b's draw at each step (engines/step.stream_uniforms).
    Micro-batches hold whole groups (micro_batch // n prompts each). The host checks for finished rows
    every `check_every` steps (default: 8 on CUDA, where each check stalls the GPU queue; 1 on a CPU)."""
    check_every = check_every or (8 if ids.device.type == "cuda" else 1)
    per_call = max(1, micro_batch // n)
    parts = [_decode_groups(model, ids[i:i + per_call], mask[i:i + per_call], n, max_new_tokens, temperature,
                            top_p, uniforms[i * n:(i + per_call) * n], eos_ids, pad_id, compact, check_every)
             for i in range(0, ids.shape[0], per_call)]
    return tuple(cat_right_padded([p[k] for p in parts], fill) for k, fill in enumerate([pad_id, 0.0, 0.0]))

"""The fast sampling engine: `sample(..., engine="fast")`, same contract as the hf engine.

    python bench/rollout.py --engines generate hf fast          # side by side on this machine

Three ideas, each a few lines below:
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
The loop stops as soon as every row has emitted EOS. Finished rows are not compacted out: that
would change shapes and break the captured graph; they cost one masked token each per step.
Sampling (temperature, top-p) and the behaviour log-probs use rollout.sample_token, so both
engines draw from the same distribution.
"""
import warnings

import torch
from transformers import StaticCache

from rollout import cat_right_padded, forward, position_ids_from, sample_token


def _kv(cache):
    """[(keys, values)] per layer, each (b, heads, t, head_dim), across cache layouts."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _static_cache_from_prefill(model, prefill_cache, n, max_len):
    """A StaticCache for G * n rows holding each group's prompt keys/values n times. Its buffers
    take the dtype of the model's weights, stated here rather than left to whichever dtype the
    first keys happen to have: decoding reads weights of one dtype and writes keys of that dtype
    (bf16 weights: a bf16 cache; never fp32 weights under autocast, whose keys came out bf16)."""
    cache = StaticCache(config=model.config, max_cache_len=max_len)
    dtype = model.get_output_embeddings().weight.dtype
    for layer, (k, v) in zip(cache.layers, _kv(prefill_cache)):
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


@torch.no_grad()
def _decode_groups(model, ids, mask, n, max_new_tokens, temperature, top_p, generator, eos_ids, pad_id):
    G, P = ids.shape
    B, L = G * n, P + max_new_tokens
    pos = position_ids_from(mask)                                   # (G, P)
    logits, prefill = forward(model, input_ids=ids, attention_mask=mask, position_ids=pos,
                              use_cache=True, logits_to_keep=1)     # 1. one prefill per group
    cache = _static_cache_from_prefill(model, prefill, n, L)        # 2. static, n rows per group
    full_mask = torch.zeros(B, L, dtype=mask.dtype, device=ids.device)
    full_mask[:, :P] = mask.repeat_interleave(n, 0)
    step = _decode_step(model, cache, full_mask, use_graph=ids.device.type == "cuda")  # 3.
    logits = logits[:, -1].repeat_interleave(n, 0)                  # (B, V) shared first distribution
    pos = pos[:, -1:].repeat_interleave(n, 0)                       # (B, 1)
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    tokens, logps, ents = [], [], []
    for t in range(max_new_tokens):
        tok, lp, ent = sample_token(logits, temperature, top_p, generator)
        tok = tok.masked_fill(done, pad_id)
        tokens.append(tok), logps.append(lp), ents.append(ent)
        done |= torch.isin(tok, eos_ids)
        if t == max_new_tokens - 1 or done.all():
            break
        full_mask[:, P + t] = 1
        pos = pos + 1
        logits = step(tok, pos)
    return torch.stack(tokens, 1), torch.stack(logps, 1), torch.stack(ents, 1)


def decode_fast(model, ids, mask, n, max_new_tokens, temperature, top_p, generator, eos_ids, pad_id,
                micro_batch=64):
    """(G, P) prompts -> (G * n, R) tokens, log-probs, entropies; rows grouped by prompt.
    Micro-batches hold whole groups (micro_batch // n prompts each)."""
    per_call = max(1, micro_batch // n)
    parts = [_decode_groups(model, ids[i:i + per_call], mask[i:i + per_call], n, max_new_tokens, temperature,
                            top_p, generator, eos_ids, pad_id) for i in range(0, ids.shape[0], per_call)]
    return tuple(cat_right_padded([p[k] for p in parts], fill) for k, fill in enumerate([pad_id, 0.0, 0.0]))

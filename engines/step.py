"""What every decoding engine shares: one sampling step, masks and positions, the model call.

    python -m pytest -q tests/test_rollout.py tests/engines     # both engines against each other

`sample_token` draws a row's token from its own uniform by inverse CDF and returns the log-prob and
entropy of the exact distribution it drew from (temperature and top-p applied): these are the
behaviour log-probs a Rollout carries. rollout.py (the hf engine) and engines/fast.py both call it,
so both engines sample the same distribution.
"""
import inspect

import torch
import torch.nn.functional as F


def position_ids_from(mask):
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def response_mask_from(tokens, eos_ids):
    """(B, R) mask: every token up to and including the first EOS. Never derived from pad ids
    (pad may equal EOS)."""
    is_eos = torch.isin(tokens, eos_ids)
    eos_before = is_eos.long().cumsum(1) - is_eos.long()  # EOS strictly before this position
    return (eos_before == 0).float()


def sampling_logprobs(logits, temperature=1.0, top_p=1.0):
    """(b, V) logits -> (b, V) log-probs of the distribution we sample from (-inf outside top-p)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature
    if top_p < 1.0:
        sorted_logits, order = logits.sort(-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs > top_p  # keep the smallest prefix reaching top_p mass
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits.log_softmax(-1)


def stream_uniforms(seeds, n, steps, device):
    """(len(seeds) * n, steps) float64 uniforms in [0, 1): prompt i's n rows draw from their own stream, seeded by
    seeds[i], one uniform per row per decode step (drawn on the CPU: a seed samples the same tokens on any device).
    Each row draws its token from its own uniform (inverse CDF), so a row's sample never depends on which rows
    decode beside it: not on compaction (the fast engine drops finished rows), the rollout batch, or the number of
    ranks. (steps, n) per prompt, transposed: row j reads column j."""
    draws = [torch.rand(steps, n, generator=torch.Generator("cpu").manual_seed(int(s)), dtype=torch.float64,
                        device="cpu").T for s in seeds]
    return torch.cat(draws).to(device) if draws else torch.zeros(0, steps, dtype=torch.float64, device=device)


def sample_token(logits, temperature, top_p, u):
    """Draw one token per row with uniforms `u` (b,): (b,) tokens, their log-probs, and the
    distribution's entropy. Temperature 0 is greedy decoding: the argmax, drawn with probability 1
    (log-prob 0, entropy 0)."""
    if temperature == 0:
        zeros = torch.zeros(logits.shape[0], device=logits.device,
                            dtype=torch.promote_types(logits.dtype, torch.float32))
        return logits.argmax(-1), zeros, zeros
    logp = sampling_logprobs(logits, temperature, top_p)          # (b, V)
    probs = logp.exp()
    cdf = probs.double().cumsum(-1)                               # (b, V); float64: exact enough at V = 150k
    # the first token whose CDF exceeds u * total: never a token of probability 0 (its CDF equals the one before)
    tok = torch.searchsorted(cdf, (u * cdf[:, -1])[:, None], right=True).clamp(max=logits.shape[-1] - 1)
    entropy = -(probs * logp.clamp(min=-1e30)).sum(-1)            # clamp: 0 * -inf is nan
    return tok[:, 0], logp.gather(-1, tok)[:, 0], entropy


_CACHE_KW = {}  # module class -> the name of its KV-cache argument


def call(module, **kw):
    """module(...) (a causal LM or its decoder body) across transformers versions: the KV cache argument is
    `cache` in recent 5.x (it was `past_key_values`); pass it as `cache`. Returns the model output."""
    cls = type(module)
    if cls not in _CACHE_KW:
        inner = module.get_base_model() if hasattr(module, "get_base_model") else module  # PEFT passes kwargs on
        _CACHE_KW[cls] = "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"
    if "cache" in kw:
        kw[_CACHE_KW[cls]] = kw.pop("cache")
    return module(**kw)


def cache_of(out):
    """The KV cache a model output carries, by its key (the deprecated attribute alias warns on access)."""
    return out["cache"] if "cache" in out else out.get("past_key_values")


def kv_layers(cache):
    """[(keys, values)] per layer, each (b, kv_heads, t, head_dim), across cache layouts (None for a layer that
    holds none, e.g. one that shares another layer's keys)."""
    if hasattr(cache, "layers"):
        return [(getattr(layer, "keys", None), getattr(layer, "values", None)) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def forward(model, **kw):
    """model(...) through `call`; returns (logits, cache)."""
    out = call(model, **kw)
    return out.logits, cache_of(out)


def cat_right_padded(parts, fill):
    """Concatenate (b_i, R_i) tensors along rows, right-padding to the longest R with `fill`."""
    R = max(p.shape[1] for p in parts)
    return torch.cat([F.pad(p, (0, R - p.shape[1]), value=fill) for p in parts], 0)

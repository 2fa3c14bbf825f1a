"""Scoring with each distinct prompt run once: what rollout.token_logprobs calls when rows share prompts.

    python -m pytest -q tests/engines/test_shared_prompt.py     # equal to the plain pass in float64, values and grads

A step scores n responses per prompt (old, reference and current log-probs), and the plain pass runs the
transformer over every row's prompt again: on the testbed (85-token prompts, 26-token answers, n = 6 or 8) most
of an update's work. Here the body runs once over the distinct prompts (G rows, with their KV cache), and once
over the responses (N rows, R tokens) attending to their own prompt's keys and values, gathered from that cache.
Causal attention makes this exact: a prompt token's state never depends on what follows it. Under autograd
the gather sums each prompt's gradient over its rows, as the plain pass does implicitly.
"""
import torch
from transformers import DynamicCache

from engines.step import cache_of, call, kv_layers


def prompt_groups(input_ids, attention_mask, P):
    """(G, 2P) distinct prompts (ids and mask) and (N,) each row's index into them."""
    prompts = torch.cat([input_ids[:, :P], attention_mask[:, :P].to(input_ids.dtype)], 1)   # (N, 2P)
    return torch.unique(prompts, dim=0, return_inverse=True)                                 # (G, 2P), (N,)


def response_states(body, input_ids, attention_mask, position_ids, P, distinct_ok=False):
    """Hidden states (N, R, H) at positions P - 1 .. P + R - 2 of (N, P + R) rows, the ones that predict the
    R response tokens: what body(...).last_hidden_state[:, P - 1:-1] gives, with each distinct prompt run once.
    None when that would not pay or not be exact (the caller then takes the plain pass): every row's prompt is
    distinct (unless distinct_ok: a chunk of a batch that shares, which must round as the batch does), or the
    model's cache does not hold every prompt key (a sliding window shorter than the prompt)."""
    unique, row_prompt = prompt_groups(input_ids, attention_mask, P)
    if len(unique) == len(input_ids) and not distinct_ok:
        return None
    rows = torch.arange(len(row_prompt), device=input_ids.device)
    first = torch.full((len(unique),), len(rows), dtype=torch.long, device=input_ids.device)
    first.scatter_reduce_(0, row_prompt, rows, "amin")                                       # (G,) a row of each
    out = call(body, input_ids=input_ids[first, :P], attention_mask=attention_mask[first, :P],
               position_ids=position_ids[first, :P], use_cache=True)
    # index_select, not x[row_prompt]: the backward of advanced indexing with repeated rows is a CPU
    # index_put_ that adds with atomics across threads, in an order that changes from run to run
    last_prompt = out.last_hidden_state[:, -1:].index_select(0, row_prompt)                   # (N, 1, H)
    if input_ids.shape[1] == P + 1:  # one response token: the prompt's last state predicts it
        return last_prompt
    layers = kv_layers(cache_of(out))
    if any(k is None or k.shape[-2] != P for k, _ in layers):  # a cache that dropped keys: not exact
        return None
    gathered = DynamicCache(ddp_cache_data=((k.index_select(0, row_prompt), v.index_select(0, row_prompt))
                                            for k, v in layers))  # built one at a time
    rest = call(body, input_ids=input_ids[:, P:-1], attention_mask=attention_mask[:, :-1],
                position_ids=position_ids[:, P:-1], use_cache=True, cache=gathered).last_hidden_state  # (N, R - 1, H)
    if gathered.get_seq_length() != input_ids.shape[1] - 1:  # the body did not read (and extend) our cache
        raise ValueError(f"{type(body).__name__} ignored the prompt cache; score with --share_prompts false")
    return torch.cat([last_prompt, rest], 1)

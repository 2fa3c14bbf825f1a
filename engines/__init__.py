"""Decoding and scoring engines behind rollout.sample and rollout.token_logprobs: what a first-time reader may skip.

    step.py           one sampling step (inverse-CDF draws, behaviour log-probs), masks, the model call
    fast.py           prefill once per group, static KV cache, compaction, CUDA graphs (`--engine fast`)
    continuous.py     continuous batching for evaluation (a finished slot takes the next prompt)
    shared_prompt.py  scoring (old, reference and current log-probs) with each distinct prompt run once

The hf engine, the plain reference loop, is rollout.decode_hf; the plain scoring pass is
rollout.token_logprobs(share_prompts=False). Imports go one way: rollout.py imports engines, never the reverse.
"""

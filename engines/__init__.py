"""Decoding engines behind rollout.sample: what a first-time reader may skip.

    step.py        one sampling step (inverse-CDF draws, behaviour log-probs), masks, the model call
    fast.py        prefill once per group, static KV cache, compaction, CUDA graphs (`--engine fast`)
    continuous.py  continuous batching for evaluation (a finished slot takes the next prompt)

The hf engine, the plain reference loop, is rollout.decode_hf. Imports go one way: rollout.py
imports engines, never the reverse.
"""

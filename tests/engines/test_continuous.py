"""engines/continuous.py: continuous batching against decoding each prompt alone with no cache at all."""
import pytest
import torch

import rollout as R
from engines.continuous import decode_queue

PROMPTS = ["Write a poem about the ocean.", "Say hi.", "Explain sleep to a ten-year-old. Avoid commas completely.",
           "List three rivers.", "Why?", "Describe a lantern in a garden at night, slowly.", "Count to five."]


@torch.no_grad()
def _alone(model, prompt, max_new, temperature, u, eos):
    """The obviously-correct reference: the whole sequence through the model at every step, no cache."""
    seq, toks, lps = prompt.clone(), [], []
    for k in range(max_new):
        logits = model(input_ids=seq[None]).logits[:, -1]
        tok, lp, _ = R.sample_token(logits, temperature, 1.0, u[k:k + 1])
        toks.append(int(tok)), lps.append(float(lp))
        if int(tok) in eos.tolist():
            break
        seq = torch.cat([seq, tok])
    return toks, lps


def _rows(tok, prompts):
    ids, mask = R.encode_prompts(tok, prompts)
    return [r[m.bool()] for r, m in zip(ids, mask)]


@pytest.mark.parametrize("slots,span,temperature", [(3, None, 1.0), (2, 12, 1.0), (7, None, 0.0)])
def test_each_prompt_decodes_as_if_alone(toy64, slots, span, temperature):
    """3 slots for 7 prompts of different lengths: refills at every step; span 12 = max_new: one prompt per
    slot per wave, so several waves. Every token and log-prob equals the prompt decoded alone."""
    model, tok = toy64
    prompts = _rows(tok, PROMPTS)
    eos = torch.arange(0, model.config.vocab_size, 7)              # every 7th token ends: ragged lengths
    U = torch.rand(len(prompts), 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    finished = []
    out = decode_queue(model, prompts, 12, temperature, 1.0, lambda i: U[i], eos, slots=slots, span=span,
                       on_done=finished.append)
    assert sorted(finished) == list(range(len(prompts))) and finished != sorted(finished) or slots >= len(prompts)
    lengths = set()
    for i, p in enumerate(prompts):
        toks, lps = _alone(model, p, 12, temperature, U[i], eos)
        assert out[i][0].tolist() == toks, i
        assert torch.allclose(out[i][1], torch.tensor(lps, dtype=torch.float64), atol=1e-10)
        lengths.add(len(toks))
    assert len(lengths) > 2 or temperature == 0  # sampled rows really ended at different steps


def test_eval_fast_engine_returns_one_response_per_prompt_in_input_order(toy64):
    import constraints as C
    import eval as E
    model, tok = toy64
    instructions = [C.Instruction(p, [C.Constraint("punctuation:no_comma")]) for p in PROMPTS]
    res_hf, _ = E.evaluate(model, tok, instructions, temperature=0, max_new_tokens=10, engine="hf")
    res_fast, _ = E.evaluate(model, tok, instructions, temperature=0, max_new_tokens=10, engine="fast", micro_batch=3)
    assert [r["prompt"] for r in res_fast] == [i.render() for i in instructions]
    assert [r["response"] for r in res_fast] == [r["response"] for r in res_hf]  # greedy: the same text either way


def test_eval_fast_engine_response_depends_only_on_its_stream(toy64):
    """Sampled at temperature 1: evaluating every other instruction with its global stream ids (as a rank of
    two does for the held-out set) gives the responses the full evaluation gave them."""
    import constraints as C
    import eval as E
    model, tok = toy64
    instructions = [C.Instruction(p, [C.Constraint("punctuation:no_comma")]) for p in PROMPTS]
    full, _ = E.evaluate(model, tok, instructions, temperature=1.0, max_new_tokens=10, engine="fast", micro_batch=3)
    odd, _ = E.evaluate(model, tok, instructions[1::2], temperature=1.0, max_new_tokens=10, engine="fast",
                        micro_batch=2, stream_ids=range(1, len(PROMPTS), 2))
    assert [r["response"] for r in odd] == [r["response"] for r in full[1::2]]
    assert len({r["response"] for r in full}) > 1


def test_continuous_batching_runs_in_bf16(toy):
    """The CPU twin of the bf16 CUDA path: bf16 weights and cache, float32 sampling, refills mid-wave."""
    import copy
    import constraints as C
    import eval as E
    model, tok = toy
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    instructions = [C.Instruction(p, [C.Constraint("punctuation:no_comma")]) for p in PROMPTS]
    results, _ = E.evaluate(bf16, tok, instructions, temperature=1.0, max_new_tokens=6, engine="fast", micro_batch=2)
    assert [r["prompt"] for r in results] == [i.render() for i in instructions] and all(r["response"] for r in results)

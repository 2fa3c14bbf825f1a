"""engines/fast.py: the shared-prefill, static-cache engine against the hf engine. (The whole
rollout contract suite in test_rollout.py also runs on both engines.)"""
import copy

import pytest
import torch

import rollout as R
from engines.step import stream_uniforms

PROMPTS = ["Write a poem about the ocean.", "Say hi.", "Explain sleep to a ten-year-old. Avoid commas completely."]


def test_prefill_once_gives_the_same_samples_as_prefilling_each_copy(toy64):
    """float64, one micro-batch: both engines consume the generator identically, so the shared
    prefill plus static cache must reproduce the hf engine's per-copy prefill token for token."""
    model, tok = toy64
    hf = R.sample(model, tok, PROMPTS, n=4, max_new_tokens=16, seed=9, engine="hf")
    fast = R.sample(model, tok, PROMPTS, n=4, max_new_tokens=16, seed=9, engine="fast")
    assert torch.equal(hf.response_ids, fast.response_ids) and hf.texts == fast.texts
    assert torch.allclose(hf.logprobs, fast.logprobs, atol=1e-10)


def _chi2_rejects(a, b, z=3.09):
    """Two-sample chi-square homogeneity test on token counts; categories with a pooled count
    under 10 are merged. Rejects at alpha = 0.001 (Wilson-Hilferty quantile): a correct engine
    fails this test with probability 0.1% per seed (the seeds here are fixed, so never)."""
    from collections import Counter
    ca, cb = Counter(a), Counter(b)
    cats = [c for c in set(ca) | set(cb) if ca[c] + cb[c] >= 10]
    rows = [(ca[c], cb[c]) for c in cats] + [(sum(ca[c] for c in ca if c not in cats),
                                              sum(cb[c] for c in cb if c not in cats))]
    rows = [r for r in rows if sum(r) > 0]
    na, nb = len(a), len(b)
    stat = sum((x - (x + y) * na / (na + nb)) ** 2 / ((x + y) * na / (na + nb))
               + (y - (x + y) * nb / (na + nb)) ** 2 / ((x + y) * nb / (na + nb)) for x, y in rows)
    k = len(rows) - 1
    return stat > k * (1 - 2 / (9 * k) + z * (2 / (9 * k)) ** 0.5) ** 3


def test_fast_engine_samples_the_same_distribution(toy):
    model, tok = toy
    model = copy.deepcopy(model)
    with torch.no_grad():  # sharpen the random model (entropy ~1.5 nats) so the test has power
        model.model.norm.weight.mul_(10)
    draws = {}
    for engine, seed, temp in (("hf", 1, 1.0), ("fast", 2, 1.0), ("hf", 3, 1.2)):
        out = R.sample(model, tok, ["Say hi."], n=800, max_new_tokens=3, temperature=temp, seed=seed,
                       micro_batch=800, engine=engine)
        draws[(engine, temp)] = out.response_ids[:, 1].tolist() + [-1 - t for t in out.response_ids[:, 2].tolist()]
    # tokens 2 and 3 of each response: they come from the static cache (token 1 from the prefill)
    assert not _chi2_rejects(draws[("hf", 1.0)], draws[("fast", 1.0)])
    assert _chi2_rejects(draws[("hf", 1.0)], draws[("hf", 1.2)])  # the test can tell T = 1.0 from 1.2


def test_micro_batches_hold_whole_groups(toy):
    model, tok = toy
    out = R.sample(model, tok, PROMPTS, n=3, max_new_tokens=6, seed=4, micro_batch=4, engine="fast")
    assert out.response_ids.shape[0] == 9 and out.group_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    again = R.sample(model, tok, PROMPTS, n=3, max_new_tokens=6, seed=4, micro_batch=4, engine="fast")
    assert out.texts == again.texts


@pytest.mark.parametrize("check_every", [1, 4])
def test_compaction_keeps_every_rows_tokens_and_logprobs(toy64, monkeypatch, check_every):
    """Rows that finish drop out of the batch (B -> B/2 -> B/4 ...); each row samples from its own uniform,
    so its tokens and log-probs are those of decoding without compaction, and of the hf engine."""
    import engines.fast as F
    model, tok = toy64
    ids, mask = R.encode_prompts(tok, PROMPTS * 3)                   # 9 prompts x n=4: 36 rows, one micro-batch
    eos = torch.arange(0, model.config.vocab_size, 9)                # every 9th token ends a row: ragged lengths
    cuts = []
    monkeypatch.setattr(F, "_compact",
                        lambda cache, m, rows, real=F._compact: cuts.append(len(rows)) or real(cache, m, rows))
    runs = {}
    for compact in (True, False):
        g = stream_uniforms(range(5, 14), 4, 40, "cpu")            # (36, 40): every row's own draws
        runs[compact] = F.decode_fast(model, ids, mask, 4, 40, 1.0, 1.0, g, eos, 0, micro_batch=36, compact=compact,
                                      check_every=check_every)
    hf = R.decode_hf(model, ids.repeat_interleave(4, 0), mask.repeat_interleave(4, 0), 40, 1.0, 1.0, g, eos, 0)
    assert cuts and cuts == sorted(cuts, reverse=True) and cuts[-1] < 36 // 2  # it compacted, more than once
    for other in (runs[False], hf):
        assert runs[True][0].shape == other[0].shape  # checking every 4 steps decodes past the end, then trims
        done = R.response_mask_from(other[0], eos).bool()
        assert torch.equal(runs[True][0].masked_fill(~done, 0), other[0].masked_fill(~done, 0))
        assert torch.allclose(runs[True][1] * done, other[1] * done, atol=1e-10)

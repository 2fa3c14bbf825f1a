"""The GPU paths (bf16, device placement), each run twice: on the CPU, which runs bf16 and bf16
autocast through the same code, and on CUDA when there is one (skipped cleanly without it).
Every test uses the toy model, so none needs weights.

    python -m pytest -q tests/test_gpu.py            # CPU twins here; on a GPU box, both
"""
import copy
import json
import os

import pytest
import torch
from safetensors.torch import load_file

import config as C
import data as D
import eval as E
import engines.fast as FR
from engines.step import kv_layers
import rollout as R
import train as T
from models import cast_weights, load_model

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
PROMPTS = ["Write a poem about the ocean.", "Say hi.", "Explain sleep to a ten-year-old. Avoid commas completely."]
# bf16 keeps 8 significant bits: a log-prob of a sharp 64-wide model is off by up to ~0.04 (measured
# 0.043 max, 0.003 mean on the CPU); fp32 paths agree to 1e-4.
BF16_TOKEN_TOL, BF16_MEAN_TOL = 0.1, 0.01


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


def sharp_toy(device):
    """The toy with its final norm scaled up: peaked next-token distributions, so precision shows."""
    model, tok = load_model("toy", device=device)
    with torch.no_grad():
        model.model.norm.weight.mul_(10)
    return model.eval(), tok


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", ["hf", "fast"])
@pytest.mark.parametrize("method", ["hir", "grpo", "grpo_cla"])
def test_three_training_steps_in_bf16(tmp_path, device, engine, method):
    out = str(tmp_path / "run")
    T.main(["--model", "toy", "--device", device, "--dtype", "bf16", "--engine", engine, "--method", method,
            "--steps", "3", "--eval_every", "3", "--eval_size", "4", "--prompts_per_step", "4", "--out", out])
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3] and "heldout_ila" in rows[-1]
    assert all(torch.isfinite(torch.tensor(r["loss"])) and r["skipped_updates"] == 0 for r in rows)
    saved_config = json.load(open(os.path.join(out, "config.json")))
    assert saved_config["dtype"] == "bf16" and saved_config["rollout_batch"] == (0 if device == "cpu" else  # auto: all
                                                                          4 * (6 if method == "hir" else 8))
    peaks = ("peak_rollout_gib", "peak_scoring_gib", "peak_update_gib")  # the GPU check's numbers beside the plan
    assert all((k in r and 0 < r[k] < 80) == (device == "cuda") for r in rows for k in peaks)
    saved = load_file(os.path.join(out, "step_000003", "model.safetensors"))
    assert all(t.dtype == torch.float32 for t in saved.values())  # checkpoints hold the fp32 master weights
    initial = load_model("toy")[0].state_dict()
    assert any(not torch.equal(initial[k], saved[k].cpu()) for k in saved)


@pytest.mark.parametrize("device", DEVICES)
def test_sampler_is_a_bf16_copy_refreshed_after_every_step(device):
    cfg = C.parse_config(["--model", "toy", "--device", device, "--dtype", "bf16"])
    policy, tok = load_model("toy", device=device)
    sampler = T.make_sampler(cfg, policy)
    assert all(p.dtype == torch.bfloat16 for p in sampler.parameters())
    assert all(b.dtype == torch.float32 for b in sampler.buffers())  # RoPE frequencies keep fp32
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr)
    source = D.PromptSource("synthetic", 0, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    T.train_step(cfg, 1, policy, sampler, None, tok, optimizer, source.next(4))
    assert all(p.dtype == torch.float32 for p in policy.parameters())
    assert all(torch.equal(s, p.detach().to(torch.bfloat16)) for s, p in zip(sampler.parameters(), policy.parameters()))
    assert not torch.equal(policy.model.norm.weight, load_model("toy")[0].model.norm.weight.to(device))


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("method", ["hir", "grpo", "grpo_cla",
                                    "hir --k_per_prompt 6 --adv reinforce_pp --kl_in_reward 0.01 "
                                    "--mini_batches 2 --top_p 0.9"])
def test_the_loop_makes_no_tensor_on_a_default_device(dtype, method):
    """The CPU twin of device discipline. On CUDA, a tensor built without `device=` lands on the CPU
    and meets the GPU tensors later (CLA vs entropy once crashed that way). Here the default device
    is `meta` while the models and data live on the CPU: such a tensor cannot be mixed or read."""
    cfg = C.parse_config(["--model", "toy", "--device", "cpu", "--dtype", dtype, "--method", *method.split(),
                          "--beta", "0.1"])
    policy, tok = load_model("toy")
    sampler, ref = T.make_sampler(cfg, policy), copy.deepcopy(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr)
    source = D.PromptSource("synthetic", 0, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    instructions = source.next(4)
    with torch.device("meta"):  # the default device, for this block only
        stats = T.train_step(cfg, 1, policy, sampler, ref, tok, optimizer, instructions)
    assert stats["skipped_updates"] == 0 and stats["generated"] >= 4 * cfg.n
    assert cfg.k_per_prompt < 6 or stats["topups"] == 1  # the released top-up ran under the meta default too


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", ["hf", "fast"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_behaviour_logprobs_agree_with_token_logprobs(device, engine, dtype):
    """Both engines, both dtypes: the log-probs recorded while sampling equal a fresh scoring pass
    of the same weights, and (bf16) stay within bf16's tolerance of the float64 truth."""
    model, tok = sharp_toy(device)
    model = cast_weights(copy.deepcopy(model), dtype)
    out = R.sample(model, tok, PROMPTS, n=4, max_new_tokens=24, seed=0, engine=engine)
    args = (out.input_ids, out.attention_mask, out.position_ids, out.response_mask)
    with torch.no_grad():
        same = R.token_logprobs(model, *args)
        truth = R.token_logprobs(sharp_toy("cpu")[0].double(), *(a.cpu() for a in args))
    keep = out.response_mask.bool()
    gap, err = (out.logprobs - same)[keep].abs(), (out.logprobs.cpu().double() - truth)[keep.cpu()].abs()
    if dtype == torch.float32:
        assert gap.max() < 1e-4 and err.max() < 1e-4
    else:
        assert err.max() < BF16_TOKEN_TOL and err.mean() < BF16_MEAN_TOL
        assert gap.max() < BF16_TOKEN_TOL and gap.mean() < BF16_MEAN_TOL
    assert out.logprobs.dtype == torch.float32 and out.logprobs.device.type == device


@pytest.mark.parametrize("device", DEVICES)
def test_hf_and_fast_engines_agree_on_a_device(device):
    """Same weights, same seed: fp32 on one device makes both engines draw the same tokens."""
    model, tok = sharp_toy(device)
    hf = R.sample(model, tok, PROMPTS, n=3, max_new_tokens=12, seed=5, engine="hf")
    fast = R.sample(model, tok, PROMPTS, n=3, max_new_tokens=12, seed=5, engine="fast")
    same = (hf.response_ids == fast.response_ids).all(1)
    assert same.float().mean() >= 0.5  # GPU kernels differ in rounding, so a row can diverge late
    keep = hf.response_mask.bool() & same[:, None]
    assert (hf.logprobs - fast.logprobs)[keep].abs().max() < 1e-3


def test_static_cache_takes_the_weights_dtype(toy):
    """fp32 keys (e.g. from a prefill under autocast) must not set a bf16 model's cache dtype."""
    model, tok = toy
    bf16 = cast_weights(copy.deepcopy(model), torch.bfloat16)
    ids, mask = R.encode_prompts(tok, PROMPTS)
    _, prefill = R.forward(model, input_ids=ids, attention_mask=mask, position_ids=R.position_ids_from(mask),
                           use_cache=True)
    cache = FR._static_cache_from_prefill(bf16, prefill, 2, ids.shape[1] + 4)
    assert all(k.dtype == v.dtype == torch.bfloat16 for k, v in kv_layers(cache))


@pytest.mark.parametrize("device", DEVICES)
def test_grad_checkpointing_changes_memory_not_the_update(tmp_path, device):
    outs = {}
    for flag in ("false", "true"):
        outs[flag] = str(tmp_path / flag)
        # the plain pass both times: a checkpointed body keeps no KV cache, so it never shares prompts
        T.main(["--model", "toy", "--device", device, "--dtype", "bf16", "--steps", "1", "--eval_every", "0",
                "--micro_batch", "16", "--prompts_per_step", "4", "--grad_checkpointing", flag, "--out", outs[flag],
                "--share_prompts", "false"])
    with_ckpt, without = metrics(outs["true"])[0], metrics(outs["false"])[0]
    assert with_ckpt["loss"] == pytest.approx(without["loss"], abs=1e-5)
    assert with_ckpt["grad_norm"] == pytest.approx(without["grad_norm"], rel=1e-3)
    if device == "cpu":  # deterministic kernels: the same weights too (on CUDA, atomics reorder sums, and
        # Adam's first step, lr * g / |g|, can turn a last-bit difference of a near-zero gradient into lr)
        a, b = (load_file(os.path.join(o, "step_000001", "model.safetensors")) for o in outs.values())
        assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("engine", ["hf", "fast"])
def test_eval_generates_and_scores_in_bf16(tmp_path, device, engine):
    rows = tmp_path / "rows.jsonl"
    D.write_jsonl(str(rows), [ins.to_dict() for ins in D.synthetic_set(5, 0, "heldout", C.TOY_IDS, 2, ["river"])])
    summary = E.main(["--model", "toy", "--data", str(rows), "--out", str(tmp_path / "eval"), "--device", device,
                      "--dtype", "bf16", "--engine", engine, "--max-new-tokens", "8", "--micro-batch", "4"])
    assert summary["n_prompts"] == 5 and 0 <= summary["ila"] <= 1
    saved = json.load(open(tmp_path / "eval" / "results.json"))
    assert saved["config"]["dtype"] == "bf16" and saved["summary"]["n_prompts"] == 5
    assert len(open(tmp_path / "eval" / "responses.jsonl").readlines()) == 5

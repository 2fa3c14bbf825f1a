"""plumbing/lora.py: adapters on a frozen base, each against an independent reference: the reference (adapters
off) equals a separately loaded base, a step changes the adapters and nothing else, resume is exact and refuses
another base, the merged export scores as the adapter model, the loop runs under the meta default device; and
models.bf16_linears, the lighter reference for full fine-tuning in bf16."""
import copy
import json
import os

import pytest
import torch
from safetensors.torch import load_file

import config as C
import data as D
import rollout as R
import train as T
from models import bf16_linears, load_model, toy_model, toy_tokenizer
from plumbing import lora

LORA = ["--model", "toy", "--device", "cpu", "--lora_rank", "4"]


def setup(tmp_path, *flags):
    cfg = C.parse_config([*LORA, "--out", str(tmp_path / "run"), *flags])
    policy, sampler, ref, tok, optimizer, source, _ = T.setup(cfg)
    return cfg, policy, sampler, ref, tok, optimizer, source


def rollout_of(model, tok, n=3):
    prompts = [ins.render() for ins in D.synthetic_set(4, 1)]
    return R.sample(model, tok, prompts, n=n, max_new_tokens=12, seed=3)


def test_adapters_off_equal_a_separately_loaded_base_before_and_after_an_update(tmp_path):
    cfg, policy, sampler, ref, tok, optimizer, source = setup(tmp_path, "--beta", "0.1", "--lora_merged_sampler",
                                                              "false")
    base = load_model("toy")[0].eval()  # an independent copy of the base weights
    assert isinstance(ref, lora.AdaptersOff) and sampler is policy  # adapters unmerged: the policy samples
    batch = rollout_of(base, tok)
    for _ in range(2):
        off, plain = T.score(cfg, ref, batch), T.score(cfg, base, batch)
        assert torch.equal(off, plain)  # fp32: exactly
        T.train_step(cfg, 1, policy, sampler, ref, tok, optimizer, source.next(cfg.prompts_per_step))
    assert not torch.allclose(T.score(cfg, policy, batch), T.score(cfg, base, batch))  # the adapters did learn


@pytest.mark.parametrize("checkpointing", ["false", "true"])
def test_a_lora_step_changes_the_adapters_and_nothing_else(tmp_path, checkpointing):
    cfg, policy, sampler, ref, tok, optimizer, source = setup(tmp_path, "--grad_checkpointing", checkpointing)
    before = {k: v.clone() for k, v in policy.state_dict().items()}
    assert {id(p) for p in lora.trainable(policy)} == {id(p) for n, p in policy.named_parameters() if "lora_" in n}
    T.train_step(cfg, 1, policy, sampler, ref, tok, optimizer, source.next(cfg.prompts_per_step))
    after = policy.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    adapters = {k for k in before if "lora_" in k}
    assert changed == adapters and len(adapters) == 2 * 7 * 2  # A and B on 7 linear layers x 2 decoder layers
    assert all(after[k].abs().max() > 0 for k in adapters if "lora_B" in k)  # B left zero: a real gradient step
    assert all(p.dtype == torch.float32 for p in lora.trainable(policy))


def test_a_lora_run_resumed_equals_an_uninterrupted_one_and_refuses_another_base(tmp_path):
    flags = [*LORA, "--eval_every", "2", "--eval_size", "8", "--save_every", "2"]
    T.main([*flags, "--steps", "4", "--out", str(tmp_path / "a")])
    T.main([*flags, "--steps", "2", "--out", str(tmp_path / "b")])
    T.main(["--resume", str(tmp_path / "b"), "--steps", "4"])
    a, b = (load_file(tmp_path / d / "step_000004" / "adapter_model.safetensors") for d in "ab")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = [[{k: v for k, v in json.loads(line).items() if not k.startswith("time") and k != "tokens_per_s"}
             for line in open(tmp_path / d / "metrics.jsonl")] for d in "ab"]
    assert rows[0] == rows[1]
    ckpt = tmp_path / "a" / "step_000004"
    assert not (ckpt / "model.safetensors").exists() and (ckpt / "adapter_config.json").exists()  # no base copy
    with pytest.raises(SystemExit, match="--lora_rank 8 contradicts the run's lora_rank 4"):
        T.main(["--resume", str(ckpt), "--out", str(tmp_path / "c"), "--steps", "5", "--lora_rank", "8"])
    fp = json.loads((ckpt / lora.FINGERPRINT).read_text())
    (ckpt / lora.FINGERPRINT).write_text(json.dumps(fp | {"weights_sha256": "0" * 64}))  # the same name, other weights
    with pytest.raises(SystemExit, match=r"^error: .*step_000004: its adapters were trained on another base "
                                         r"than toy \(weights_sha256 differs\)"):
        T.main(["--resume", str(ckpt), "--out", str(tmp_path / "d"), "--steps", "5"])


def test_the_merged_export_scores_as_the_adapter_model_even_below_bf16_resolution(tmp_path):
    cfg = C.parse_config([*LORA, "--out", str(tmp_path / "x")])
    policy, tok = lora.load_policy(cfg, None, torch.float32)
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:  # deltas of about 1e-5 (B A x alpha / r): below bf16's step of a weight near 0.02
                p.copy_(torch.randn_like(p) * 2e-6)
    folder = tmp_path / "ckpt"
    lora.save_adapters(policy, str(folder), lora.fingerprint("toy", policy))
    tok.save_pretrained(folder)
    merged, _ = load_model(str(folder))  # what eval.py --model does with an adapter checkpoint
    batch = rollout_of(policy, tok)
    assert (T.score(cfg, policy, batch) - T.score(cfg, merged, batch)).abs().max() < 1e-5
    # the weights themselves against base + B A x alpha / r, from the saved adapter file by hand, in float64
    saved = load_file(folder / "adapter_model.safetensors")
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    a, b = saved[f"{prefix}.lora_A.weight"].double(), saved[f"{prefix}.lora_B.weight"].double()
    base = load_model("toy")[0].model.layers[0].self_attn.q_proj.weight.detach().double()
    want = base + b @ a * (cfg.lora_alpha / cfg.lora_rank)
    w = merged.model.layers[0].self_attn.q_proj.weight.detach()
    assert (w.double() - want).abs().max() < 1e-8 and not torch.equal(w.double(), base)
    lost = (base.to(torch.bfloat16) == want.to(torch.bfloat16)).float().mean()
    assert lost > 0.5  # a merge into bf16 weights would have rounded most of these deltas away
    out = tmp_path / "merged"
    lora.main(["merge", str(folder), "--out", str(out)])
    written = load_file(out / "model.safetensors")
    assert (written["model.layers.0.self_attn.q_proj.weight"].double() - want).abs().max() < 1e-8
    for bad in (out, folder / "adapter_config.json"):  # a folder that holds something, a file
        with pytest.raises(SystemExit, match="exists and is not an empty folder"):
            lora.main(["merge", str(folder), "--out", str(bad)])


def test_the_fingerprint_ignores_the_dtype_a_base_was_loaded_in_but_not_its_weights(tmp_path):
    """A CUDA run loads its base in bf16, eval.py and the merge in fp32: the same base either way; another base of
    the same architecture is not."""
    tok = toy_tokenizer()
    toy_model(tok).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    fp32, bf16 = (load_model(str(tmp_path / "base"), dtype=d)[0] for d in (torch.float32, torch.bfloat16))
    a, b = lora.fingerprint(str(tmp_path / "base"), fp32), lora.fingerprint(str(tmp_path / "base"), bf16)
    assert a == b
    other = toy_model(toy_tokenizer(), seed=1)
    assert lora.fingerprint("toy", other)["weights_sha256"] != a["weights_sha256"]


def test_the_fast_engine_samples_from_unmerged_adapters(tmp_path):
    cfg, policy, *_ = setup(tmp_path, "--lora_merged_sampler", "false")
    tok = toy_tokenizer()
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)  # adapters that change the distribution
    prompts = [ins.render() for ins in D.synthetic_set(3, 2)]
    out = R.sample(policy, tok, prompts, n=2, max_new_tokens=10, seed=4, engine="fast")
    keep = out.response_mask.bool()
    assert (out.logprobs - T.score(cfg, policy, out)).abs()[keep].max() < 1e-4
    off = T.score(cfg, lora.AdaptersOff(policy), out)
    assert (out.logprobs - off).abs()[keep].max() > 1e-3  # the adapters were in the forward


@pytest.mark.parametrize("dtype,merged", [("fp32", "true"), ("bf16", "true"), ("bf16", "false")])
def test_a_lora_replay_step_makes_no_tensor_on_a_default_device(tmp_path, dtype, merged):
    """Replays, the released top-up, REINFORCE++ with KL in the reward (the reference: adapters off), shared-prompt
    scoring, with the default device `meta` (train_step's CPU twin of device discipline)."""
    cfg, policy, sampler, ref, tok, optimizer, source = setup(
        tmp_path, "--dtype", dtype, "--k_per_prompt", "6", "--adv", "reinforce_pp", "--kl_in_reward", "0.01",
        "--lora_merged_sampler", merged)
    base_dtype = {p.dtype for n, p in policy.named_parameters() if "lora_" not in n}
    assert base_dtype == {torch.bfloat16 if dtype == "bf16" else torch.float32}  # the frozen base: the run's dtype
    instructions = source.next(4)
    with torch.device("meta"):
        stats = T.train_step(cfg, 1, policy, sampler, ref, tok, optimizer, instructions)
    assert stats["skipped_updates"] == 0 and stats["topups"] == 1 and stats["replays"] > 0
    assert stats["approx_kl"] > 0 or stats["loss"] != 0


def test_the_merged_sampler_equals_the_policy_and_follows_each_step(tmp_path):
    cfg, policy, sampler, ref, tok, optimizer, source = setup(tmp_path)  # the default: a merged copy
    assert not lora.is_lora(sampler) and sampler is not policy
    for step in (1, 2):
        batch = rollout_of(sampler, tok)
        assert (T.score(cfg, sampler, batch) - T.score(cfg, policy, batch)).abs().max() < 1e-5
        T.train_step(cfg, step, policy, sampler, ref, tok, optimizer, source.next(cfg.prompts_per_step))


@pytest.mark.parametrize("tied", [True, False])
def test_the_bf16_linear_reference_equals_an_fp32_one_under_autocast_bit_for_bit(tied):
    tok = toy_tokenizer()
    fp32 = toy_model(tok)
    if not tied:  # an untied head of its own
        fp32.config.tie_word_embeddings = False
        fp32.lm_head.weight = torch.nn.Parameter(fp32.lm_head.weight.detach().clone() * 1.5)
    light = bf16_linears(copy.deepcopy(fp32))
    head_dtype = light.lm_head.weight.dtype
    assert head_dtype == (torch.float32 if tied else torch.bfloat16)
    assert light.model.layers[0].mlp.up_proj.weight.dtype == torch.bfloat16
    assert light.model.embed_tokens.weight.dtype == light.model.norm.weight.dtype == torch.float32
    cfg = C.parse_config(["--model", "toy", "--device", "cpu", "--dtype", "bf16"])
    batch = rollout_of(fp32, tok)
    assert torch.equal(T.score(cfg, light, batch), T.score(cfg, fp32, batch))
    whole = copy.deepcopy(fp32).to(torch.bfloat16)  # the naive light reference: not the same numbers
    assert not torch.equal(T.score(cfg, whole, batch).float(), T.score(cfg, fp32, batch))


def test_eval_py_scores_an_adapter_checkpoint_as_the_merged_model(tmp_path):
    import eval as E
    T.main([*LORA, "--steps", "1", "--eval_every", "0", "--out", str(tmp_path / "run")])
    ckpt = str(tmp_path / "run" / "step_000001")
    E.main(["--model", ckpt, "--data", "synthetic", "--limit", "6", "--out", str(tmp_path / "ev")])
    with open(tmp_path / "ev" / "results.json") as f:
        assert json.load(f)["summary"]["n_prompts"] == 6
    merged, tok = load_model(ckpt)  # the same responses from the merged model, sampled as eval.py samples (the
    heldout = C.heldout_set(C.parse_config(["--model", "toy"]))[:6]  # run's held-out set and toy settings)
    plain = E.evaluate(merged, tok, heldout, n=1, temperature=1.0, max_new_tokens=24, seed=0, micro_batch=6,
                       engine="hf")[0]
    with open(tmp_path / "ev" / "responses.jsonl") as f:
        assert [json.loads(line)["response"] for line in f] == [r["response"] for r in plain]


@pytest.mark.parametrize("merged", ["true", "false"])
def test_pi_old_is_the_policys_scoring_pass_whoever_sampled(tmp_path, merged):
    """fp32, top_p 1: sampled by the merged copy or by the policy itself (adapters unmerged), pi_old is the policy's
    own scoring pass, never the behaviour log-probs (their rounding depends on the rollout batch)."""
    cfg, policy, sampler, *_ = setup(tmp_path, "--lora_merged_sampler", merged)
    batch = rollout_of(sampler, toy_tokenizer())
    old = T.old_logprobs(cfg, policy, batch)
    assert old is not batch.logprobs and torch.equal(old, T.score(cfg, policy, batch))
    assert (old - batch.logprobs).abs().max() < 1e-4  # the same numbers up to rounding
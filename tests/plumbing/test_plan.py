"""plumbing/plan.py against measurement on real small models on the CPU: parameters, gradients, AdamW states and
the KV cache within 2%, activations within 15% of what autograd saves (saved-tensor hooks), with and without
checkpointing, in fp32 and under bf16 autocast; and `train.py --plan` on a folder that holds only a config.json."""
import dataclasses
import json
import os
import pathlib

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

import config as C
import train as T
from plumbing import plan as P

MODELS = {  # the toy's shape, SmolLM2's, a 2-layer 1024-wide Llama, a Qwen shape with tied embeddings and a large vocab
    "toy": LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=327, tie_word_embeddings=True),
    "smollm2": LlamaConfig(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                           num_key_value_heads=3, vocab_size=49152, tie_word_embeddings=True),
    "llama1024": LlamaConfig(hidden_size=1024, intermediate_size=2816, num_hidden_layers=2, num_attention_heads=16,
                             num_key_value_heads=4, vocab_size=32000, tie_word_embeddings=False),
    "qwen": Qwen2Config(hidden_size=256, intermediate_size=704, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
}


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return {name: (Qwen2ForCausalLM if name == "qwen" else LlamaForCausalLM)(config) for name, config in MODELS.items()}


def run_cfg(*flags):
    return C.parse_config(["--model", "toy", "--device", "cpu", "--max_new_tokens", "16", "--micro_batch", "2",
                           *flags])


def saved_bytes(model, ids, bf16, checkpointing):
    """What autograd saves during the body's forward over a padded batch (as training's always is): every storage a
    saved tensor holds, parameters aside."""
    own = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen = {}

    def pack(t):
        if t.untyped_storage().data_ptr() not in own:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()
    model.train()
    mask = torch.ones_like(ids)
    mask[0, :5] = 0  # left padding, as a rollout's prompts have
    body = model.get_base_model() if hasattr(model, "get_base_model") else model
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast("cpu", torch.bfloat16, enabled=bf16):
        body.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                   use_cache=False)
    return sum(seen.values())


@pytest.mark.parametrize("name", list(MODELS))
def test_weights_gradients_and_adamw_states_equal_the_plan(built, name):
    model, cfg = built[name], run_cfg()
    parts = P.plan(cfg, MODELS[name], None, rows=4, prompt_len=8)["optimizer"]
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    assert parts["weights"] == params
    opt = torch.optim.AdamW(model.parameters(), lr=1e-9)  # a real step: gradients and AdamW's two states, measured
    model(input_ids=torch.randint(0, 100, (2, 8))).logits.float().sum().backward()
    opt.step()
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    states = sum(v.numel() * v.element_size() for s in opt.state.values() for k, v in s.items() if k != "step")
    assert parts["gradients"] == grads and abs(parts["optimizer states"] / states - 1) < 0.02
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_kv_cache_equals_the_plan(built, name):
    model, cfg = built[name], run_cfg("--rollout_batch", "8", "--n", "4")
    rows, seq = 8, 8 + cfg.max_new_tokens
    with torch.no_grad():
        cache = model(input_ids=torch.randint(0, 100, (rows, seq)), use_cache=True).past_key_values
    measured = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    planned = P.plan(cfg, MODELS[name], None, rows=rows, prompt_len=8)["rollout"]["KV cache"]
    assert abs(planned / measured - 1) < 0.02


def peak_new_bytes(fn, keep=()):
    """The most bytes that tensors made by fn() held at once (storages freed as they die; `keep`'s storages, the
    weights, are not counted): a count of every op's outputs, torch's own dispatch, no sampling."""
    import weakref
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten
    old = {t.untyped_storage().data_ptr() for t in keep}

    class Live(TorchDispatchMode):
        now = peak = 0
        seen = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    st = t.untyped_storage()
                    if st.data_ptr() in self.seen | old or not st.nbytes():
                        continue
                    self.seen.add(st.data_ptr())
                    Live.now += st.nbytes()
                    Live.peak = max(Live.peak, Live.now)
                    weakref.finalize(st, self.free, st.data_ptr(), st.nbytes())
            return out

        def free(self, ptr, n):
            Live.now -= n
            self.seen.discard(ptr)
    with Live():
        fn()
    return Live.peak


@pytest.mark.parametrize("name", ["smollm2", "llama1024", "qwen"])
@pytest.mark.parametrize("grad", [False, True])
def test_the_lm_heads_logits_chunk_equals_the_plan(built, name, grad):
    """One chunk's fp32 logits, log-probs and (no grad) entropy's terms, or (grad) their gradients: three (c, V)
    tensors at most, as planned; measured with and without autograd, the tied 152k head included. Not the toy's:
    with 327 tokens its (c, 64) states and (c,) vectors are 6% of a chunk, which the plan, vocabulary-wide tensors
    only, leaves out (at real vocabularies, under 1%)."""
    import rollout as R
    cfg = run_cfg("--lm_head_chunk", "48")
    head = built[name].get_output_embeddings()
    h = torch.randn(48, MODELS[name].hidden_size, requires_grad=grad)
    targets = torch.randint(0, MODELS[name].vocab_size, (48,))

    def chunk():
        with torch.set_grad_enabled(grad):
            lp, ent = R._chunk_logprobs(head, h, targets, 0.7, None, not grad)
            if grad:
                lp.sum().backward()
    head.requires_grad_(False)  # the head's own gradient is the plan's "gradients", held all step: not a transient
    measured = peak_new_bytes(chunk, keep=[*head.parameters(), h])
    head.requires_grad_(True)
    planned = P.plan(cfg, MODELS[name], None, rows=4, prompt_len=8)["scoring"]["logits chunk"]
    assert abs(planned / measured - 1) < 0.02, (planned, measured)


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("checkpointing", [False, True])
def test_activations_are_within_15_percent_of_what_autograd_saves(built, name, bf16, checkpointing):
    model, d = built[name], P.dims(MODELS[name])
    rows, seq = 2, 48
    measured = saved_bytes(model, torch.randint(0, 300, (rows, seq)), bf16, checkpointing)
    planned = P.activation_bytes(d, rows, seq, bf16, checkpointing, head=False)
    if checkpointing:  # the forward keeps the layers' inputs; one layer is recomputed later, in backward
        planned -= P.layer_bytes(d, rows, seq, bf16)
    if bf16 and not checkpointing:  # autocast's bf16 copies of the Linear weights, saved for backward
        planned += P.shapes(MODELS[name])["decoder_linear"] * 2
    assert abs(planned / measured - 1) < 0.15, (planned, measured)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_lora_activations_on_a_frozen_bf16_base_are_within_15_percent(built, checkpointing):
    """LoRA in bf16: the base is held in bf16, so its residual stream is bf16 (2 bytes), under the same autocast."""
    from peft import LoraConfig, get_peft_model
    base = LlamaForCausalLM(MODELS["llama1024"]).to(torch.bfloat16).requires_grad_(False)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear"))
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    model.enable_input_require_grads()
    d, rows, seq = P.dims(MODELS["llama1024"]), 2, 48
    measured = saved_bytes(model, torch.randint(0, 300, (rows, seq)), True, checkpointing)
    planned = P.activation_bytes(d, rows, seq, True, checkpointing, head=False, residual=2)
    if checkpointing:
        planned -= P.layer_bytes(d, rows, seq, True, residual=2)
    assert abs(planned / measured - 1) < 0.15, (planned, measured)
    cfg = run_cfg("--lora_rank", "8", "--lora_targets", "q_proj,v_proj")
    planned = P.plan(cfg, MODELS["llama1024"], None, rows=4, prompt_len=8)["optimizer"]["optimizer states"]
    adapters = sum(p.numel() for n, p in get_peft_model(LlamaForCausalLM(MODELS["llama1024"]), LoraConfig(
        r=8, target_modules=["q_proj", "v_proj"])).named_parameters() if "lora_" in n)
    assert planned == 2 * 4 * adapters  # AdamW's two fp32 states for exactly the adapters --lora_targets names


def test_plan_on_a_folder_with_only_a_config_prints_the_table_and_one_json_line(tmp_path, capsys):
    folder = tmp_path / "qwen7b"  # Qwen2.5-7B's shape: a config the tests never built
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
        "num_hidden_layers": 28, "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
        "tie_word_embeddings": False}))
    T.main(["--plan", "--model", str(folder), "--gpu_memory", "80", "--out", str(tmp_path / "never")])
    lines = capsys.readouterr().out.strip().splitlines()
    last = json.loads(lines[-1])
    assert {"rollout_gib", "update_gib", "step_gib", "gpu_gib", "fits"} <= set(last) and last["gpu_gib"] == 80
    assert last["fits"] is False and any("does not fit 80 GiB: try" in line for line in lines)
    assert "bf16, full" in lines[0]  # --gpu_memory plans a GPU run: --dtype auto is bf16 there
    for flags, dtype in (([], "bf16"), (["--dtype", "fp32"], "fp32"), (["--gpu_memory", "0"], "fp32")):
        assert C.parse_config(["--plan", "--gpu_memory", "80", *flags]).dtype == dtype  # a given --dtype stays
    # full fine-tuning: 7.6 B parameters x (4 fp32 weights + 8 AdamW + 4 gradients + 2 the bf16 sampler's) bytes
    # (fused AdamW on a GPU: no temporary), plus the assumed CUDA context and allocator slack
    assert 7.5e9 * 18 / 2 ** 30 < last["step_gib"] < (7.7e9 * 18 / 2 ** 30) * (1 + P.SLACK) + P.CUDA_CONTEXT_GIB
    params = P.shapes(P.config_of(str(folder)))["params"]  # on disk: fp32 weights and AdamW's two fp32 states
    assert last["checkpoint_gib"] == pytest.approx(12 * params / 2 ** 30, abs=1e-3)
    assert not (tmp_path / "never").exists()  # a plan writes nothing


def test_the_cuda_warning_names_the_phase_and_a_flag_and_never_stops_a_run(tmp_path, capsys):
    cfg = run_cfg("--prompts_per_step", "64", "--max_prompt_length", "4096")
    P.warn_if_over(cfg, gpu_gib=0.01)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(line.startswith("[hir] warning: the ") and "; try " in line for line in lines)
    cfg.model = str(tmp_path / "no_config_here")
    P.warn_if_over(cfg, gpu_gib=80)  # cannot plan: one line, no exception
    assert "no memory plan for" in capsys.readouterr().out


@pytest.mark.parametrize("gpu", [0.5, 0.8, 80.0])  # the assumed CUDA context alone is 0.6 GiB
def test_rollout_batch_auto_is_the_most_whole_prompts_whose_rollout_fits(gpu):
    """Against a search over every multiple of n: the largest whose rollout phase fits (all sampled rows if they all
    do, n if none does), on the toy at lengths that make the KV cache matter."""
    cfg = run_cfg("--prompts_per_step", "32", "--max_prompt_length", "2048", "--max_new_tokens", "2048",
                  "--rollout_batch", "0")
    cfg.device, config = "cuda", P.config_of("toy")
    sampled = P.rows_sampled(cfg)

    def fits(r):
        rollout = P.plan(dataclasses.replace(cfg, rollout_batch=r), config, gpu, P.rows_per_step(cfg), 2048)["rollout"]
        return sum(rollout.values()) / P.GIB <= gpu
    want = max([r for r in range(cfg.n, sampled + 1, cfg.n) if fits(r)], default=cfg.n)
    got = P.auto_rollout_batch(cfg, config, gpu)
    assert got == want and got % cfg.n == 0
    assert got == {0.5: cfg.n, 0.8: got, 80.0: sampled}[gpu] and (gpu != 0.8 or cfg.n < got < sampled)


def test_rollout_batch_auto_resolves_on_cuda_only_and_bad_values_name_the_flag(capsys):
    assert C.parse_config(["--model", "toy"]).rollout_batch == 0  # a CPU run: every row at once
    assert C.parse_config(["--model", "toy", "--rollout_batch", "12"]).rollout_batch == 12
    cfg = C.parse_config(["--model", "toy", "--plan", "--gpu_memory", "80"])
    assert cfg.rollout_batch == -1  # auto, for the plan to resolve
    cfg.device = "cuda"
    P.before_load(cfg)
    assert cfg.rollout_batch == P.rows_sampled(cfg) and "--rollout_batch auto: " in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        C.parse_config(["--model", "toy", "--rollout_batch", "lots"])
    assert e.value.code == 2 and "--rollout_batch 'lots'" in str(e.value)


def test_the_gpu_checks_comparison_reads_each_phases_peak_beside_the_plan(tmp_path):
    import sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "bench"))
    import plan_vs_peak
    out = str(tmp_path / "run")
    T.main(["--model", "toy", "--steps", "2", "--eval_every", "0", "--out", out])
    rows = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert all(r["prompt_len_max"] > 0 for r in rows) and not any("peak_rollout_gib" in r for r in rows)  # a CPU run
    for r, peak in zip(rows, (0.5, 0.25)):  # what a CUDA run logs
        r |= {"peak_rollout_gib": peak, "peak_scoring_gib": peak, "peak_update_gib": peak}
    open(os.path.join(out, "metrics.jsonl"), "w").write("".join(json.dumps(r) + "\n" for r in rows))
    cfg = C.parse_config(["--config", os.path.join(out, "config.json")])
    phases = P.plan(cfg, P.config_of("toy"), None, P.rows_per_step(cfg), max(r["prompt_len_max"] for r in rows))
    rollout = sum(phases["rollout"].values()) / P.GIB
    text = plan_vs_peak.compare(out)
    assert f"rollout  plan {rollout:7.2f}  measured    0.50  measured/plan {0.5 / rollout:.2f}" in text


def test_fsdp_divides_the_states_over_the_gpus_and_keeps_a_full_replica(capsys):
    one = P.plan(run_cfg("--dtype", "fp32"), MODELS["qwen"], None, rows=8, prompt_len=8)["optimizer"]
    cfg = run_cfg("--dtype", "fp32", "--fsdp")
    four = P.plan(cfg, MODELS["qwen"], None, rows=8, prompt_len=8, world=4)["optimizer"]
    for part in ("weights", "optimizer states", "gradients"):
        assert four[part] == pytest.approx(one[part] / 4)
    assert one["sampler copy"] == 0 and four["sampler copy"] == one["weights"]  # the rollout's full fp32 replica
    s = P.shapes(MODELS["qwen"])  # gathered: the root (its 152k tied embeddings) and two of the two layers
    assert four["FSDP gathered units"] == s["params"] * 4 and s["root"] == 151936 * 256 + 256
    P.main(C.parse_config(["--model", "toy", "--plan", "--fsdp", "--nproc", "4", "--gpu_memory", "80"]), 80)
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last["gpus"] == 4 and last["fsdp"] is True

"""The memory plan: the GiB each phase of a step needs, from the model's config and the run's flags, before any
weight loads.

    python train.py --plan --model toy                                       # this run's plan, then exit
    python train.py --plan --model FOLDER_WITH_CONFIG_JSON --gpu_memory 80 --lora_rank 32 --grad_checkpointing

A step has four phases, each with its own resident set (bytes):
  rollout      weights, optimizer states (they stay), the sampler copy, the KV cache of --rollout_batch rows, the
               sampling buffers (fp32 logits, probabilities and an fp64 CDF over the vocabulary per row);
               --rollout_batch auto (the default on CUDA): the most rows whose cache and buffers fit what is left
  scoring      weights, states, the reference, and one no-grad forward's largest transients over --score_tokens
               tokens (whole prompts' rows: the MLP's intermediate, the prompts' keys and values gathered per row)
               and an LM-head chunk of --lm_head_chunk tokens
  update       weights, states, fp32 gradients, the bf16 weight copies autocast keeps for backward (bf16), and the
               activations autograd saves for one micro-batch (below), plus a logits chunk
  optimizer    weights, states, gradients, and AdamW's full-size fp32 temporary (the foreach path; fused: none)
Activations per token and decoder layer, fitted to saved-tensor hooks on Llama- and Qwen-shaped models with torch's
sdpa (its CPU path is a flash kernel that keeps the output and a log-sum-exp per head, as CUDA's flash and
memory-efficient kernels do: no seq x seq probabilities, which an eager or math path would add): in fp32,
8 h + 4 i + 2 kv + heads + 2 values (h hidden, i the MLP's intermediate, kv = key/value heads x head dim); under
bf16 autocast, 4.5 h + 2 of them in the residual stream's dtype (fp32, or bf16 for LoRA's frozen bf16 base) and
6 h + 4 i + 2 kv bf16 (every matmul's input), plus heads fp32, and autocast's bf16 copies of the Linear weights. A
padded batch (always, in training) adds sdpa's float copy of its mask in every layer: rows x seq x seq x 8 bytes
(fp32) or 4 (bf16). Outside the layers: 2 h + 3 values per token (the final norm), 2 head_dim per token (RoPE at
each row's positions) and the h-wide states the LM head reads. Gradient checkpointing keeps one residual-stream
input per layer and token, plus one layer's activations (its mask too) while it is recomputed.
The CUDA context and the allocator's slack are assumptions (CUDA_CONTEXT_GIB and SLACK), not measurements: no GPU
has calibrated them yet, so an over-budget plan warns.
tests/plumbing/test_plan.py checks the parts against real small models on the CPU.
"""
import dataclasses
import json
import math

import torch

GIB = 2 ** 30
CUDA_CONTEXT_GIB = 0.6  # the CUDA context and cuBLAS workspaces: an assumption until a GPU measures it
SLACK = 0.10  # the caching allocator's fragmentation, as a share of the rest: likewise


def config_of(model):
    """A transformers config from a name the way train.py reads it: toy, smollm2, or a folder with config.json
    (the weights are not needed)."""
    from transformers import AutoConfig
    if model == "toy":
        from models import toy_model, toy_tokenizer
        with torch.device("meta"):
            return toy_model(toy_tokenizer()).config
    if model == "smollm2":
        from models import smollm2_folder
        model = smollm2_folder()
    return AutoConfig.from_pretrained(model)


def shapes(config, targets="all-linear"):
    """Parameter counts on the meta device: all, those of Linear layers (not a head tied to the embeddings), and
    the adapter parameters per unit of rank on --lora_targets (all-linear: every linear layer of the decoder)."""
    from transformers import AutoModelForCausalLM
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    tied = {id(p) for p in model.get_input_embeddings().parameters()}
    linear = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)
                 for p in m.parameters(recurse=False) if id(p) not in tied)
    decoder_linear = sum(p.numel() for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)
                         and name != "lm_head" for p in m.parameters(recurse=False))
    adapters = {}
    named = set(targets.split(","))
    for name, m in model.named_modules():  # rank-1 adapter sizes: A is r x in, B is out x r
        chosen = name != "lm_head" if targets == "all-linear" else name.rsplit(".", 1)[-1] in named
        if isinstance(m, torch.nn.Linear) and chosen:
            adapters[name] = m.in_features + m.out_features
    layers = sum(p.numel() for p in model.get_decoder().layers.parameters())
    return {"params": sum(p.numel() for p in model.parameters()), "linear": linear, "decoder_linear": decoder_linear,
            "adapter_per_rank": sum(adapters.values()), "root": sum(p.numel() for p in model.parameters()) - layers}


def dims(config):
    text = getattr(config, "text_config", None) or config
    heads = text.num_attention_heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    kv = (getattr(text, "num_key_value_heads", None) or heads) * head_dim
    return dict(h=text.hidden_size, i=text.intermediate_size, layers=text.num_hidden_layers, heads=heads,
                head_dim=head_dim, kv=kv, vocab=text.vocab_size)


def layer_bytes(d, rows, seq, bf16, residual=4, masked=True):
    """Bytes autograd saves in one decoder layer for rows x seq tokens (measured: the module docstring). residual:
    bytes of the residual stream (4: fp32 master weights, also under autocast; 2: a frozen bf16 base, LoRA, whose
    adapters also keep a bf16 copy of each distinct input they read: 3 h + i)."""
    h, i, kv, heads = d["h"], d["i"], d["kv"], d["heads"]
    tokens = rows * seq
    mask = rows * seq * seq * (4 if bf16 else 8) if masked else 0  # sdpa's float copy of a padded batch's mask
    if bf16:  # autocast: the residual stream and the norms as the weights are, every matmul's input a bf16 copy
        adapters = 2 * (3 * h + i) if residual == 2 else 0
        return tokens * (residual * (4.5 * h + 2) + 2 * (6 * h + 4 * i + 2 * kv) + 4 * heads + adapters) + mask
    return tokens * 4 * (8 * h + 4 * i + 2 * kv + heads + 2) + mask


def activation_bytes(d, rows, seq, bf16, checkpointing, head=True, residual=4, masked=True):
    """Bytes autograd holds for a forward over rows x seq tokens: every layer's (or, checkpointed, every layer's
    residual-stream input plus one layer recomputed in backward), the final norm's, RoPE's and, with head, the
    h-wide fp32 states the LM head reads. Autocast's bf16 weight copies are a part of their own (plan)."""
    tokens = rows * seq
    outside = tokens * residual * (2 * d["h"] + 3) + tokens * 8 * d["head_dim"] + (tokens * 4 * d["h"] if head else 0)
    one = layer_bytes(d, rows, seq, bf16, residual, masked)
    if checkpointing:
        return d["layers"] * tokens * residual * d["h"] + one + outside
    return d["layers"] * one + outside


def plan(cfg, config, gpu_gib, rows, prompt_len, world=1):
    """{phase: {part: bytes}} for the run `cfg` describes, on a model of `config`; `rows` the rank's sampled rows
    per step (originals, replays and a top-up at most), prompt_len the longest prompt in tokens."""
    d, s = dims(config), shapes(config, cfg.lora_targets)
    bf16 = cfg.dtype == "bf16"
    run = 2 if bf16 else 8 if cfg.dtype == "fp64" else 4  # bytes of a value in the run's dtype
    master = 8 if cfg.dtype == "fp64" else 4
    seq = prompt_len + cfg.max_new_tokens
    lora = cfg.lora_rank > 0
    trainable = s["adapter_per_rank"] * cfg.lora_rank if lora else s["params"]
    shard = world if cfg.fsdp else 1  # FSDP: each GPU holds 1/N of the weights, gradients, AdamW's states, reference
    weights = s["params"] * run + trainable * master if lora else s["params"] * master / shard
    states = {"weights": weights, "optimizer states": 2 * trainable * master / shard}
    if lora:
        sampler = s["params"] * run if cfg.lora_merged_sampler else 0
    else:  # FSDP: the rollout's full replica, in the rollout's dtype, even in fp32
        sampler = s["params"] * 2 if bf16 else s["params"] * master if cfg.fsdp else 0
    needs_ref = cfg.beta > 0 or (cfg.adv == "reinforce_pp" and cfg.kl_in_reward > 0)
    reference = 0 if lora or not needs_ref else (s["params"] * master / shard if cfg.fsdp else
                                                 s["linear"] * 2 + (s["params"] - s["linear"]) * 4 if bf16
                                                 else s["params"] * master)
    if cfg.fsdp:  # gathered while they run: the root (embeddings, head, final norm) and two layers (one prefetched)
        per_layer = (s["params"] - s["root"]) / d["layers"]
        states["FSDP gathered units"] = (s["root"] + 2 * per_layer) * master * (world > 1)
    per_call = rollout_rows(cfg, world)
    kv_cache = per_call * seq * d["layers"] * 2 * d["kv"] * run
    sampling = per_call * d["vocab"] * 28  # fp32 logits, log-probs and probabilities, the fp64 probabilities and CDF
    chunk = min(cfg.lm_head_chunk, rows * cfg.max_new_tokens)
    logits = chunk * d["vocab"] * 4 * 3  # a chunk's fp32 logits, log-softmax and its gradient (or exp, no-grad)
    score_rows = min(rows, max(cfg.n, cfg.score_tokens // seq))  # a chunk holds whole prompts' rows: n at least
    score_transient = score_rows * seq * max(2 * d["i"], d["heads"] * d["head_dim"] * 3) * (2 if bf16 else 4)
    score_kv = score_rows * prompt_len * d["layers"] * 2 * d["kv"] * run * (1 + 1 / cfg.n)  # gathered + distinct
    micro = min(cfg.micro_batch, rows)
    activations = activation_bytes(d, micro, seq, bf16, cfg.grad_checkpointing, residual=2 if lora and bf16 else 4)
    autocast_copies = (s["decoder_linear"] * 2 if bf16 and not lora else 0)
    grads = trainable * master / shard
    cuda = cfg.device.startswith("cuda") or gpu_gib is not None
    foreach_temp = 0 if cuda else trainable * master  # train.py runs AdamW fused on CUDA
    phases = {
        "rollout": {**states, "sampler copy": sampler, "reference": reference, "KV cache": kv_cache,
                    "sampling buffers": sampling},
        "scoring": {**states, "sampler copy": sampler, "reference": reference,
                    "forward transients": score_transient, "prompt KV cache": score_kv, "logits chunk": logits},
        "update": {**states, "sampler copy": sampler, "reference": reference, "gradients": grads,
                   "autocast bf16 weight copies": autocast_copies, "activations": activations, "logits chunk": logits},
        "optimizer": {**states, "sampler copy": sampler, "reference": reference, "gradients": grads,
                      "AdamW temporary": foreach_temp},
    }
    for parts in phases.values() if cuda else ():
        parts["CUDA context and allocator slack"] = CUDA_CONTEXT_GIB * GIB + SLACK * sum(parts.values())
    return phases


def advice(phase, cfg):
    """The flags that shrink a phase, most effective first."""
    merged = cfg.lora_rank and cfg.lora_merged_sampler
    out = {"rollout": ["--rollout_batch N (rows decoded together)", "--lora_merged_sampler false" if merged else ""],
           "scoring": ["--score_tokens N (tokens per no-grad forward)", "--lm_head_chunk N"],
           "update": ["--grad_checkpointing" if not cfg.grad_checkpointing else "", "--micro_batch 1-4"],
           "optimizer": []}[phase]
    if not cfg.lora_rank:
        out.append("--lora_rank 32")
    out.append("more GPUs" if cfg.fsdp else  # DDP repeats every state on each GPU: only sharding divides them
               "several GPUs with --fsdp (plan it: --plan --fsdp --nproc N; docs/distributed.md)")
    return [x for x in out if x]


def report(cfg, config, gpu_gib, rows, prompt_len, auto=False, world=1):
    """The table train.py --plan prints (per GPU, for `world` GPUs); its last line is one JSON object."""
    phases = plan(cfg, config, gpu_gib, rows, prompt_len, world)
    how = f"FSDP over {world} GPUs" if cfg.fsdp else f"DDP over {world} GPUs" if world > 1 else "one GPU"
    lines = [f"[hir] plan per GPU: {cfg.model}, {how}, {cfg.dtype}, "
             f"{'LoRA rank ' + str(cfg.lora_rank) if cfg.lora_rank else 'full'}"
             f", {rows} rows per step of up to {prompt_len} + {cfg.max_new_tokens} tokens, micro-batch "
             f"{cfg.micro_batch}, checkpointing {cfg.grad_checkpointing}, rollout batch {rollout_rows(cfg)} rows"
             f"{' (auto)' if auto else ''}, "
             f"scoring {cfg.score_tokens} tokens per forward, LM-head chunk {cfg.lm_head_chunk}; activations for "
             "torch's sdpa flash or memory-efficient kernels"]
    totals = {}
    for phase, parts in phases.items():
        totals[phase] = sum(parts.values()) / GIB
        lines.append(f"  {phase:<10} {totals[phase]:8.2f} GiB  " + ", ".join(
            f"{k} {v / GIB:.2f}" for k, v in parts.items() if v))
    gpu = gpu_total(gpu_gib)
    fits = None if gpu is None else all(t <= gpu for t in totals.values())
    for phase, total in totals.items():
        if gpu is not None and total > gpu:
            lines.append(f"  {phase} does not fit {gpu:.0f} GiB: try " + ", ".join(advice(phase, cfg)))
    # on disk: the trained weights (or adapters) and AdamW's two states, all in the master dtype: 1.5 x the states
    ckpt = 1.5 * phases["optimizer"]["optimizer states"] * (world if cfg.fsdp else 1) / GIB
    lines.append(f"  one checkpoint on disk: {ckpt:.2f} GiB")
    lines.append(json.dumps({"rollout_gib": round(totals["rollout"], 3), "scoring_gib": round(totals["scoring"], 3),
                             "update_gib": round(totals["update"], 3), "step_gib": round(totals["optimizer"], 3),
                             "gpu_gib": gpu, "fits": fits, "checkpoint_gib": round(ckpt, 3),
                             "rollout_batch": rollout_rows(cfg, world), "gpus": world, "fsdp": cfg.fsdp}))
    return "\n".join(lines)


def rows_per_step(cfg, world=1):
    """A rank's rows in a step's update: n per prompt and, for HiR, k more (replays, or a top-up of t per prompt that
    leaves (k - t) per prompt to replays: replay.py), so B (n + ceil k) at most."""
    extra = math.ceil(cfg.k_per_prompt) if cfg.method == "hir" else 0
    return cfg.prompts_per_step // world * (cfg.n + extra)


def rollout_rows(cfg, world=1):
    """Rows decoded together: --rollout_batch rounded down to whole prompts (n at least), at most a rank's sampled
    rows (0: all of them)."""
    sampled = rows_sampled(cfg, world)  # the first sampling's rows: a top-up samples fewer
    if cfg.rollout_batch < 0:
        raise ValueError("--rollout_batch auto is resolved first (auto_rollout_batch)")
    return sampled if not cfg.rollout_batch else min(sampled, max(cfg.n, cfg.rollout_batch // cfg.n * cfg.n))


def auto_rollout_batch(cfg, config, gpu_gib, world=1):
    """--rollout_batch auto: the most rows (whole prompts) whose KV cache and sampling buffers fit the GPU memory the
    rollout phase's other parts leave free (after the CUDA context and the allocator's slack); a rank's sampled rows
    if they all fit; n if not even one prompt's do (the warning then says so)."""
    one = plan(dataclasses.replace(cfg, rollout_batch=cfg.n), config, gpu_gib, rows_per_step(cfg, world),
               cfg.max_prompt_length, world)["rollout"]
    per_row = (one["KV cache"] + one["sampling buffers"]) / cfg.n
    rest = sum(v for k, v in one.items() if k not in ("KV cache", "sampling buffers", "CUDA context and allocator "
                                                                                      "slack"))
    free = (gpu_total(gpu_gib) - CUDA_CONTEXT_GIB) * GIB / (1 + SLACK) - rest
    fit = int(max(free, 0) // per_row) // cfg.n * cfg.n
    return min(rows_sampled(cfg, world), max(cfg.n, fit))


def before_load(cfg):
    """On CUDA, before any weight loads: --rollout_batch auto from the plan (train.py writes the value into the run's
    config.json), then one warning line per phase whose plan is over the GPU's memory."""
    if not cfg.device.startswith("cuda"):
        return
    from plumbing import distributed
    try:
        config = config_of(cfg.model)
        if cfg.rollout_batch < 0:
            cfg.rollout_batch = auto_rollout_batch(cfg, config, cfg.gpu_memory or None, distributed.world())
            print(f"[hir] --rollout_batch auto: {cfg.rollout_batch} rows decoded together (the memory plan)")
    except Exception as e:  # a plan is advice: a config it cannot read must not stop the run
        print(f"[hir] no memory plan for {cfg.model} ({type(e).__name__}: {str(e)[:100]})"
              + ("; --rollout_batch auto falls back to 64 rows" if cfg.rollout_batch < 0 else ""))
        cfg.rollout_batch = 64 if cfg.rollout_batch < 0 else cfg.rollout_batch
        return
    warn_if_over(cfg, cfg.gpu_memory or None, config)


def rows_sampled(cfg, world=1):
    """A rank's rows in the step's first sampling (a top-up samples fewer: at most k per prompt)."""
    return cfg.prompts_per_step // world * cfg.n


def gpu_total(gpu_gib=None):
    """The GiB to plan for: --gpu_memory, else this machine's first GPU, else None (no verdict)."""
    if gpu_gib:
        return gpu_gib
    return torch.cuda.get_device_properties(0).total_memory / GIB if torch.cuda.is_available() else None


def warn_if_over(cfg, gpu_gib=None, config=None):
    """One line per phase whose plan is over the GPU's memory: a warning until a GPU measurement calibrates it."""
    from plumbing import distributed
    try:  # this rank's share of the step
        phases = plan(cfg, config or config_of(cfg.model), gpu_gib, rows_per_step(cfg, distributed.world()),
                      cfg.max_prompt_length, distributed.world())
    except Exception as e:  # a plan is advice: a config it cannot read must not stop the run
        print(f"[hir] no memory plan for {cfg.model} ({type(e).__name__}: {str(e)[:100]})")
        return
    gpu = gpu_total(gpu_gib)
    for phase, parts in phases.items():
        if sum(parts.values()) / GIB > gpu:
            print(f"[hir] warning: the {phase} phase may need {sum(parts.values()) / GIB:.1f} GiB of this GPU's "
                  f"{gpu:.0f} (python train.py --plan ...); try {advice(phase, cfg)[0]}")


def peak_gib(device, phase):
    """On CUDA, {"peak_<phase>_gib": the most memory the caching allocator reserved since the last call} (the GPU
    check sets these beside the plan), and a fresh count from here; {} elsewhere."""
    if not str(device).startswith("cuda"):
        return {}
    got = torch.cuda.max_memory_reserved(device) / GIB
    torch.cuda.reset_peak_memory_stats(device)
    return {f"peak_{phase}_gib": round(got, 3)} if phase else {}


def main(cfg, gpu_gib=None):
    """train.py --plan. With --gpu_memory on a machine without CUDA, the plan is for a CUDA run (config.validate
    resolved --dtype auto to bf16 for it; AdamW runs fused there)."""
    if gpu_gib is not None and not cfg.device.startswith("cuda"):
        cfg = dataclasses.replace(cfg, device="cuda")
    config, auto, world = config_of(cfg.model), cfg.rollout_batch < 0, cfg.nproc
    if auto:
        cfg = dataclasses.replace(cfg, rollout_batch=auto_rollout_batch(cfg, config, gpu_gib, world))
    print(report(cfg, config, gpu_gib, rows_per_step(cfg, world), cfg.max_prompt_length, auto, world))

"""What train.py does once before its loop: threads and determinism, the memory plan, the data, the run directory,
the policy (full, LoRA adapters, or FSDP2 shards), the sampler the rollout reads, the reference, AdamW and, on
resume, their saved states. Called once from train.main; nothing here runs inside the loop.

    python train.py --model toy --steps 3 --out runs/toy     # every line here runs once, before step 1
"""
import copy
import dataclasses
import os
import random

import torch

from config import training_data
from models import DTYPES, bf16_linears, cast_weights, load_model
from plumbing import distributed, fsdp, lora, plan
from plumbing.report import write_json
from plumbing.reproducible import set_threads_and_determinism
from plumbing.rundir import UnsafeCheckpoint, checkpoints, prepare_run_dir, read_trainer_state, step_of
from plumbing.trackers import need


# precision and devices
# One decision (`--dtype`; auto = bf16 on CUDA, fp32 on the CPU), as in verl and OpenRLHF:
#   * the optimizer updates fp32 master weights (`policy`), and AdamW's state is fp32;
#   * with bf16, every forward that feeds the loss (old, reference and current log-probs) runs those
#     fp32 weights under bf16 autocast: bf16 matmuls, fp32 norms, softmax and log-probs;
#   * the rollout reads `sampler`: in bf16 a bf16 copy of the weights (parameters only; RoPE buffers stay
#     fp32), refreshed once after each optimizer step, so decoding never casts weights per token and its
#     KV cache is bf16 like the keys it stores. In fp32, the policy itself;
#   * pi_old is defined by the policy's scoring pass (`old_logprobs`), never by the sampler, so the ratio
#     is exactly 1 before the first update whatever the dtype, temperature or top-p.
# Devices: the models live on cfg.device; every tensor the loop builds is made on the rollout's device.
def make_sampler(cfg, policy):
    """What the rollout reads: the policy itself (fp32, fp64), or a bf16 copy of its weights; with LoRA a copy with
    the adapters merged (or, --lora_merged_sampler false, the policy with its adapters unmerged: lora.make_sampler)."""
    if lora.is_lora(policy):
        return lora.make_sampler(policy, DTYPES[cfg.dtype], cfg.lora_merged_sampler)
    if fsdp.is_sharded(policy):  # a full replica: the decode loop runs no FSDP hooks
        return fsdp.replica(policy, DTYPES[cfg.dtype])
    if cfg.dtype != "bf16":
        return policy
    return cast_weights(copy.deepcopy(policy), DTYPES[cfg.dtype]).eval().requires_grad_(False)


def setup(cfg):
    set_threads_and_determinism(cfg)
    plan.before_load(cfg)  # CUDA: --rollout_batch auto from the memory plan; a phase over the GPU warns in one line
    if cfg.report_to != "none":  # a missing tracker library stops the run before any work
        need(cfg.report_to)
    source = training_data(cfg)  # the data first: a bad row fails before the model loads
    ckpt = distributed.on_rank0(lambda: prepare_run_dir(cfg))  # rank 0 owns the run directory
    torch.manual_seed(cfg.seed)
    master = torch.float64 if cfg.dtype == "fp64" else torch.float32
    try:
        policy, tok = (lora.load_policy(cfg, ckpt, master) if cfg.lora_rank else  # adapters on a frozen base
                       fsdp.load_sharded(cfg, ckpt or cfg.model, master, cfg.grad_checkpointing) if cfg.fsdp else
                       load_model(ckpt or cfg.model, dtype=master, device=cfg.device))  # the weights AdamW updates
        state = read_trainer_state(ckpt) if ckpt else None  # plain values and tensors: nothing here runs code
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    except Exception as e:  # a corrupted checkpoint (SafetensorError, a truncated file, ...): name an older one
        if not ckpt:
            raise
        older = [c for c in checkpoints(os.path.dirname(os.path.normpath(ckpt))) if step_of(c) < step_of(ckpt)]
        why = str(e) if isinstance(e, UnsafeCheckpoint) else f"{type(e).__name__}: {' '.join(str(e).split())[:100]}"
        raise SystemExit(f"error: checkpoint {ckpt} is unreadable ({why}); resume from "
                         + (f"an older complete one: --resume {older[-1]} --out NEW_DIR" if older else
                            "scratch: no older checkpoint")) from None
    if cfg.grad_checkpointing and not cfg.fsdp:  # FSDP: before sharding (activation_checkpointing_enable: its new name)
        getattr(policy, "activation_checkpointing_enable", policy.gradient_checkpointing_enable)()
    sampler = make_sampler(cfg, policy)
    # the reference is scored as the policy is (the same autocast; in bf16 its Linear weights held in bf16, the same
    # numbers: models.bf16_linears), so KL = 0 at step 0
    needs_ref = cfg.beta > 0 or (cfg.adv == "reinforce_pp" and cfg.kl_in_reward > 0)
    ref_model = None if not needs_ref else lora.AdaptersOff(policy) if cfg.lora_rank else \
        (fsdp.load_sharded(cfg, cfg.model, master) if cfg.fsdp else  # sharded too: never a replicated fp32 copy
         load_model(cfg.model, dtype=master, device=cfg.device))[0].eval().requires_grad_(False)
    if cfg.dtype == "bf16" and isinstance(ref_model, torch.nn.Module) and not cfg.fsdp:  # bf16 Linears: same numbers
        bf16_linears(ref_model)
    # fused on CUDA: one kernel and no full-size fp32 temporary (the CPU's default foreach path allocates one)
    optimizer = torch.optim.AdamW(lora.trainable(policy), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  fused=cfg.device.startswith("cuda"))
    step = 0
    if ckpt:  # every random draw of the loop is seeded by (seed, step, global index): no per-rank streams
        optimizer.load_state_dict(fsdp.shard_state(policy, state["optimizer"]) if cfg.fsdp else  # each rank its shard
                                  state["optimizer"])
        for group in optimizer.param_groups:  # the saved state carries the old lr: the config's (flags') wins
            group.update(lr=cfg.lr, weight_decay=cfg.weight_decay)
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        step, source.position = state["step"], state["data_position"]
    distributed.on_rank0(lambda: write_json(os.path.join(cfg.out, "config.json"), dataclasses.asdict(cfg)))
    return policy, sampler, ref_model, tok, optimizer, source, step

"""LoRA with PEFT: trainable adapters on a frozen base, the reference policy as the adapters turned off,
checkpoints that hold only the adapters, and a merged export that is an ordinary Hugging Face folder.

    python train.py --model toy --lora_rank 4 --steps 20 --out runs/toy_lora        # adapters only train
    python eval.py --model runs/toy_lora/step_000020 --data synthetic --out runs/eval_lora
    python plumbing/lora.py merge runs/toy_lora/step_000020 --out runs/toy_lora_merged   # a plain HF folder

What train.py calls once, in setup (docs/training.md, LoRA):
  * `add_adapters`: the base frozen in the run's dtype (bf16 on CUDA: 2 bytes per parameter), adapters of rank r on
    every linear layer of the decoder (PEFT's "all-linear": not the LM head) in the master dtype (fp32), dropout 0
    (dropout would make pi_old, a no-grad pass, differ from the policy that sampled). Only the adapters require
    gradients, so the optimizer, clipping, the gradient sums over ranks and the non-finite checks see only them.
  * `AdaptersOff(policy)`: the reference policy (KL, REINFORCE++'s KL in the reward) is the same model with its
    adapters disabled: no second copy of the weights.
  * the sampler: a merged copy refreshed after each optimizer step (base + B A, in fp32, cast once), or with
    --lora_merged_sampler false the policy itself, adapters unmerged (two small matmuls more per linear layer and
    token, no copy). bench/lora_speed.py measures both; `make_sampler` says why merged is the default.
A checkpoint holds the adapters in PEFT's format (adapter_config.json, adapter_model.safetensors), the trainer
state (plumbing/rundir.py) and base_fingerprint.json: the base's name and hashes of its config and weights, so a
resume onto another base is refused. The base itself is never copied.
"""
import json
import os
import sys

import torch

if __package__ in (None, ""):  # run as a script: the repository root on the path
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from models import FINGERPRINT, base_of, check_base, fingerprint, merged_adapters  # noqa: E402


def lora_config(cfg):
    from peft import LoraConfig
    targets = "all-linear" if cfg.lora_targets == "all-linear" else [t for t in cfg.lora_targets.split(",") if t]
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def add_adapters(cfg, base, master):
    """base (in the run's dtype) -> a PeftModel whose adapters alone train, held in `master` (fp32 or fp64)."""
    from peft import get_peft_model
    named = set(cfg.lora_targets.split(",")) & {"lm_head", "embed_tokens"}
    if named and getattr(base.config, "tie_word_embeddings", False):  # the merged copy would change both
        raise ValueError(f"--lora_targets {cfg.lora_targets}: this model ties its LM head to its input embeddings, "
                         "so an adapter on either changes both; target the decoder's layers (all-linear)")
    base.requires_grad_(False)
    try:
        model = get_peft_model(base, lora_config(cfg))
    except ValueError as e:  # --lora_targets naming no module of this model
        raise ValueError(f"--lora_targets {cfg.lora_targets}: {' '.join(str(e).split())[:200]}") from None
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.to(master)
    if cfg.grad_checkpointing:  # frozen embeddings: a checkpointed block's input must require grad for its adapters
        model.enable_input_require_grads()
    return model


def load_policy(cfg, ckpt, master):
    """(policy, tokenizer): cfg.model frozen in the run's dtype, adapters in `master`, loaded from ckpt if any."""
    from models import DTYPES, load_model
    base, tok = load_model(cfg.model, dtype=DTYPES[cfg.dtype], device=cfg.device)
    fp = fingerprint(cfg.model, base)
    policy = add_adapters(cfg, base, master)
    policy.base_fingerprint = fp  # saved with every checkpoint (plumbing/rundir.py)
    if ckpt:
        load_adapters(policy, ckpt, fp)
    return policy, tok


def trainable(model):
    """The parameters the optimizer updates: every one for full fine-tuning, the adapters with LoRA."""
    return [p for p in model.parameters() if p.requires_grad]


def is_lora(model):
    return hasattr(model, "get_base_model")  # a PeftModel (its base model carries a peft_config too)


class AdaptersOff:
    """The reference policy with LoRA: the policy itself under `disable_adapter()` (train.score unwraps it)."""
    def __init__(self, policy):
        self.policy = policy


# ----------------------------------------------------------------------------- checkpoints
def save_adapters(model, folder, fp):
    model.save_pretrained(folder)  # PEFT's format: adapter_config.json, adapter_model.safetensors
    with open(os.path.join(folder, FINGERPRINT), "w") as f:
        json.dump(fp, f, indent=1)


def load_adapters(model, folder, fp):
    """The saved adapters into `model` (a PeftModel with the same config), after checking the base."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    check_base(folder, fp)
    result = set_peft_model_state_dict(model, load_file(os.path.join(folder, "adapter_model.safetensors")))
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing or result.unexpected_keys:
        raise ValueError(f"{folder}: adapters do not fit this LoRA config (missing {missing[:2]}, unexpected "
                         f"{list(result.unexpected_keys)[:2]})")


def merged_weights(policy):
    """(module name in the plain model, base weight + B A in fp32), one adapted linear layer at a time: a generator,
    so only one layer's fp32 sum exists at once."""
    from peft.tuners.lora import LoraLayer
    for name, module in policy.named_modules():
        if isinstance(module, LoraLayer) and module.active_adapters:
            w = module.get_base_layer().weight
            yield name.removeprefix("base_model.model."), w.float() + module.get_delta_weight(
                module.active_adapters[0]).float()


def make_merged_sampler(policy, dtype):
    """A plain copy of the base in `dtype` whose adapted weights refresh_merged_sampler overwrites."""
    import copy
    from models import cast_weights
    sampler = copy.deepcopy(policy.get_base_model())
    from peft.tuners.lora import LoraLayer
    for module in list(sampler.modules()):  # unwrap each adapted layer to its base layer
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoraLayer):
                setattr(module, child_name, child.get_base_layer())
    sampler.__dict__.pop("peft_config", None)  # a plain model now
    sampler = cast_weights(sampler, dtype).eval().requires_grad_(False)
    refresh_merged_sampler(sampler, policy)
    return sampler


@torch.no_grad()
def refresh_merged_sampler(sampler, policy):
    for name, weight in merged_weights(policy):
        sampler.get_submodule(name).weight.copy_(weight)


def make_sampler(policy, dtype, merged):
    """What the rollout reads with LoRA (--lora_merged_sampler): a merged copy, or the policy itself. Measured on the
    CPU (bench/lora_speed.py, SmolLM2-135M, rank 32, 2 threads): unmerged adapters decode at 0.84x a merged copy's
    speed, and the copy costs 1.2 s once and 0.17 s per step to refresh, against a rollout of minutes. On CUDA a
    decode step is launch-bound, and three kernels per adapted linear layer instead of one cost more still (not
    measured here: no GPU was lent); unmerged saves the copy's memory (2 bytes per parameter in bf16)."""
    return make_merged_sampler(policy, dtype) if merged else policy


def main(argv=None):
    import argparse
    import shutil
    ap = argparse.ArgumentParser(description="Write an adapter checkpoint's merged model as an ordinary HF folder.",
                                 usage="python plumbing/lora.py merge CHECKPOINT --out FOLDER [--dtype fp32|bf16]")
    ap.add_argument("command", choices=["merge"])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.checkpoint, "adapter_config.json")):
        ap.error(f"{args.checkpoint}: not an adapter checkpoint (no adapter_config.json)")
    if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)):
        raise SystemExit(f"error: --out {args.out}: exists and is not an empty folder; name a new one")
    from models import DTYPES
    try:
        model, tok = merged_adapters(args.checkpoint, DTYPES[args.dtype])
    except (ValueError, OSError) as e:  # another base, a base that no longer loads
        raise SystemExit(f"error: {' '.join(str(e).split())[:300]}") from None
    tmp = os.path.normpath(args.out) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a crashed earlier merge
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if os.path.isdir(args.out):
        os.rmdir(args.out)  # empty, checked above
    os.replace(tmp, args.out)  # whole or absent
    print(f"[hir] merged {args.checkpoint} onto {base_of(args.checkpoint)} -> {args.out} ({args.dtype})")


if __name__ == "__main__":
    main()

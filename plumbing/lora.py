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
import hashlib
import json
import os
import sys

import torch

FINGERPRINT = "base_fingerprint.json"
SAMPLE = 4096  # values hashed per base tensor: enough to tell two checkpoints of one architecture apart, cheaply


def lora_config(cfg):
    from peft import LoraConfig
    targets = "all-linear" if cfg.lora_targets == "all-linear" else [t for t in cfg.lora_targets.split(",") if t]
    return LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules=targets,
                      bias="none", task_type="CAUSAL_LM")


def add_adapters(cfg, base, master):
    """base (in the run's dtype) -> a PeftModel whose adapters alone train, held in `master` (fp32 or fp64)."""
    from peft import get_peft_model
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


# ----------------------------------------------------------------------------- the base's fingerprint
def fingerprint(name, model):
    """The base a set of adapters belongs to: its name, a hash of its config, and a hash of every base tensor's
    name, shape and first SAMPLE values (the adapters excluded)."""
    base = model.get_base_model() if is_lora(model) else model
    config = json.dumps(base.config.to_dict(), sort_keys=True, default=str)
    h = hashlib.sha256()
    for key, t in sorted(base.state_dict().items()):
        if "lora_" in key:
            continue
        h.update(f"{key.replace('.base_layer', '')}:{tuple(t.shape)}".encode())
        # rounded to bf16: a base loaded in bf16 (a CUDA run) and in fp32 (a merge) have the same fingerprint
        h.update(t.detach().reshape(-1)[:SAMPLE].to(torch.bfloat16).float().cpu().numpy().tobytes())
    return {"model": name, "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
            "weights_sha256": h.hexdigest()}


def check_base(folder, expected):
    """Refuse adapters saved on another base, in one line."""
    with open(os.path.join(folder, FINGERPRINT)) as f:
        saved = json.load(f)
    for key in ("model", "config_sha256", "weights_sha256"):
        if saved.get(key) != expected[key]:
            raise ValueError(f"{folder}: its adapters were trained on another base ({key}: {saved.get(key)!r}, "
                             f"this run's base: {expected[key]!r}); resume with the base it names")


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


def is_adapter_folder(path):
    return os.path.isfile(os.path.join(path, "adapter_config.json"))


def base_name(folder):
    with open(os.path.join(folder, FINGERPRINT)) as f:
        return json.load(f)["model"]


# ----------------------------------------------------------------------------- merging
def merged_model(folder, dtype=torch.float32, device="cpu"):
    """(an ordinary model, tokenizer) from an adapter checkpoint: the base loaded in fp32, the adapters merged in
    fp32, then cast to `dtype` (merging into bf16 would round deltas below bf16's resolution of a weight away)."""
    from peft import PeftModel
    from models import cast_weights, load_model
    base, tok = load_model(base_name(folder), dtype=torch.float32, device=device)
    check_base(folder, fingerprint(base_name(folder), base))
    model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    return cast_weights(model, dtype), tok


def delta_weights(policy):
    """{module name in the plain model: base weight + B A (fp32)} for every adapted linear layer."""
    from peft.tuners.lora import LoraLayer
    out = {}
    for name, module in policy.named_modules():
        if isinstance(module, LoraLayer) and module.active_adapters:
            adapter = module.active_adapters[0]
            w = module.get_base_layer().weight
            out[name.removeprefix("base_model.model.")] = w.float() + module.get_delta_weight(adapter).float()
    return out


def make_merged_sampler(policy, dtype):
    """A plain copy of the base in `dtype` whose adapted weights refresh_merged_sampler overwrites."""
    import copy
    from models import cast_weights
    sampler = copy.deepcopy(policy.get_base_model())
    from peft.tuners.lora import LoraLayer
    for name, module in list(sampler.named_modules()):  # unwrap each adapted layer to its base layer
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoraLayer):
                setattr(module, child_name, child.get_base_layer())
    sampler.__dict__.pop("peft_config", None)  # a plain model now
    sampler = cast_weights(sampler, dtype).eval().requires_grad_(False)
    refresh_merged_sampler(sampler, policy)
    return sampler


@torch.no_grad()
def refresh_merged_sampler(sampler, policy):
    for name, weight in delta_weights(policy).items():
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
    ap = argparse.ArgumentParser(description="Write an adapter checkpoint's merged model as an ordinary HF folder.",
                                 usage="python plumbing/lora.py merge CHECKPOINT --out FOLDER [--dtype fp32|bf16]")
    ap.add_argument("command", choices=["merge"])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = ap.parse_args(argv)
    if not is_adapter_folder(args.checkpoint):
        ap.error(f"{args.checkpoint}: not an adapter checkpoint (no adapter_config.json)")
    if os.path.exists(args.out) and os.listdir(args.out):
        raise SystemExit(f"error: --out {args.out} is not empty; name a new folder")
    from models import DTYPES
    model, tok = merged_model(args.checkpoint, DTYPES[args.dtype])
    tmp = args.out.rstrip("/") + ".tmp"
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, args.out) if not os.path.exists(args.out) else (os.rmdir(args.out), os.replace(tmp, args.out))
    print(f"[hir] merged {args.checkpoint} onto {base_name(args.checkpoint)} -> {args.out} ({args.dtype})")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()

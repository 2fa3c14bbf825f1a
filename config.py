"""The run's configuration: one dataclass with a help line per field, the toy preset, and what is
derived from a config (constraint ids, keyword pool, the held-out set). train.py and eval.py both
read it from here, so neither imports the other.

    python train.py --help        # every field below, with its help line and default
"""
import dataclasses
import json
import os
from dataclasses import dataclass, field

from constraints import KNOWN_IDS
from data import synthetic_set
from models import resolve_device, resolve_dtype

# what a random 2-layer model can learn in minutes: using a few keywords, word counts, no commas
TOY_IDS = ["keywords:existence", "length_constraints:number_words", "punctuation:no_comma"]


@dataclass
class Config:
    method: str = field(default="hir", metadata={"help": "hir (binary reward + replays) | grpo (binary) | grpo_cla (reward = CLA)"})
    model: str = field(default="smollm2", metadata={"help": "smollm2 (offline default) | toy | a local HF folder | a hub id"})
    data: str = field(default="synthetic", metadata={"help": "synthetic, or a JSONL of our rows or HIR-16K type1 rows"})
    out: str = field(default="runs/hir", metadata={"help": "output dir: config, metrics, curves, checkpoints"})
    resume: str = field(default="", metadata={"help": "an output dir to continue from (its newest checkpoint)"})
    steps: int = field(default=200, metadata={"help": "optimizer steps in total (a resumed run counts on)"})
    prompts_per_step: int = field(default=8, metadata={"help": "B: prompts per step"})
    n: int = field(default=0, metadata={"help": "samples per prompt; 0 = 6 for hir, 8 for the baselines (same generation budget)"})
    max_new_tokens: int = field(default=256, metadata={"help": "response length cap"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (also used to score tokens)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    engine: str = field(default="hf", metadata={"help": "rollout engine: hf | fast"})
    max_constraints: int = field(default=3, metadata={"help": "synthetic instructions carry 1..this many constraints"})
    constraint_ids: str = field(default="", metadata={"help": "comma-separated ids for synthetic data; empty = all 25"})
    keywords: str = field(default="", metadata={"help": "comma-separated keyword pool for synthetic data; empty = constraints.WORDS"})
    k_per_prompt: float = field(default=2.0, metadata={"help": "replays per prompt on average (budget = k * B)"})
    select: str = field(default="global", metadata={"help": "replay selection: global | group | random"})
    lam0: float = field(default=2.0, metadata={"help": "selection weight of CLA at step 0"})
    eta: float = field(default=0.05, metadata={"help": "lambda grows as lam0 * (1 + eta) ** step"})
    topup: int = field(default=1, metadata={"help": "extra sampling rounds when candidates < budget (0 = skip)"})
    adv: str = field(default="grpo", metadata={"help": "advantages: grpo (std-normalized) | drgrpo (centered) | reinforce_pp"})
    clip_low: float = field(default=0.2, metadata={"help": "PPO clip below 1"})
    clip_high: float = field(default=0.2, metadata={"help": "PPO clip above 1"})
    agg: str = field(default="token_mean", metadata={"help": "loss aggregation: token_mean | seq_mean_token_mean | seq_mean_token_sum_norm"})
    beta: float = field(default=0.0, metadata={"help": "KL-to-reference weight (0: no reference model is loaded)"})
    ppo_epochs: int = field(default=1, metadata={"help": "passes over each step's batch"})
    micro_batch: int = field(default=8, metadata={"help": "rows per forward/backward (gradient accumulation)"})
    rollout_batch: int = field(default=0, metadata={"help": "rows decoded together (sampling, held-out eval); 0 = all "
                                                            "of them at once (no gradients, so memory is the KV cache)"})
    lr: float = field(default=2e-6, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    grad_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory in the update"})
    eval_every: int = field(default=10, metadata={"help": "held-out evaluation period in steps (0 = never)"})
    eval_size: int = field(default=64, metadata={"help": "held-out instructions"})
    eval_temperature: float = field(default=0.6, metadata={"help": "held-out sampling temperature (the paper's 0.6)"})
    save_every: int = field(default=50, metadata={"help": "checkpoint period in steps (the last step is always saved)"})
    seed: int = field(default=0, metadata={"help": "seeds data order, sampling and selection"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32; bf16: "
                                                 "sampling reads a bf16 copy of the weights, the update runs fp32 "
                                                 "master weights under bf16 autocast (train.py's docstring)"})
    debug: bool = field(default=False, metadata={"help": "re-verify every replay (reward must be 1)"})


TOY_PRESET = dict(max_new_tokens=24, lr=1e-2, constraint_ids=",".join(TOY_IDS), keywords="river,garden,candle",
                  eval_every=5, eval_size=48, eval_temperature=1.0, save_every=20, micro_batch=64)


def parse_config(argv, usage=__doc__):
    """--key value pairs onto Config; --model toy starts from TOY_PRESET. Unknown keys and
    values of the wrong type fail fast with the field's help line."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if "--help" in argv or "-h" in argv:
        print(usage)
        for f in fields.values():
            print(f"  --{f.name:20s} {f.metadata['help']} (default: {f.default})")
        raise SystemExit(0)
    given = {}
    it = iter(argv)
    for arg in it:
        key = arg.lstrip("-").replace("-", "_")
        if not arg.startswith("--") or key not in fields:
            raise SystemExit(f"unknown option {arg!r}; options: {', '.join('--' + k for k in fields)}")
        f, raw = fields[key], next(it, None)
        if raw is None:
            raise SystemExit(f"--{key} needs a value ({f.metadata['help']})")
        try:
            given[key] = (raw.lower() in ("1", "true", "yes")) if f.type in (bool, "bool") else \
                {"int": int, "float": float, "str": str}.get(getattr(f.type, "__name__", f.type), str)(raw)
        except ValueError:
            raise SystemExit(f"--{key}: {raw!r} is not a {f.type}: {f.metadata['help']}") from None
    if given.get("resume") and os.path.exists(os.path.join(given["resume"], "config.json")):
        saved = json.load(open(os.path.join(given["resume"], "config.json")))
        given = {**saved, "out": given["resume"], **given}
    preset = TOY_PRESET if given.get("model") == "toy" else {}
    return validate(Config(**{**preset, **given}))


_RULES = {  # field: (test, what it must be)
    "method": (lambda v: v in ("hir", "grpo", "grpo_cla"), "hir, grpo or grpo_cla"),
    "select": (lambda v: v in ("global", "group", "random"), "global, group or random"),
    "adv": (lambda v: v in ("grpo", "drgrpo", "reinforce_pp"), "grpo, drgrpo or reinforce_pp"),
    "agg": (lambda v: v in ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"), "a known aggregation"),
    "engine": (lambda v: v in ("hf", "fast"), "hf or fast"),
    "steps": (lambda v: v >= 1, ">= 1"), "prompts_per_step": (lambda v: v >= 1, ">= 1"), "n": (lambda v: v >= 0, ">= 0"),
    "micro_batch": (lambda v: v >= 1, ">= 1"), "rollout_batch": (lambda v: v >= 0, ">= 0"), "max_new_tokens": (lambda v: v >= 1, ">= 1"),
    "temperature": (lambda v: v > 0, "> 0"), "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"), "lr": (lambda v: v > 0, "> 0"),
    "beta": (lambda v: v >= 0, ">= 0"), "ppo_epochs": (lambda v: v >= 1, ">= 1"), "k_per_prompt": (lambda v: v >= 0, ">= 0"),
    "constraint_ids": (lambda v: all(c in KNOWN_IDS for c in v.split(",") if c), "known ids: " + ", ".join(KNOWN_IDS)),
}


def validate(cfg):
    for name, (ok, want) in _RULES.items():
        if not ok(getattr(cfg, name)):
            help_line = next(f.metadata["help"] for f in dataclasses.fields(Config) if f.name == name)
            raise SystemExit(f"bad config value --{name} {getattr(cfg, name)!r}: must be {want} ({help_line})")
    if cfg.n == 0:
        cfg.n = 6 if cfg.method == "hir" else 8
    try:  # auto -> what this machine has, checked now rather than after the model loads
        cfg.device = resolve_device(cfg.device)
        cfg.dtype = resolve_dtype(cfg.dtype, cfg.device)
    except ValueError as e:
        raise SystemExit(f"bad config value: {e}") from None
    return cfg


def constraint_ids(cfg):
    return [c for c in cfg.constraint_ids.split(",") if c] or KNOWN_IDS


def keyword_pool(cfg):
    return [w for w in cfg.keywords.split(",") if w] or None  # None: constraints.WORDS


def heldout_set(cfg):
    """The fixed held-out synthetic set of a run: tasks never trained on, its own seed (data.py)."""
    return synthetic_set(cfg.eval_size, 0, "heldout", constraint_ids(cfg), cfg.max_constraints, keyword_pool(cfg))

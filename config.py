"""The run's configuration: one dataclass with a help line per field, the toy preset, and what is
derived from a config (constraint ids, keyword pool, the held-out set). train.py and eval.py both
read it from here, so neither imports the other.

    python train.py --help        # every field below, with its help line and default

The command line is parsed by transformers' HfArgumentParser (as TRL's scripts are): `--key value`
or `--key=value`, `--max-new-tokens` or `--max_new_tokens`, and boolean flags that stand alone
(`--debug`) or take a value (`--debug false`). Defaults come in layers, each overriding the last:
the dataclass, the toy preset (`--model toy`), a `--config` file, the saved config of a `--resume`d
run, and last the flags on the command line.
"""
import argparse
import math
import os
import re
from dataclasses import dataclass, field, fields as dc_fields
from typing import Literal

from transformers import HfArgumentParser

from constraints import KNOWN_IDS, SAMPLERS
from data import synthetic_set
from models import load_tokenizer, resolve_device, resolve_dtype, resolve_engine
from plumbing.config_files import read_config_file, run_dir_of, saved_config

# what a random 2-layer model can learn in minutes: using a few keywords, word counts, no commas
TOY_IDS = ["keywords:existence", "length_constraints:number_words", "punctuation:no_comma"]


@dataclass
class Config:
    method: Literal["hir", "grpo", "grpo_cla"] = field(default="hir", metadata={
        "help": "hir (binary reward + replays) | grpo (binary) | grpo_cla (reward = CLA)"})
    model: str = field(default="smollm2", metadata={
        "help": "smollm2 (offline default) | toy | a local HF folder | a hub id"})
    data: str = field(default="synthetic", metadata={
        "help": "synthetic, or a JSONL of our rows or HIR-16K rows (types 1-3 train; type4's LLM-judged rows are "
                "skipped and counted)"})
    out: str = field(default="runs/hir", metadata={
        "help": "run directory: config, metrics, curves, checkpoints; a fresh run needs it empty"})
    overwrite: bool = field(default=False, metadata={
        "help": "a fresh run into a non-empty --out deletes what is there first"})
    resume: str = field(default="", metadata={
        "help": "a run directory (its newest checkpoint) or a checkpoint folder to continue from; "
                "--out defaults to its run directory, another --out forks the run"})
    config: str = field(default="", metadata={
        "help": "a JSON or YAML file of these fields (flags on the command line win)"})
    steps: int = field(default=200, metadata={"help": "optimizer steps in total (a resumed run counts on)"})
    prompts_per_step: int = field(default=8, metadata={"help": "B: prompts per step"})
    n: int = field(default=0, metadata={
        "help": "samples per prompt; 0 = 6 for hir, 8 for the baselines (same generation budget)"})
    max_new_tokens: int = field(default=256, metadata={"help": "response length cap"})
    max_prompt_length: int = field(default=2048, metadata={
        "help": "prompt tokens after the chat template (the release's 2,048); a --data row over it is refused "
                "naming file and line, before the model loads"})
    long_prompts: Literal["error", "skip"] = field(default="error", metadata={
        "help": "a --data row over --max_prompt_length: error (refuse the file: an overlong row is most likely a "
                "mistake, and dropping rows changes the data) | skip (drop and count them, as the release's "
                "filter_overlong_prompts)"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature (also used to score tokens)"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling mass"})
    engine: Literal["auto", "hf", "fast"] = field(default="auto", metadata={
        "help": "rollout engine: auto = fast on CUDA (H200, bf16, SmolLM2 shape: 3.9x the hf loop's tok/s at batch 48, "
                "1.35x at 384), hf on a CPU (the plain reference loop; on SmolLM2 there fast was 1.1x on a real "
                "workload, docs/engines.md) | hf | fast"})
    min_constraints: int = field(default=1, metadata={"help": "synthetic instructions carry at least this many "
                                                              "constraints (the paper's regime: about 6, e.g. 5..7)"})
    max_constraints: int = field(default=3, metadata={
        "help": "synthetic instructions carry at most this many constraints"})
    constraint_ids: str = field(default="", metadata={
        "help": "comma-separated ids for synthetic data (IFEval's, or IFBench's sampled ones); empty = IFEval's "
                "25"})
    keywords: str = field(default="", metadata={
        "help": "comma-separated keyword pool for synthetic data; an entry ID=w1 w2 gives that id a pool of its "
                "own (e.g. keywords:forbidden_words=winter market); empty = constraints.WORDS"})
    k_per_prompt: float = field(default=2.0, metadata={"help": "replays per prompt on average (budget = k * B)"})
    select: Literal["global", "group", "random"] = field(default="global", metadata={
        "help": "replay selection: global | group | random"})
    lam0: float = field(default=2.0, metadata={"help": "selection weight of CLA at step 0"})
    eta: float = field(default=0.05, metadata={"help": "lambda grows as lam0 * (1 + eta) ** step"})
    topup: bool = field(default=True, metadata={
        "help": "the released top-up: when candidates < k * B, ceil((k * B - candidates) / B) more samples per prompt, "
                "trained as originals, and a replay budget of (k - that) * B (replay.py)"})
    replay_old: Literal["q", "q_prime"] = field(default="q", metadata={
        "help": "a replay's pi_old: q = its source row's under the original prompt (the release) | q_prime = an "
                "ablation: the policy's own score of y under q' (ratio 1 at first), the reference under q' too"})
    replay_truncated: bool = field(default=True, metadata={"help": "a response cut at --max_new_tokens can be a "
                                                               "replay (the release); false = an ablation: it is not"})
    replay_baseline: Literal["shared", "originals"] = field(default="shared", metadata={
        "help": "hir with group advantages: shared = originals and replays normalized together (the release) | "
                "originals = an ablation: originals' advantages from the originals alone, as in plain GRPO (an "
                "all-fail group's failures get 0, not a push down), replays keep the shared group's (docs/testbed.md)"})
    adv: Literal["grpo", "drgrpo", "reinforce_pp"] = field(default="grpo", metadata={
        "help": "advantages: grpo (std-normalized) | drgrpo (centered) | reinforce_pp"})
    kl_in_reward: float = field(default=0.0, metadata={
        "help": "reinforce_pp: KL-to-reference coefficient inside the "
                "per-token reward (the release: 0.001; loads a reference)"})
    clip_low: float = field(default=0.2, metadata={"help": "PPO clip below 1"})
    clip_high: float = field(default=0.2, metadata={"help": "PPO clip above 1"})
    clip_ratio_c: float = field(default=3.0, metadata={"help": "dual-clip, as released: where A < 0 the loss is at "
                                                                "most -A * this; <= 1 turns it off"})
    agg: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = field(
        default="token_mean", metadata={
        "help": "loss aggregation: token_mean | seq_mean_token_mean | seq_mean_token_sum_norm"})
    beta: float = field(default=0.0, metadata={"help": "KL-to-reference weight (0: no reference model is loaded)"})
    ppo_epochs: int = field(default=1, metadata={"help": "passes over each step's batch"})
    mini_batches: int = field(default=1, metadata={"help": "optimizer steps per training step and PPO epoch, each on "
                                                           "1/this of the rows (the release: 2)"})
    micro_batch: int = field(default=8, metadata={"help": "rows per forward/backward (gradient accumulation)"})
    rollout_batch: str = field(default="auto", metadata={
        "help": "rows decoded together (sampling, held-out eval): N, 0 = all of them at once, or auto = the most whose "
                "KV cache fits the GPU memory the plan leaves free (all of them on a CPU; plumbing/plan.py). A run's "
                "numbers do not depend on it"})
    score_tokens: int = field(default=32768, metadata={
        "help": "tokens (rows x padded length) per no-grad scoring forward (pi_old, reference, replays' entropy); a "
                "prompt's rows stay together, so a chunk can hold more. A run's numbers do not depend on it"})
    lm_head_chunk: int = field(default=1024, metadata={
        "help": "response tokens per LM-head call when scoring: the (chunk, vocabulary) fp32 logits exist one chunk "
                "at a time"})
    lr: float = field(default=2e-6, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (the release: 0.01)"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    fsdp: bool = field(default=False, metadata={
        "help": "under torchrun: weights, gradients and AdamW's states sharded over the ranks (torch's FSDP2, "
                "plumbing/fsdp.py), for models that do not fit one GPU; scores with the plain pass (--share_prompts "
                "false)"})
    lora_rank: int = field(default=0, metadata={
        "help": "LoRA rank (0 = full fine-tuning): the base frozen in the run's dtype, adapters on --lora_targets "
                "train; the reference is the adapters turned off; checkpoints hold the adapters (plumbing/lora.py). "
                "LoRA wants a larger --lr than full fine-tuning (docs/training.md)"})
    lora_alpha: float = field(default=32.0, metadata={"help": "LoRA scale numerator: the update is alpha / rank * B A"})
    lora_targets: str = field(default="all-linear", metadata={
        "help": "modules that get adapters: all-linear (every linear layer of the decoder, not the LM head: PEFT's "
                "name) or comma-separated module names (q_proj,v_proj)"})
    lora_merged_sampler: bool = field(default=True, metadata={
        "help": "LoRA: sample from a merged copy refreshed each step (1.19x faster decoding on the CPU: "
                "bench/lora_speed.py); false: from the policy, adapters unmerged (no copy)"})
    grad_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory in the update"})
    share_prompts: bool = field(default=True, metadata={
        "help": "score each distinct prompt once, its n responses reading its keys and values (the same numbers up to "
                "rounding; 2.6x faster on the testbed's update: engines/shared_prompt.py); false, or with "
                "--grad_checkpointing (a checkpointed body keeps no KV cache): the plain pass"})
    log_every: int = field(default=10, metadata={"help": "a plain log line every this many steps (for nohup logs)"})
    eval_every: int = field(default=10, metadata={"help": "held-out evaluation period in steps (0 = never)"})
    eval_size: int = field(default=64, metadata={"help": "held-out instructions"})
    eval_temperature: float = field(default=0.6, metadata={"help": "held-out sampling temperature (the paper's 0.6)"})
    save_every: int = field(default=50, metadata={"help": "checkpoint period in steps (the last step is always saved)"})
    save_total_limit: int = field(default=0, metadata={
        "help": "keep only the newest N checkpoints (TRL's name and meaning); 0 = keep all (SmolLM2: 1.6 GB each)"})
    seed: int = field(default=0, metadata={"help": "seeds data order, sampling and selection"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: Literal["auto", "bf16", "fp32", "fp64"] = field(default="auto", metadata={
        "help": "auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32 | fp64 (tests); bf16: "
                "sampling reads a bf16 copy of the weights, the update runs fp32 "
                "master weights under bf16 autocast (train.py, precision and devices)"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0 = torch's default, one per core); a run "
                                                      "repeats bit for bit for a given value"})
    deterministic: bool = field(default=False, metadata={
        "help": "CUDA: deterministic kernels (torch.use_deterministic_algorithms, cuBLAS workspace), slower; on "
                "the CPU runs repeat bit for bit whatever this says (docs/training.md, same seed, same run)"})
    report_to: Literal["none", "tensorboard", "wandb"] = field(default="none", metadata={
        "help": "also log each metrics line and the config to TensorBoard (out/tensorboard) or Weights & Biases "
                "(TRL's name; the library is imported only when named)"})
    plan: bool = field(default=False, metadata={
        "help": "print the memory plan of the run these flags describe (GiB per phase, from the model's config: a "
                "folder with only config.json will do), then exit (plumbing/plan.py)"})
    gpu_memory: float = field(default=0.0, metadata={
        "help": "GiB of GPU memory to plan for (0 = this machine's GPU, if any)"})
    nproc: int = field(default=1, metadata={
        "help": "with --plan: the GPUs (torchrun processes) to plan for; each holds 1/N of the states with --fsdp"})
    debug: bool = field(default=False, metadata={"help": "re-verify every replay (reward must be 1)"})


TOY_PRESET = dict(max_new_tokens=24, lr=1e-2, constraint_ids=",".join(TOY_IDS), keywords="river,garden,candle",
                  eval_every=5, eval_size=48, eval_temperature=1.0, save_every=20, micro_batch=64)


class Parser(HfArgumentParser):
    """HfArgumentParser whose errors name the field's help line and exit with status 2."""
    def __init__(self, dataclass_type, usage):
        super().__init__(dataclass_type, description=usage, allow_abbrev=False,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
        self.help_lines = {f.name: f.metadata.get("help", "") for f in dc_fields(dataclass_type)}
        for action in self._actions:  # --help shows each default (the preset's, with --model toy)
            if action.option_strings and action.option_strings[0].startswith("--no_"):  # HfArgumentParser's negation
                action.help = f"the same as --{action.dest} false"
            elif action.dest in self.help_lines and action.default != "":  # an empty default: the help line says
                action.help = f"{action.help} (default: %(default)s)"

    def error(self, message):
        name = re.search(r"argument --([\w-]+)", message)
        name = name and name.group(1).replace("-", "_")
        self.exit(2, f"error: {message}" + (f" ({self.help_lines[name]})" if name in self.help_lines else "") + "\n")


def parse_config(argv, usage=__doc__):
    """Command line -> a validated Config, with the layered defaults of the module docstring."""
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for name in ("--model", "--config", "--resume"):
        pre.add_argument(name)
    known = pre.parse_known_args(argv)[0]
    names = {f.name for f in dc_fields(Config)}
    layers = read_config_file(known.config, names) if known.config else {}
    if known.resume:
        layers |= saved_config(known.resume, names) | {"out": run_dir_of(known.resume)}
    model = known.model or layers.get("model")
    parser = Parser(Config, usage + "\n--model toy presets: " + ", ".join(f"{k}={v}" for k, v in TOY_PRESET.items()))
    parser.set_defaults(**{**(TOY_PRESET if model == "toy" else {}), **layers})
    cfg, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True, look_for_args_file=False)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    cfg = validate(cfg)
    if known.resume:
        refuse_contradictions(cfg, saved_config(known.resume, names, quiet=True), known.resume)
    return cfg


# what a resumed run cannot change: the weights' vocabulary and meaning, the objective, the numbers' precision
FIXED_ON_RESUME = ("model", "method", "adv", "dtype", "data", "max_prompt_length", "long_prompts", "lora_rank",
                   "lora_alpha", "lora_targets")  # max_prompt_length and long_prompts decide which rows are data


def refuse_contradictions(cfg, saved, resume):
    """A flag (or --config file) that contradicts the resumed run is an error naming both values."""
    for name in FIXED_ON_RESUME:
        if name in saved and getattr(cfg, name) != saved[name]:
            raise UsageError(f"--resume {resume}: --{name} {getattr(cfg, name)!r} contradicts the run's "
                             f"{name} {saved[name]!r}; a resumed run keeps it (start a fresh run with another --out)")


def _looks_local(v):
    """A path, not a hub id: it starts like one, or its first part is a folder here (runs/nope)."""
    return v.startswith((".", "/", "~")) or os.path.isdir(v.split("/")[0])


def is_model_name(v):
    """toy, smollm2, an existing folder, or a hub id; a missing local path fails here, with no hub retries."""
    if v in ("toy", "smollm2") or os.path.isdir(v):
        return True
    return not _looks_local(v) and re.fullmatch(r"[\w.-]+/[\w.-]+", v) is not None


_RULES = {  # field: (test, what it must be)
    "model": (is_model_name, "toy, smollm2, an existing folder, or a hub id (org/name)"),
    "steps": (lambda v: v >= 1, ">= 1"), "prompts_per_step": (lambda v: v >= 1, ">= 1"),
    "n": (lambda v: v >= 0, ">= 0"), "micro_batch": (lambda v: v >= 1, ">= 1"),
    "mini_batches": (lambda v: v >= 1, ">= 1"), "score_tokens": (lambda v: v >= 1, ">= 1"),
    "lm_head_chunk": (lambda v: v >= 1, ">= 1"),
    "max_new_tokens": (lambda v: v >= 1, ">= 1"), "max_prompt_length": (lambda v: v >= 1, ">= 1"),
    "threads": (lambda v: v >= 0, ">= 0 (0 = torch's default)"), "lora_rank": (lambda v: v >= 0, ">= 0 (0 = off)"),
    "lora_alpha": (lambda v: v > 0, "> 0"), "nproc": (lambda v: v >= 1, ">= 1"),
    "gpu_memory": (lambda v: v >= 0, ">= 0 (0 = this machine's)"),
    "lora_targets": (lambda v: bool(v.strip(",")), "all-linear or names"),
    "max_constraints": (lambda v: v >= 1, ">= 1"),
    "min_constraints": (lambda v: v >= 1, ">= 1 (and at most max_constraints)"),
    "temperature": (lambda v: v > 0, "> 0"), "top_p": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "lr": (lambda v: math.isfinite(v) and v > 0, "finite and > 0"), "beta": (lambda v: v >= 0, ">= 0"),
    "kl_in_reward": (lambda v: v >= 0, ">= 0"),
    "ppo_epochs": (lambda v: v >= 1, ">= 1"), "k_per_prompt": (lambda v: v >= 0, ">= 0"),
    "lam0": (lambda v: v >= 0, ">= 0"), "eta": (lambda v: v > -1, "> -1"),
    "clip_low": (lambda v: 0 <= v < 1, "in [0, 1)"), "clip_high": (lambda v: v >= 0, ">= 0"),
    "clip_ratio_c": (lambda v: v >= 0, ">= 0 (<= 1: off)"),
    "weight_decay": (lambda v: v >= 0, ">= 0"), "grad_clip": (lambda v: v > 0, "> 0"),
    "log_every": (lambda v: v >= 1, ">= 1"), "eval_every": (lambda v: v >= 0, ">= 0 (0 = never)"),
    "eval_size": (lambda v: v >= 1, ">= 1"), "eval_temperature": (lambda v: v > 0, "> 0"),
    "save_every": (lambda v: v >= 1, ">= 1 (the last step is saved anyway)"),
    "save_total_limit": (lambda v: v >= 0, ">= 0 (0 = keep all)"),
    "constraint_ids": (lambda v: all(c in SAMPLERS for c in v.split(",") if c),
                       "ids that can be sampled: " + ", ".join(sorted(SAMPLERS))),
    "keywords": (lambda v: all(_keyword_entry_ok(w) for w in v.split(",")) if v else True,
                 "comma-separated non-empty words, or ID=w1 w2 with a sampled id and at least one word"),
}


class UsageError(SystemExit):
    """A bad flag or value: exit status 2 and `error: ...` (str(e)), as argparse's own errors; train.py prints it.
    Runtime refusals (bad files, bad data, a run that cannot go on) are SystemExit("error: ...") and exit 1."""
    def __init__(self, message):
        super().__init__(2)
        self.message = f"error: {message}"

    def __str__(self):
        return self.message


def validate(cfg):
    rollout_batch = str(cfg.rollout_batch)  # a flag's string, or a saved run's int
    if rollout_batch != "auto" and not (rollout_batch.isdigit()):
        raise UsageError(f"bad config value --rollout_batch {cfg.rollout_batch!r}: must be auto or >= 0 "
                         "(0 = all rows at once)")
    for name, (ok, want) in _RULES.items():
        if not ok(getattr(cfg, name)):
            help_line = next(f.metadata["help"] for f in dc_fields(Config) if f.name == name)
            raise UsageError(f"bad config value --{name} {getattr(cfg, name)!r}: must be {want} ({help_line})")
    if cfg.min_constraints > cfg.max_constraints:
        raise UsageError(f"bad config value --min_constraints {cfg.min_constraints}: must be at most "
                         f"--max_constraints {cfg.max_constraints}")
    if cfg.n == 0:
        cfg.n = 6 if cfg.method == "hir" else 8
    if cfg.n < 2 and cfg.adv in ("grpo", "drgrpo"):
        raise UsageError(f"bad config value --n {cfg.n}: group advantages need at least 2 samples per prompt (a "
                         "group of one has advantage 0, so nothing is learned); use --n 2 or more, "
                         "or --adv reinforce_pp")
    if cfg.replay_baseline != "shared" and (cfg.method != "hir" or cfg.adv == "reinforce_pp"):
        raise UsageError(f"bad config value --replay_baseline {cfg.replay_baseline}: only --method hir with group "
                         f"advantages (--adv grpo or drgrpo) has replays in a group's baseline")
    if cfg.fsdp and cfg.lora_rank:
        raise UsageError("--fsdp with --lora_rank: not built (the adapters would need their own sharding units and "
                         "the merged sampler a gathered base); use LoRA on one GPU or DDP (plain torchrun)")
    cfg.share_prompts = cfg.share_prompts and not cfg.fsdp  # FSDP: one body pass per forward (plumbing/fsdp.py)
    if cfg.method == "hir" and cfg.k_per_prompt > cfg.n:
        raise UsageError(f"bad config value --k_per_prompt {cfg.k_per_prompt}: must be at most --n {cfg.n} (a "
                         "budget beyond the samples makes the top-up draw up to k more samples per prompt every step)")
    try:  # auto -> what this machine has, checked now rather than after the model loads
        cfg.device = resolve_device(cfg.device)
        # --plan --gpu_memory plans a CUDA run, where --dtype auto means bf16, whatever this machine has
        cfg.dtype = resolve_dtype(cfg.dtype, "cuda" if cfg.plan and cfg.gpu_memory else cfg.device)
        cfg.engine = resolve_engine(cfg.engine, cfg.device)
    except ValueError as e:
        raise UsageError(f"bad config value: {e}")
    # auto: on CUDA (or a plan for it) train.py resolves it from the memory plan before the weights load (-1 until
    # then); on a CPU every row at once
    cuda = cfg.device.startswith("cuda") or (cfg.plan and cfg.gpu_memory)
    cfg.rollout_batch = (-1 if cuda else 0) if rollout_batch == "auto" else int(rollout_batch)
    return cfg


def constraint_ids(cfg):
    return [c for c in cfg.constraint_ids.split(",") if c] or KNOWN_IDS


def _keyword_entry_ok(entry):
    cid, eq, words = entry.partition("=")  # "river" or "ID=w1 w2", as keyword_pool reads it
    return bool(cid.strip()) and (not eq or (cid in SAMPLERS and bool(words.split())))


def keyword_pool(cfg):
    """The keywords synthetic data draws from: a list (one pool for every id), or {id: list} when an entry
    names an id ("keywords:existence=river garden"; bare words then serve the other ids under ""); None: the
    default constraints.WORDS. Separate pools let a small model tell "include X" from "avoid X" by the word."""
    pools = {}
    for entry in filter(None, cfg.keywords.split(",")):
        cid, eq, words = entry.partition("=")
        pools.setdefault(cid if eq else "", []).extend(words.split() if eq else [entry.strip()])
    return None if not pools else pools[""] if list(pools) == [""] else pools


def training_data(cfg):
    """The run's PromptSource. A --data file's prompts are measured with the tokenizer alone (no weights), so a bad
    or overlong row fails before the model loads."""
    from data import DataError, PromptSource
    from rollout import prompt_limit
    try:
        tok = None if cfg.data == "synthetic" else load_tokenizer(cfg.model)
    except ValueError as e:  # a model that names no tokenizer here or on the hub
        raise SystemExit(f"error: {e}") from None
    try:
        limit = tok and prompt_limit(tok, cfg.max_prompt_length, skip=cfg.long_prompts == "skip")
        source = PromptSource(cfg.data, cfg.seed, constraint_ids(cfg), cfg.max_constraints, keyword_pool(cfg),
                              cfg.min_constraints, limit)
    except (DataError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    if cfg.method == "hir" and source.rows and any(r.prompt is not None for r in source.rows):
        raise SystemExit(f"error: {cfg.data}: IFEval rows have fixed prompts that HiR cannot rewrite; "
                         "use our rows or HIR-16K rows")
    return source


def heldout_set(cfg):
    """The fixed held-out synthetic set of a run: tasks never trained on, its own seed (data.py)."""
    return synthetic_set(cfg.eval_size, 0, "heldout", constraint_ids(cfg), cfg.max_constraints, keyword_pool(cfg),
                         cfg.min_constraints)

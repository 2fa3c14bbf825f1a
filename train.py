"""The training loop: HiR (or a GRPO baseline) on instructions with verifiable constraints.

    python train.py                                       # HiR on SmolLM2-135M-Instruct, offline
    python train.py --model toy --steps 60 --out runs/toy_hir      # tiny model, minutes on a CPU
    python train.py --method grpo --model toy --out runs/toy_grpo  # the binary-reward baseline
    python train.py --resume runs/toy_hir --steps 120              # continue where it stopped

Each step, top to bottom: sample n responses per prompt -> verify every constraint -> (HiR only)
select failures and rewrite their instructions into replays -> old log-probs and group advantages
over originals and replays together -> ppo_epochs of micro-batched clipped-surrogate updates ->
log a metrics line -> every eval_every steps, held-out ILA/CLA -> checkpoint.
"""
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

import data as D
import eval as E
import hir as H
import replay as RP
import rollout as R
from constraints import KNOWN_IDS, cla, ila, verify
from models import load_model

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
    lr: float = field(default=2e-6, metadata={"help": "AdamW learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay"})
    grad_clip: float = field(default=1.0, metadata={"help": "max gradient norm"})
    grad_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory in the update"})
    eval_every: int = field(default=10, metadata={"help": "held-out evaluation period in steps (0 = never)"})
    eval_size: int = field(default=64, metadata={"help": "held-out instructions"})
    eval_temperature: float = field(default=0.6, metadata={"help": "held-out sampling temperature (the paper's 0.6)"})
    save_every: int = field(default=50, metadata={"help": "checkpoint period in steps (the last step is always saved)"})
    seed: int = field(default=0, metadata={"help": "seeds data order, sampling and selection"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda"})
    debug: bool = field(default=False, metadata={"help": "re-verify every replay (reward must be 1)"})


TOY_PRESET = dict(max_new_tokens=24, lr=1e-2, constraint_ids=",".join(TOY_IDS), keywords="river,garden,candle",
                  eval_every=5, eval_size=48, eval_temperature=1.0, save_every=20, micro_batch=64)


def parse_config(argv):
    """--key value pairs onto Config; --model toy starts from TOY_PRESET. Unknown keys and
    values of the wrong type fail fast with the field's help line."""
    fields = {f.name: f for f in dataclasses.fields(Config)}
    if "--help" in argv or "-h" in argv:
        print(__doc__)
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
    "micro_batch": (lambda v: v >= 1, ">= 1"), "max_new_tokens": (lambda v: v >= 1, ">= 1"),
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
    return cfg


def constraint_ids(cfg):
    return [c for c in cfg.constraint_ids.split(",") if c] or KNOWN_IDS


def keyword_pool(cfg):
    return [w for w in cfg.keywords.split(",") if w] or None  # None: constraints.WORDS


# ----------------------------------------------------------------------------- one step
def verify_rows(rollout, instructions):
    """Per row: the verdict list of its group's instruction on its text."""
    return [verify(instructions[int(g)], text) for g, text in zip(rollout.group_ids, rollout.texts)]


def make_replays(cfg, step, model, tok, rollout, instructions, verdicts, old_logp, stats):
    """SELECT + REWRITE, with top-up sampling rounds while candidates are short of the budget.
    Top-up responses only serve as replay sources; they are not trained on as originals."""
    budget = int(round(cfg.k_per_prompt * len(instructions)))
    pool, pool_verdicts, pool_old = rollout, verdicts, old_logp
    for rnd in range(cfg.topup + 1):
        clas = torch.tensor([cla(v) for v in pool_verdicts])
        is_cand = RP.candidates(clas)
        if rnd == cfg.topup or int(is_cand.sum()) >= budget:
            break
        stats["topups"] += 1  # not enough near-misses: sample more responses per prompt (replay sources only)
        extra = sample_rollout(cfg, model, tok, instructions, seed=(cfg.seed, step, "topup", rnd))
        stats["generated"] += len(extra.texts)
        pool = R.cat_rollouts(pool, extra, tok.pad_token_id)
        pool_verdicts = pool_verdicts + verify_rows(extra, instructions)
        pool_old = R.cat_right_padded([pool_old, old_logprobs(cfg, model, extra)], 0.0)
    scores = RP.replay_scores(clas, RP.mean_entropy(pool), step, cfg.lam0, cfg.eta)
    rows = RP.select(scores, is_cand, pool.group_ids, budget, cfg.select, int(round(cfg.k_per_prompt)),
                     random.Random(f"select:{cfg.seed}:{step}"))
    stats["candidates"], stats["replays"] = int(is_cand.sum()), len(rows)
    return RP.rewrite(pool, instructions, pool_verdicts, rows, tok, pool_old, debug=cfg.debug)


def old_logprobs(cfg, model, rollout):
    """pi_old for the update: the behaviour log-probs, unless they can differ from a scoring pass
    (several PPO epochs, or bf16 sampling on CUDA), in which case they are recomputed."""
    recompute = cfg.ppo_epochs > 1 or cfg.device == "cuda"
    return score(cfg, model, rollout) if recompute else rollout.logprobs


def sample_rollout(cfg, model, tok, instructions, seed):
    model.eval()
    with torch.no_grad(), autocast(cfg):
        return R.sample(model, tok, [ins.render() for ins in instructions], n=cfg.n, max_new_tokens=cfg.max_new_tokens,
                        temperature=cfg.temperature, top_p=cfg.top_p, seed=seed_int(seed),
                        micro_batch=max(cfg.micro_batch, cfg.n), engine=cfg.engine)


def seed_int(parts):
    """A stable 63-bit seed from a tuple such as (seed, step, "topup", 0)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


def autocast(cfg):
    # no cast cache: the fast engine's CUDA graph must not capture cached bf16 weight copies
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=cfg.device == "cuda", cache_enabled=False)


def score(cfg, model, batch, grad=False):
    """Token log-probs (N, R) of `batch`: a Rollout, or a tuple (ids, mask, positions, response_mask)."""
    if isinstance(batch, R.Rollout):
        batch = (batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask)
    with torch.set_grad_enabled(grad), autocast(cfg):
        return R.token_logprobs(model, *batch, cfg.temperature)


def advantages(cfg, rewards, group_ids):
    if cfg.adv == "reinforce_pp":
        return H.reinforce_pp_advantages(rewards)
    return H.group_advantages(rewards, group_ids, "std" if cfg.adv == "grpo" else "none")


def update(cfg, step, model, optimizer, batch, old_logp, ref_logp, adv, stats):
    """ppo_epochs passes of micro-batched gradient accumulation. Every micro-batch's loss is
    normalized by the whole step's token (or sequence) count, so the sum of micro-batch gradients
    is the gradient of the full-batch loss."""
    model.train()
    mask = batch.response_mask
    total = mask.sum() if cfg.agg == "token_mean" else mask.shape[0]
    order_rng = torch.Generator().manual_seed(seed_int((cfg.seed, step, "order")))
    full = (batch.input_ids, batch.attention_mask, batch.position_ids, mask)  # built once, sliced per micro-batch
    for _ in range(cfg.ppo_epochs):
        optimizer.zero_grad(set_to_none=True)
        loss_sum, clip, kl = 0.0, 0.0, 0.0
        for rows in torch.randperm(mask.shape[0], generator=order_rng).split(cfg.micro_batch):
            logp = score(cfg, model, tuple(x[rows] for x in full), grad=True)
            loss, s = H.hir_loss(logp, old_logp[rows], adv[rows], mask[rows], None if ref_logp is None else ref_logp[rows],
                                 cfg.beta, cfg.clip_low, cfg.clip_high, cfg.agg, total)
            loss.backward()
            share = float(mask[rows].sum() / mask.sum())
            loss_sum, clip, kl = loss_sum + loss.item(), clip + share * s["clip_frac"].item(), kl + share * s["approx_kl"].item()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        if math.isfinite(loss_sum) and torch.isfinite(grad_norm):
            optimizer.step()
        else:  # never apply a non-finite update: skip it and count it
            stats["skipped_updates"] += 1
        optimizer.zero_grad(set_to_none=True)
    stats.update(loss=loss_sum, clip_frac=clip, approx_kl=kl, grad_norm=float(grad_norm))


def train_step(cfg, step, model, ref_model, tok, optimizer, instructions, stats):
    t0 = time.perf_counter()
    rollout = sample_rollout(cfg, model, tok, instructions, seed=(cfg.seed, step))
    stats["generated"] += len(rollout.texts)
    t1 = time.perf_counter()
    verdicts = verify_rows(rollout, instructions)
    t2 = time.perf_counter()
    old_logp = old_logprobs(cfg, model, rollout)
    batch, rewards = rollout, torch.tensor([cla(v) if cfg.method == "grpo_cla" else ila(v) for v in verdicts])
    stats.update(ila=sum(ila(v) for v in verdicts) / len(verdicts), cla=sum(cla(v) for v in verdicts) / len(verdicts),
                 resp_len=float(rollout.response_mask.sum(1).mean()), truncated=float(rollout.truncated.float().mean()))
    if cfg.method == "hir":
        rep = make_replays(cfg, step, model, tok, rollout, instructions, verdicts, old_logp, stats)
        batch = R.cat_rollouts(rollout, rep.rollout, tok.pad_token_id)
        old_logp = R.cat_right_padded([old_logp, rep.rollout.logprobs], 0.0)  # replays: copied from q
        rewards = torch.cat([rewards, torch.ones(len(rep.source_rows))])
    t3 = time.perf_counter()
    ref_logp = score(cfg, ref_model, batch) if cfg.beta > 0 else None
    adv = advantages(cfg, rewards.to(batch.response_ids.device), batch.group_ids)
    update(cfg, step, model, optimizer, batch, old_logp, ref_logp, adv, stats)
    t4 = time.perf_counter()
    stats.update(time_rollout=t1 - t0, time_verify=t2 - t1, time_replay=t3 - t2, time_update=t4 - t3,
                 tokens_per_s=float(rollout.response_mask.sum()) / (t1 - t0))


# ----------------------------------------------------------------------------- checkpoints and logs
def save_checkpoint(cfg, step, model, tok, optimizer, source):
    """out/step_XXXXXX: a save_pretrained folder plus trainer_state.pt and config.json, written
    to a temp dir and renamed, so a checkpoint is either complete or absent."""
    final = os.path.join(cfg.out, f"step_{step:06d}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "data_position": source.position,
                "torch_rng": torch.get_rng_state(), "python_rng": random.getstate()}, os.path.join(tmp, "trainer_state.pt"))
    json.dump(dataclasses.asdict(cfg), open(os.path.join(tmp, "hir_config.json"), "w"), indent=1)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


def latest_checkpoint(out):
    steps = sorted(d for d in os.listdir(out) if d.startswith("step_") and not d.endswith(".tmp")) if os.path.isdir(out) else []
    return os.path.join(out, steps[-1]) if steps else None


def log_metrics(cfg, row):
    with open(os.path.join(cfg.out, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(cfg, step):
    """On resume, drop metric rows of steps after the checkpoint: they are about to be redone."""
    path = os.path.join(cfg.out, "metrics.jsonl")
    if os.path.exists(path):
        rows = [line for line in open(path) if line.endswith("\n") and json.loads(line)["step"] <= step]  # a torn last line goes too
        with open(path + ".tmp", "w") as f:
            f.writelines(rows)
        os.replace(path + ".tmp", path)


def plot_curves(cfg):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[hir] curves.png skipped: `pip install matplotlib` to get it")
        return
    rows = [json.loads(line) for line in open(os.path.join(cfg.out, "metrics.jsonl"))]
    fig, ax = plt.subplots(figsize=(7, 4))
    x = [r["generated"] for r in rows]
    ax.plot(x, [r["ila"] for r in rows], label="train ILA", alpha=0.5)
    ax.plot(x, [r["cla"] for r in rows], label="train CLA", alpha=0.5)
    ev = [r for r in rows if "heldout_ila" in r]
    ax.plot([r["generated"] for r in ev], [r["heldout_ila"] for r in ev], "o-", label="held-out ILA")
    ax.plot([r["generated"] for r in ev], [r["heldout_cla"] for r in ev], "s-", label="held-out CLA")
    ax.set(xlabel="generated responses", ylabel="accuracy", title=f"{cfg.method} on {cfg.model}")
    ax.legend()
    fig.savefig(os.path.join(cfg.out, "curves.png"), dpi=100, bbox_inches="tight")
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def setup(cfg):
    if cfg.device == "auto":
        cfg.device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(cfg.seed)
    os.makedirs(cfg.out, exist_ok=True)
    ckpt = latest_checkpoint(cfg.out) if cfg.resume else None
    model, tok = load_model(ckpt or cfg.model, device=cfg.device)
    if cfg.grad_checkpointing:
        model.gradient_checkpointing_enable()
    ref_model = load_model(cfg.model, device=cfg.device)[0].eval() if cfg.beta > 0 else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    try:
        source = D.PromptSource(cfg.data, cfg.seed, constraint_ids(cfg), cfg.max_constraints, keyword_pool(cfg))
    except (D.DataError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    step = 0
    if cfg.method == "hir" and source.rows and any(r.prompt is not None for r in source.rows):
        raise SystemExit(f"{cfg.data}: IFEval rows have fixed prompts that HiR cannot rewrite; use our rows or HIR-16K rows")
    if ckpt:
        state = torch.load(os.path.join(ckpt, "trainer_state.pt"), weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        step, source.position = state["step"], state["data_position"]
        truncate_metrics(cfg, step)
        print(f"[hir] resumed from {ckpt} at step {step}")
    json.dump(dataclasses.asdict(cfg), open(os.path.join(cfg.out, "config.json"), "w"), indent=1)
    return model, ref_model, tok, optimizer, source, step


def main(argv=None):
    cfg = parse_config(sys.argv[1:] if argv is None else argv)
    model, ref_model, tok, optimizer, source, start = setup(cfg)
    heldout = E.heldout_instructions(constraint_ids(cfg), cfg.max_constraints, cfg.eval_size, words=keyword_pool(cfg))
    generated = 0
    if start:
        rows = [json.loads(line) for line in open(os.path.join(cfg.out, "metrics.jsonl"))]
        generated = rows[-1]["generated"] if rows else 0
    bar = tqdm(range(start + 1, cfg.steps + 1), initial=start, total=cfg.steps, desc=cfg.method, dynamic_ncols=True)
    for step in bar:
        stats = {"step": step, "generated": generated, "topups": 0, "candidates": 0, "replays": 0, "skipped_updates": 0}
        train_step(cfg, step, model, ref_model, tok, optimizer, source.next(cfg.prompts_per_step), stats)
        generated = stats["generated"]
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.steps):
            summary = E.evaluate(model, tok, heldout, n=1, temperature=cfg.eval_temperature,
                                 max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, micro_batch=max(cfg.micro_batch, 8),
                                 engine=cfg.engine)[1]
            stats.update(heldout_ila=summary["ila"], heldout_cla=summary["cla"])
        log_metrics(cfg, stats)
        bar.set_postfix_str(f"ila {stats['ila']:.2f} cla {stats['cla']:.2f} rep {stats['replays']} "
                            f"loss {stats['loss']:+.3f}" + (f" | held-out ila {stats['heldout_ila']:.2f}" if "heldout_ila" in stats else ""))
        if step % cfg.save_every == 0 or step == cfg.steps:
            save_checkpoint(cfg, step, model, tok, optimizer, source)
    plot_curves(cfg)
    return cfg


if __name__ == "__main__":
    main()

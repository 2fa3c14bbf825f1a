"""The run directory: checkpoints, resume, metrics, curves and the console's plain lines.

    python train.py --resume runs/toy_hir --steps 200     # train.py calls everything here

A run directory holds one run: config.json, metrics.jsonl (one JSON line per step), curves.png, and
checkpoints step_XXXXXX/, each written to a temp folder and renamed, so a checkpoint is complete or absent.
`prepare_run_dir` is the policy: a fresh run needs an empty --out, --resume continues a run or forks it,
nothing is ever mixed.

The checkpoint format (this docstring is its one documented place; docs/training.md links here). A checkpoint
holds nothing that runs code when read, so a downloaded run directory is safe to resume:
  model.safetensors, config.json, tokenizer files   save_pretrained: an ordinary Hugging Face folder
  hir_config.json          the run's Config
  trainer_state.json       plain values: {"format": 1, "step", "data_position", "python_rng": [version,
                           [625 ints], gauss], "param_groups": the optimizer's, "plain_state": {param index:
                           {name: number}} (an optimizer state's values that are not tensors)}
  trainer_state.safetensors  tensors: "torch_rng", "state.{param index}.{name}" (AdamW: step, exp_avg,
                           exp_avg_sq)
With LoRA (--lora_rank, plumbing/lora.py) the weights are the adapters instead, never the base:
  adapter_config.json, adapter_model.safetensors   PEFT's format (PEFT adds a README.md model card)
  base_fingerprint.json    the base's name, path, and hashes of its config and weights (models.fingerprint)
Older checkpoints (trainer_state.pt, a torch pickle) are read with torch.load(weights_only=True), which
refuses any pickle that would run code.
"""
import dataclasses
import json
import os
import pickle
import random
import re
import shutil

import torch
from safetensors.torch import load_file, save_file

from plumbing import distributed, lora
from plumbing.config_files import is_checkpoint, run_dir_of
from plumbing.report import write_json

STATE_FORMAT = 1  # trainer_state.json's "format": bumped when the layout above changes


def write_trainer_state(folder, step, optimizer, data_position):
    """The trainer state, in the format above: everything resume needs beside the weights."""
    opt = optimizer.state_dict()
    tensors = {"torch_rng": torch.get_rng_state()}
    plain = {}
    for i, state in opt["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"state.{i}.{name}"] = value.detach().contiguous().cpu()
            else:
                plain.setdefault(str(i), {})[name] = value
    version, ints, gauss = random.getstate()
    meta = {"format": STATE_FORMAT, "step": step, "data_position": data_position,
            "python_rng": [version, list(ints), gauss], "param_groups": opt["param_groups"], "plain_state": plain}
    save_file(tensors, os.path.join(folder, "trainer_state.safetensors"))
    with open(os.path.join(folder, "trainer_state.json"), "w") as f:
        json.dump(meta, f)


class UnsafeCheckpoint(Exception):
    """An old-format trainer_state.pt that is more than tensors and plain values: refused, never unpickled."""


def read_trainer_state(folder):
    """-> {"step", "data_position", "optimizer" (a state dict on the CPU), "torch_rng", "python_rng"}, from either
    format; nothing read can run code (an old pickle that tries is refused by weights_only=True)."""
    path = os.path.join(folder, "trainer_state.json")
    if not os.path.exists(path):  # the format before 1
        try:
            return torch.load(os.path.join(folder, "trainer_state.pt"), weights_only=True, map_location="cpu")
        except pickle.UnpicklingError:  # what weights_only raises for anything but tensors and plain values
            raise UnsafeCheckpoint("an old-format trainer_state.pt holding more than tensors and plain values: "
                                   "refused, since unpickling it could run code") from None
    with open(path) as f:
        meta = json.load(f)
    if meta.get("format") != STATE_FORMAT:
        raise ValueError(f"{path}: format {meta.get('format')!r}; this version reads format {STATE_FORMAT}")
    tensors = load_file(os.path.join(folder, "trainer_state.safetensors"))
    state = {}
    for key, value in tensors.items():  # "state.{param index}.{name}"
        if key.startswith("state."):
            _, i, name = key.split(".", 2)
            state.setdefault(int(i), {})[name] = value
    for i, values in meta["plain_state"].items():
        state.setdefault(int(i), {}).update(values)
    version, ints, gauss = meta["python_rng"]
    return {"step": meta["step"], "data_position": meta["data_position"], "torch_rng": tensors["torch_rng"],
            "python_rng": (version, tuple(ints), gauss),
            "optimizer": {"state": state, "param_groups": meta["param_groups"]}}


def save_checkpoint(cfg, step, model, tok, optimizer, source):
    """out/step_XXXXXX in the format of the module docstring, written to a temp dir and renamed, so a
    checkpoint is either complete or absent."""
    final = os.path.join(cfg.out, f"step_{step:06d}")
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if lora.is_lora(model):  # the adapters (PEFT's format) and the base's fingerprint, never the base
            lora.save_adapters(model, tmp, model.base_fingerprint)
        else:
            model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_trainer_state(tmp, step, optimizer, source.position)
        write_json(os.path.join(tmp, "hir_config.json"), dataclasses.asdict(cfg))
    except (OSError, RuntimeError) as e:  # disk full surfaces as either; the previous checkpoints stay intact
        shutil.rmtree(tmp, ignore_errors=True)
        older = checkpoints(cfg.out)
        raise SystemExit(f"error: writing checkpoint {final} failed ({type(e).__name__}: {str(e)[:120]}); is the disk "
                         f"full? Nothing partial was left; newest complete checkpoint: "
                         f"{older[-1] if older else 'none'} (--save_total_limit keeps fewer)") from None
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    if cfg.save_total_limit:  # the newest N stay (TRL's save_total_limit); the one just written is among them
        for old in checkpoints(cfg.out)[:-cfg.save_total_limit]:
            shutil.rmtree(old)


def stop_broken_run(cfg, step, broken, rank):
    """Every update of the last `broken` steps was non-finite: the weights went bad in the update of step - broken,
    so the checkpoints from there on hold them. Remove those, name the last good one, stop (every rank)."""
    bad = [c for c in checkpoints(cfg.out) if step_of(c) >= step - broken]
    if rank == 0:
        for c in bad:
            shutil.rmtree(c)
    distributed.barrier()  # every rank names the same last good checkpoint
    good = checkpoints(cfg.out)
    raise SystemExit(f"error: step {step}: every update of the last {broken} steps was non-finite (loss or "
                     f"gradient norm inf/nan) and skipped, so the weights no longer train; lower --lr "
                     f"(it is {cfg.lr:g}). Removed {len(bad)} checkpoints holding those weights; last good "
                     "checkpoint: " + (f"{good[-1]} (--resume {good[-1]})" if good else "none"))


def checkpoints(out):
    """Complete checkpoint folders of a run directory, oldest first."""
    names = sorted(d for d in os.listdir(out) if re.fullmatch(r"step_\d{6}", d)) if os.path.isdir(out) else []
    return [os.path.join(out, d) for d in names if is_checkpoint(os.path.join(out, d))]


def step_of(ckpt):
    """The step a checkpoint folder holds: from its name, or (a renamed folder) from its state."""
    m = re.fullmatch(r"step_(\d+)", os.path.basename(os.path.normpath(ckpt)))
    return int(m.group(1)) if m else read_trainer_state(ckpt)["step"]


def claim_empty(out, overwrite, why):
    """A run writes only into a directory that holds no other run: empty, or emptied by --overwrite."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise SystemExit(f"error: --out {out} is a file, not a directory; pass a directory (it is created)")
    if os.path.isdir(out) and os.listdir(out):
        if not overwrite:
            held = f"{len(checkpoints(out))} checkpoints" + (
                ", metrics" if os.path.exists(os.path.join(out, "metrics.jsonl")) else "")
            raise SystemExit(f"error: --out {out} is not empty ({held}); {why}, write elsewhere with --out, "
                             "or start over with --overwrite (deletes what is there)")
        shutil.rmtree(out)
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".write_test")
        open(probe, "w").close()
        os.remove(probe)
    except OSError as e:
        raise SystemExit(f"error: --out {out}: cannot write there ({e.strerror}); pass a writable directory") from None


def prepare_run_dir(cfg):
    """Make cfg.out ready and return the checkpoint to continue from (None: step 0). Like TRL's
    output_dir / resume_from_checkpoint: a fresh run needs an empty --out; --resume takes a run
    directory (its newest checkpoint) or a checkpoint folder, and writes into that run unless
    --out names another directory, which forks the run there (its metrics up to the checkpoint)."""
    if not cfg.resume:
        claim_empty(cfg.out, cfg.overwrite, f"continue that run with --resume {cfg.out}")
        return None
    source = run_dir_of(cfg.resume)
    ckpt = os.path.normpath(cfg.resume) if is_checkpoint(cfg.resume) else (checkpoints(source) or [None])[-1]
    try:
        step = step_of(ckpt) if ckpt else 0  # a renamed folder's step is read from its state
    except UnsafeCheckpoint as e:
        raise SystemExit(f"error: checkpoint {ckpt}: {e}") from None
    if ckpt and cfg.steps <= step:  # refused before anything in the run directory changes
        raise SystemExit(f"error: --resume {cfg.resume}: its checkpoint is at step {step}, and --steps {cfg.steps} "
                         f"leaves nothing to train; --steps counts from step 0, so pass --steps {step + 1} or more")
    if os.path.abspath(cfg.out) != os.path.abspath(source):  # a fork
        claim_empty(cfg.out, cfg.overwrite, "a fork needs a directory of its own")
        if os.path.exists(os.path.join(source, "metrics.jsonl")):
            shutil.copy(os.path.join(source, "metrics.jsonl"), os.path.join(cfg.out, "metrics.jsonl"))
    else:
        later = [c for c in checkpoints(source) if step_of(c) > step]
        if later and not cfg.overwrite:
            raise SystemExit(f"error: {source} has checkpoints after step {step} ({os.path.basename(later[0])}, ...): "
                             "fork with --out NEW_DIR, or pass --overwrite to delete them")
        for c in later:
            shutil.rmtree(c)
    truncate_metrics(cfg, step)  # steps after the checkpoint are about to be redone
    print(f"[hir] resuming {cfg.out} from {ckpt} (step {step} of {cfg.steps})" if ckpt else
          f"[hir] {source} has no checkpoint yet: starting it over from step 0 with its saved config")
    return ckpt


def read_metrics(out):
    """metrics.jsonl's rows ([] when there is none: a run directory whose first step never ended)."""
    path = os.path.join(out, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]  # a torn last line is not a row


def log_metrics(cfg, row):
    with open(os.path.join(cfg.out, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(row) + "\n")


def truncate_metrics(cfg, step):
    """On resume, drop metric rows of steps after the checkpoint: they are about to be redone."""
    path = os.path.join(cfg.out, "metrics.jsonl")
    if os.path.exists(path):
        # a torn last line goes too
        with open(path) as f:
            rows = [line for line in f if line.endswith("\n") and json.loads(line)["step"] <= step]
        with open(path + ".tmp", "w") as f:
            f.writelines(rows)
        os.replace(path + ".tmp", path)


def plot_curves(cfg):
    """curves.png: ILA and CLA, on training samples and on the held-out set, against generated responses."""
    import matplotlib
    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt
    rows = read_metrics(cfg.out)
    fig, (ila_ax, cla_ax) = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    x, ev = [r["generated"] for r in rows], [r for r in rows if "heldout_ila" in r]
    for ax, key, name in ((ila_ax, "ila", "ILA (all constraints met)"),
                          (cla_ax, "cla", "CLA (share of constraints met)")):
        ax.plot(x, [r[key] for r in rows], label="training samples", alpha=0.5)
        ax.plot([r["generated"] for r in ev], [r[f"heldout_{key}"] for r in ev], "o-", label="held-out")
        ax.set(xlabel="generated responses", ylabel=name, ylim=(-0.02, 1.02))
        ax.legend()
    fig.suptitle(f"{cfg.method} on {cfg.model}")
    fig.savefig(os.path.join(cfg.out, "curves.tmp.png"), dpi=100, bbox_inches="tight")
    plt.close(fig)
    os.replace(os.path.join(cfg.out, "curves.tmp.png"), os.path.join(cfg.out, "curves.png"))  # whole or absent


def log_line(cfg, metrics, seconds):
    """One plain line: every log_every steps (it reads well in a nohup log) and at the end."""
    held = (f" | held-out ila {metrics['heldout_ila']:.3f} cla {metrics['heldout_cla']:.3f}"
            if "heldout_ila" in metrics else "")
    return (f"[hir] step {metrics['step']}/{cfg.steps} | ila {metrics['ila']:.3f} cla {metrics['cla']:.3f} "
            f"| replays "
            f"{metrics['replays']} | loss {metrics['loss']:+.3g} | {seconds:.1f} s/step | generated "
            f"{metrics['generated']}{held}")


def print_summary(cfg, start, seconds):
    rows = read_metrics(cfg.out)
    last, held = rows[-1], [r for r in rows if "heldout_ila" in r]
    done = cfg.steps - start
    print(f"[hir] done: steps {start + 1}-{cfg.steps} in {seconds / 60:.1f} min ({seconds / max(done, 1):.1f} s/step); "
          f"train ila {last['ila']:.3f} cla {last['cla']:.3f} at step {last['step']}"
          + (f"; held-out ila {held[-1]['heldout_ila']:.3f} cla {held[-1]['heldout_cla']:.3f} "
             f"at step {held[-1]['step']}" if held else ""))
    curves = os.path.join(cfg.out, "curves.png")
    print(f"[hir] metrics {os.path.join(cfg.out, 'metrics.jsonl')} | "
          f"curves {curves if os.path.exists(curves) else '(none)'} "
          f"| last checkpoint {(checkpoints(cfg.out) or ['(none)'])[-1]}")
    skipped = sum(r.get("skipped_updates", 0) for r in rows[start:])
    print(f"[hir] skipped non-finite updates: {skipped}"
          + (" (see metrics.jsonl's skipped_updates)" if skipped else ""))

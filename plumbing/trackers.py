"""Experiment trackers: each metrics.jsonl row also goes to TensorBoard or Weights & Biases (TRL's --report_to).

    tracker = open_tracker(cfg.report_to, cfg.out, dataclasses.asdict(cfg), start_step, rank)
    tracker.log(metrics)      # every step: the row metrics.jsonl gets ({'step': 3, 'ila': 0.5, ...})
    tracker.finish()          # at the end: flush and close (W&B: also stops its wandb-core process)

    tensorboard --logdir runs/toy_hir/tensorboard
    WANDB_MODE=offline python train.py --report_to wandb ...   # then: wandb sync runs/toy_hir/wandb/offline-run-*

'none', and every rank but 0, log nothing. The library is imported only when named (on every rank, so that a
missing one stops all ranks alike). Where files go: TensorBoard's event files in out/tensorboard/; W&B's in
out/wandb/ (offline runs too), its run id in out/wandb_id.txt. The config is logged once per session: as
TensorBoard text (JSON) at the step the session starts from, as W&B's run config.

Resume (start_step = the checkpoint's step k > 0) continues the same curves:
- TensorBoard: the writer opens with purge_step=k + 1, so readers drop the old session's events at steps > k
  (they are about to be redone; metrics.jsonl drops them too). TensorBoard's Rust data server ignores that
  marker and instead drops a tag's points once the tag's step goes back, so there an old point lingers only
  on a tag the resumed session never logs again at or before that step.
- W&B: the run in out/wandb_id.txt continues (init(id=..., resume="allow")). W&B keeps a run's steps
  increasing: steps k+1..m that the crashed session had already logged are not replaced by the redone ones
  (W&B warns and drops them); its "rewind" (init(resume_from=...)) would, but is a private preview.
A fork (--resume RUN --out NEW) has no id file of its own, so it starts a new W&B run.
"""
import json
import numbers
import os

REPORT_TO = ("none", "tensorboard", "wandb")
WANDB_ID = "wandb_id.txt"


class Tracker:
    """The no-op tracker ('none', ranks other than 0); the others override log, flush and finish."""

    def log(self, row):
        pass

    def flush(self):  # at each checkpoint: what a resume will not redo is on disk
        pass

    def finish(self):
        pass


def scalars(row):
    """The numbers of a metrics row, 'step' aside (it is the x axis); strings, lists and None are skipped."""
    return {k: v for k, v in row.items() if k != "step" and isinstance(v, numbers.Real)}


class TensorBoardTracker(Tracker):
    def __init__(self, out, config, start_step):
        from torch.utils.tensorboard import SummaryWriter
        # purge_step hides the events of steps > start_step that an earlier session wrote; from a fresh start
        # (start_step 0, e.g. a run restarted before its first checkpoint) it hides that session's steps
        self.writer = SummaryWriter(os.path.join(out, "tensorboard"), purge_step=start_step + 1)
        text = "```json\n" + json.dumps(config, indent=1, default=str) + "\n```"  # TensorBoard renders markdown
        self.writer.add_text("config", text, global_step=start_step)

    def log(self, row):
        for key, value in scalars(row).items():  # add_scalar per key: add_scalars' sub-writers escape purge_step
            self.writer.add_scalar(key, value, global_step=row["step"])

    def flush(self):
        self.writer.flush()

    def finish(self):
        self.writer.close()


class WandbTracker(Tracker):
    def __init__(self, wandb, out, config, start_step):
        self.wandb = wandb
        id_file = os.path.join(out, WANDB_ID)
        kwargs = {}
        if start_step > 0 and os.path.exists(id_file):  # a resume continues its run; a fresh start is a new one
            with open(id_file) as f:
                kwargs = {"id": f.read().strip(), "resume": "allow"}
        try:
            # WANDB_MODE, WANDB_PROJECT, WANDB_ENTITY, WANDB_SILENT ... come from the environment, as in TRL
            self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or "hir", dir=out, config=config,
                                  name=os.path.basename(os.path.abspath(out)), settings=wandb.Settings(quiet=True),
                                  **kwargs)
        except wandb.errors.Error as e:  # no API key, no network: one line, not a traceback
            raise SystemExit(f"error: --report_to wandb: {e} (or run offline: WANDB_MODE=offline)") from None
        with open(id_file + ".tmp", "w") as f:  # atomic: a crash leaves the old id or the new one
            f.write(self.run.id + "\n")
        os.replace(id_file + ".tmp", id_file)

    def log(self, row):
        self.run.log(scalars(row), step=row["step"])

    def finish(self):
        self.run.finish()
        self.wandb.teardown()  # else wandb-core lives on until the interpreter exits


def need(package):
    try:
        return __import__(package)
    except ImportError:
        raise SystemExit(f"error: --report_to {package} needs the {package} package: pip install {package}") from None


def open_tracker(report_to, out, config, start_step, rank=0):
    """A tracker for one session of the run in `out` (which exists), starting after step `start_step`."""
    if report_to not in REPORT_TO:
        raise ValueError(f"report_to {report_to!r}: expected one of {REPORT_TO}")
    if report_to == "none":
        return Tracker()
    lib = need(report_to)
    if rank != 0:
        return Tracker()
    if report_to == "tensorboard":
        return TensorBoardTracker(out, config, start_step)
    return WandbTracker(lib, out, config, start_step)

"""Where a run's settings come from on disk: a --config file (JSON or YAML), a run directory's config.json, a
checkpoint folder's hir_config.json. config.parse_config layers them; plumbing/rundir.py finds checkpoints with these.
Torch-free, as config.py is."""
import json
import os


def read_config_file(path, known):
    """A JSON or YAML mapping of Config fields (`known`: their names)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.endswith((".yaml", ".yml")):
            import yaml
            try:
                values = yaml.safe_load(text)
            except yaml.YAMLError as e:  # not a ValueError: one line with the place, not yaml's drawing
                mark = getattr(e, "problem_mark", None)
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                problem = getattr(e, "problem", None) or e
                raise SystemExit(f"error: --config {path}: not valid YAML ({problem}{where})") from None
        else:
            values = json.loads(text)
    except (OSError, ValueError, ImportError) as e:
        raise SystemExit(f"error: --config {path}: {e}") from None
    if not isinstance(values, dict) or set(values) - known:
        raise SystemExit(f"error: --config {path}: must map Config fields to values; unknown: "
                         f"{sorted(set(values) - known) if isinstance(values, dict) else type(values).__name__}")
    return values


def saved_config(resume, known, quiet=False):
    """The config a run was started with: a checkpoint folder's hir_config.json, or a run
    directory's config.json. Where to write, and the device (a property of the machine), are not
    carried over; the dtype is, since it decides the numbers."""
    if not os.path.isdir(resume):
        raise SystemExit(f"error: --resume {resume}: no such directory")
    path = os.path.join(resume, "hir_config.json" if is_checkpoint(resume) else "config.json")
    if not os.path.exists(path):
        raise SystemExit(f"error: --resume {resume}: neither a run directory (config.json) nor a checkpoint "
                         "folder (trainer_state.json and hir_config.json)")
    skip = ("out", "resume", "overwrite", "config", "device")
    with open(path) as f:
        saved = json.load(f)
    if set(saved) - known and not quiet:  # a run from another version of this file
        print(f"[hir] {path}: ignoring fields this version does not have: {sorted(set(saved) - known)}")
    return {k: v for k, v in saved.items() if k in known and k not in skip}


def is_checkpoint(path):
    return any(os.path.exists(os.path.join(path, f"trainer_state.{ext}")) for ext in ("json", "pt"))  # .pt: old runs


def run_dir_of(resume):
    return os.path.dirname(os.path.normpath(resume)) if is_checkpoint(resume) else resume

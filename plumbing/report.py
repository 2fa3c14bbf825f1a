"""What eval.py prints: the summary table of an evaluation, and `eval.py compare` of two of them.

    python eval.py compare runs/eval_base runs/eval_hir     # reads each directory's results.json

Kept apart from eval.py, which generates and scores; nothing here imports torch.
"""
import json
import os
import sys

from data import DataError


def print_table(summary, file=None):
    file = file or sys.stdout
    print(f"prompt-level strict      {summary['prompt_strict']:6.2f}", file=file)
    print(f"prompt-level loose       {summary['prompt_loose']:6.2f}", file=file)
    print(f"instruction-level strict {summary['instruction_strict']:6.2f}", file=file)
    print(f"instruction-level loose  {summary['instruction_loose']:6.2f}", file=file)
    for k in sorted(summary):
        if k.startswith("pass@"):
            print(f"{k:24s} {summary[k]:6.2f}", file=file)
    if summary.get("per_id"):
        print("per instruction id (strict %):", file=file)
        for cid, acc in summary["per_id"].items():
            print(f"  {cid:46s} {acc:6.2f}", file=file)


def read_json(path):
    """A JSON file's value; a missing, unreadable or malformed file is a DataError naming it (one line, where
    json's own error would be a traceback that names neither the file nor what it should hold)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot be read ({e})") from None


def read_summary(folder):
    path = os.path.join(folder, "results.json")
    saved = read_json(path)
    if not isinstance(saved, dict) or not isinstance(saved.get("summary"), dict):
        raise DataError(f"{path}: no 'summary' (not the results.json of eval.py)")
    return saved["summary"]


def cmd_compare(dir_a, dir_b):
    a, b = read_summary(dir_a), read_summary(dir_b)
    print(f"{'':46s} {'A':>7s} {'B':>7s} {'B-A':>7s}")
    keys = ["prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose", "ila", "cla"]
    keys += sorted(k for k in a if k.startswith("pass@") and k in b)
    rows = [(k, a.get(k), b.get(k)) for k in keys]
    ids_a, ids_b = a.get("per_id") or {}, b.get("per_id") or {}
    rows += [("  " + k, ids_a.get(k), ids_b.get(k)) for k in sorted(set(ids_a) | set(ids_b))]
    for k, x, y in rows:
        if x is None or y is None:
            print(f"{k:46s} {x if x is not None else '-':>7} {y if y is not None else '-':>7}")
        else:
            print(f"{k:46s} {x:7.2f} {y:7.2f} {y - x:+7.2f}")

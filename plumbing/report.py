"""What eval.py prints: the summary table of an evaluation, and `eval.py compare` of two of them.

    python eval.py compare runs/eval_base runs/eval_hir     # reads each directory's results.json

Kept apart from eval.py, which generates and scores; nothing here imports torch.
"""
import json
import os
import sys


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


def cmd_compare(dir_a, dir_b):
    a, b = (json.load(open(os.path.join(d, "results.json")))["summary"] for d in (dir_a, dir_b))
    print(f"{'':46s} {'A':>7s} {'B':>7s} {'B-A':>7s}")
    keys = ["prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose", "ila", "cla"]
    keys += sorted(k for k in a if k.startswith("pass@") and k in b)
    rows = [(k, a.get(k), b.get(k)) for k in keys]
    rows += [("  " + k, a["per_id"].get(k), b["per_id"].get(k)) for k in sorted(set(a["per_id"]) | set(b["per_id"]))]
    for k, x, y in rows:
        if x is None or y is None:
            print(f"{k:46s} {x if x is not None else '-':>7} {y if y is not None else '-':>7}")
        else:
            print(f"{k:46s} {x:7.2f} {y:7.2f} {y - x:+7.2f}")

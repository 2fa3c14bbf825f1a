"""What eval.py prints: the summary table of an evaluation, and the command `eval.py compare` of two of them.

    python eval.py compare runs/eval_base runs/eval_hir     # reads each directory's results.json

Kept apart from eval.py, which generates and scores; nothing here imports torch. Also the two JSON helpers that
train.py's run directories and eval.py's share: write_json (whole or absent) and read_json (one-line errors).
"""
import json
import os
import sys

from data import DataError


# The paper's names next to IFEval's, which clash: the paper's "instruction" is a whole prompt (task and
# constraints), IFEval's "instruction" is one constraint. ILA (every constraint met) is IFEval's prompt-level
# accuracy; IFEval's instruction-level accuracy pools all constraints of all prompts; CLA averages each prompt's
# share of constraints met over prompts, so a prompt with 5 constraints weighs 5x in the first and 1x in CLA.
# The table of names: docs/verifiers.md.
NAMES = {"prompt_strict": ("ILA strict", "IFEval prompt-level strict"),
         "prompt_loose": ("ILA loose", "IFEval prompt-level loose"),
         "instruction_strict": ("constraint accuracy strict", "IFEval instruction-level strict"),
         "instruction_loose": ("constraint accuracy loose", "IFEval instruction-level loose"),
         "cla": ("CLA strict", "share met per prompt, mean over prompts")}


def label(key):
    """Our name = IFEval's (or what it averages), IFEval's name last: right before the number, where readers
    (and tests/checkers/test_ifbench.py) look for it."""
    ours, theirs = NAMES.get(key) or (key, f"ILA strict, best of k = {key[5:]} samples")  # the rest: pass@k
    return f"{ours:26s} = {theirs}"


WIDTH = max(len(label(k)) for k in NAMES)


def print_table(summary, file=None):
    """The numbers (%) of a summary, each named in both vocabularies; CLA where the summary has it."""
    file = file or sys.stdout
    for k in ("prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose"):
        print(f"{label(k):{WIDTH}s} {summary[k]:6.2f}", file=file)
    if "cla" in summary:  # a fraction in the summary (as train.py logs it), a percentage in the table
        print(f"{label('cla'):{WIDTH}s} {100 * summary['cla']:6.2f}", file=file)
    for k in sorted(summary):
        if k.startswith("pass@"):
            print(f"{label(k):{WIDTH}s} {summary[k]:6.2f}", file=file)
    if summary.get("per_id"):
        print("per constraint id (IFEval's instruction id), strict %:", file=file)
        for cid, acc in summary["per_id"].items():
            print(f"  {cid:{WIDTH - 2}s} {acc:6.2f}", file=file)


def write_json(path, value):
    """Whole or absent: a temp file, then a rename (run directories' and evaluations' JSON files alike)."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


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


def compare_main(args, usage):
    """`eval.py compare DIR_A DIR_B`: checks its arguments and files, then cmd_compare."""
    if {"-h", "--help"} & set(args):
        print(f"usage: {usage}\n\ncompare: the numbers of two eval.py output directories, with B - A")
        sys.exit(0)  # as argparse's --help
    if len(args) != 2:  # a usage error: status 2, as argparse's
        print(f"error: compare takes two directories, got {len(args)} (usage: eval.py compare DIR_A DIR_B)",
              file=sys.stderr)
        sys.exit(2)
    for d in args:
        if not os.path.exists(os.path.join(d, "results.json")):
            sys.exit(f"error: compare: {d} holds no results.json (an eval.py output directory)")
    try:
        return cmd_compare(*args)
    except DataError as e:
        sys.exit(f"error: {e}")


def cmd_compare(dir_a, dir_b):
    """The rows of print_table for both runs, with B - A (CLA in % as in the table; '-' where a run lacks it)."""
    a, b = read_summary(dir_a), read_summary(dir_b)
    keys = ["prompt_strict", "prompt_loose", "instruction_strict", "instruction_loose", "cla"]
    keys += sorted(k for k in a if k.startswith("pass@") and k in b)
    print(f"{'':{WIDTH}s} {'A':>7s} {'B':>7s} {'B-A':>7s}")
    for k in keys:
        x, y = (s[k] * (100 if k == "cla" else 1) if isinstance(s.get(k), (int, float)) else None for s in (a, b))
        _row(label(k), x, y)
    ids_a, ids_b = a.get("per_id") or {}, b.get("per_id") or {}
    print("per constraint id (IFEval's instruction id), strict %:")
    for k in sorted(set(ids_a) | set(ids_b)):
        _row("  " + k, ids_a.get(k), ids_b.get(k))


def _row(label, x, y):
    if x is None or y is None:
        print(f"{label:{WIDTH}s} {x if x is not None else '-':>7} {y if y is not None else '-':>7}")
    else:
        print(f"{label:{WIDTH}s} {x:7.2f} {y:7.2f} {y - x:+7.2f}")

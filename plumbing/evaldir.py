"""eval.py's --out directory: claimed before the model loads, continued after a kill, finished by renames.

    python eval.py --model toy --data synthetic --out runs/eval_toy   # eval.py calls everything here

A directory holds one evaluation: eval_config.json (the command's settings), responses.partial.jsonl (appended
block by block while generating), then responses.jsonl, results.jsonl and results.json, each written to a
temporary name and renamed, results.json last. Another evaluation's directory is refused, never mixed.
"""
import os
import shutil
import sys

from data import write_jsonl
from plumbing.report import read_json, write_json


def append_block(args):
    """Prompts generated per append to responses.partial.jsonl: a multiple of evaluate's chunk of prompts,
    so a list answered block by block gets the responses one call would give."""
    return max(1, args.micro_batch // args.n) * 4


def claim_out(args):
    """--out must be writable and hold no other evaluation. An unfinished one of this very command (its
    eval_config.json equal to ours) is continued: returns the number of prompts already answered."""
    config_path = os.path.join(args.out, "eval_config.json")
    partial = os.path.join(args.out, "responses.partial.jsonl")
    mine = {k: v for k, v in vars(args).items() if k != "overwrite"}
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        sys.exit(f"error: --out {args.out} is a file, not a directory; pass a directory (it is created)")
    if os.path.isdir(args.out) and os.listdir(args.out):
        saved = read_json(config_path) if os.path.exists(config_path) else None
        if args.overwrite:
            shutil.rmtree(args.out)
        elif saved == mine and os.path.exists(partial):
            with open(partial, encoding="utf-8") as f:
                lines = [line for line in f if line.endswith("\n")]  # a torn line goes
            block = append_block(args)
            done = len(lines) // args.n // block * block  # whole blocks only: the rest is generated again
            with open(partial, "w", encoding="utf-8") as f:
                f.writelines(lines[:done * args.n])
            print(f"[eval] continuing {args.out}: {done} prompts already answered")
            return done
        else:
            what = "a finished evaluation" if os.path.exists(os.path.join(args.out, "results.json")) else (
                "an unfinished evaluation with other settings" if saved else "files of something else")
            sys.exit(f"error: --out {args.out} holds {what}; write elsewhere with --out, or pass --overwrite "
                     "(deletes what is there)")
    try:
        os.makedirs(args.out, exist_ok=True)
        write_json(config_path, mine)
    except OSError as e:
        sys.exit(f"error: --out {args.out}: cannot write there ({e.strerror}); pass a writable directory")
    return 0


def finish_out(args, results, summary):
    """The final files, each renamed into place, results.json last (its presence marks a finished evaluation);
    the partial responses go once everything is written."""
    for name, rows in (("responses.jsonl", [{"prompt": r["prompt"], "response": r["response"]} for r in results]),
                       ("results.jsonl", [{k: v for k, v in r.items() if k != "prompt"} for r in results])):
        write_jsonl(os.path.join(args.out, name + ".tmp"), rows)
        os.replace(os.path.join(args.out, name + ".tmp"), os.path.join(args.out, name))
    write_json(os.path.join(args.out, "results.json"), {"config": vars(args), "summary": summary})
    os.remove(os.path.join(args.out, "responses.partial.jsonl"))

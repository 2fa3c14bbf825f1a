"""Benchmarks: IFEval-style scores for any model, and re-scoring of response files.

    python eval.py score --input ../shared/ifeval/input_data.jsonl --responses responses.jsonl --out results.jsonl
    python eval.py --model toy --data input_data.jsonl --out runs/eval_toy
    python eval.py --model runs/hir/step_100 --data synthetic --out runs/eval_hir
    python eval.py compare runs/eval_base runs/eval_hir

`score` needs no torch (and imports none): responses are `{"prompt", "response"}` lines joined to
the inputs by prompt text, as the official checker joins them. Generation uses rollout.py with the
paper's protocol: chat template, temperature 0.6, up to 4096 new tokens, one sample per prompt
(`--n k` samples for pass@k).
"""
import argparse
import collections
import json
import math
import os
import sys

from constraints import verify
from data import DataError, load_instructions, read_jsonl, write_jsonl


# ----------------------------------------------------------------------------- scoring
def score_one(instruction, response):
    strict, loose = verify(instruction, response), verify(instruction, response, loose=True)
    return {"key": instruction.id, "prompt": instruction.render(), "response": response,
            "instruction_id_list": [c.id for c in instruction.constraints],
            "follow_list_strict": strict, "follow_list_loose": loose,
            "follow_all_strict": all(strict), "follow_all_loose": all(loose)}


def summarize(results):
    """The four IFEval numbers (%), plus per-instruction-id strict accuracy."""
    def mean(xs):
        xs = list(xs)
        return 100.0 * sum(xs) / max(len(xs), 1)
    per_id = collections.defaultdict(list)
    for r in results:
        for cid, ok in zip(r["instruction_id_list"], r["follow_list_strict"]):
            per_id[cid].append(ok)
    return {"prompt_strict": mean(r["follow_all_strict"] for r in results),
            "prompt_loose": mean(r["follow_all_loose"] for r in results),
            "instruction_strict": mean(v for r in results for v in r["follow_list_strict"]),
            "instruction_loose": mean(v for r in results for v in r["follow_list_loose"]),
            "n_prompts": len(results),
            "per_id": {cid: mean(v) for cid, v in sorted(per_id.items())}}


def read_responses(path):
    """{"prompt": response} from a responses file; a later duplicate prompt wins, as officially."""
    out = {}
    for lineno, row in read_jsonl(path):
        for name in ("prompt", "response"):
            if not isinstance(row.get(name), str):
                raise DataError(f"{path}:{lineno}: {name}: missing or not a string")
        out[row["prompt"]] = row["response"]
    return out


def score_files(input_path, responses_path):
    instructions, responses = load_instructions(input_path), read_responses(responses_path)
    results = []
    for ins in instructions:
        if ins.render() not in responses:
            raise DataError(f"{responses_path}: no response for the prompt of {ins.id!r} "
                            f"({ins.render()[:60]!r}...)")
        results.append(score_one(ins, responses[ins.render()]))
    return results


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


def cmd_score(args):
    results = score_files(args.input, args.responses)
    if args.out:
        write_jsonl(args.out, [{k: r[k] for k in ("key", "follow_list_strict", "follow_list_loose",
                                                  "follow_all_strict", "follow_all_loose")} for r in results])
    print_table(summarize(results))
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["score"]:
        ap = argparse.ArgumentParser(prog="eval.py score", description="re-score a responses file")
        ap.add_argument("--input", required=True, help="IFEval-format (or our) instructions JSONL")
        ap.add_argument("--responses", required=True, help='{"prompt", "response"} JSONL')
        ap.add_argument("--out", default=None, help="per-prompt verdicts JSONL")
        args = ap.parse_args(argv[1:])
        try:
            cmd_score(args)
        except (DataError, OSError) as e:
            sys.exit(f"error: {e}")
        return
    raise SystemExit("usage: eval.py score --input I --responses R [--out O]")


if __name__ == "__main__":
    main()

"""Benchmarks: IFEval-style scores for any model, and re-scoring of response files.

    python eval.py score --input ../shared/ifeval/input_data.jsonl --responses responses.jsonl --out results.jsonl
    python eval.py score --input ../shared/muldimif/test.json --responses R --out O   # MulDimIF's own scores
    python eval.py --model toy --data input_data.jsonl --out runs/eval_toy
    python eval.py --model runs/hir/step_000100 --data synthetic --out runs/eval_hir
    python eval.py compare runs/eval_base runs/eval_hir

`score` needs no torch (and imports none): responses are `{"prompt", "response"}` lines joined to
the inputs by prompt text, as the official checker joins them. Generation uses rollout.py with the
paper's protocol: chat template, temperature 0.6, up to 4096 new tokens, one sample per prompt
(`--n k` samples for pass@k).
"""
import os
os.environ.setdefault("GOMP_SPINCOUNT", "10000")  # before torch loads: plumbing/reproducible.py says why
import argparse  # noqa: E402 (the rest of the imports)
import collections
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Optional

from checkers.ifbench_text import MissingData
from checkers.muldimif import official_scores, print_scores
from constraints import MULDIMIF_ID, verify
from data import DataError, is_json_list, load_instructions, official_response, read_json_list, read_jsonl, write_jsonl
from plumbing.evaldir import append_block, claim_out, finish_out
from plumbing.report import compare_main, print_table, read_json


# ----------------------------------------------------------------------------- scoring
def score_one(instruction, response):
    strict = verify(instruction, response)
    # MulDimIF has no loose variant: its "loose" verdicts are the strict ones, not checked twice
    loose = strict if all(c.id == MULDIMIF_ID for c in instruction.constraints) else verify(instruction, response, True)
    return {"key": instruction.id, "prompt": instruction.render(), "response": response,
            "instruction_id_list": [c.id for c in instruction.constraints],
            "follow_list_strict": strict, "follow_list_loose": loose,
            "follow_all_strict": all(strict), "follow_all_loose": all(loose)}


def summarize(results):
    """The four IFEval numbers (%), plus per-instruction-id strict accuracy. IFEval's names: "prompt" is the paper's
    instruction, "instruction" one constraint (plumbing/report.py prints both names)."""
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
    """{"prompt": (line, response)} from a responses file: {"prompt", "response"} lines, or MulDimIF's official
    format (its items with an assistant turn appended, as a JSON list or JSONL). A prompt answered twice is an
    error (the official checker silently keeps the later answer, so the score would depend on the file's order)."""
    out = {}
    rows = ((f"[{i}]", row) for i, row in enumerate(read_json_list(path))) if is_json_list(path) else read_jsonl(path)
    for lineno, row in rows:
        if isinstance(row, dict) and "conversations" in row:
            row = official_response(row, f"{path}:{lineno}")
        for name in ("prompt", "response"):
            if not isinstance(row.get(name), str):
                raise DataError(f"{path}:{lineno}: {name}: missing or not a string")
        if row["prompt"] in out:
            raise DataError(f"{path}:{lineno}: prompt: already answered at line {out[row['prompt']][0]} "
                            f"({row['prompt'][:60]!r}); keep one response per prompt")
        out[row["prompt"]] = (lineno, row["response"])
    return out


def need_file(option, path):
    """A missing input, named by its option before any work (open()'s "[Errno 2]" names neither)."""
    if not os.path.exists(path):
        raise DataError(f"{option} {path}: no such file")
    if os.path.isdir(path):
        raise DataError(f"{option} {path}: a directory, not a file")


def score_files(input_path, responses_path):
    """Every input scored with its response, joined by prompt text; every check comes before any scoring."""
    instructions, responses = load_instructions(input_path), read_responses(responses_path)
    if not instructions:
        raise DataError(f"{input_path}: no rows to score")
    seen = {}
    for ins in instructions:
        if ins.render() in seen:  # joined by prompt text, it would be scored twice with one response
            raise DataError(f"{input_path}: the prompt of {ins.id!r} repeats that of {seen[ins.render()]!r}; "
                            "keep one row per prompt")
        seen[ins.render()] = ins.id
        if ins.render() not in responses:
            raise DataError(f"{responses_path}: no response for the prompt of {ins.id!r} "
                            f"({ins.render()[:60]!r}...)")
    for prompt, (lineno, _) in responses.items():  # left out, the score would not be the file's
        if prompt not in seen:
            raise DataError(f"{responses_path}:{lineno}: prompt: matches no prompt of --input {input_path} "
                            f"({prompt[:60]!r})")
    return [score_one(ins, responses[ins.render()][1]) for ins in instructions]


def cmd_score(args):
    results = score_files(args.input, args.responses)
    items = read_json_list(args.input) if is_json_list(args.input) else None  # MulDimIF: no loose variant
    keys = ("follow_list_strict", "follow_all_strict") + (() if items else ("follow_list_loose", "follow_all_loose"))
    rows = [({"id": r["key"], "constraints": items[i]["constraints"]} if items else {"key": r["key"]})
            | {k: r[k] for k in keys} for i, r in enumerate(results)]
    if args.out:
        write_jsonl(args.out + ".tmp", rows)
        os.replace(args.out + ".tmp", args.out)
    print_scores(muldimif_scores(items, results)) if items else print_table(full_summary(results, 1, len(results)))
    return results


def muldimif_scores(items, results):
    return official_scores([(item["constraints"], r["follow_list_strict"], item.get("constraint_pattern"),
                             item.get("difficulty")) for item, r in zip(items, results)])


# ----------------------------------------------------------------------------- generating
def ila_cla(results):
    """Mean strict ILA and CLA over scored results, as fractions: ILA is summarize's prompt_strict / 100; CLA
    averages each result's share of constraints met, unlike instruction_strict, which pools all constraints."""
    n = max(len(results), 1)
    return (sum(r["follow_all_strict"] for r in results) / n,
            sum(sum(r["follow_list_strict"]) / max(len(r["follow_list_strict"]), 1) for r in results) / n)


def heldout_eval(cfg, sampler, tok, heldout):
    """train.py's held-out ILA / CLA: each rank samples its share (every world-th instruction), all are scored."""
    from plumbing import distributed
    rank, world = distributed.rank(), distributed.world()
    results = evaluate(sampler, tok, heldout[rank::world], n=1, temperature=cfg.eval_temperature,
                       max_new_tokens=cfg.max_new_tokens, seed=cfg.seed,
                       micro_batch=cfg.rollout_batch or len(heldout[rank::world]), engine=cfg.engine,
                       progress=rank == 0 and sys.stderr.isatty(), stream_ids=range(rank, len(heldout), world))[0]
    return ila_cla([r for part in distributed.gather_objects(results) for r in part])


def pass_at_k(n, c, k):
    """Unbiased pass@k from n samples of which c passed: 1 - C(n - c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def evaluate(model, tokenizer, instructions, n=1, temperature=0.6, max_new_tokens=4096, seed=0,
             micro_batch=16, engine="hf", progress=False, stream_ids=None, start=0):
    """Sample n responses per instruction and score them. Returns (results, summary): one result
    per (instruction, sample); summary has the IFEval numbers, ila/cla means and pass@k.
    Engine "fast" draws instruction i's tokens from random stream stream_ids[i] (default start + i), so a
    response does not depend on which other instructions are evaluated with it (nor on the process).
    `start`: the index of instructions[0] in a longer list, so a list evaluated in parts (start a multiple
    of micro_batch // n) gets the responses it would get in one call."""
    import torch
    from tqdm import tqdm
    from rollout import sample
    results, was_training = [], model.training
    model.eval()
    per_call = max(1, micro_batch // n)
    bar = tqdm(total=len(instructions), desc="eval", unit="prompt", disable=not progress, dynamic_ncols=True,
               leave=False)
    if engine == "fast":  # continuous batching: micro_batch slots, a finished slot takes the next prompt
        streams = range(start, start + len(instructions)) if stream_ids is None else stream_ids
        texts = _continuous_texts(model, tokenizer, instructions, n, temperature, max_new_tokens, seed, micro_batch,
                                  streams, on_done=lambda j: bar.update(1 / n))
        results = [score_one(instructions[j // n], text) for j, text in enumerate(texts)]
    else:
        for i in range(0, len(instructions), per_call):
            chunk = instructions[i:i + per_call]
            with torch.no_grad():
                out = sample(model, tokenizer, [ins.render() for ins in chunk], n=n, max_new_tokens=max_new_tokens,
                             temperature=temperature, seed=seed + start + i, micro_batch=micro_batch, engine=engine)
            results += [score_one(chunk[int(g)], text) for g, text in zip(out.group_ids, out.texts)]
            bar.update(len(chunk))
    bar.close()
    model.train(was_training)
    return results, full_summary(results, n, len(instructions))


def full_summary(results, n, n_instructions):
    """summarize(), plus ILA/CLA means and pass@k for n > 1 (results instruction-major, n each)."""
    summary = summarize(results)
    summary["ila"], summary["cla"] = ila_cla(results)
    if n > 1:
        passed = [sum(r["follow_all_strict"] for r in results[j * n:(j + 1) * n]) for j in range(n_instructions)]
        for k in sorted({1, n} | ({2, 4, 8} & set(range(1, n + 1)))):
            summary[f"pass@{k}"] = 100.0 * sum(pass_at_k(n, c, k) for c in passed) / len(passed)
    return summary


def _continuous_texts(model, tokenizer, instructions, n, temperature, max_new_tokens, seed, slots, stream_ids, on_done):
    """n responses per instruction (instruction-major) from engines/continuous.py; instruction i samples from its
    own random streams (stream_ids[i], default i), so its responses do not depend on its batch-mates."""
    import torch
    from engines.continuous import decode_queue
    from rollout import encode_prompts, eos_token_ids
    ids, mask = encode_prompts(tokenizer, [ins.render() for ins in instructions])
    rows = [r[m.bool()].to(model.device) for r, m in zip(ids, mask) for _ in range(n)]  # n copies each
    streams = list(range(len(instructions))) if stream_ids is None else list(stream_ids)

    def draws(j):
        key = seed * 1_000_003 + streams[j // n] * n + j % n
        return torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(key), dtype=torch.float64)
    outs = decode_queue(model, rows, max_new_tokens, temperature, 1.0, draws, eos_token_ids(model, tokenizer),
                        slots=slots, on_done=on_done)
    return [tokenizer.decode(t, skip_special_tokens=True) for t, _ in outs]


def cmd_generate(args):
    from transformers.utils import logging as hf_logging
    from models import DTYPES, load_model, resolve_device, resolve_dtype, resolve_engine
    device = resolve_device(args.device)  # checked by parse_eval_config
    dtype = resolve_dtype(args.dtype, device)  # the precision path of training's rollouts: bf16 weights on CUDA
    auto_engine = resolve_engine("auto", device)
    instructions = eval_instructions(args, device, auto_engine)  # the data and --out first: nothing waits on them
    done = claim_out(args)
    hf_logging.disable_progress_bar()  # one bar on the console, ours (as train.py): not transformers' loading bar
    model, tok = load_model(args.model, dtype=DTYPES[dtype], device=device)
    partial = os.path.join(args.out, "responses.partial.jsonl")
    block = append_block(args)
    with open(partial, "a", encoding="utf-8") as f:
        for b in range(done, len(instructions), block):
            part, _ = evaluate(model, tok, instructions[b:b + block], args.n, args.temperature, args.max_new_tokens,
                               args.seed, args.micro_batch, args.engine, progress=sys.stderr.isatty(), start=b)
            f.write("".join(json.dumps({"response": r["response"]}, ensure_ascii=False) + "\n" for r in part))
            f.flush()  # one write per block: a kill loses at most the block being generated
            os.fsync(f.fileno())
    texts = [row["response"] for _, row in read_jsonl(partial)]
    results = [score_one(instructions[j // args.n], text) for j, text in enumerate(texts)]
    summary = full_summary(results, args.n, len(instructions))
    finish_out(args, results, summary)
    print_table(summary)
    if args.data != "synthetic" and is_json_list(args.data) and args.n == 1:  # MulDimIF: its own scores too
        print_scores(muldimif_scores(read_json_list(args.data)[: len(results)], results))
    return summary


def eval_instructions(args, device, auto_engine):
    """The instructions to answer, and the defaults of every option left unset (resolved into args)."""
    if args.data == "synthetic":  # the held-out set train.py evaluates on, with the run's settings
        from config import heldout_set, parse_config
        saved = os.path.join(args.model, "hir_config.json")
        cfg = parse_config(["--model", "toy"] if args.model == "toy" else [])
        if os.path.exists(saved):
            values = read_json(saved)
            if not isinstance(values, dict):
                raise DataError(f"{saved}: must map Config fields to values (a checkpoint's hir_config.json)")
            cfg.__dict__.update(values)
        instructions = heldout_set(cfg)[: args.limit or None]
        defaults = {"temperature": cfg.eval_temperature, "max_new_tokens": cfg.max_new_tokens,
                    "micro_batch": cfg.rollout_batch or len(instructions), "seed": cfg.seed, "engine": cfg.engine}
    else:
        need_file("--data", args.data)
        from models import load_tokenizer
        from rollout import prompt_limit  # every prompt measured with the tokenizer alone, before the model loads
        limit = prompt_limit(load_tokenizer(args.model), args.max_prompt_length, args.long_prompts == "skip")
        instructions = load_instructions(args.data, limit=limit, head=args.limit)  # only what will be answered
        if not instructions:
            raise DataError(f"{args.data}: no rows")
        # on a GPU a decode step costs about as much for 128 rows as for 16 (a launch-bound 135M model)
        defaults = {"temperature": 0.6, "max_new_tokens": 4096, "micro_batch": 128 if device.startswith("cuda") else 16,
                    "seed": 0, "engine": auto_engine}
    for k, v in defaults.items():  # unset options: the paper's protocol, or the run's own settings
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.engine = auto_engine if args.engine == "auto" else args.engine
    return instructions


USAGE = """eval.py --model MODEL --data DATA [--out DIR] [options]   generate responses and score them
       eval.py score --input FILE --responses FILE [--out FILE]    score a responses file (eval.py score -h)
       eval.py compare DIR_A DIR_B                                 two evaluations side by side"""


@dataclass
class EvalConfig:
    model: str = field(metadata={"help": "toy | smollm2 | a checkpoint folder | a hub id"})
    data: str = field(metadata={"help": "IFEval-format JSONL, our rows, or 'synthetic' (the held-out set of the "
                                        "run --model comes from)"})
    out: str = field(default="runs/eval", metadata={
        "help": "writes responses.jsonl, results.jsonl, results.json; responses are appended as they come "
                "(responses.partial.jsonl), and the same command rerun continues an unfinished evaluation"})
    overwrite: bool = field(default=False, metadata={"help": "an --out that holds another evaluation is deleted first"})
    n: int = field(default=1, metadata={"help": "samples per prompt (pass@k for k <= n)"})
    temperature: Optional[float] = field(default=None, metadata={"help": "0 = greedy; default: the paper's 0.6 "
                                                                         "(synthetic: the run's)"})
    max_new_tokens: Optional[int] = field(default=None, metadata={"help": "default: the paper's 4096 "
                                                                          "(synthetic: the run's)"})
    micro_batch: Optional[int] = field(default=None, metadata={"help": "rows per generation call (default: 16 "
                                                                       "on a CPU, 128 on CUDA; synthetic: the run's)"})
    engine: Optional[str] = field(default=None, metadata={"help": "auto | hf | fast (default auto: fast on CUDA, hf "
                                                                  "on a CPU, as train.py's; synthetic: the run's)"})
    limit: int = field(default=0, metadata={"help": "only the first N prompts (0 = all)"})
    max_prompt_length: int = field(default=2048, metadata={
        "help": "prompt tokens after the chat template, as train.py's; a --data row over it is refused naming file "
                "and line, before the model loads"})
    long_prompts: str = field(default="error", metadata={"help": "error | skip (drop and count rows over "
                                                                 "--max_prompt_length)"})
    seed: Optional[int] = field(default=None, metadata={"help": "sampling seed (default 0; synthetic: the run's)"})
    device: str = field(default="auto", metadata={"help": "auto (cuda if available) | cpu | cuda | cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32: the weights "
                                                         "decoding reads"})


_RULES = {  # field: (test, what it must be); None means "the default"
    "n": (lambda v: v >= 1, ">= 1"), "temperature": (lambda v: v is None or v >= 0, ">= 0 (0 = greedy)"),
    "max_new_tokens": (lambda v: v is None or v >= 1, ">= 1"), "micro_batch": (lambda v: v is None or v >= 1, ">= 1"),
    "engine": (lambda v: v in (None, "auto", "hf", "fast"), "auto, hf or fast"),
    "limit": (lambda v: v >= 0, ">= 0 (0 = all)"), "max_prompt_length": (lambda v: v >= 1, ">= 1"),
    "long_prompts": (lambda v: v in ("error", "skip"), "error or skip"),
    "dtype": (lambda v: v in ("auto", "bf16", "fp32"), "auto, bf16 or fp32"),
}


def parse_eval_config(argv):
    from config import Parser, is_model_name
    parser = Parser(EvalConfig, __doc__)
    parser.usage = USAGE  # all three commands, not only the generation flags argparse would list
    args, rest = parser.parse_args_into_dataclasses(argv, return_remaining_strings=True, look_for_args_file=False)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    for name, (ok, want) in _RULES.items():
        if not ok(getattr(args, name)):
            parser.exit(2, f"error: --{name} {getattr(args, name)!r}: must be {want} ({parser.help_lines[name]})\n")
    if not is_model_name(args.model):  # a missing local folder fails now, not after the hub's retries
        parser.exit(2, f"error: --model {args.model!r}: must be toy, smollm2, an existing folder, or a hub id\n")
    from models import resolve_device
    try:  # a device this machine lacks is a bad value too, refused before any work
        resolve_device(args.device)
    except ValueError as e:
        parser.exit(2, f"error: --device {args.device!r}: {e}\n")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["score"]:  # plain argparse: scoring imports no torch (and no transformers)
        ap = argparse.ArgumentParser(prog="eval.py score", description="re-score a responses file", allow_abbrev=False)
        ap.add_argument("--input", required=True, help="IFEval-format (or our) JSONL, or MulDimIF's test.json")
        ap.add_argument("--responses", required=True, help='{"prompt", "response"} JSONL, or MulDimIF\'s format')
        ap.add_argument("--out", default=None, help="per-prompt verdicts JSONL")
        args = ap.parse_args(argv[1:])
        try:
            need_file("--input", args.input)
            need_file("--responses", args.responses)
            cmd_score(args)
        except (DataError, OSError, MissingData) as e:  # MissingData: NLTK data to install, the command in e
            sys.exit(f"error: {e}")
        return
    if argv[:1] == ["compare"] or "--compare" in argv:
        return compare_main([a for a in argv if a not in ("compare", "--compare")], USAGE)
    args = parse_eval_config(argv)
    try:
        return cmd_generate(args)
    except (DataError, OSError, ValueError, MissingData) as e:  # ValueError: a model that cannot be loaded
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()

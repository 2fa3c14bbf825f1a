r"""Rollout speed, side by side in one run: HF `model.generate` vs our engines.

    python bench/rollout_speed.py                         # toy model on CPU
    python bench/rollout_speed.py --model smollm2-shape   # random-init SmolLM2-135M shape
    python bench/rollout_speed.py --device cuda --model smollm2-shape --dtype bf16 --batch 48 384 \
        --prompt-len 128 --new 256

    python bench/rollout_speed.py --real --model smollm2 --device cuda --dtype bf16 --batch 48 384 --new 256
    python bench/rollout_speed.py --profile --model smollm2-shape --device cuda --dtype bf16 --batch 48 \
        --prompt-len 128 --new 256

Forced length: every engine decodes exactly --new tokens per row (EOS disabled), so tokens/s are
comparable. With --useful, a second table decodes with EOS enabled on a model whose rows stop at
mixed lengths, and counts only tokens up to each row's EOS ("useful" tokens/s).
With --real, the real workload: the model's own weights and tokenizer (toy, smollm2, a folder), real
prompts (the IFEval prompts in ../shared/ifeval, else our synthetic instructions) in the chat
template, EOS on, temperature 1.0. It reports useful tok/s (tokens up to each row's EOS) and the time
to the last token per engine, the fast engine with and without compaction side by side.
With --eval, eval.evaluate on the IFEval prompts in one process, engine hf (micro-batches) then fast
(continuous batching, --batch slots), twice each: seconds and prompt-level strict accuracy.
With --profile, one forced-length fast-engine decode under torch.profiler: where a decode step's time
goes (the captured step, sampling, the host's checks), per step, and the ops that cost most.
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import rollout as R  # noqa: E402
from engines.step import stream_uniforms  # noqa: E402
from models import load_model  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="toy", help="toy | smollm2-shape (random init) | a folder")
ap.add_argument("--device", default="cpu")
ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
ap.add_argument("--batch", type=int, nargs="+", default=[16])
ap.add_argument("--prompt-len", type=int, default=32)
ap.add_argument("--new", type=int, default=64)
ap.add_argument("--n", type=int, default=8, help="samples per prompt (the fast engine prefills once per group)")
ap.add_argument("--engines", nargs="+", default=["generate", "hf", "fast"],
                help="generate (HF, dynamic cache) | generate-static (HF static cache; compiles on CUDA) | hf | fast")
ap.add_argument("--useful", action="store_true",
                help="mixed lengths: row i stops after L_i ~ lognormal(mean ~70) tokens, capped at --new; every "
                     "engine decodes until the longest row ends (none compacts), and only sum(L_i) tokens count")
ap.add_argument("--real", action="store_true", help="the real workload (see above): real weights, prompts, EOS")
ap.add_argument("--profile", action="store_true", help="where a fast-engine decode step's time goes (see above)")
ap.add_argument("--eval", action="store_true", help="eval.evaluate on IFEval, hf vs fast (continuous), see above")
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
torch.set_num_threads(args.threads)
dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32


def build():
    if args.model == "smollm2-shape":
        from transformers import LlamaConfig, LlamaForCausalLM
        cfg = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                          num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                          rope_theta=100000.0, tie_word_embeddings=True)
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).to(args.device, dtype).eval()
    model, _ = load_model(args.model, dtype=dtype, device=args.device)
    return model.eval()


def sync():
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


def run(engine, model, ids, mask):
    B = ids.shape[0]
    never = torch.tensor([-1], device=args.device)  # an EOS id that never occurs: forced length
    gen = stream_uniforms(range(B), 1, args.new, args.device)  # (B, new): every row's draws
    if engine.startswith("generate"):
        extra = {"cache_implementation": "static"} if engine == "generate-static" else {}
        return model.generate(input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=args.new,
                              min_new_tokens=args.new, pad_token_id=0, eos_token_id=None, **extra)
    if engine == "hf":
        return R.decode_hf(model, ids, mask, args.new, 1.0, 1.0, gen, never, 0)
    from engines.fast import decode_fast
    n = args.n
    return decode_fast(model, ids[::n], mask[::n], n, args.new, 1.0, 1.0, gen, never, 0, B)  # row b: gen[b]


def weight_read_floor(B):
    """tok/s if each decode step only had to read every weight once at the measured copy bandwidth."""
    x = torch.empty(256 * 2 ** 20 // 4, device=args.device)
    x.clone()
    sync()
    t = time.perf_counter()
    for _ in range(5):
        x.clone()
    sync()
    bandwidth = 2 * x.numel() * 4 * 5 / (time.perf_counter() - t)  # read + write bytes/s
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    return B / (param_bytes / bandwidth), bandwidth


def real_workload():
    """Useful tok/s and time to the last token on real prompts, EOS on, temperature 1.0."""
    import json
    from engines.fast import decode_fast
    model, tok = load_model(args.model, dtype=dtype, device=args.device)
    model.eval()
    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "ifeval", "input_data.jsonl")
    if os.path.exists(path):
        prompts = [json.loads(line)["prompt"] for line in open(path)]
    else:
        import data as D
        prompts = [i.render() for i in D.synthetic_set(max(args.batch), 0)]
    eos = R.eos_token_ids(model, tok)
    print(f"real workload: model={args.model} device={args.device} dtype={args.dtype} n={args.n} max_new={args.new} "
          f"prompts={'IFEval' if os.path.exists(path) else 'synthetic'}")
    for B in args.batch:
        ids, mask = R.encode_prompts(tok, prompts[:max(1, B // args.n)], args.device)
        results = {}
        for engine in args.engines + (["fast-nocompact"] if "fast" in args.engines else []):
            def go(ids=ids, mask=mask, engine=engine):
                g = stream_uniforms(range(ids.shape[0]), args.n, args.new, args.device)
                if engine.startswith("generate"):
                    out = model.generate(input_ids=ids.repeat_interleave(args.n, 0),
                                         attention_mask=mask.repeat_interleave(args.n, 0), do_sample=True,
                                         max_new_tokens=args.new, pad_token_id=0, eos_token_id=eos.tolist())
                    return out[:, ids.shape[1]:]
                if engine == "hf":
                    return R.decode_hf(model, ids.repeat_interleave(args.n, 0), mask.repeat_interleave(args.n, 0),
                                       args.new, 1.0, 1.0, g, eos, 0)[0]
                return decode_fast(model, ids, mask, args.n, args.new, 1.0, 1.0, g, eos, 0, ids.shape[0] * args.n,
                                   compact=engine == "fast")[0]
            with torch.no_grad():
                go()  # warm-up (and graph capture)
                sync()
                t = time.perf_counter()
                tokens = go()
                sync()
            dt = time.perf_counter() - t
            results[engine] = (int(R.response_mask_from(tokens, eos).sum()) / dt, dt)
        base = results.get("generate", results.get("hf"))[0]
        print(f"batch {B:4d}  " + "  ".join(f"{e}: {v:8.0f} useful tok/s ({v / base:.2f}x), last token {dt:6.2f} s"
                                            for e, (v, dt) in results.items()))


def eval_side_by_side():
    import data as D
    import eval as E
    model, tok = load_model(args.model, dtype=dtype, device=args.device)
    path = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "ifeval", "input_data.jsonl")
    instructions = D.load_instructions(path)
    for engine in ["hf", "fast", "hf", "fast"]:
        sync()
        t = time.perf_counter()
        _, summary = E.evaluate(model, tok, instructions, temperature=0.6, max_new_tokens=args.new,
                                micro_batch=args.batch[0], engine=engine)
        sync()
        print(f"eval {engine:4s} {len(instructions)} prompts, {args.new} new tokens, {args.batch[0]} rows at a time: "
              f"{time.perf_counter() - t:6.2f} s, prompt strict {summary['prompt_strict']:.2f}")


if args.real:
    real_workload()
    sys.exit(0)
if args.eval:
    eval_side_by_side()
    sys.exit(0)
def profile(model):
    """One forced-length fast decode under torch.profiler: time per step in each labelled part."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    from engines.fast import decode_fast
    B = args.batch[0]
    ids = torch.randint(3, model.config.vocab_size, (B // args.n, args.prompt_len), device=args.device)
    never = torch.tensor([-1], device=args.device)
    run_once = lambda: decode_fast(model, ids, torch.ones_like(ids), args.n, args.new, 1.0, 1.0,  # noqa: E731
                                   stream_uniforms(range(B), 1, args.new, args.device), never, 0, B)
    with torch.no_grad():
        run_once()  # warm-up and graph capture
        sync()
        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device.startswith("cuda") else [])
        t = time.perf_counter()
        with torch_profile(activities=acts) as prof:
            run_once()
            sync()
        wall = time.perf_counter() - t
    print(f"fast engine, batch {B}, {args.new} forced tokens: {wall / args.new * 1e3:.2f} ms per step "
          "under the profiler")
    events = {e.key: e for e in prof.key_averages()}
    for label in ("rollout.decode_step", "rollout.sample", "rollout.host_check"):
        if label in events:
            e = events[label]
            gpu = getattr(e, "device_time_total", getattr(e, "cuda_time_total", 0))
            print(f"  {label:22s} CPU {e.cpu_time_total / 1e3 / args.new:7.3f} ms/step  "
                  f"GPU {gpu / 1e3 / args.new:7.3f} ms/step  ({e.count} calls)")
    key = "device_time_total" if args.device.startswith("cuda") else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=15))


model = build()
if args.profile:
    profile(model)
    sys.exit(0)
V = model.config.vocab_size
if args.useful:
    g = torch.Generator().manual_seed(0)
    lengths_all = torch.exp(torch.randn(max(args.batch), generator=g) * 0.6 + 4.1).clamp(4, args.new).long()
print(f"model={args.model} params={sum(p.numel() for p in model.parameters()) / 1e6:.1f}M device={args.device} "
      f"dtype={args.dtype} prompt={args.prompt_len} new={args.new} (forced) n={args.n}")
for B in args.batch:
    torch.manual_seed(1)
    ids = torch.randint(3, V, (B // args.n, args.prompt_len), device=args.device).repeat_interleave(args.n, 0)
    mask = torch.ones_like(ids)
    results, count = {}, B * args.new
    if args.useful:  # decode to the longest row, count only tokens up to each row's end
        lengths = lengths_all[:B]
        args.new, count = int(lengths.max()), int(lengths.sum())
    for engine in args.engines:
        with torch.no_grad():
            run(engine, model, ids[: args.n], mask[: args.n])  # warm-up (and graph capture)
            sync()
            t = time.perf_counter()
            run(engine, model, ids, mask)
            sync()
        results[engine] = count / (time.perf_counter() - t)
    base = results.get("generate")
    cells = "  ".join(f"{e}: {v:9.0f} tok/s" + (f" ({v / base:.2f}x)" if base else "") for e, v in results.items())
    print(f"batch {B:4d}  {'useful ' if args.useful else ''}{cells}")
    floor, bw = weight_read_floor(B)
    if not args.useful:
        print(f"           weight-read floor {floor:9.0f} tok/s (copy bandwidth {bw / 1e9:.0f} GB/s); "
              + "  ".join(f"{e} at {v / floor:.1%} of it" for e, v in results.items()))

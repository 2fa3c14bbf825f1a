"""Verifier speed: scoring the 541 IFEval prompts, whole-process `eval.py score`, 100 KB strings.

    python bench/verify.py [--shared ../shared/ifeval]

Prints our in-process wall time and instructions/s, the whole-process time of `eval.py score`
(the official scorer takes 4.0 to 5.5 s on this machine), and the slowest single check of each
constraint id on hostile 100 KB strings.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import constraints as C  # noqa: E402
import eval as E  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "ifeval"))
args = ap.parse_args()
inp, ref = os.path.join(args.shared, "input_data.jsonl"), os.path.join(args.shared, "llama_3b.ref.jsonl")

with tempfile.TemporaryDirectory() as tmp:
    responses = os.path.join(tmp, "responses.jsonl")
    with open(responses, "w") as f:
        for line in open(ref):
            r = json.loads(line)
            f.write(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n")
    C.detect_language("warm up the language profiles")
    t = time.perf_counter()
    results = E.score_files(inp, responses)
    dt = time.perf_counter() - t
    n = sum(len(r["instruction_id_list"]) for r in results)
    print(f"in-process scoring: {len(results)} prompts, {n} instructions, strict+loose in {dt:.2f} s "
          f"= {n / dt:.0f} instructions/s")
    t = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "eval.py"), "score",
                    "--input", inp, "--responses", responses, "--out", os.path.join(tmp, "o.jsonl")],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"whole-process eval.py score: {time.perf_counter() - t:.2f} s")

hostile = {"prose": ("The quick brown fox. Mr. Smith went to Washington! " * 2000)[:100_000],
           "brackets": "[" * 100_000, "blank lines": " \n" * 50_000, "angles": "<<" * 50_000,
           "stars": "*a" * 50_000, "abbreviations": "Mr. " * 25_000,
           "distinct abbreviations": " ".join(f"Dr. Name{i}" for i in range(12_000))[:100_000], "nesting": "{{{[[[" * 16_667}
rng = random.Random(0)
worst = []
for cid in C.KNOWN_IDS:
    c = C.Constraint.sample(cid, rng, "Say hi.")
    times = {}
    for name, s in hostile.items():
        t = time.perf_counter()
        c.check(s)
        times[name] = time.perf_counter() - t
    name = max(times, key=times.get)
    worst.append((times[name], cid, name))
print("slowest strict check on a 100 KB string, per id:")
for dt, cid, name in sorted(worst, reverse=True)[:8]:
    print(f"  {dt * 1000:7.1f} ms  {cid}  ({name})")

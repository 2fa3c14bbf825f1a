"""Verifier speed: scoring the 541 IFEval and 294 IFBench prompts, whole-process `eval.py score`, 100 KB strings.

    NLTK_DATA=../shared/nltk_data python bench/verify.py [--shared ../shared/ifeval] [--only muldimif]

Prints our in-process wall time and instructions/s, the whole-process time of `eval.py score`
(the official scorer takes 4.0 to 5.5 s on this machine), and the slowest single check of each
constraint id on hostile 100 KB strings, and format:title_case against nltk.word_tokenize on them.
"""
import argparse
import gc
import itertools
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import constraints as C  # noqa: E402
import eval as E  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "ifeval"))
ap.add_argument("--only", choices=["muldimif"], help="run only the MulDimIF part (the end of this file)")
args = ap.parse_args()
inp, ref = os.path.join(args.shared, "input_data.jsonl"), os.path.join(args.shared, "llama_3b.ref.jsonl")

def _timed(fn, *a):
    gc.collect()
    gc.disable()  # as timeit does: a collection of other checks' garbage is not this check's time
    t = time.perf_counter()
    fn(*a)
    dt = time.perf_counter() - t
    gc.enable()
    return dt



def ifeval_and_ifbench():
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

        # IFBench side by side with the IFEval run above (the baseline): whole-process `eval.py score`
        bench_dir = os.path.join(os.path.dirname(args.shared), "ifbench")
        b_inp, b_resp = os.path.join(bench_dir, "input_data.jsonl"), os.path.join(tmp, "ifbench_responses.jsonl")
        with open(b_resp, "w") as f:
            for line in open(os.path.join(bench_dir, "llama_3b.ref.jsonl")):
                r = json.loads(line)
                f.write(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n")
        runs = {}
        for name, (i, r) in {"IFEval": (inp, responses), "IFBench": (b_inp, b_resp)}.items():
            t = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "eval.py"), "score",
                            "--input", i, "--responses", r], check=True, stdout=subprocess.DEVNULL)
            runs[name] = time.perf_counter() - t
        print(f"whole-process eval.py score: IFEval 541 prompts {runs['IFEval']:.2f} s, IFBench 294 prompts "
              f"{runs['IFBench']:.2f} s ({runs['IFBench'] / runs['IFEval']:.2f}x the IFEval run)")


    def _words(n):  # "a", ..., "z", "aa", ...: n distinct lowercase words
        out = []
        for k in range(1, 5):
            out += ["".join(t) for t in itertools.product(string.ascii_lowercase, repeat=k)]
        return out[:n]


    hostile = {"prose": ("The quick brown fox. Mr. Smith went to Washington! " * 2000)[:100_000],
               "brackets": "[" * 100_000, "blank lines": " \n" * 50_000, "angles": "<<" * 50_000,
               "stars": "*a" * 50_000, "abbreviations": "Mr. " * 25_000,
               "distinct abbreviations": " ".join(f"Dr. Name{i}" for i in range(12_000))[:100_000],
               "nesting": "{{{[[[" * 16_667,
               # Punkt's worst cases: many candidate periods, each new, none ending a sentence
               "initials, new words": " ".join(f"A. {w}" for w in _words(20_000))[:100_000],
               "ordinals": " ".join(f"{i}. a" for i in range(20_000))[:100_000],
               "hyphenated abbreviations": " ".join(f"x{i}-dr. a" for i in range(20_000))[:100_000],
               "one long abbreviation chain": "".join(f"x{i}-dr.)" for i in range(20_000))[:100_000],
               "ellipses, new words": " ".join(f"w{i}.. a" for i in range(20_000))[:100_000],
               "short ellipses, new words": " ".join(f"a.. {w}" for w in _words(40_000)[26:])[:100_000],
               "dashed abbreviations": " ".join(f"-Dr. {w}" for w in _words(20_000))[:100_000],
               "bracketed initials": " ".join(f"(A. b{i}" for i in range(20_000))[:100_000],
               # format:title_case's worst case: every word starts lowercase, so each one must be tokenized
               "lowercase-first, mixed-case words": "a.Bc " * 20_000}


    rng = random.Random(0)
    worst = []
    C.Constraint("words:start_verb").check("Go home.")  # load NLTK's tagger and tokenizer before timing
    bench_kwargs = {"custom:character_reverse": {}}
    for line in open(os.path.join(os.path.dirname(args.shared), "ifbench", "input_data.jsonl")):
        row = json.loads(line)
        for cid, kw in zip(row["instruction_id_list"], row["kwargs"]):
            bench_kwargs.setdefault(cid, kw)
    for cid in C.KNOWN_IDS + C.IFBENCH_IDS:
        c = C.Constraint(cid, bench_kwargs[cid]) if cid in bench_kwargs else C.Constraint.sample(cid, rng, "Say hi.")
        times = {}
        for name, s in hostile.items():
            times[name] = min(_timed(c.check, s) for _ in range(3))  # the least disturbed of 3 (shared cores)
        name = max(times, key=times.get)
        worst.append((times[name], cid, name))
    print("slowest strict check on a 100 KB string, per id (least of 3 runs):")
    for dt, cid, name in sorted(worst, reverse=True)[:12]:
        print(f"  {dt * 1000:7.1f} ms  {cid}  ({name})")

    # Sentence counting side by side: the package's tokenize() (the reference) vs ours, on the strings that
    # are hard for Punkt, with our caches cleared before each so every decision is computed afresh.
    import checkers.sentences as S  # noqa: E402
    import checkers.textstats as T  # noqa: E402

    print("number of sentences, package tokenize() vs our count (cold caches):")
    for name in ["distinct abbreviations", "initials, new words", "ordinals", "hyphenated abbreviations",
                 "one long abbreviation chain", "ellipses, new words", "short ellipses, new words",
                 "dashed abbreviations", "bracketed initials", "prose"]:
        s = hostile[name]
        t = time.perf_counter()
        theirs = len(S._punkt().tokenizer.tokenize(s))
        t_theirs = time.perf_counter() - t
        for cached in (S._punkt_spans, S._context_breaks, S._breaks_after, S._first_pass, S._features, S._second_pass):
            cached.cache_clear()
        t = time.perf_counter()
        ours = S.count_sentences(s)
        t_ours = time.perf_counter() - t
        assert ours == theirs, (name, ours, theirs)
        print(f"  {name:28s} {theirs:6d} sentences  {t_theirs * 1000:6.1f} ms vs {t_ours * 1000:5.1f} ms  "
              f"{t_theirs / t_ours:4.1f}x")

    # Placeholders on text without newlines, side by side with the official regex (re.findall(r"\[.*?\]")): doubling
    # the size should double our time (linear) and quadruple a quadratic one.
    print("count_placeholders on '[a]' repeated, no newline: official regex vs ours")
    for mb in (1, 2, 4):
        s = "[a]" * (mb * 1_000_000 // 3)
        t = time.perf_counter()
        theirs = len(__import__("re").findall(r"\[.*?\]", s))
        t_theirs = time.perf_counter() - t
        t = time.perf_counter()
        ours = T.count_placeholders(s)
        t_ours = time.perf_counter() - t
        assert ours == theirs
        print(f"  {mb} MB  {t_theirs * 1000:7.1f} ms vs {t_ours * 1000:6.1f} ms  {t_theirs / t_ours:5.1f}x")
    for mb in (1, 2, 4):  # a line never closed: the official regex rescans the rest of the line from every "["
        s = "[a" * (mb * 1_000_000 // 2)
        t = time.perf_counter()
        ours = T.count_placeholders(s)
        print(f"  '[a' repeated, {mb} MB: ours {(time.perf_counter() - t) * 1000:6.1f} ms ({ours} placeholders)")

    # format:title_case side by side with the official way (nltk.word_tokenize over the whole text, then the rule:
    # Punkt sentences from the package, each split by NLTK's word tokenizer) on each hostile string, caches
    # cleared: ours scans for a possible failing token first, then tokenizes only the pieces that may hold one.
    from nltk.tokenize.destructive import NLTKWordTokenizer  # noqa: E402

    import checkers.ifbench_text as X  # noqa: E402

    print("format:title_case on hostile 100 KB strings: word_tokenize + rule vs ours")
    title, words = C.Constraint("format:title_case"), NLTKWordTokenizer()
    for name, s in hostile.items():
        t = time.perf_counter()
        tokens = (w for sentence in S._punkt().tokenizer.tokenize(s) for w in words.tokenize(sentence))
        theirs = bool(s.strip()) and not any(w[0].islower() and (w[1:].isupper() or w[1:].islower()) for w in tokens)
        t_theirs = time.perf_counter() - t
        for cached in (X._piece_tokens, S._punkt_spans, S._context_breaks, S._breaks_after, S._first_pass,
                       S._features, S._second_pass):
            cached.cache_clear()
        t = time.perf_counter()
        ours = title.check(s)
        t_ours = time.perf_counter() - t
        assert ours == theirs, name
        print(f"  {name:34s} {str(ours):5s} {t_theirs * 1000:7.1f} ms vs {t_ours * 1000:6.1f} ms  "
              f"{t_theirs / t_ours:6.1f}x")


if not args.only:
    ifeval_and_ifbench()

# ----------------------------------------------------------------------------- MulDimIF
# Whole-process `eval.py score` on its 1,200 test prompts (the scripted responses), then the slowest check of
# each dispatch key on hostile 1 MB strings, then the official sentence regex side by side with ours: it is
# quadratic in a stretch without . ! ? (so it runs only on small sizes here), ours is linear.
import re  # noqa: E402

from checkers import muldimif as M  # noqa: E402

mdir = os.path.join(os.path.dirname(args.shared), "muldimif")
t = time.perf_counter()
subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "eval.py"), "score", "--input",
                os.path.join(mdir, "test.json"), "--responses", os.path.join(mdir, "scripted.responses.jsonl")],
               check=True, stdout=subprocess.DEVNULL)
print(f"whole-process eval.py score, MulDimIF 1,200 prompts: {time.perf_counter() - t:.2f} s")
MB = 1_000_000
hostile_mb = {"empty": "", "one run, no . ! ?": "a" * MB, "20 KB lines": ("word " * 4000 + "\n") * 50,
              "deep JSON": "[" * MB, "JSON object chain": '{"a":' * (MB // 5),
              "ragged table": "|a|b\n|c\n" * (MB // 8), "pipes": "|" * MB,
              "CRLF prose": "One line here.\r\n" * (MB // 16), "Chinese": "中文繁體字測試。" * (MB // 8),
              "XML attributes": "<a b='1' c='2' " * (MB // 16), "bullets": "- a\n* b\n" * (MB // 8),
              "headings": "# a\n## b\n" * (MB // 9), "quotes": '"a" “b” ' * (MB // 8), "dots": "." * MB,
              "blank lines": "\n\n" * (MB // 2), "marks, no word-space-word": ("Wait... what?! Really!? " * MB)[:MB],
              "marks, then a period": ("Why?. " * MB)[:MB], "exclamation marks": "!" * MB}
per_key = {}
for item in json.load(open(os.path.join(mdir, "test.json"))):
    for c in item["constraints"]:
        per_key.setdefault(M.key_of(c), [])
        if c not in per_key[M.key_of(c)] and len(per_key[M.key_of(c)]) < 3:
            per_key[M.key_of(c)].append(c)
worst = []
for key, cs in per_key.items():
    times = {(tuple(c), name): _timed(M.check, c, s) for c in cs for name, s in hostile_mb.items()}
    (c, name), dt = max(times.items(), key=lambda kv: kv[1])
    worst.append((dt, key, name))
print(f"slowest MulDimIF check on a hostile 1 MB string, per key ({sum(map(len, per_key.values()))} constraints "
      f"of {len(per_key)} keys x {len(hostile_mb)} strings):")
for dt, key, name in sorted(worst, reverse=True)[:10]:
    print(f"  {dt * 1000:7.1f} ms  {key}  ({name})")
# Punkt-bound: every punctuation constraint of test.json (the "each sentence" ones split the whole text) on 1 MB
# strings where sentences.py finds few or no places to cut
gapless = {name: hostile_mb[name] for name in ("marks, no word-space-word", "marks, then a period",
                                               "exclamation marks")}
gapless |= {"question marks": "?" * MB, "marks and no-break spaces": ("a?\u00a0" * MB)[:MB],
            "x.?. ": ("x.?. " * MB)[:MB]}
punctuation = {json.dumps(c): c for item in json.load(open(os.path.join(mdir, "test.json")))
               for c in item["constraints"] if "Punctuation" in M.key_of(c)}
print(f"slowest of the {len(punctuation)} punctuation constraints on 1 MB with few places to cut:")
for name, s in gapless.items():
    print(f"  {max(_timed(M.check, c, s) for c in punctuation.values()) * 1000:7.1f} ms  ({name})")
print("sentences in a run without . ! ?, official regex findall([^.!?]*[.!?]) vs our count:")
sentences = M.class_check("Length_Sentences")
for kb in (5, 10, 20):  # doubling the size quadruples the regex's time: it rescans the rest from every start
    s = "a" * (kb * 1000)
    t = time.perf_counter()
    theirs = len(re.findall(r"[^.!?]*[.!?]", s))
    t_theirs = time.perf_counter() - t
    t = time.perf_counter()
    sentences("The response must contain at least 1 sentence", s)
    t_ours = time.perf_counter() - t
    print(f"  {kb:3d} KB: {theirs} sentences, {t_theirs * 1000:7.1f} ms vs {t_ours * 1000:6.2f} ms (the whole check)")

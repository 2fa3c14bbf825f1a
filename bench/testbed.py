"""A CPU testbed in the paper's regime: 5 or 6 constraints per instruction, a toy that reads them all.

    python bench/testbed.py --out runs/testbed --p 0.7 --seed 0          # easy regime (time: docs/testbed.md)
    python bench/testbed.py --out runs/testbed_hard --p 0.4 --seed 0     # harder regime: held-out ILA near 0
    python train.py --config runs/testbed/preset.json --out runs/testbed_hir
    python bench/testbed.py --measure --out runs/testbed_hir/step_000050 --config runs/testbed/preset.json

What it builds, in order (docs/testbed.md says why each choice):
  1. a case-sensitive word-level tokenizer whose vocabulary holds every piece the instructions and the
     scripted responses use (keywords, "<<", ">>", "[", "]", "******", quotes, P.S. markers, end
     phrases, numbers), each word in lower, Capitalized and UPPER form;
  2. a random-init Llama (--hidden wide, --layers deep);
  3. a scripted writer: it answers a synthetic instruction (data.PromptSource with IDS, POOLS, 5..7
     constraints; the conflict rules of data.py leave 5 or 6) obeying each asked constraint with
     probability --p and otherwise writing as if it had not been asked. Every obeyed constraint is
     verified with constraints.verify, so the labels are right by construction;
  4. SFT of the toy on those responses (cross-entropy on response tokens), saved with save_pretrained
     plus preset.json for train.py;
  5. measured properties on the run's held-out set (config.heldout_set at the preset's settings):
     held-out ILA / CLA of the SFT toy sampled at the eval temperature, per-id met rate when asked and
     when not asked, and the writer's own ILA at p = 1 (the ceiling: a policy can reach it).

Flags: --p (writer's obey probability), --seed, --examples (scripted pairs), --steps/--batch/--lr (SFT),
--hidden/--layers (model), --max_new_tokens (the writer's length cap and the preset's), --eval_size
(held-out instructions measured; the preset keeps its own --preset_eval_size), --rl_lr (the preset's lr),
--measure (only measure the model in --out, e.g. a train.py checkpoint, at the eval settings of --config).
"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import data as D  # noqa: E402
from constraints import END_PHRASES, PHRASES, TEMPLATES, Constraint, verify  # noqa: E402
from models import toy_model, word_tokenizer  # noqa: E402

IDS = ["change_case:capital_word_frequency", "detectable_content:number_placeholders", "detectable_format:title",
       "detectable_content:postscript", "punctuation:no_comma", "startend:quotation", "startend:end_checker",
       "keywords:existence", "keywords:frequency", "keywords:forbidden_words", "combination:two_responses"]
# each keyword id draws from a pool of its own: a word-level toy tells "include X" from "avoid X" by the word
# (one shared pool taught RL to write no keyword at all: docs/testbed.md)
POOLS = {"keywords:existence": ["river", "lantern", "garden"], "keywords:frequency": ["engine", "harvest"],
         "keywords:forbidden_words": ["mirror", "winter", "market"]}
KEYWORDS = [w for pool in POOLS.values() for w in pool]
KEYWORD_SPEC = ",".join(f"{cid}={' '.join(pool)}" for cid, pool in POOLS.items())  # config's --keywords
FILLER = ("stone bright quiet morning table yellow people water simple travel green little open story small warm "
          "light paper sound house tree cloud street evening music friend summer gentle road basket").split()
PLACEHOLDERS = ["name", "address", "date", "city", "phone", "company"]
MIN_C, MAX_C = 5, 7


# ----------------------------------------------------------------------------- tokenizer
def _pre():
    from tokenizers import pre_tokenizers
    return pre_tokenizers.Whitespace()


def pieces(text):
    return [p for p, _ in _pre().pre_tokenize_str(text)]


def vocabulary(n_samples=3000):
    """Every piece of every task, every phrasing of IDS, END_PHRASES, the writer's words, and of
    n_samples rendered instructions (train and held-out streams), each word in three cases."""
    texts = D.TASKS + END_PHRASES + KEYWORDS + FILLER + PLACEHOLDERS + [p for i in IDS for p in PHRASES[i]]
    texts += [TEMPLATES[t]("Task.", ["one", "two"]) for t in TEMPLATES]
    texts += ["user assistant system P.S. P.P.S << >> [ ] ****** \" , . ? !", " ".join(map(str, range(100)))]
    for split, seed in (("train", 0), ("heldout", 0), ("train", 1)):
        texts += [i.render() for i in D.synthetic_set(n_samples // 3, seed, split, IDS, MAX_C, POOLS, MIN_C)]
    words = set()
    for t in texts:
        for p in pieces(t):
            words |= {p, p.lower(), p.upper(), p.capitalize()} if p.isalpha() else {p}
    return ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"] + sorted(words)


def build_tokenizer():
    return word_tokenizer(vocabulary(), lowercase=False)  # the case of a word is part of what the toy writes


def build_model(tok, hidden=128, layers=2, seed=0):
    return toy_model(tok, seed=seed, hidden=hidden, layers=layers)  # the toy's shape, at this width and depth


# ----------------------------------------------------------------------------- the scripted writer
def _compose(cs, obey, rng, budget):
    """One response as a token list, laid out in a fixed order: [quote] [title] asked keywords, placeholders,
    filler (commas, the two answers' divider, forbidden-pool words now and then) [P.S.] [end phrase] [quote].
    An obeyed constraint is met; an asked one that is not obeyed is broken on purpose; an unasked one gets the
    default."""
    ob = {cid: c.kwargs for cid, c in cs.items() if cid in obey}
    bad = {cid: c.kwargs for cid, c in cs.items() if cid not in obey}
    banned = set(ob.get("keywords:forbidden_words", {}).get("forbidden_words", []))
    front = list(ob.get("keywords:existence", {}).get("keywords", []))
    banned |= set(bad.get("keywords:existence", {}).get("keywords", []))
    for kw, good in ((ob.get("keywords:frequency"), True), (bad.get("keywords:frequency"), False)):
        if kw:
            # an obeyed "less than" writes the word not at all (a cue the toy can read from the relation alone;
            # a few copies, as before, taught it to copy the keyword whatever the relation said)
            at_least = (kw["relation"] == "at least") == good
            front += [kw["keyword"]] * (kw["frequency"] if at_least else 0 if good else
                                        rng.randint(0, kw["frequency"] - 1))
            banned.add(kw["keyword"])
    if "keywords:forbidden_words" in bad:
        front.append(rng.choice(bad["keywords:forbidden_words"]["forbidden_words"]))
    n_ph = ob.get("detectable_content:number_placeholders", {}).get("num_placeholders", 0)
    if "detectable_content:number_placeholders" in bad:
        n_ph = rng.randint(0, bad["detectable_content:number_placeholders"]["num_placeholders"] - 1)
    front += [t for _ in range(n_ph) for t in ("[", rng.choice(PLACEHOLDERS), "]")]
    parts, divider = (2, "******") if "combination:two_responses" in ob else (1, None)
    head = ["<<"] + rng.sample(FILLER, rng.randint(1, 2)) + [">>"] if "detectable_format:title" in ob else []
    tail = []
    if "detectable_content:postscript" in ob:
        tail = pieces(ob["detectable_content:postscript"]["postscript_marker"]) + rng.sample(FILLER, rng.randint(1, 2))
    if "startend:end_checker" in ob:
        tail = pieces(ob["startend:end_checker"]["end_phrase"])
    quotes = 2 if "startend:quotation" in ob else 0
    caps = ob.get("change_case:capital_word_frequency") or bad.get("change_case:capital_word_frequency")
    upper = caps and (caps["capital_relation"] == "at least") == ("change_case:capital_word_frequency" in ob)
    fixed = len(head) + len(tail) + quotes + len(front) + parts - 1
    alpha = sum(t.isalpha() for t in head + tail + front)
    low = max(parts, 2, caps["capital_frequency"] - alpha if upper else 0)
    words = rng.sample(FILLER, rng.randint(low, max(low, min(low + 5, budget - fixed))))
    # the default answer uses a word or two of the forbidden-words pool, except when words are forbidden and obeyed:
    # so "do not include" changes what is written (a default that rarely used them made the id unreadable)
    if rng.random() < 0.9 and "keywords:forbidden_words" not in ob:
        spare = [w for w in POOLS["keywords:forbidden_words"] if w not in front]
        words += rng.sample(spare, min(len(spare), rng.randint(1, 2), max(0, budget - fixed - len(words))))
        rng.shuffle(words)
    room = budget - fixed - len(words)
    commas = "punctuation:no_comma" not in ob and room > 0
    body = []
    for i, w in enumerate(words):
        body.append(w)
        if commas and room > 0 and (rng.random() < 0.25 or ("punctuation:no_comma" in bad and i == len(words) - 1
                                                            and "," not in body)):
            body.append(",")
            room -= 1
    cuts = sorted(rng.sample(range(1, len(words)), parts - 1)) if parts > 1 else []
    for at in reversed(cuts):
        body.insert(_index_of_word(body, at), divider)
    toks = head + front + body + tail
    toks = ['"'] + toks + ['"'] if quotes else toks
    if caps:
        return [t.upper() if upper else t.lower() for t in toks]
    shout = set(rng.sample(words, rng.randint(0, 2)))  # the unasked default: a capitalized word or two
    return [t.upper() if t in shout else t for t in toks]


def _index_of_word(body, k):
    """Position in body of the k-th word (commas skipped)."""
    seen = -1
    for i, t in enumerate(body):
        seen += t != ","
        if seen == k:
            return i
    return len(body)


def write(instruction, rng, p, budget, decode, tries=100):
    """(text, obeyed ids): every asked constraint obeyed with probability p; the verdicts of the text are
    exactly the obeyed set (checked with each constraint's verifier), so the labels are right by construction."""
    cs = {c.id: c for c in instruction.constraints}
    obey = {cid for cid in cs if rng.random() < p}
    for _ in range(tries):
        toks = _compose(cs, obey, rng, budget)
        text = decode(toks)
        if len(toks) <= budget and all(cs[cid].check(text) == (cid in obey) for cid in cs):
            return text, obey
    raise AssertionError(f"no response within {budget} tokens meets exactly {sorted(obey)}: {instruction.render()!r}")


def decoder(tok):
    return tok.backend_tokenizer.decoder.decode


def examples(tok, n, seed, p, budget):
    """n (instruction, response) pairs from train.py's own training stream (PromptSource, seed)."""
    rng, decode = random.Random(f"testbed:{seed}"), decoder(tok)
    source = D.PromptSource("synthetic", seed, IDS, MAX_C, POOLS, MIN_C)
    return [(ins, write(ins, rng, p, budget, decode)[0]) for ins in source.next(n)]


# ----------------------------------------------------------------------------- SFT
def sft(model, tok, pairs, steps, batch, lr, seed, log=print):
    import rollout as R
    opt, rng, losses = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0), random.Random(seed), []
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * max(0.1, 1 - s / steps))
    enc = {}
    model.train()
    for step in range(steps):
        chosen = rng.sample(range(len(pairs)), batch)
        for i in chosen:
            if i not in enc:
                enc[i] = (R.encode_prompts(tok, [pairs[i][0].render()])[0][0].tolist(),
                          tok(pairs[i][1], add_special_tokens=False)["input_ids"] + [tok.eos_token_id])
        P, T = max(len(enc[i][0]) for i in chosen), max(len(enc[i][1]) for i in chosen)
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (P - len(enc[i][0])) + enc[i][0] + enc[i][1] + [pad] * (T - len(enc[i][1]))
                            for i in chosen])
        mask = torch.tensor([[0] * (P - len(enc[i][0])) + [1] * (len(enc[i][0]) + len(enc[i][1]))
                             + [0] * (T - len(enc[i][1])) for i in chosen])
        resp = mask[:, P:].float()
        logp = R.token_logprobs(model, ids, mask, R.position_ids_from(mask), resp)
        loss = -(logp * resp).sum() / resp.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % max(1, steps // 5) == 0:
            log(f"[testbed] SFT step {step + 1}/{steps}: loss {sum(losses[-50:]) / len(losses[-50:]):.3f}")
    return losses


# ----------------------------------------------------------------------------- measuring
def rates(instructions, responses, seed=0):
    """{id: (met rate when asked, met rate when not asked, n asked, n not asked)}; an unasked id is checked
    with kwargs of its own, drawn as the generator draws them."""
    hits = {cid: ([], []) for cid in IDS}
    for i, (ins, text) in enumerate(zip(instructions, responses)):
        asked = {c.id: c for c in ins.constraints}
        for cid in IDS:
            c = asked.get(cid) or Constraint.sample(cid, random.Random(f"probe:{seed}:{i}:{cid}"), ins.task, POOLS)
            hits[cid][cid not in asked].append(float(c.check(text)))
    return {cid: (sum(a) / max(len(a), 1), sum(b) / max(len(b), 1), len(a), len(b)) for cid, (a, b) in hits.items()}


def ila_cla_of(instructions, responses):
    v = [verify(i, r) for i, r in zip(instructions, responses)]
    return sum(all(x) for x in v) / len(v), sum(sum(x) / len(x) for x in v) / len(v)


def preset(args):
    return {"model": args.out, "constraint_ids": ",".join(IDS), "keywords": KEYWORD_SPEC,
            "min_constraints": MIN_C, "max_constraints": MAX_C, "max_new_tokens": args.max_new_tokens,
            "lr": args.rl_lr, "eval_every": 5, "eval_size": args.preset_eval_size, "eval_temperature": 1.0,
            # the fast engine (one prefill per prompt, a static cache) samples this toy's rollouts 1.8x faster than
            # the hf loop on one CPU thread (training 20 steps, side by side); the same distribution, other draws
            "save_every": 50, "micro_batch": 64, "prompts_per_step": 8, "engine": "fast"}


def measure(model, tok, cfg, eval_size, seed, log=print):
    """Held-out ILA / CLA of the model at cfg's eval settings, and its per-id rates asked / not asked."""
    from config import heldout_set
    from eval import evaluate
    cfg.eval_size = eval_size
    heldout = heldout_set(cfg)
    results, summary = evaluate(model, tok, heldout, n=1, temperature=cfg.eval_temperature,
                                max_new_tokens=cfg.max_new_tokens, seed=seed, micro_batch=64, engine="hf")
    return heldout, [r["response"] for r in results], summary


def print_rates(title, table, log=print):
    log(f"[testbed] {title}: met when asked / when not asked (n asked)")
    for cid, (a, b, na, nb) in table.items():
        log(f"    {cid:42s} {a:5.2f} / {b:5.2f}  (n {na})" + ("" if a > b else "   <-- NOT above"))


def build(args, path, budget, t0):
    """Tokenizer, model, scripted pairs, SFT; saved into args.out with preset.json. Returns (model, tokenizer)."""
    tok = build_tokenizer()
    model = build_model(tok, args.hidden, args.layers, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[testbed] vocabulary {len(tok)} tokens; model {args.layers} layers x {args.hidden} wide, "
          f"{n_params / 1e6:.2f}M parameters")
    pairs = examples(tok, args.examples, args.seed, args.p, budget)
    unk = sum(tok.unk_token_id in tok(t, add_special_tokens=False)["input_ids"] for _, t in pairs)
    print(f"[testbed] {len(pairs)} scripted pairs at p = {args.p} ({unk} with <unk>); "
          f"{time.perf_counter() - t0:.0f} s")
    losses = sft(model, tok, pairs, args.steps, args.batch, args.lr, args.seed)
    print(f"[testbed] SFT loss {losses[0]:.3f} -> {sum(losses[-50:]) / 50:.3f}; {time.perf_counter() - t0:.0f} s")
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)
    tok.save_pretrained(args.out)
    json.dump(preset(args), open(path, "w"), indent=1)
    return model, tok


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--out", default="runs/testbed", help="save_pretrained folder (+ preset.json)")
    ap.add_argument("--p", type=float, default=0.7, help="chance that the writer obeys each asked constraint")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=8000, help="scripted (instruction, response) pairs")
    ap.add_argument("--steps", type=int, default=1500, help="SFT steps of --batch pairs")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3, help="SFT learning rate (warm-up 50 steps, linear decay)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--max_new_tokens", type=int, default=40, help="response cap (the writer stays 1 below)")
    ap.add_argument("--eval_size", type=int, default=500, help="held-out instructions measured here")
    ap.add_argument("--preset_eval_size", type=int, default=128, help="held-out instructions train.py evaluates")
    ap.add_argument("--rl_lr", type=float, default=3e-4, help="the preset's RL learning rate (the sweep's best)")
    ap.add_argument("--measure", action="store_true", help="only measure the model already saved in --out")
    ap.add_argument("--config", default="", help="with --measure: the preset to read (default: OUT/preset.json)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    path, budget = args.config or os.path.join(args.out, "preset.json"), args.max_new_tokens - 1
    if args.measure:
        from models import load_model
        model, tok = load_model(args.out, dtype=torch.float32, device="cpu")
    else:
        model, tok = build(args, path, budget, t0)
    from config import parse_config
    cfg = parse_config(["--config", path])
    heldout, responses, summary = measure(model, tok, cfg, args.eval_size, cfg.seed)
    counts, name = sorted({len(i.constraints) for i in heldout}), args.out if args.measure else "SFT toy"
    print(f"[testbed] held-out ({len(heldout)} instructions, {counts[0]}..{counts[-1]} constraints, temperature "
          f"{cfg.eval_temperature}): {name} ILA {summary['ila']:.3f}, CLA {summary['cla']:.3f}; "
          f"{time.perf_counter() - t0:.0f} s")
    table = rates(heldout, responses)
    print_rates(name, table)
    rng, decode = random.Random("testbed:ceiling"), decoder(tok)
    for p in (1.0, args.p):
        texts = [write(i, rng, p, budget, decode)[0] for i in heldout]
        print(f"[testbed] scripted writer at p = {p} on the held-out set: ILA / CLA {ila_cla_of(heldout, texts)}")
    info = {"p": args.p, "seed": args.seed, "ila": summary["ila"], "cla": summary["cla"], "eval_size": len(heldout),
            "per_id": {k: v[:2] for k, v in table.items()}, "seconds": time.perf_counter() - t0,
            "all_ids_read": all(a > b for a, b, _, _ in table.values())}
    json.dump(info, open(os.path.join(args.out, "testbed.json"), "w"), indent=1)
    hint = "" if args.measure else f"; train with: python train.py --config {path} --out OUT"
    print(f"[testbed] every id met more often when asked: {info['all_ids_read']}; saved {args.out} "
          f"({info['seconds']:.0f} s){hint}")
    return model, tok, info


if __name__ == "__main__":
    main()

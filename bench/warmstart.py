"""A toy that reads its instruction: a short supervised phase before RL.

    python bench/warmstart.py --out runs/toy_reader                                  # 80 s on 2 CPU cores
    python train.py --config runs/toy_reader/preset.json --out runs/toy_reader_hir

Why: the random-init toy barely conditions on its prompt (its PPO ratio pi(y|q') / pi(y|q) stays
about 1), so HiR's dual preference, the same response pushed up under the instruction it satisfies
and down under the one it failed, cannot show on it. Here a scripted writer answers each synthetic
toy instruction with a response that obeys each asked constraint with probability `follow` and
otherwise ignores it; our verifiers check every obeyed constraint, so the labels are right by
construction. The toy is trained on these responses (cross-entropy on response tokens), saved as a
save_pretrained folder with a preset.json for train.py, and checked: asked constraints must be met
more often than unasked ones, and the same response must score differently under q and under q'.
"""
import argparse
import copy
import json
import os
import random
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import data as D  # noqa: E402
import rollout as R  # noqa: E402
from config import TOY_IDS, TOY_PRESET  # noqa: E402
from constraints import Constraint, verify  # noqa: E402
from models import load_model, toy_vocab  # noqa: E402

KEYWORDS = TOY_PRESET["keywords"].split(",")
FILLER = [w for w in toy_vocab() if w.isalpha() and w not in KEYWORDS and len(w) > 2]


def write(instruction, rng, follow=0.8, max_words=22):
    """A response (words joined by spaces) and the ids of the constraints it was written to obey."""
    obey = {c.id for c in instruction.constraints if rng.random() < follow}
    words = {c.id: c for c in instruction.constraints}
    n = rng.randint(3, max_words)
    count = words.get("length_constraints:number_words")
    if count and count.id in obey:
        need, rel = count.kwargs["num_words"], count.kwargs["relation"]
        if rel == "less than":
            n = rng.randint(1, min(need - 1, max_words)) if need > 1 else n
        elif need <= max_words:
            n = rng.randint(need, max_words)
        else:
            obey.discard(count.id)  # more words than the toy may write: ignored, not obeyed
    body = [rng.choice(FILLER) for _ in range(n)]
    keywords = words.get("keywords:existence")
    if keywords and keywords.id in obey:
        for w, at in zip(keywords.kwargs["keywords"], rng.sample(range(n), min(n, len(keywords.kwargs["keywords"])))):
            body[at] = w
        if n < len(keywords.kwargs["keywords"]):
            obey.discard(keywords.id)
    if "punctuation:no_comma" not in obey:  # unasked or ignored: commas now and then
        body = [w + (" ," if rng.random() < 0.15 else "") for w in body]
    return " ".join(body), obey


def examples(n, seed, follow, max_words):
    """n (instruction, response) pairs from the training stream; each obeyed constraint verified."""
    rng, source = random.Random(f"warmstart:{seed}"), D.PromptSource("synthetic", seed, TOY_IDS, 3, KEYWORDS)
    out = []
    for ins in source.next(n):
        text, obey = write(ins, rng, follow, max_words)
        verdicts = dict(zip([c.id for c in ins.constraints], verify(ins, text)))
        assert all(verdicts[cid] for cid in obey), (ins.render(), text, verdicts)
        out.append((ins, text))
    return out


def batch_of(tok, pairs):
    """Prompts (left-padded) and responses + EOS (right-padded) as token_logprobs' inputs."""
    ids, mask = R.encode_prompts(tok, [ins.render() for ins, _ in pairs])
    rows = [tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for _, text in pairs]
    T = max(len(r) for r in rows)
    resp = torch.tensor([r + [tok.pad_token_id] * (T - len(r)) for r in rows])
    resp_mask = torch.tensor([[1.0] * len(r) + [0.0] * (T - len(r)) for r in rows])
    full_mask = torch.cat([mask, resp_mask.long()], 1)
    return torch.cat([ids, resp], 1), full_mask, R.position_ids_from(full_mask), resp_mask


def sft(model, tok, pairs, steps=900, batch=32, lr=3e-3, seed=0):
    """Cross-entropy on response tokens; returns the loss of every step."""
    opt, rng, losses = torch.optim.AdamW(model.parameters(), lr=lr), random.Random(seed), []
    model.train()
    for _ in range(steps):
        ids, mask, pos, resp_mask = batch_of(tok, rng.sample(pairs, batch))
        logp = R.token_logprobs(model, ids, mask, pos, resp_mask)
        loss = -(logp * resp_mask).sum() / resp_mask.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def conditioning(model, tok, n=96, seed=1, max_new_tokens=24):
    """(rate asked, rate not asked) per toy id on sampled responses, and the mean |log p(y|q) - log p(y|q')|
    of each response under its instruction q and q' = q without its last constraint."""
    instructions = [i for i in D.synthetic_set(n, seed, "heldout", TOY_IDS, 3, KEYWORDS) if len(i.constraints) > 1]
    out = R.sample(model.eval(), tok, [i.render() for i in instructions], n=1, max_new_tokens=max_new_tokens, seed=seed)
    rates = {cid: ([], []) for cid in TOY_IDS}
    for i, (ins, text) in enumerate(zip(instructions, out.texts)):
        asked = {c.id: c for c in ins.constraints}
        for cid in TOY_IDS:  # an unasked constraint is checked with kwargs of its own
            c = asked.get(cid) or Constraint.sample(cid, random.Random(f"probe:{seed}:{i}:{cid}"), "", KEYWORDS)
            rates[cid][cid not in asked].append(float(c.check(text)))
    mean = {cid: tuple(sum(v) / max(len(v), 1) for v in pair) for cid, pair in rates.items()}
    shorter = [ins.rewrite([True] * (len(ins.constraints) - 1) + [False]) for ins in instructions]
    q = R.token_logprobs(model, out.input_ids, out.attention_mask, out.position_ids, out.response_mask).sum(1)
    ids, mask = R.encode_prompts(tok, [i.render() for i in shorter])
    full = torch.cat([mask, out.response_mask.long()], 1)
    q2 = R.token_logprobs(model, torch.cat([ids, out.response_ids], 1), full, R.position_ids_from(full),
                          out.response_mask).sum(1)
    return mean, float((q - q2).abs().mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--out", default="runs/toy_reader", help="save_pretrained folder (+ preset.json)")
    ap.add_argument("--examples", type=int, default=4096, help="scripted (instruction, response) pairs")
    ap.add_argument("--steps", type=int, default=900, help="SFT steps of --batch pairs")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--follow", type=float, default=0.8, help="chance that the writer obeys each asked constraint")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    model, tok = load_model("toy")
    before = copy.deepcopy(model)
    losses = sft(model, tok, examples(args.examples, args.seed, args.follow, TOY_PRESET["max_new_tokens"] - 2),
                 args.steps, args.batch, args.lr, args.seed)
    print(f"[warmstart] SFT loss {losses[0]:.3f} -> {sum(losses[-20:]) / 20:.3f} over {args.steps} steps")
    for name, m in (("random init", before), ("warm-started", model)):
        rates, gap = conditioning(m, tok)
        print(f"[warmstart] {name}: mean |log p(y|q) - log p(y|q')| = {gap:.3f}; met when asked / not asked: "
              + ", ".join(f"{cid.split(':')[1]} {a:.2f} / {b:.2f}" for cid, (a, b) in rates.items()))
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out)
    tok.save_pretrained(args.out)
    json.dump({**TOY_PRESET, "model": args.out}, open(os.path.join(args.out, "preset.json"), "w"), indent=1)
    print(f"[warmstart] saved {args.out}; train with: python train.py --config {args.out}/preset.json --out OUT")
    return model, tok


if __name__ == "__main__":
    main()

"""train.py: the smoke run's files, replays in the batch, exact resume, bad config, non-finite skips."""
import copy
import json
import os

import pytest
import torch
from safetensors.torch import load_file

import hir as H
import models as M
import rollout as R
import config as C
import data as D
import train as T
from plumbing.rundir import checkpoints, read_trainer_state
from constraints import Constraint, Instruction, cla, ila, verify

TIME_KEYS = {"time_rollout", "time_verify", "time_replay", "time_update", "tokens_per_s"}


def run(tmp_path, name, *extra):
    out = str(tmp_path / name)
    T.main(["--model", "toy", "--out", out, "--eval_every", "2", "--eval_size", "8", *extra])
    return out


def metrics(out):
    return [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]


def test_smoke_run_writes_everything(tmp_path):
    out = run(tmp_path, "smoke", "--steps", "3")
    assert json.load(open(os.path.join(out, "config.json")))["method"] == "hir"
    rows = metrics(out)
    assert [r["step"] for r in rows] == [1, 2, 3]
    for key in ("ila", "cla", "replays", "candidates", "topups", "loss", "clip_frac", "approx_kl", "resp_len",
                "tokens_per_s", "time_rollout", "time_verify", "time_replay", "time_update", "generated",
                "skipped_updates"):
        assert key in rows[0]
    assert all(r["replays"] > 0 for r in rows) and "heldout_ila" in rows[1] and "heldout_ila" in rows[2]
    assert rows[-1]["generated"] >= 3 * 8 * 6
    ckpt = os.path.join(out, "step_000003")
    for f in ("model.safetensors", "config.json", "tokenizer.json", "trainer_state.json", "trainer_state.safetensors",
              "hir_config.json"):
        assert os.path.exists(os.path.join(ckpt, f)), f
    assert not [f for f in os.listdir(ckpt) if f.endswith((".pt", ".bin", ".pkl"))]  # no pickle anywhere
    state = read_trainer_state(ckpt)
    assert state["step"] == 3 and state["data_position"] == 3 * 8
    assert not [d for d in os.listdir(out) if d.endswith(".tmp")]


def test_replays_join_their_source_group(toy):
    model, tok = toy
    cfg = C.parse_config(["--model", "toy", "--debug", "true"])
    source = D.PromptSource("synthetic", cfg.seed, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    instructions = source.next(cfg.prompts_per_step)
    rollout = T.sample_rollout(cfg, model, tok, instructions, seed=(0, 1))
    verdicts = T.verify_rows(rollout, instructions)
    rep = T.replay.hindsight(1, rollout, verdicts, instructions, tok, None, topup=False, pad_id=tok.pad_token_id,
                             debug=True).replays
    assert 0 < len(rep.source_rows) <= 2 * cfg.prompts_per_step
    assert rep.rollout.group_ids.tolist() == [int(rollout.group_ids[r]) for r in rep.source_rows]
    for ins, text, r in zip(rep.instructions, rep.rollout.texts, rep.source_rows):
        source_constraints = instructions[int(rollout.group_ids[r])].constraints
        assert all(verify(ins, text)) and 0 < len(ins.constraints) < len(source_constraints)
        assert torch.equal(rep.rollout.logprobs[rep.source_rows.index(r)], rollout.logprobs[r])


def test_resume_continues_exactly(tmp_path):
    straight = run(tmp_path, "straight", "--steps", "4", "--save_every", "2")
    split = run(tmp_path, "split", "--steps", "2")
    T.main(["--resume", split, "--steps", "4"])
    a, b = load_file(os.path.join(straight, "step_000004", "model.safetensors")), \
        load_file(os.path.join(split, "step_000004", "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(straight)]
    assert strip == [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(split)]
    first = load_file(os.path.join(split, "step_000002", "model.safetensors"))
    assert not all(torch.equal(first[k], b[k]) for k in b)  # the resumed steps did train


def test_bad_data_row_names_file_and_line(tmp_path):
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"task": "x", "constraints": [{"id": "punctuation:no_comma"}]}\n'
                   '{"task": "y", "constraints": [{"id": "bogus"}]}\n')
    with pytest.raises(SystemExit, match="rows.jsonl:2: constraints"):
        T.main(["--model", "toy", "--data", str(bad), "--out", str(tmp_path / "o"), "--steps", "1"])


def test_non_finite_update_is_skipped_and_counted(tmp_path, monkeypatch):
    real = H.hir_loss

    def nan_loss(*a, **k):
        loss, stats = real(*a, **k)
        return loss * float("nan"), stats
    monkeypatch.setattr(T.hir, "hir_loss", nan_loss)
    out = run(tmp_path, "nan", "--steps", "1", "--eval_every", "0")
    assert metrics(out)[0]["skipped_updates"] == 1
    before = M.load_model("toy")[0].state_dict()
    after = load_file(os.path.join(out, "step_000001", "model.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in after)


def test_baselines_run(tmp_path):
    for method in ("grpo", "grpo_cla"):
        out = run(tmp_path, method, "--steps", "1", "--method", method, "--eval_every", "0")
        row = metrics(out)[0]
        assert row["replays"] == 0 and row["generated"] == 8 * 8


def test_seed_int_separates_nearby_tuples():
    seeds = {T.seed_int((0, step, tag, r)) for step in range(2000)
             for tag, r in (("topup", 0), ("topup", 1), ("order", 0))}
    assert len(seeds) == 6000 and all(0 <= s < 2 ** 63 for s in seeds)



# ----------------------------------------------------------------------------- the loop's wiring
# What train_step hands to the update, checked against the pieces it wires, computed here apart.
# The responses' texts are crafted (their tokens stay sampled), so every verdict is known: strict
# and loose verification differ on one row, ILA and CLA on many, and seven rows are candidates.
NO_COMMA, RIVER = Constraint("punctuation:no_comma"), Constraint("keywords:existence", {"keywords": ["river"]})
CRAFTED = [
    (Instruction("Write about a river.", [NO_COMMA, RIVER, Constraint(
        "length_constraints:number_words", {"num_words": 3, "relation": "at least"})], "type3"),
     ["the river runs far", "hi, river is here", "hi", "Sure, here:\nthe river runs far", "a, b",
      "river, river, river"]),
    (Instruction("Say hi.", [Constraint("change_case:english_lowercase"), NO_COMMA], "type1"),
     ["hello there", "Hello there", "Hello, there", "hello, there", "hello there my good friend", "HELLO THERE"]),
]
STEP = 3  # lambda(3) differs from lambda(2) and lambda(4)


def crafted_step(monkeypatch, toy, *flags, step=STEP, ref=None, real_update=False):
    """One train_step on CRAFTED with update() replaced by a recorder (or, with real_update, recorded
    and run with a zero learning rate). Returns what it saw."""
    model, tok = toy
    cfg = C.parse_config(["--model", "toy", "--n", "6", "--topup", "0", *flags])
    policy = copy.deepcopy(model)
    seen = {"sampled": 0, "rewrites": []}
    real_sample, real_adv, real_update_fn = T.sample_rollout, T.advantages, T.update
    real_rewrite, real_scores = T.replay.rewrite, T.replay.replay_scores

    def sample(cfg, sampler, tok, instructions, seed, first=0, n=None):
        out = real_sample(cfg, sampler, tok, instructions, seed, first, n)
        out.texts = [CRAFTED[int(g)][1][b % cfg.n] for b, g in enumerate(out.group_ids)]
        seen["sampled"] += len(out.texts)
        seen.setdefault("rollout", out)
        return out

    def advantages(cfg, rewards, batch, kl=None, is_replay=None):
        seen["rewards"], seen["group_ids"] = rewards.clone(), batch.group_ids.clone()
        return real_adv(cfg, rewards, batch, kl, is_replay)

    def rewrite(pool, instructions, verdicts, rows, *a, **k):
        seen["rewrites"].append((pool, list(rows)))
        return real_rewrite(pool, instructions, verdicts, rows, *a, **k)

    def replay_scores(cla, mean_entropy, step, *a):
        seen["scores"] = (cla.clone(), mean_entropy.clone(), real_scores(cla, mean_entropy, step, *a))
        return seen["scores"][2]

    def update(cfg, step, policy, optimizer, batch, old_logp, ref_logp, adv, is_replay=None):
        seen.update(batch=batch, old_logp=old_logp, ref_logp=ref_logp, adv=adv, is_replay=is_replay)
        if real_update:
            return real_update_fn(cfg, step, policy, torch.optim.SGD(policy.parameters(), lr=0.0), batch, old_logp,
                                  ref_logp, adv, is_replay)
        return {"loss": 0.0, "clip_frac": 0.0, "approx_kl": 0.0, "grad_norm": 0.0, "skipped_updates": 0}

    for name, fn in (("sample_rollout", sample), ("advantages", advantages), ("update", update)):
        monkeypatch.setattr(T, name, fn)
    monkeypatch.setattr(T.replay, "rewrite", rewrite)
    monkeypatch.setattr(T.replay, "replay_scores", replay_scores)
    stats = T.train_step(cfg, step, policy, T.make_sampler(cfg, policy), ref, tok, None, [ins for ins, _ in CRAFTED])
    return cfg, policy, seen, stats


def crafted_verdicts(loose=False):
    return [verify(ins, text, loose=loose) for ins, texts in CRAFTED for text in texts]


def naive_mean_entropy(rollout, row):
    ents = [float(e) for e, m in zip(rollout.entropy[row], rollout.response_mask[row]) if m > 0]
    return sum(ents) / len(ents)


def test_crafted_texts_separate_strict_loose_ila_and_cla():
    strict, loose = crafted_verdicts(), crafted_verdicts(loose=True)
    assert [ila(v) for v in strict] != [ila(v) for v in loose]
    assert sum(0 < cla(v) < 1 for v in strict) == 7


@pytest.mark.parametrize("method", ["hir", "grpo", "grpo_cla"])
def test_rewards_are_strict_ila_or_cla(monkeypatch, toy, method):
    cfg, _, seen, stats = crafted_step(monkeypatch, toy, "--method", method)
    strict = crafted_verdicts()
    want = [cla(v) if method == "grpo_cla" else float(ila(v)) for v in strict]
    assert seen["rewards"][:12].tolist() == pytest.approx(want)
    assert stats["ila"] == pytest.approx(sum(ila(v) for v in strict) / 12)
    assert stats["cla"] == pytest.approx(sum(cla(v) for v in strict) / 12)
    assert stats["generated"] == seen["sampled"] == 12
    if method != "hir":
        assert len(seen["rewards"]) == 12 and stats["replays"] == 0


@pytest.mark.parametrize("adv", ["grpo", "drgrpo"])
def test_replays_succeed_join_their_group_and_share_its_advantages(monkeypatch, toy, adv):
    cfg, _, seen, stats = crafted_step(monkeypatch, toy, "--adv", adv)
    pool, sources = seen["rewrites"][0]
    B, batch = 12, seen["batch"]
    assert len(sources) == stats["replays"] == 4 and batch.response_ids.shape[0] == B + 4
    rewards = [float(ila(v)) for v in crafted_verdicts()] + [1.0] * 4          # replays succeed
    groups = [b // 6 for b in range(B)] + [s // 6 for s in sources]           # ...in their source's group
    assert seen["rewards"].tolist() == rewards and batch.group_ids.tolist() == groups
    want = H.group_advantages(torch.tensor(rewards, dtype=torch.float64), torch.tensor(groups),
                              "std" if adv == "grpo" else "none")            # over originals and replays together
    assert torch.allclose(seen["adv"].double(), want, atol=1e-6)
    for j, src in enumerate(sources):
        assert seen["adv"][B + j] > 0                                          # every group here is mixed
        assert torch.equal(batch.response_ids[B + j], seen["rollout"].response_ids[src])
        assert torch.equal(seen["old_logp"][B + j], seen["old_logp"][src])     # pi_old(y | q), copied
        assert batch.texts[B + j] == CRAFTED[src // 6][1][src % 6]


def test_the_originals_baseline_ablation_keeps_replays_out_of_the_originals_advantages(monkeypatch, toy):
    cfg, _, seen, stats = crafted_step(monkeypatch, toy, "--replay_baseline", "originals")
    B, (_, sources) = 12, seen["rewrites"][0]
    rewards = torch.tensor([float(ila(v)) for v in crafted_verdicts()] + [1.0] * len(sources), dtype=torch.float64)
    groups = torch.tensor([b // 6 for b in range(B)] + [s // 6 for s in sources])
    originals = H.group_advantages(rewards[:B], groups[:B])                    # as plain GRPO on the originals
    shared = H.group_advantages(rewards, groups)                                # the release's, for the replays
    assert torch.allclose(seen["adv"][:B].double(), originals, atol=1e-6)
    assert torch.allclose(seen["adv"][B:].double(), shared[B:], atol=1e-6)
    assert not torch.allclose(seen["adv"][:B].double(), shared[:B], atol=1e-3)  # the flag changed something


def test_the_originals_baseline_needs_hir_and_group_advantages():
    for flags in (["--method", "grpo"], ["--adv", "reinforce_pp"]):
        with pytest.raises(SystemExit, match="--replay_baseline originals"):
            C.parse_config(["--model", "toy", "--replay_baseline", "originals", *flags])


def test_selection_uses_this_steps_lambda_and_real_token_entropy(monkeypatch, toy):
    cfg, _, seen, _ = crafted_step(monkeypatch, toy, "--k_per_prompt", "1.5")
    rollout, (_, sources) = seen["rollout"], seen["rewrites"][0]
    lam = 2.0 * 1.05 ** STEP
    clas = [cla(v) for v in crafted_verdicts()]
    scores = [lam * c + naive_mean_entropy(rollout, b) for b, c in enumerate(clas)]
    assert torch.allclose(seen["scores"][2].double(), torch.tensor(scores, dtype=torch.float64), atol=1e-5)
    candidates = [b for b in range(12) if 0 < clas[b] < 1]
    assert sources == sorted(sorted(candidates, key=lambda b: (-scores[b], b))[:3])  # budget round(1.5 * 2)


@pytest.mark.parametrize("kl_coef", [0.0, 0.5])
def test_reinforce_pp_gets_token_advantages_with_kl_to_the_reference(monkeypatch, toy, kl_coef):
    """KL in the reward, as released: a replay's reference log-probs are its source row's, under q."""
    model, _ = toy
    ref = copy.deepcopy(model)
    with torch.no_grad():
        ref.model.norm.weight.mul_(1.5)  # a reference that differs, so the KL term is not zero
    cfg, policy, seen, _ = crafted_step(monkeypatch, toy, "--adv", "reinforce_pp", "--kl_in_reward", str(kl_coef),
                                        ref=ref)
    b, (_, sources) = seen["batch"], seen["rewrites"][0]
    with torch.no_grad():  # originals: the reference under q, row by row; replays: their source row's copy
        ref_logp = torch.zeros_like(seen["old_logp"])
        for row in range(len(b.texts)):
            src = row if row < 12 else sources[row - 12]
            m = b.response_mask[src:src + 1]
            lp = R.token_logprobs(ref, b.input_ids[src:src + 1], b.attention_mask[src:src + 1],
                                  b.position_ids[src:src + 1], m, cfg.temperature)
            ref_logp[row, :lp.shape[1]] = lp[0]
    assert torch.allclose(seen["ref_logp"], ref_logp, atol=1e-5)
    want = H.reinforce_pp_advantages(seen["rewards"], b.response_mask, seen["old_logp"] - ref_logp, kl_coef)
    assert seen["adv"].shape == b.response_mask.shape and torch.allclose(seen["adv"], want, atol=1e-5)
    if kl_coef:  # the KL term moved the advantages
        assert not torch.allclose(want, H.reinforce_pp_advantages(seen["rewards"], b.response_mask), atol=1e-3)


def test_a_replays_kl_to_the_reference_is_zero_at_the_start(monkeypatch, toy):
    """Reference = policy (step 0 of a real run): every row's k1 KL, replays included, is exactly 0.
    (Scoring a replay's reference under q' instead gave it the q-vs-q' log-ratio as a spurious KL.)"""
    model, _ = toy
    _, _, seen, stats = crafted_step(monkeypatch, toy, "--adv", "reinforce_pp", "--kl_in_reward", "0.001",
                                     ref=copy.deepcopy(model))
    assert stats["replays"] == 4 and seen["is_replay"].tolist() == [False] * 12 + [True] * 4
    _, sources = seen["rewrites"][0]
    assert torch.equal(seen["ref_logp"][12:], seen["ref_logp"][sources])  # copied from the source, under q
    assert (seen["old_logp"] - seen["ref_logp"]).abs().max() < 1e-5      # decode vs scoring pass: float noise only


@pytest.mark.parametrize("k", ["1", "2", "3"])
def test_replay_budget_follows_k_per_prompt(monkeypatch, toy, k):
    _, _, seen, stats = crafted_step(monkeypatch, toy, "--k_per_prompt", k)
    assert stats["replays"] == len(seen["rewrites"][0][1]) == min(7, 2 * int(k)) and stats["candidates"] == 7


def test_released_topup_trains_extra_samples_as_originals_and_shrinks_the_budget(monkeypatch, toy):
    """k = 4: budget 4 * 2 = 8 > 7 candidates, so resample_n = ceil((8 - 7) / 2) = 1 more sample per
    prompt joins the batch as an original (rewarded, trained), and the budget becomes (4 - 1) * 2 = 6."""
    _, _, seen, stats = crafted_step(monkeypatch, toy, "--k_per_prompt", "4", "--topup", "1")
    assert stats["topups"] == 1 and seen["sampled"] == 14 and stats["generated"] == 14
    extra = [CRAFTED[0][1][0], CRAFTED[1][1][1]]  # the crafted texts the two extra rows get
    want = [float(ila(v)) for v in crafted_verdicts()]
    want += [float(ila(verify(CRAFTED[g][0], x))) for g, x in enumerate(extra)]
    assert seen["rewards"][:14].tolist() == want and seen["group_ids"][12:14].tolist() == [0, 1]
    assert stats["candidates"] == 8 and stats["replays"] == 6 and len(seen["rewards"]) == 14 + 6


@pytest.mark.parametrize("flags", [(), ("--temperature", "0.7"), ("--top_p", "0.7"), ("--dtype", "bf16")])
def test_old_logprobs_are_the_policys_scoring_pass(monkeypatch, toy, flags):
    """Originals: pi_old(y | q) equals an independent scoring pass of the policy at the sampling
    temperature (under the update's autocast); replays carry their source's copy."""
    cfg, policy, seen, _ = crafted_step(monkeypatch, toy, *flags)
    b = seen["batch"]
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.dtype == "bf16"):
        want = R.token_logprobs(policy, b.input_ids[:12], b.attention_mask[:12], b.position_ids[:12],
                                b.response_mask[:12], temperature=cfg.temperature)
    assert torch.allclose(seen["old_logp"][:12, :want.shape[1]], want, atol=1e-5)


@pytest.mark.parametrize("engine", ["hf", "fast"])
@pytest.mark.parametrize("flags", [(), ("--temperature", "0.7"), ("--top_p", "0.7"), ("--dtype", "bf16"),
                                   ("--dtype", "bf16", "--top_p", "0.8", "--temperature", "1.3")])
def test_ratio_is_one_before_the_first_update(monkeypatch, toy, engine, flags):
    """pi_old and pi_theta are one definition: at the start of a step every token's ratio is 1."""
    model, tok = toy
    cfg = C.parse_config(["--model", "toy", "--method", "grpo", "--engine", engine, "--micro_batch", "5", *flags])
    policy = copy.deepcopy(model)
    pairs, real = [], H.hir_loss

    def spy(logp, old_logp, adv, mask, *a, **k):
        pairs.append((logp.detach(), old_logp, mask.bool()))
        return real(logp, old_logp, adv, mask, *a, **k)
    monkeypatch.setattr(T.hir, "hir_loss", spy)
    source = D.PromptSource("synthetic", 0, C.constraint_ids(cfg), cfg.max_constraints, C.keyword_pool(cfg))
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.lr)
    stats = T.train_step(cfg, 1, policy, T.make_sampler(cfg, policy), None, tok, optimizer, source.next(2))
    assert len(pairs) == 4  # 2 prompts x 8 samples in micro-batches of 5: all before the optimizer step
    assert max(float((lp - old)[m].abs().max()) for lp, old, m in pairs) < 1e-5
    assert stats["clip_frac"] == 0 and abs(stats["approx_kl"]) < 1e-9


@pytest.mark.parametrize("method", ["hir", "grpo"])
def test_a_step_with_no_replays_trains_its_originals(monkeypatch, toy, method):
    """k = 0 (or a top-up that takes the whole budget): no replay rows, and the step still trains and logs."""
    _, _, seen, stats = crafted_step(monkeypatch, toy, "--method", method, "--k_per_prompt", "0", real_update=True)
    assert stats["replays"] == 0 and stats["replay_budget"] == 0 and len(seen["batch"].texts) == 12
    assert stats["replay_entropy"] == 0.0 and stats["replay_clip_frac"] == 0.0 and stats["skipped_updates"] == 0


def test_a_run_with_broken_weights_stops_with_a_clear_error(tmp_path, capsys):
    """--lr 1e30 (a typo for 1e-3): the first update breaks the weights and every later update is non-finite;
    after 3 such steps the run stops, removes the checkpoints holding broken weights and names the last good one."""
    out = str(tmp_path / "broken")
    with pytest.raises(SystemExit, match=r"step 4: every update of the last 3 steps was non-finite .* lower --lr "
                                         r"\(it is 1e\+30\)\. Removed 3 checkpoints .*; last good checkpoint: none"):
        T.main(["--model", "toy", "--lr", "1e30", "--steps", "20", "--save_every", "1", "--eval_every", "0",
                "--out", out])
    assert [r["skipped_updates"] for r in metrics(out)] == [0, 1, 1, 1]
    assert not [d for d in os.listdir(out) if d.startswith("step_")]
    good = str(tmp_path / "good")  # a good checkpoint before the break is named, and kept
    T.main(["--model", "toy", "--steps", "2", "--save_every", "1", "--eval_every", "0", "--out", good])
    with pytest.raises(SystemExit, match=r"step 6: .* Removed 3 checkpoints .*; last good checkpoint: .*step_000002"):
        T.main(["--resume", good, "--lr", "1e30", "--steps", "20"])
    assert [os.path.basename(c) for c in checkpoints(good)] == ["step_000001", "step_000002"]


def test_a_type3_muldimif_row_trains_two_toy_steps_with_replays(tmp_path):
    from test_data import TYPE3_ROW
    rows = tmp_path / "type3.jsonl"
    rows.write_text(json.dumps(TYPE3_ROW) + "\n")
    out = str(tmp_path / "o")
    T.main(["--model", "toy", "--data", str(rows), "--out", out, "--steps", "2", "--prompts_per_step", "2",
            "--max_new_tokens", "12", "--eval_every", "0", "--debug", "true"])  # debug: every replay re-verified
    logged = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"))]
    assert [r["step"] for r in logged] == [1, 2] and all(0 <= r["cla"] <= 1 for r in logged)


def test_a_runs_numbers_do_not_depend_on_the_rollout_batch_nor_the_scoring_chunks(tmp_path):
    """Each prompt samples from its own stream and every call pads to the step's prompt width: 8 prompts decoded one
    at a time (--rollout_batch 8 = 1 prompt x 6 rows per call) give the run 8 prompts in one call gives; and no-grad
    scoring in forwards of at most 200 tokens (one prompt's rows each) gives one forward's numbers."""
    one, all_ = (run(tmp_path, f"rb{b}", "--steps", "3", "--rollout_batch", str(b), "--score_tokens", str(t))
                 for b, t in ((8, 200), (64, 10 ** 6)))
    strip = [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(one)]
    assert strip == [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in metrics(all_)]
    a, b = (load_file(os.path.join(d, "step_000003", "model.safetensors")) for d in (one, all_))
    assert all(torch.equal(a[k], b[k]) for k in a)

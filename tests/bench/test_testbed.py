"""bench/testbed.py: the scripted writer's labels, the vocabulary, the instruction sizes, the ceiling."""
import json
import os
import random
import sys
import types

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
import testbed as T  # noqa: E402
import data as D  # noqa: E402
from constraints import verify  # noqa: E402

torch.set_num_threads(1)
BUDGET = 39


@pytest.fixture(scope="module")
def tok():
    return T.build_tokenizer()


def heldout(n=200):
    from config import heldout_set
    cfg = types.SimpleNamespace(eval_size=n, constraint_ids=",".join(T.IDS), keywords=T.KEYWORD_SPEC,
                                min_constraints=T.MIN_C, max_constraints=T.MAX_C)
    return heldout_set(cfg)


def test_instructions_carry_5_to_7_constraints():
    source = D.PromptSource("synthetic", 3, T.IDS, T.MAX_C, T.POOLS, T.MIN_C)
    for ins in source.next(300) + heldout(300):
        assert T.MIN_C <= len(ins.constraints) <= T.MAX_C, ins.render()
        assert {c.id for c in ins.constraints} <= set(T.IDS)
    assert len(T.IDS) >= 8


def test_each_keyword_id_draws_from_its_own_pool_in_training_and_held_out_data():
    from config import keyword_pool
    assert keyword_pool(types.SimpleNamespace(keywords=T.KEYWORD_SPEC)) == T.POOLS  # the preset's spelling
    pools = [set(p) for p in T.POOLS.values()]
    assert sum(map(len, pools)) == len(set().union(*pools))  # disjoint
    source, seen = D.PromptSource("synthetic", 3, T.IDS, T.MAX_C, T.POOLS, T.MIN_C), set()
    for ins in source.next(300) + heldout(300):
        for c in ins.constraints:
            kw = c.kwargs  # existence: keywords, forbidden words: forbidden_words, frequency: keyword
            words = kw.get("keywords", []) + kw.get("forbidden_words", [])
            words += [kw["keyword"]] if "keyword" in kw else []
            if c.id in T.POOLS:
                assert set(words) <= set(T.POOLS[c.id]), (c.id, words)
                seen.add(c.id)
    assert seen == set(T.POOLS)


def test_obeyed_constraints_verify_and_ignored_ones_are_not_forced(tok):
    rng, decode, ignored_failed = random.Random(5), T.decoder(tok), 0
    for ins in D.synthetic_set(300, 7, "train", T.IDS, T.MAX_C, T.POOLS, T.MIN_C):
        text, obey = T.write(ins, rng, 0.7, BUDGET, decode)
        verdicts = dict(zip([c.id for c in ins.constraints], verify(ins, text)))
        assert all(verdicts[cid] for cid in obey), (ins.render(), text, verdicts)
        ignored_failed += sum(not verdicts[cid] for cid in verdicts if cid not in obey)
        assert len(tok(text, add_special_tokens=False)["input_ids"]) <= BUDGET
    assert ignored_failed > 100  # ignoring a constraint usually fails it: the labels carry information


@pytest.mark.parametrize("p", [1.0, 0.0])
def test_every_needed_token_is_in_the_vocabulary(tok, p):
    rng, decode = random.Random(11), T.decoder(tok)
    for ins in D.synthetic_set(150, 13, "heldout", T.IDS, T.MAX_C, T.POOLS, T.MIN_C):
        text, _ = T.write(ins, rng, p, BUDGET, decode)
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids, text
        assert tok.decode(ids) == text  # what the toy writes decodes to exactly the text we verified
        prompt = tok.apply_chat_template([{"role": "user", "content": ins.render()}], tokenize=False,
                                         add_generation_prompt=True)
        assert tok.unk_token_id not in tok(prompt, add_special_tokens=False)["input_ids"], ins.render()


def test_writer_at_p_1_meets_every_held_out_instruction(tok):
    instructions, rng = heldout(300), random.Random(0)
    texts = [T.write(i, rng, 1.0, BUDGET, T.decoder(tok))[0] for i in instructions]
    assert T.ila_cla_of(instructions, texts) == (1.0, 1.0)


def test_writer_rates_when_asked_exceed_rates_when_not_asked(tok):
    instructions, rng = heldout(300), random.Random(1)
    texts = [T.write(i, rng, 0.7, BUDGET, T.decoder(tok))[0] for i in instructions]
    for cid, (asked, not_asked, n_asked, _) in T.rates(instructions, texts).items():
        assert n_asked > 10 and asked > not_asked + 0.1, (cid, asked, not_asked)
    ila, cla = T.ila_cla_of(instructions, texts)
    assert ila < 0.35 and cla > 0.6


def test_saved_folder_loads_as_an_hf_model_and_preset_parses(tok, tmp_path):
    from config import parse_config
    from models import load_model
    model = T.build_model(tok, hidden=32, layers=1)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    args = types.SimpleNamespace(out=str(tmp_path), max_new_tokens=40, rl_lr=1e-3, preset_eval_size=16)
    (tmp_path / "preset.json").write_text(json.dumps(T.preset(args)))
    cfg = parse_config(["--config", str(tmp_path / "preset.json"), "--out", str(tmp_path / "run")])
    assert (cfg.min_constraints, cfg.max_constraints, cfg.constraint_ids) == (T.MIN_C, T.MAX_C, ",".join(T.IDS))
    loaded, tok2 = load_model(str(tmp_path))
    text = "<< STONE >> river, [ name ] ****** P. S. garden"
    assert tok2(text)["input_ids"] == tok(text)["input_ids"]
    ids = torch.tensor([tok(text)["input_ids"]])
    assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=1e-5)


def test_measure_reads_a_checkpoint_without_a_preset_at_the_given_config(tok, tmp_path):
    build, ckpt = tmp_path / "build", tmp_path / "run" / "step_000001"
    for folder in (build, ckpt):  # a checkpoint folder (train.py's) holds no preset.json
        T.build_model(tok, hidden=32, layers=1).save_pretrained(folder)
        tok.save_pretrained(folder)
    args = types.SimpleNamespace(out=str(build), max_new_tokens=40, rl_lr=1e-3, preset_eval_size=16)
    (build / "preset.json").write_text(json.dumps(T.preset(args)))
    T.main(["--measure", "--out", str(ckpt), "--config", str(build / "preset.json"), "--eval_size", "6"])
    info = json.loads((ckpt / "testbed.json").read_text())
    assert info["eval_size"] == 6 and sorted(info["per_id"]) == sorted(T.IDS)
    assert not (ckpt / "preset.json").exists()

"""data.py: the three row formats, errors that name file:line: field, the synthetic generator."""
import itertools
import json
import re

import pytest

import constraints as C
import data as D
from constraints import KNOWN_IDS, Constraint


NC = {"id": "punctuation:no_comma"}


def _kw(cid, **kwargs):
    return {"task": "x", "constraints": [{"id": cid, "kwargs": kwargs}]}


def _write(tmp_path, rows):
    p = tmp_path / "rows.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


def test_three_formats_parse(tmp_path):
    ours = {"id": "a", "task": "Write a poem.", "template": "type4",
            "constraints": [{"id": "punctuation:no_comma", "kwargs": {}, "text": "No commas"}]}
    ifeval = {"key": 7, "prompt": "Write it. No commas.", "instruction_id_list": ["punctuation:no_comma"],
              "kwargs": [{"num_words": None}]}
    hir = {"question": "Write a poem.", "criteria": ["Use under 20 words."], "q_type": "type2",
           "ground_truth": json.dumps({"instruction_id_list": ["length_constraints:number_words"],
                                       "kwargs": [{"num_words": 20, "relation": "less than"}]})}
    a, b, c = D.load_instructions(_write(tmp_path, [ours, ifeval, hir]))
    assert a.render() == "Write a poem.\n\n- No commas" and a.template == "type4"  # type4 adds no period
    assert b.render() == "Write it. No commas." and b.id == "7" and b.prompt is not None
    assert c.render() == "Write a poem.\nUse under 20 words." and c.constraints[0].kwargs["num_words"] == 20


@pytest.mark.parametrize("row,message", [
    ("{not json", "rows.jsonl:2: not valid JSON"),
    ({"task": "x", "constraints": [{"id": "nope"}]}, "rows.jsonl:2: constraints[0]: unknown instruction id"),
    ({"task": 3, "constraints": [NC]}, "rows.jsonl:2: task: must be str"),
    ({"task": "x", "constraints": [NC], "template": "type9"}, "rows.jsonl:2: template: unknown"),
    ({"prompt": "x", "instruction_id_list": ["punctuation:no_comma"], "kwargs": []},
     "rows.jsonl:2: instruction_id_list"),
    ({"question": "x", "criteria": [], "ground_truth": "{"}, "rows.jsonl:2: ground_truth: not valid JSON"),
    ({"hello": 1}, "rows.jsonl:2: row: unknown format"),
    # accepted before, then crashed mid-training when first sampled, or gave vacuous or impossible rewards
    (_kw("keywords:existence", keywords=[1, 2]),
     "rows.jsonl:2: constraints[0]: keywords:existence: kwarg 'keywords': "
     "must be a non-empty list of non-empty strings"),
    (_kw("keywords:existence", keywords=[""]),
     "constraints[0]: keywords:existence: kwarg 'keywords': must be a non-empty list"),
    ({"task": "x", "constraints": [{"id": "punctuation:no_comma", "text": 5}]},
     "rows.jsonl:2: constraints[0]: punctuation:no_comma: text must be a non-empty string"),
    ({"question": "x", "criteria": [5],
      "ground_truth": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}},
     "rows.jsonl:2: ground_truth[0]: punctuation:no_comma: text must be a non-empty string"),
    ({"question": "x", "criteria": ["c"],
      "ground_truth": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": ["x"]}},
     "rows.jsonl:2: ground_truth[0]: kwargs must be an object, got str"),
    ({"task": "x", "constraints": []}, "rows.jsonl:2: constraints: no constraints"),
    (_kw("keywords:letter_frequency", letter="", let_frequency=2, let_relation="at least"),
     "kwarg 'letter': must not be empty"),
    (_kw("length_constraints:number_words", num_words=-5, relation="at least"),
     "kwarg 'num_words': must be >= 1, got -5"),
    (_kw("length_constraints:nth_paragraph_first_word", num_paragraphs=3, nth_paragraph=0, first_word="so"),
     "kwarg 'nth_paragraph': must be >= 1"),
    (_kw("length_constraints:nth_paragraph_first_word", num_paragraphs=2, nth_paragraph=3, first_word="so"),
     "must be at most num_paragraphs (2)"),
    (_kw("language:response_language", language="klingon"),
     "kwarg 'language': must be a language code langdetect knows"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, row, message):
    good = {"task": "ok", "constraints": [NC]}
    with pytest.raises(D.DataError, match=re.escape(message)):
        D.load_instructions(_write(tmp_path, [good, row]))


def test_conflict_rules():
    lower, upper = Constraint("change_case:english_lowercase"), Constraint("change_case:english_capital")
    few = Constraint("length_constraints:number_words", {"num_words": 50, "relation": "less than"})
    many = Constraint("length_constraints:number_sentences", {"num_sentences": 30, "relation": "at least"})
    use = Constraint("keywords:existence", {"keywords": ["tea"]})
    ban = Constraint("keywords:forbidden_words", {"forbidden_words": ["Tea"]})
    assert D.conflicts(lower, upper) and D.conflicts(few, many) and D.conflicts(use, ban)
    assert D.conflicts(Constraint("detectable_format:json_format"),
                       Constraint("detectable_format:number_bullet_lists", {"num_bullets": 2}))
    assert not D.conflicts(lower, few) and not D.conflicts(use, few)


def test_ifbench_conflict_rules_leave_ifeval_pairs_alone():
    import constraints as C
    for a, b in itertools.combinations(KNOWN_IDS, 2):  # the IFEval-only sets (and every study on them) are unchanged
        if any(a in s and b in s for s in D._EXCLUSIVE_IFBENCH):
            assert any(a in s and b in s for s in D._EXCLUSIVE), (a, b)
    title, lower = Constraint("format:title_case"), Constraint("change_case:english_lowercase")
    only = Constraint("repeat:repeat_simple")
    assert D.conflicts(title, lower) and D.conflicts(only, Constraint("count:numbers", {"N": 2}))
    assert not D.conflicts(title, Constraint("count:numbers", {"N": 2}))
    ids = [i for i in C.IFBENCH_IDS if i in C.SAMPLERS] + KNOWN_IDS
    rows = D.synthetic_set(300, 0, ids=ids, max_constraints=7, min_constraints=5)
    assert all(D.compatible(i.constraints) for i in rows)
    assert not any(len(i.constraints) > 1 and "repeat:repeat_simple" in {c.id for c in i.constraints} for i in rows)


def test_synthetic_sets_are_deterministic_compatible_and_disjoint():
    train, again = D.synthetic_set(300, seed=0), D.synthetic_set(300, seed=0)
    held = D.synthetic_set(100, seed=0, split="heldout")
    assert [i.render() for i in train] == [i.render() for i in again]
    assert all(1 <= len(i.constraints) <= 3 and D.compatible(i.constraints) for i in train + held)
    assert not {i.task for i in train} & {i.task for i in held}
    assert {c.id for i in train for c in i.constraints} == set(KNOWN_IDS)
    assert len(D.TASKS) == len(set(D.TASKS)) >= 300


def test_prompt_source_order_is_a_function_of_seed_and_position(tmp_path):
    a, b = D.PromptSource(seed=3), D.PromptSource(seed=3)
    first = [i.render() for i in a.next(5)] + [i.render() for i in a.next(5)]
    b.position = 5
    assert [i.render() for i in b.next(5)] == first[5:]
    rows = tmp_path / "r.jsonl"
    rows.write_text("".join(json.dumps({"id": str(k), "task": f"t{k}", "constraints": [NC]}) + "\n" for k in range(4)))
    src = D.PromptSource(str(rows), seed=1)
    epoch1, epoch2 = [i.id for i in src.next(4)], [i.id for i in src.next(4)]
    assert sorted(epoch1) == sorted(epoch2) == ["0", "1", "2", "3"]


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    p = tmp_path / "rows.jsonl"
    p.write_bytes(json.dumps({"task": "ok", "constraints": [NC]}).encode() + b'\n{"task": "caf\xe9"}\n')
    with pytest.raises(D.DataError, match=r"rows.jsonl:2: not UTF-8 \(byte 0xe9 at column 14\)"):
        D.load_instructions(p)


def test_the_many_constraint_regime_keeps_the_conflict_rules():
    """--min_constraints 5 --max_constraints 7: about HIR-16K's 6.2 constraints per IFEval-type row."""
    rows = D.synthetic_set(300, 0, "train", max_constraints=7, min_constraints=5)
    counts = [len(i.constraints) for i in rows]
    assert min(counts) >= 5 and max(counts) == 7 and 5.5 < sum(counts) / len(counts) < 6.5
    assert all(D.compatible(i.constraints) for i in rows)
    default = [len(i.constraints) for i in D.synthetic_set(300, 0, "train")]
    assert set(default) == {1, 2, 3}  # the default regime still starts at one constraint


def test_a_bom_is_read_and_an_unknown_q_type_is_an_error(tmp_path):
    row = {"question": "Describe a sunrise.", "q_type": "type3", "criteria": ["No commas."],
           "ground_truth": json.dumps({"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]})}
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(row) + "\n").encode())  # what Windows editors write
    assert D.load_instructions(str(path))[0].template == "type3"
    path.write_text(json.dumps(row | {"q_type": "type9"}) + "\n")
    with pytest.raises(D.DataError, match=r"bom.jsonl:1: q_type: 'type9' is not a known template \(type1, type2"):
        D.load_instructions(str(path))


# ----------------------------------------------------------------------------- MulDimIF rows (HIR-16K type3)
TYPE3_ROW = {"question": "Describe a sunrise.", "q_type": "type3",
             "criteria": ["The response must contain no more than 8 words", "Use at least 2 sentences"],
             "ground_truth": json.dumps({"instruction_id_list": [
                 ["Length", "Words", "The response must contain no more than 8 words"],
                 ["Length", "Sentences", "The response must contain at least 2 sentences"]]})}


def test_hir16k_type3_row_loads_verifies_and_rewrites():
    ins = D.parse_row(TYPE3_ROW, "row")
    assert [c.id for c in ins.constraints] == ["muldimif", "muldimif"]
    assert ins.constraints[1].kwargs == {"first": "Length", "second": "Sentences",
                                         "text": "The response must contain at least 2 sentences"}
    assert ins.render() == ("Describe a sunrise.\n\nThe output must follow the following rules:\n"
                            "1. The response must contain no more than 8 words\n2. Use at least 2 sentences")
    assert C.verify(ins, "Red sky. Warm light.") == [True, True]
    verdicts = C.verify(ins, "A red sky rose over the quiet sleeping town.")  # 9 words, 1 sentence
    assert verdicts == [False, False]
    keep = C.verify(ins, "A red sky. Then light.")
    assert keep == [True, True]
    hindsight = ins.rewrite([False, True])  # HiR keeps the satisfied items, in order, in the row's template
    assert hindsight.render() == ("Describe a sunrise.\n\nThe output must follow the following rules:\n"
                                  "1. Use at least 2 sentences")
    assert hindsight.constraints == [ins.constraints[1]]


@pytest.mark.parametrize("triple, message", [
    (["Length", "Words"], r"rows.jsonl:2: ground_truth: instruction_id_list\[0\]: a MulDimIF constraint is"),
    (["Length", "Nope", "At most 5 words"], r"rows.jsonl:2: ground_truth: instruction_id_list\[0\]: .*'Length_Nope'"),
    (["Length", "Words", 5], r"rows.jsonl:2: ground_truth: instruction_id_list\[0\]: a MulDimIF constraint is"),
])
def test_bad_type3_rows_name_file_line_and_field(tmp_path, triple, message):
    bad = dict(TYPE3_ROW, criteria=["x"], ground_truth={"instruction_id_list": [triple]})
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(TYPE3_ROW) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(D.DataError, match=message):
        D.load_instructions(str(path))


def test_a_hir16k_file_mixing_types_1_to_4_skips_type4_and_counts_it(tmp_path, capsys):
    type1 = {"question": "Write a poem.", "q_type": "type4", "data_source": "type1", "criteria": ["No commas."],
             "ground_truth": {"instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]}}  # bullet template
    type2 = {"question": "Describe a sunrise.", "q_type": "type2", "criteria": ["Include exactly 2 numbers."],
             "ground_truth": json.dumps({"instruction_id_list": ["count:numbers"], "kwargs": [{"N": 2.0}]})}
    type4 = {"question": "Write a eulogy.", "q_type": "type4", "data_source": "type4",
             "criteria": ["Sound warm and sincere."],
             "ground_truth": json.dumps({"instruction_id_list": ["Warm and sincere tone"], "kwargs": [None]})}
    path = tmp_path / "hir16k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (type1, type4, type2, TYPE3_ROW, type4)))
    rows = D.load_instructions(str(path))
    assert [r.task for r in rows] == ["Write a poem.", "Describe a sunrise.", "Describe a sunrise."]
    assert rows[0].render() == "Write a poem.\n\n- No commas."
    assert [c.id for r in rows for c in r.constraints] == ["punctuation:no_comma", "count:numbers", "muldimif",
                                                           "muldimif"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "skipped 2 type4 rows" in err[0] and "3 rows kept" in err[0]


def test_muldimif_test_items_load_with_their_fixed_prompts(tmp_path):
    item = {"id": "7", "conversations": [{"role": "user", "content": "Say hi. Use at most 3 words."}],
            "constraints": [["Length", "Words", "Use at most 3 words"]], "constraint_pattern": "Listing",
            "difficulty": "Level 1"}
    path = tmp_path / "test.json"
    path.write_text(json.dumps([item, dict(item, id="8", constraints=[["Bogus", "Key", "x"]])]))
    with pytest.raises(D.DataError, match=r"test.json\[1\]: constraints\[0\]: .*'Bogus_Key'"):
        D.load_instructions(str(path))
    path.write_text(json.dumps([item]))
    (ins,) = D.load_instructions(str(path))
    assert ins.render() == "Say hi. Use at most 3 words." and ins.id == "7"
    assert C.verify(ins, "Hi there.") == [True] and C.verify(ins, "Hi there my friend.") == [False]


# ----------------------------------------------------------------------------- prompt lengths
def _limit(max_tokens, skip=False, seen=None):
    from models import toy_tokenizer
    from rollout import prompt_limit
    limit = prompt_limit(toy_tokenizer(), max_tokens, skip)
    if seen is not None:  # record what the tokenizer is asked to count
        count = limit.count
        limit.count = lambda prompts: seen.extend(prompts) or count(prompts)
    return limit


def test_chat_token_counts_equal_the_rollouts_own_encoding():
    from models import toy_tokenizer
    from rollout import encode_prompts
    tok, prompts = toy_tokenizer(), [ins.render() for ins in D.synthetic_set(12, 3)]
    _, mask = encode_prompts(tok, prompts)
    assert _limit(10 ** 6).count(prompts) == mask.sum(1).tolist()  # the lengths the model would see


def test_a_row_over_max_prompt_length_is_refused_naming_file_and_line(tmp_path, capsys):
    long_task = "Describe the river " * 40
    p = _write(tmp_path, [{"task": "x", "constraints": [NC]}, {"task": long_task, "constraints": [NC]},
                          {"task": long_task, "constraints": [NC]}, {"task": "y", "constraints": [NC]}])
    n = _limit(1).count([D.load_instructions(str(p))[1].render()])[0]
    assert n > 100
    with pytest.raises(D.DataError, match=rf"rows.jsonl:2: prompt: {n} tokens after the chat template, over "
                                          r"--max_prompt_length 100 \(2 rows over in all; --long_prompts skip"):
        D.load_instructions(str(p), limit=_limit(100))
    kept = D.load_instructions(str(p), limit=_limit(100, skip=True))
    assert [i.task for i in kept] == ["x", "y"] and "skipped 2 rows" in capsys.readouterr().err
    assert len(D.load_instructions(str(p), limit=_limit(n))) == 4  # exactly at the limit: kept


def test_a_huge_row_is_refused_before_it_is_tokenized(tmp_path):
    seen = []
    p = _write(tmp_path, [{"task": "x", "constraints": [NC]}, {"task": "word " * 2_000_000, "constraints": [NC]}])
    with pytest.raises(D.DataError, match=r"rows.jsonl:2: prompt: 10,000,0\d\d characters, over the size limit of "
                                          r"131,072 .*refused before tokenizing"):
        D.load_instructions(str(p), limit=_limit(2048, seen=seen))
    assert max(map(len, seen)) < 1000  # the tokenizer only ever saw the short row


def test_the_size_bound_never_refuses_a_prompt_that_fits():
    """Byte-level BPE: no prompt of at most max_tokens tokens is longer than max_tokens x the longest vocabulary
    entry (checked on random texts, unicode and long runs included); the toy's word-level tokenizer, whose <unk>
    stands for a word of any length, gets a size limit instead, and a long unknown word that fits is kept."""
    import random
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    from models import CHATML, toy_tokenizer
    from rollout import bytes_cover_text, chat_ids, prompt_limit
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer, bpe.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    words = ["river", "garden", "==========", "    ", "naïve", "日本語", "x" * 40]
    bpe.train_from_iterator([" ".join(random.Random(i).choices(words, k=50)) for i in range(200)],
                            trainers.BpeTrainer(vocab_size=400, special_tokens=["<|im_start|>", "<|im_end|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|im_end|>")
    tok.chat_template = CHATML
    assert bytes_cover_text(tok) and not bytes_cover_text(toy_tokenizer())
    longest = max(map(len, tok.get_vocab()))
    rng = random.Random(0)
    for _ in range(200):
        text = "".join(rng.choices(words + ["\n", "!", "é", "\t"], k=rng.randint(1, 80)))
        n = len(chat_ids(tok, [text])[0])
        assert len(text) <= n * longest  # so a prompt over n * longest characters cannot be n tokens or fewer
        assert prompt_limit(tok, n).problems([text]) == [None]  # exactly at its own length: it fits
    word = "unknownword" * 55  # 605 characters, one <unk> for the toy
    assert _limit(50).problems([word]) == [None]

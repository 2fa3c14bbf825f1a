"""constraints.py: every IFEval id against hand-written cases, the official verdicts, templates,
REWRITE, and robustness on hostile strings."""
import json
import random

import pytest
from hypothesis import given, settings, strategies as st

import constraints as C
from conftest import need_shared

# (id, kwargs, response, expected strict verdict), written from the IFEval specification
CASES = [
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "One, two.", False),
    ("change_case:english_lowercase", {}, "this is a plain english sentence about the weather today.", True),
    ("change_case:english_lowercase", {}, "This is a plain English sentence about the weather.", False),
    ("change_case:english_capital", {}, "THIS IS A PLAIN ENGLISH SENTENCE ABOUT THE WEATHER TODAY.", True),
    ("change_case:english_capital", {}, "THIS IS A PLAIN ENGLISH SENTENCE ABOUT THE WEATHEr.", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "I LOVE it, DON'T you?", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "Nothing shouted here.", False),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     "Only ONE here.", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "say HI. Hi!", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Say hi."}, "Hi! Say hi.", False),
    ("combination:two_responses", {}, "First answer.\n******\nSecond answer.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name], at [address].", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "Dear [name\n], at [address].", False),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello.\n\nP.S. bring cake", True),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hello.\np. p. s: more", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hello. PS bring cake", False),
    ("detectable_format:constrained_response", {}, "Well... My answer is maybe.", True),
    ("detectable_format:constrained_response", {}, "My answer is perhaps.", False),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True),
    ("detectable_format:json_format", {}, '{"a": [1, 2]', False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nfoo\nSection 2\nbar", True),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 3},
     "Section 1\nfoo\nSection 2\nbar", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "Intro\n* one\n- two\n", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* one\n* two\n* three", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "**bold** is not a bullet\n* but this is", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and **two**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2}, "*one* and * *", False),
    ("detectable_format:title", {}, "<<My Title>>\ntext", True),
    ("detectable_format:title", {}, "<< >>\n<<\nbroken>>", False),
    ("keywords:existence", {"keywords": ["river", "lamp"]}, "The RIVER and a lamp.", True),
    ("keywords:existence", {"keywords": ["river", "lamp"]}, "Only the river.", False),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "I like concatenation.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["cat"]}, "My Cat sleeps.", False),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "at least"}, "Tea? tea!", True),
    ("keywords:frequency", {"keyword": "tea", "frequency": 2, "relation": "less than"}, "Tea? tea!", False),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "at least"}, "Zoo zone", True),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 2, "let_relation": "less than"}, "Zoo zone", False),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 1, "let_relation": "at least"}, "#tag", True),
    ("language:response_language", {"language": "de"}, "Ich habe heute keine Zeit, weil ich arbeiten muss.", True),
    ("language:response_language", {"language": "de"}, "I have no time today because I have to work.", False),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First part.\n\n\"Then, the second.", True),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "then"},
     "First part.\n\nNow the second.", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\nTwo.", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "One.\n***\n***\nTwo.", False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Mr. Smith came. He sat.", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
     "Mr. Smith came. He sat.", False),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"}, "one two-three", True),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"}, "one two-three", False),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, 'Done. any other questions?"', True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Any other questions? Bye.", False),
    ("startend:quotation", {}, '"quoted"', True),
    ("startend:quotation", {}, '"', False),
]


def test_cases_cover_every_id_both_ways():
    assert len(C.KNOWN_IDS) == 25
    for cid in C.KNOWN_IDS:
        assert {c[3] for c in CASES if c[0] == cid} == {True, False}, cid


@pytest.mark.parametrize("cid,kwargs,response,expected", CASES)
def test_case(cid, kwargs, response, expected):
    assert C.Constraint(cid, kwargs).check(response) is expected


@pytest.mark.parametrize("cid", C.KNOWN_IDS)
def test_empty_response_fails_everything(cid):
    c = C.Constraint.sample(cid, random.Random(0), "Say hi.")
    assert not c.check("") and not c.check("  \n ") and not c.check_loose("")


def test_loose_variants_follow_the_official_definition():
    v = C.loose_variants("Sure!\n**body**\nbye")
    assert v == ["Sure!\n**body**\nbye", "Sure!\nbody\nbye", "**body**\nbye", "Sure!\n**body**", "**body**",
                 "body\nbye", "Sure!\nbody", "body"]
    c = C.Constraint("startend:quotation")
    assert not c.check('Here it is:\n"quoted"') and c.check_loose('Here it is:\n"quoted"')


def test_unknown_id_lists_known_ids():
    with pytest.raises(ValueError, match="punctuation:no_comma"):
        C.Constraint("punctuation:no_colon")


@pytest.mark.parametrize("kwargs", [{"num_words": 3}, {"num_words": "3", "relation": "at least"},
                                    {"num_words": 3, "relation": "at most"},
                                    {"num_words": 3, "relation": "at least", "x": 1}])
def test_bad_kwargs_are_errors(kwargs):
    with pytest.raises(ValueError, match="number_words"):
        C.Constraint("length_constraints:number_words", kwargs)


def test_agreement_with_official_checker():
    """Every verdict of the official checker on 541 Llama-3B responses, strict and loose."""
    ref = need_shared("llama_3b.ref.jsonl")
    checked = 0
    for line in open(ref):
        r = json.loads(line)
        if "notes" in r:  # official verdict is random there
            continue
        for i, (cid, kw) in enumerate(zip(r["instruction_id_list"], r["kwargs"])):
            c = C.Constraint(cid, kw)
            assert c.check(r["response"]) == r["follow_list_strict"][i], (r["key"], cid)
            assert c.check_loose(r["response"]) == r["follow_list_loose"][i], (r["key"], cid)
            checked += 1
    assert checked > 800


# ----------------------------------------------------------------------------- templates and REWRITE
def _instruction(template):
    cs = [C.Constraint("punctuation:no_comma", text="Do not use commas"),
          C.Constraint("keywords:existence", {"keywords": ["tea"]}, text="Mention tea."),
          C.Constraint("startend:quotation", text="Wrap it in quotes!")]
    return C.Instruction("Write a poem.", cs, template)


RENDERED = {  # the release's rule: ". " after an item in type1, type2, type5 unless it ends in , . ? !; none elsewhere
    "type1": "Write a poem. Do not use commas. Mention tea. Wrap it in quotes!",
    "type2": "Write a poem.\nDo not use commas. Mention tea. Wrap it in quotes!",
    "type3": "Write a poem.\n\nThe output must follow the following rules:\n"
             "1. Do not use commas\n2. Mention tea.\n3. Wrap it in quotes!",
    "type4": "Write a poem.\n\n- Do not use commas\n- Mention tea.\n- Wrap it in quotes!",
    "type5": "Do not use commas. Mention tea. Wrap it in quotes!\n\nWrite a poem.",
    "type6": "Write a poem.\n\nDo not use commas\nMention tea.\nWrap it in quotes!",
}


def released(question, criteria, q_type):
    """The released _concat_question's output, rebuilt from its rule as facts (per template: what joins the items,
    what follows each, where the task goes; the joined block stripped, nothing else): the slow reference."""
    def running():
        return "".join(c + (" " if c[-1] in ",.?!" else ". ") for c in criteria).strip()
    blocks = {"type3": "The output must follow the following rules:\n" + "".join(
                  f"{i + 1}. {c}\n" for i, c in enumerate(criteria)),
              "type4": "".join("- " + c + "\n" for c in criteria), "type6": "".join(c + "\n" for c in criteria)}
    if q_type in blocks:
        return question + "\n\n" + blocks[q_type].strip()
    return {"type1": question + " " + running(), "type2": question + "\n" + running(),
            "type5": running() + "\n\n" + question}[q_type]


@pytest.mark.parametrize("template", sorted(RENDERED))
def test_templates_equal_the_released_rule_on_strings_it_treats_differently(template):
    """Items ending in each of , . ? ! and in none, one ending in a space, and a task with surrounding space (the
    release strips neither): our render equals the released rule's string."""
    criteria = ["No commas", "Say yes,", "End with tea.", "Why not?", "Shout!", "Keep it short "]
    cs = [C.Constraint("punctuation:no_comma", text=t) for t in criteria]
    task = "  Write a poem about tea "
    assert C.Instruction(task, cs, template).render() == released(task, criteria, template)


@pytest.mark.parametrize("template", sorted(RENDERED))
def test_templates_render(template):
    assert _instruction(template).render() == RENDERED[template]


def test_rewrite_keeps_satisfied_constraints_in_order_and_renumbers():
    ins = _instruction("type3")
    verdicts = C.verify(ins, '"Tea, please"')
    assert verdicts == [False, True, True]
    hind = ins.rewrite(verdicts)
    assert hind.template == "type3" and hind.task == ins.task
    assert hind.render() == ("Write a poem.\n\nThe output must follow the following rules:\n"
                             "1. Mention tea.\n2. Wrap it in quotes!")
    assert C.verify(hind, '"Tea, please"') == [True, True]  # the response now succeeds
    assert C.ila(verdicts) == 0.0 and C.cla(verdicts) == pytest.approx(2 / 3)


def test_fixed_prompt_cannot_be_rewritten():
    ins = C.Instruction("p", [C.Constraint("punctuation:no_comma")], prompt="p")
    with pytest.raises(ValueError, match="cannot be rewritten"):
        ins.rewrite([True])


@pytest.mark.parametrize("cid", C.KNOWN_IDS)
def test_describe_and_sample(cid):
    rng = random.Random(cid)
    for _ in range(5):
        c = C.Constraint.sample(cid, rng, "Say hi.")
        assert c.describe().strip() and c.describe(rng).strip()
        assert "{" not in c.describe(rng) or cid == "detectable_format:json_format"


def test_sample_draws_keywords_from_the_ids_own_pool_else_the_shared_one():
    pools = {"keywords:existence": ["river"], "keywords:frequency": ["engine"], "": ["candle"]}
    for seed in range(20):
        rng = random.Random(seed)
        assert C.Constraint.sample("keywords:existence", rng, "", pools).kwargs["keywords"] == ["river"]
        assert C.Constraint.sample("keywords:frequency", rng, "", pools).kwargs["keyword"] == "engine"
        assert C.Constraint.sample("keywords:forbidden_words", rng, "", pools).kwargs["forbidden_words"] == ["candle"]
        # a list is one pool for every id, drawn exactly as before (the same rng stream)
        a = C.Constraint.sample("keywords:frequency", random.Random(seed), "", ["a", "b", "c"])
        b = C.Constraint.sample("keywords:frequency", random.Random(seed), "", {"": ["a", "b", "c"]})
        assert a.kwargs == b.kwargs
    no_shared = C.Constraint.sample("keywords:forbidden_words", random.Random(0), "", {"keywords:existence": ["x"]})
    assert set(no_shared.kwargs["forbidden_words"]) <= set(C.WORDS)  # neither its own nor a shared pool: WORDS


# ----------------------------------------------------------------------------- hostile strings
HOSTILE = ["{{{[[[" * 20000, "[" * 100000, "\n" * 100000, " \n" * 50000, "<<" * 50000, "*" * 100000,
           "a." * 50000, "P.S." * 25000, "Mr. " * 25000, "\u200b\U0001F600" * 30000, "-\n" * 50000]


@pytest.mark.parametrize("cid", C.KNOWN_IDS)
def test_hostile_strings_never_raise(cid):
    c = C.Constraint.sample(cid, random.Random(1), "Say hi.")
    for s in HOSTILE:
        assert c.check(s) in (True, False)


def test_one_megabyte_strings_never_raise():
    rng = random.Random(0)
    big = ["".join(rng.choice("ab ,.*-[]<>{}\n\"'") for _ in range(1_000_000)), "[{" * 500_000,
           "".join(chr(rng.randrange(0x20, 0x2FFFF)) for _ in range(1_000_000))]
    for cid in C.KNOWN_IDS:
        c = C.Constraint.sample(cid, rng, "Say hi.")
        for s in big:
            assert c.check(s) in (True, False) and c.check_loose(s) in (True, False)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300), st.sampled_from(C.KNOWN_IDS), st.integers(0, 99))
def test_any_string_never_raises(text, cid, seed):
    c = C.Constraint.sample(cid, random.Random(seed), "Say hi.")
    assert c.check(text) in (True, False) and c.check_loose(text) in (True, False)

"""The benchmark checkers behind constraints.py: what a first-time reader may skip.

    ifeval.py         IFEval's 25 verifiers and its loose variants
    ifbench.py        IFBench's 58 (with ifbench_tasks.py, ifbench_text.py: how IFBench cuts text)
    textstats.py      linear-time text measures (words, bullets, titles, language) they share
    sentences.py      Punkt sentences (NLTK's English model) in linear time
    wording.py        the sentences that ask for each constraint, and kwargs samplers for synthetic data
    muldimif.py       MulDimIF's 12 check classes (muldimif_*.py), dispatched on a [first, second, text] triple

This file is the registry: every id's check, the kwargs each takes, and why a kwarg is refused.
"""
from checkers import ifbench, ifeval, muldimif
from checkers.wording import RELATIONS  # noqa: F401 ("less than", "at least")

KNOWN_IDS = sorted(ifeval.CHECKS)  # IFEval's 25: the default for synthetic data
IFBENCH_IDS = ifbench.IDS           # IFBench's 58, verified alike
MULDIMIF_ID = "muldimif"          # one id for every MulDimIF triple: kwargs first, second, text (the check parses text)


def _muldimif(response, first, second, text):
    return muldimif.check([first, second, text], response)


CHECKS = ifeval.CHECKS | ifbench.CHECKS | {MULDIMIF_ID: _muldimif}
ALL_IDS = sorted(CHECKS)

# kwargs each id takes (IFEval's names) and the Python type each must have
KWARG_TYPES = {"capital_frequency": int, "capital_relation": str, "prompt_to_repeat": str,
               "num_placeholders": int, "postscript_marker": str, "section_spliter": str,
               "num_sections": int, "num_bullets": int, "num_highlights": int, "keywords": list,
               "forbidden_words": list, "keyword": str, "frequency": int, "relation": str,
               "letter": str, "let_frequency": int, "let_relation": str, "language": str,
               "num_paragraphs": int, "nth_paragraph": int, "first_word": str, "num_sentences": int,
               "num_words": int, "end_phrase": str,
               # IFBench's
               "small_n": int, "N": int, "min_words": int, "max_words": int, "percentage": (int, float),
               "reference_text": str, "sep": str, "options": str, "word": str, "n": int, "m": int,
               "n_start": int, "n_end": int, **{f"keyword{i}": str for i in range(1, 6)},
               # MulDimIF's triple
               "first": str, "second": str, "text": str}


COUNTS = {"capital_frequency", "num_placeholders", "num_sections", "num_bullets", "num_highlights", "frequency",
          "let_frequency", "num_paragraphs", "nth_paragraph", "num_sentences", "num_words"}
# langdetect's language codes (its profile files): a language it cannot answer is a constraint never met
LANGUAGES = ("af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv mk ml mr ne nl no "
             "pa pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh-cn zh-tw").split()


def kwarg_problem(k, v, kwargs):
    """Why a well-typed kwarg still makes a vacuous or impossible constraint (None if it does not)."""
    if k in COUNTS and v < 1:
        return "must be >= 1"
    if k == "nth_paragraph" and v > kwargs["num_paragraphs"]:
        return f"must be at most num_paragraphs ({kwargs['num_paragraphs']})"
    if isinstance(v, str) and not v.strip():
        return "must not be empty"
    if k == "letter" and len(v) != 1:
        return "must be one character"
    if k == "language" and v not in LANGUAGES:
        return "must be a language code langdetect knows (" + " ".join(LANGUAGES) + ")"
    if isinstance(v, list) and not (v and all(isinstance(w, str) and w.strip() for w in v)):
        return "must be a non-empty list of non-empty strings"
    if k == "second" and (problem := muldimif.problem([kwargs.get("first"), v, kwargs.get("text")])):
        return problem
    return None

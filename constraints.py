"""Verifiable constraints, the prompt templates, and HiR's REWRITE.

    python -c "import constraints as C; print(C.Instruction('Write a poem.', [C.Constraint('punctuation:no_comma')]).render())"

An instruction is a task plus a list of atomic constraints. Each constraint has an IFEval id
(e.g. `punctuation:no_comma`), IFEval's kwargs, a verifier `check(text) -> bool`, a sentence that
asks for it (`describe()`), and a sampler of random valid kwargs (`sample()`). The verifiers
reproduce the official IFEval checker verdict for verdict (strict and loose), with two deliberate
differences, both documented where they happen:
  * keywords, markers and section splitters are matched literally (the official code pastes them
    into regexes unescaped; on IFEval's data they are plain words, so no verdict changes);
  * `keywords:letter_frequency` with a non-letter counts that character (official: a random letter).
Every verifier runs in time linear in the text: patterns that backtrack quadratically in Python's
`re` (bullets, titles, placeholders, postscripts) are re-implemented as scans, and
tests/test_constraints.py checks each scan against the official regex on random strings.

`Instruction.rewrite(keep)` is HiR's REWRITE: same task, same template, only the kept constraints.
"""
import inspect
import json
import random
import re
from dataclasses import dataclass, field

import ifbench
from wording import END_PHRASES, IFBENCH_PHRASES, LANGUAGE_NAMES, PHRASES, SAMPLERS, WORDS  # noqa: F401

from textstats import (capital_words, count_bullets, count_highlights, count_placeholders,
                       count_sentences, count_words, detect_language, has_title)
from wording import RELATIONS  # ("less than", "at least")


def _compare(count, relation, n):
    return count < n if relation == "less than" else count >= n


# ----------------------------------------------------------------------------- the verifiers
def _postscript(t, postscript_marker):
    t, m = t.lower(), postscript_marker.lower()
    # official pattern is r"\s*<marker>.*$": the leading \s* and trailing .*$ never decide a match
    pattern = {"p.p.s": r"p\.\s?p\.\s?s", "p.s.": r"p\.\s?s\."}.get(m, re.escape(m))
    return re.search(pattern, t) is not None


def _json(t):
    t = t.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        if t.startswith(prefix):
            t = t[len(prefix):]
            break
    t = (t[:-3] if t.endswith("```") else t).strip()
    try:
        json.loads(t)
    except (ValueError, RecursionError):  # RecursionError: deep "[[[[": not valid for us either
        return False
    return True


def _two_responses(t):
    parts = t.split("******")
    for i, p in enumerate(parts):
        if not p.strip() and 0 < i < len(parts) - 1:
            return False
    parts = [p for p in parts if p.strip()]
    return len(parts) == 2 and parts[0].strip() != parts[1].strip()


def _num_paragraphs(t, num_paragraphs):
    parts = re.split(r"\s?\*\*\*\s?", t)
    for i, p in enumerate(parts):
        if not p.strip() and 0 < i < len(parts) - 1:
            return False
    return sum(1 for i, p in enumerate(parts) if p.strip() or 0 < i < len(parts) - 1) == num_paragraphs


def _nth_paragraph_first_word(t, num_paragraphs, nth_paragraph, first_word):
    parts = t.split("\n\n")
    count = sum(1 for p in parts if p.strip())
    # official quirk kept: it counts non-empty paragraphs but indexes the unfiltered split
    if nth_paragraph > count or not parts[nth_paragraph - 1].strip():
        return False
    word = parts[nth_paragraph - 1].split()[0].lstrip("'").lstrip('"')
    word = re.split(r"[.,?!'\"]", word)[0].lower()
    return count == num_paragraphs and word == first_word.lower()


def _letter_frequency(t, letter, let_frequency, let_relation):
    # policy: count the literal (lowercased) character; official draws a random letter for "#", "!"
    return _compare(t.lower().count(letter.strip().lower()), let_relation, let_frequency)


CHECKS = {
    "change_case:capital_word_frequency": lambda t, capital_frequency, capital_relation:
        _compare(len(capital_words(t)), capital_relation, capital_frequency),
    "change_case:english_capital": lambda t: t.isupper() and detect_language(t) in ("en", None),
    "change_case:english_lowercase": lambda t: t.islower() and detect_language(t) in ("en", None),
    "combination:repeat_prompt": lambda t, prompt_to_repeat:
        t.strip().lower().startswith(prompt_to_repeat.strip().lower()),
    "combination:two_responses": _two_responses,
    "detectable_content:number_placeholders": lambda t, num_placeholders:
        count_placeholders(t) >= num_placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:constrained_response": lambda t: any(
        a in t for a in ("My answer is yes.", "My answer is no.", "My answer is maybe.")),
    "detectable_format:json_format": _json,
    "detectable_format:multiple_sections": lambda t, section_spliter, num_sections:
        len(re.split(r"\s?" + re.escape(section_spliter) + r"\s?\d+\s?", t)) - 1 >= num_sections,
    "detectable_format:number_bullet_lists": lambda t, num_bullets: count_bullets(t) == num_bullets,
    "detectable_format:number_highlighted_sections": lambda t, num_highlights:
        count_highlights(t) >= num_highlights,
    "detectable_format:title": has_title,
    "keywords:existence": lambda t, keywords: all(
        re.search(re.escape(k), t, re.IGNORECASE) for k in keywords),
    "keywords:forbidden_words": lambda t, forbidden_words: not any(
        re.search(r"\b" + re.escape(w) + r"\b", t, re.IGNORECASE) for w in forbidden_words),
    "keywords:frequency": lambda t, keyword, frequency, relation: _compare(
        len(re.findall(re.escape(keyword.strip()), t, re.IGNORECASE)), relation, frequency),
    "keywords:letter_frequency": _letter_frequency,
    "language:response_language": lambda t, language: detect_language(t) in (language, None),
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "length_constraints:number_paragraphs": _num_paragraphs,
    "length_constraints:number_sentences": lambda t, num_sentences, relation: _compare(
        count_sentences(t, stop_at=num_sentences), relation, num_sentences),
    "length_constraints:number_words": lambda t, num_words, relation:
        _compare(count_words(t), relation, num_words),
    "punctuation:no_comma": lambda t: "," not in t,
    "startend:end_checker": lambda t, end_phrase:
        t.strip().strip('"').lower().endswith(end_phrase.strip().lower()),
    "startend:quotation": lambda t: len(t.strip()) > 1 and t.strip()[0] == t.strip()[-1] == '"',
}
KNOWN_IDS = sorted(CHECKS)  # IFEval's 25: the default for synthetic data
IFBENCH_IDS = ifbench.IDS    # IFBench's 58 (ifbench.py), verified alike
CHECKS |= ifbench.CHECKS
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
               "n_start": int, "n_end": int, **{f"keyword{i}": str for i in range(1, 6)}}


COUNTS = {"capital_frequency", "num_placeholders", "num_sections", "num_bullets", "num_highlights", "frequency",
          "let_frequency", "num_paragraphs", "nth_paragraph", "num_sentences", "num_words"}
# langdetect's language codes (its profile files): a language it cannot answer is a constraint never met
LANGUAGES = ("af ar bg bn ca cs cy da de el en es et fa fi fr gu he hi hr hu id it ja kn ko lt lv mk ml mr ne nl no "
             "pa pl pt ro ru sk sl so sq sv sw ta te th tl tr uk ur vi zh-cn zh-tw").split()


def _kwarg_problem(k, v, kwargs):
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
    return None


def loose_variants(response):
    """IFEval's loose scoring: the response, with `*` removed, first/last/both lines removed, and
    those removals without `*`. (Like the official code, only the line-removed variants are
    stripped; `check_loose` skips empty variants.)"""
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", "")] + cut + [c.replace("*", "") for c in cut]


# ----------------------------------------------------------------------------- one constraint
@dataclass(frozen=True)
class Constraint:
    """One atomic, verifiable constraint: an IFEval id, its kwargs, optionally its own wording."""
    id: str
    kwargs: dict = field(default_factory=dict)
    text: str | None = None  # the sentence used in prompts; None -> describe()

    def __post_init__(self):
        if self.id not in CHECKS:
            raise ValueError(f"unknown instruction id {self.id!r}; known ids: {', '.join(ALL_IDS)}")
        # null kwargs are dropped (IFBench pads every row with them); 5.0 is 5 where a count is meant
        kwargs = {k: int(v) if KWARG_TYPES.get(k) is int and isinstance(v, float) and v.is_integer() else v
                  for k, v in (self.kwargs or {}).items() if v is not None}
        expected = set(list(inspect.signature(CHECKS[self.id]).parameters)[1:])
        if set(kwargs) != expected:
            raise ValueError(f"{self.id}: kwargs must be {sorted(expected)}, got {sorted(kwargs)}")
        for k, v in kwargs.items():
            if not isinstance(v, KWARG_TYPES[k]) or isinstance(v, bool):
                kind = getattr(KWARG_TYPES[k], "__name__", "number")
                raise ValueError(f"{self.id}: kwarg {k!r} must be {kind}, got {v!r}")
        if kwargs.get("relation", kwargs.get("let_relation", kwargs.get("capital_relation", "at least"))) not in RELATIONS:
            raise ValueError(f"{self.id}: relation must be one of {RELATIONS}, got {kwargs}")
        for k, v in kwargs.items():
            if problem := _kwarg_problem(k, v, kwargs):
                raise ValueError(f"{self.id}: kwarg {k!r}: {problem}, got {v!r}")
        if self.text is not None and not (isinstance(self.text, str) and self.text.strip()):
            raise ValueError(f"{self.id}: text must be a non-empty string, got {self.text!r}")
        object.__setattr__(self, "kwargs", kwargs)

    def check(self, response: str) -> bool:
        """Strict: the raw response. An empty (or all-blank) response fails every constraint."""
        return bool(response.strip()) and bool(CHECKS[self.id](response, **self.kwargs))

    def check_loose(self, response: str) -> bool:
        return any(self.check(v) for v in loose_variants(response))

    def describe(self, rng: random.Random | None = None) -> str:
        """The sentence that asks for this constraint: own `text`, else a paraphrase (the first
        one without an rng, a seeded random one with it)."""
        if self.text:
            return self.text
        phrases = PHRASES.get(self.id) or IFBENCH_PHRASES[self.id]
        phrase = phrases[rng.randrange(len(phrases))] if rng else phrases[0]
        kw = {k: (", ".join(f'"{w}"' for w in v) if isinstance(v, list) else v) for k, v in self.kwargs.items()}
        if "language" in kw:
            kw["language"] = LANGUAGE_NAMES.get(kw["language"], kw["language"])
        return phrase.format(**kw)

    @classmethod
    def sample(cls, id: str, rng: random.Random, task: str = "", words=None) -> "Constraint":
        """A random valid instance of constraint `id` (kwargs from SAMPLERS), for synthetic data;
        keywords are drawn from `words` (default: WORDS)."""
        if id not in SAMPLERS:
            raise ValueError(f"{id}: not sampled for synthetic data (it needs a fixed task or reference text); "
                             f"sampled ids: {', '.join(sorted(SAMPLERS))}")
        return cls(id, SAMPLERS[id](rng, task, list(words or WORDS)))

    def to_dict(self):
        return {"id": self.id, "kwargs": self.kwargs} | ({"text": self.text} if self.text else {})


# ----------------------------------------------------------------------------- templates and instructions
def _sentence(s):
    s = s.strip()
    return s if s[-1:] in ",.?!" else s + "."  # as released: no period after ",", ".", "?" or "!"


TEMPLATES = {
    "type1": lambda task, cs: " ".join([task] + [_sentence(c) for c in cs]),
    "type2": lambda task, cs: task + "\n" + " ".join(_sentence(c) for c in cs),
    "type3": lambda task, cs: task + "\n\nThe output must follow the following rules:\n"
                              + "\n".join(f"{i}. {_sentence(c)}" for i, c in enumerate(cs, 1)),
    "type4": lambda task, cs: task + "\n\n" + "\n".join(f"- {_sentence(c)}" for c in cs),
    "type5": lambda task, cs: " ".join(_sentence(c) for c in cs) + "\n\n" + task,
    "type6": lambda task, cs: task + "\n\n" + "\n".join(_sentence(c) for c in cs),
}


@dataclass
class Instruction:
    """A task plus constraints, rendered through one template. `prompt` is set only for rows whose
    prompt text is fixed (IFEval), which render as is and cannot be rewritten."""
    task: str
    constraints: list
    template: str = "type1"
    id: str = ""
    prompt: str | None = None

    def __post_init__(self):
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}; known: {sorted(TEMPLATES)}")

    def render(self) -> str:
        if self.prompt is not None:
            return self.prompt
        if not self.constraints:
            return self.task
        return TEMPLATES[self.template](self.task.strip(), [c.describe() for c in self.constraints])

    def rewrite(self, keep) -> "Instruction":
        """HiR's REWRITE: the same task and template with only the kept constraints, in order.
        `keep` is one bool per constraint (e.g. the verdicts of a failed response)."""
        if self.prompt is not None:
            raise ValueError(f"instruction {self.id!r} has a fixed prompt (IFEval row): it cannot be rewritten")
        if len(keep) != len(self.constraints):
            raise ValueError(f"rewrite needs {len(self.constraints)} keep flags, got {len(keep)}")
        kept = [c for c, k in zip(self.constraints, keep) if k]
        return Instruction(self.task, kept, self.template, self.id + "+hir", None)

    def to_dict(self):
        return {"id": self.id, "task": self.task, "template": self.template,
                "constraints": [c.to_dict() for c in self.constraints]}


def verify(instruction: Instruction, response: str, loose: bool = False) -> list:
    """One verdict per constraint. ILA (instruction-level) = all(verdicts); CLA = their mean."""
    check = Constraint.check_loose if loose else Constraint.check
    return [check(c, response) for c in instruction.constraints]


def ila(verdicts):
    return float(all(verdicts))


def cla(verdicts):
    return sum(verdicts) / len(verdicts) if verdicts else 1.0

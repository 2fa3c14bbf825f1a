"""Verifiable constraints, the prompt templates, and HiR's REWRITE: the one interface to the checkers.

    python -c "import constraints as C; print(C.Instruction('Poem.', [C.Constraint('punctuation:no_comma')]).render())"

An instruction is a task plus a list of atomic constraints. Each constraint has an id (IFEval's
`punctuation:no_comma`, IFBench's `count:word_count_range`), kwargs, a verifier `check(text) -> bool`,
a sentence that asks for it (`describe()`), and a sampler of random valid kwargs (`sample()`).
The verifiers live in checkers/ (IFEval's and IFBench's, verdict for verdict with the official
checkers, each in linear time); this file only dispatches to them.

Read top-down: Constraint (validate, check, describe) -> TEMPLATES -> Instruction (render, and
`rewrite(keep)`, HiR's REWRITE: same task, same template, only the kept constraints) -> verify, ILA, CLA.
"""
import functools
import inspect
import random
from dataclasses import dataclass, field

from checkers import (ALL_IDS, CHECKS, IFBENCH_IDS, KNOWN_IDS, KWARG_TYPES, MULDIMIF_ID, RELATIONS,  # noqa: F401
                      kwarg_problem)
from checkers.ifeval import loose_variants
from checkers.wording import END_PHRASES, IFBENCH_PHRASES, LANGUAGE_NAMES, PHRASES, SAMPLERS, WORDS  # noqa: F401


# ----------------------------------------------------------------------------- one constraint
@functools.cache
def _kwarg_names(cid):
    return set(list(inspect.signature(CHECKS[cid]).parameters)[1:])


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
        expected = _kwarg_names(self.id)
        if set(kwargs) != expected:
            raise ValueError(f"{self.id}: kwargs must be {sorted(expected)}, got {sorted(kwargs)}")
        for k, v in kwargs.items():
            if not isinstance(v, KWARG_TYPES[k]) or isinstance(v, bool):
                kind = getattr(KWARG_TYPES[k], "__name__", "number")
                raise ValueError(f"{self.id}: kwarg {k!r} must be {kind}, got {v!r}")
        relation = kwargs.get("relation", kwargs.get("let_relation", kwargs.get("capital_relation", "at least")))
        if relation not in RELATIONS:
            raise ValueError(f"{self.id}: relation must be one of {RELATIONS}, got {kwargs}")
        for k, v in kwargs.items():
            if problem := kwarg_problem(k, v, kwargs):
                raise ValueError(f"{self.id}: kwarg {k!r}: {problem}, got {v!r}")
        if self.text is not None and not (isinstance(self.text, str) and self.text.strip()):
            raise ValueError(f"{self.id}: text must be a non-empty string, got {self.text!r}")
        object.__setattr__(self, "kwargs", kwargs)

    def check(self, response: str) -> bool:
        """Strict: the raw response. An empty (or all-blank) response fails every IFEval and IFBench constraint;
        a MulDimIF one gets the official verdict even then ("at most 50 words" holds on an empty answer there)."""
        if self.id == MULDIMIF_ID:
            return CHECKS[self.id](response, **self.kwargs)
        return bool(response.strip()) and bool(CHECKS[self.id](response, **self.kwargs))

    def check_loose(self, response: str) -> bool:
        if self.id == MULDIMIF_ID:  # MulDimIF has no loose variant
            return self.check(response)
        return any(self.check(v) for v in loose_variants(response))

    def describe(self, rng: random.Random | None = None) -> str:
        """The sentence that asks for this constraint: own `text`, else a paraphrase (the first
        one without an rng, a seeded random one with it)."""
        if self.text:
            return self.text
        if self.id == MULDIMIF_ID:  # a MulDimIF constraint is its own sentence: the check parses that text
            return self.kwargs["text"]
        phrases = PHRASES.get(self.id) or IFBENCH_PHRASES[self.id]
        phrase = phrases[rng.randrange(len(phrases))] if rng else phrases[0]
        kw = {k: (", ".join(f'"{w}"' for w in v) if isinstance(v, list) else v) for k, v in self.kwargs.items()}
        if "language" in kw:
            kw["language"] = LANGUAGE_NAMES.get(kw["language"], kw["language"])
        return phrase.format(**kw)

    @classmethod
    def sample(cls, id: str, rng: random.Random, task: str = "", words=None) -> "Constraint":
        """A random valid instance of constraint `id` (kwargs from SAMPLERS), for synthetic data; keywords are
        drawn from `words`: a list (one pool for every id), a dict {id: list} (a pool of each id's own, "" for
        the other ids; see config.keyword_pool), or None (WORDS)."""
        if id not in SAMPLERS:
            raise ValueError(f"{id}: not sampled for synthetic data (it needs a fixed task or reference text); "
                             f"sampled ids: {', '.join(sorted(SAMPLERS))}")
        pool = (words.get(id) or words.get("")) if isinstance(words, dict) else words
        return cls(id, SAMPLERS[id](rng, task, list(pool or WORDS)))

    def to_dict(self):
        return {"id": self.id, "kwargs": self.kwargs} | ({"text": self.text} if self.text else {})


# ----------------------------------------------------------------------------- templates and instructions
def sentence(s):
    """A constraint's wording as a sentence: stripped, and a period unless it ends in , . ? or ! (synthetic data keeps
    its sentence ends in the wording itself, so the released templates below render it unchanged)."""
    s = s.strip()
    return s if s[-1:] in ",.?!" else s + "."


def _joined(cs):
    """The release's running text (templates type1, type2, type5): each item and ". ", or " " after an item that ends
    in , . ? or !; then stripped. Nothing else is stripped or added."""
    return "".join(c + (" " if c[-1:] in ",.?!" else ". ") for c in cs).strip()


TEMPLATES = {  # the release's _concat_question, template by template: type3, type4 and type6 add no period
    "type1": lambda task, cs: f"{task} {_joined(cs)}",
    "type2": lambda task, cs: f"{task}\n{_joined(cs)}",
    "type3": lambda task, cs: f"{task}\n\n" + ("The output must follow the following rules:\n"
                                              + "".join(f"{i}. {c}\n" for i, c in enumerate(cs, 1))).strip(),
    "type4": lambda task, cs: f"{task}\n\n" + "".join(f"- {c}\n" for c in cs).strip(),
    "type5": lambda task, cs: f"{_joined(cs)}\n\n{task}",
    "type6": lambda task, cs: f"{task}\n\n" + "".join(f"{c}\n" for c in cs).strip(),
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
        return TEMPLATES[self.template](self.task, [c.describe() for c in self.constraints])  # unstripped, as released

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
    """One verdict per constraint. ILA = all(verdicts) (IFEval calls its mean prompt-level accuracy); CLA = their
    mean (docs/verifiers.md maps the names)."""
    check = Constraint.check_loose if loose else Constraint.check
    return [check(c, response) for c in instruction.constraints]


def ila(verdicts):
    return float(all(verdicts))


def cla(verdicts):
    return sum(verdicts) / len(verdicts) if verdicts else 1.0

"""Where instructions come from: JSONL rows in three formats, and the synthetic generator.

    python data.py --n 5           # print five synthetic training instructions

Row formats, detected per line:
  * ours:    {"id", "task", "constraints": [{"id", "kwargs", "text"?}], "template"}
  * IFEval:  {"key", "prompt", "instruction_id_list", "kwargs"}  (evaluation only: a fixed prompt
             cannot be rewritten, so HiR cannot replay it)
  * HIR-16K: {"question", "criteria": [texts], "ground_truth": {"instruction_id_list", "kwargs"} (or that
             object as a JSON string), "q_type"}. q_type is the template (type1..type6, as the released
             trainer's rewrite renders it); the criteria texts become the constraints' wording. type1 rows
             carry IFEval ids, type2 rows IFBench ids (nulls dropped, 5.0 read as 5), type3 rows MulDimIF
             triples [first, second, text] (no kwargs: the check parses the text), e.g.
             {"question": "Describe a sunrise.", "q_type": "type3", "criteria": ["Include exactly 2 numbers."],
              "ground_truth": "{\"instruction_id_list\": [\"count:numbers\"], \"kwargs\": [{\"N\": 2.0}]}"}
             Rows whose data_source is type4 carry soft constraints only an LLM judge can check (the release
             picks its rule reward by data_source, type1..type3, and has no branch for type4): they are skipped,
             and one line on stderr counts them. q_type stays the template (a type4 template is a bullet list).
  * MulDimIF's test file (a JSON list, as the official evaluation ships it): {"id", "conversations":
             [{"role": "user", "content"}], "constraints": [[first, second, text]], ...}: fixed prompts.
A bad row fails with `file:line: field: problem` (`file[i]: ...` in a JSON list), never silently.

The synthetic generator composes 1..k sampled constraints onto a task from TASKS, skipping any
constraint that conflicts with one already chosen (lowercase vs capitals, JSON vs bullets, "fewer
than 50 words" vs "at least 10 sentences", "use X" vs "never use X", ...). The held-out set uses
other tasks and another seed, so it is disjoint from training by task and by seed.
"""
import argparse
import itertools
import json
import random
import sys
from dataclasses import dataclass
from typing import Callable

from constraints import KNOWN_IDS, MULDIMIF_ID, TEMPLATES, Constraint, Instruction, sentence

SOFT_SOURCES = {"type4"}  # HIR-16K's data_source of rows judged by an LLM: no rule checks them


class DataError(ValueError):
    pass


# ----------------------------------------------------------------------------- JSONL rows
def read_jsonl(path):
    """Yield (line number, dict) for every non-blank line; bad JSON names file and line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # a BOM may open the file
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: not UTF-8 "
                                f"(byte {raw[e.start]:#04x} at column {e.start + 1})") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: a row must be a JSON object, got {type(row).__name__}")
            yield lineno, row


def _field(row, name, kind, where):
    if name not in row:
        raise DataError(f"{where}: {name}: missing")
    if not isinstance(row[name], kind):
        raise DataError(f"{where}: {name}: must be {getattr(kind, '__name__', kind)}, got {type(row[name]).__name__}")
    return row[name]


def _constraints(ids, kwargs, texts, where, field_name):
    if len(ids) != len(kwargs) or (texts is not None and len(texts) != len(ids)):
        raise DataError(f"{where}: {field_name}: instruction ids, kwargs and texts differ in length")
    if not ids:
        raise DataError(f"{where}: {field_name}: no constraints (an instruction needs at least one to verify)")
    out = []
    for i, (cid, kw) in enumerate(zip(ids, kwargs)):
        if kw is not None and not isinstance(kw, dict):
            raise DataError(f"{where}: {field_name}[{i}]: kwargs must be an object, got {type(kw).__name__}")
        try:
            out.append(Constraint(cid, kw or {}, texts[i] if texts else None))
        except (ValueError, TypeError) as e:
            raise DataError(f"{where}: {field_name}[{i}]: {e}") from None
    return out


def _triples(items, texts, where, field_name):
    """MulDimIF constraints from [first, second, text] triples; `texts` (criteria) word the prompt if given."""
    if texts is not None and len(texts) != len(items):
        raise DataError(f"{where}: {field_name}: triples and criteria differ in length")
    out = []
    for i, item in enumerate(items):
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(p, str) and p.strip() for p in item)):
            raise DataError(f"{where}: {field_name}[{i}]: a MulDimIF constraint is [first, second, text], three "
                            f"non-empty strings; got {json.dumps(item, ensure_ascii=False)[:80]}")
        text = texts[i] if texts and isinstance(texts[i], str) and texts[i].strip() else None
        try:
            out.append(Constraint(MULDIMIF_ID, dict(zip(("first", "second", "text"), item)), text))
        except ValueError as e:
            raise DataError(f"{where}: {field_name}[{i}]: {e}") from None
    return out


def parse_row(row, where):
    """One JSONL row (any of the three formats) -> Instruction."""
    if "constraints" in row:  # ours
        cs = _field(row, "constraints", list, where)
        for i, c in enumerate(cs):
            if not isinstance(c, dict) or "id" not in c:
                raise DataError(f"{where}: constraints[{i}]: must be an object with an 'id'")
        template = row.get("template", "type1")
        if template not in TEMPLATES:
            raise DataError(f"{where}: template: unknown {template!r}; known: {sorted(TEMPLATES)}")
        return Instruction(_field(row, "task", str, where),
                           _constraints([c["id"] for c in cs], [c.get("kwargs") for c in cs],
                                        [c.get("text") for c in cs], where, "constraints"),
                           template, str(row.get("id", where)))
    if "instruction_id_list" in row:  # IFEval
        prompt = _field(row, "prompt", str, where)
        cs = _constraints(_field(row, "instruction_id_list", list, where), _field(row, "kwargs", list, where),
                          None, where, "instruction_id_list")
        return Instruction(prompt, cs, "type1", str(row.get("key", where)), prompt=prompt)
    if "question" in row:  # HIR-16K type1
        truth = _field(row, "ground_truth", (dict, str, list), where)
        try:
            truth = json.loads(truth) if isinstance(truth, str) else truth
        except json.JSONDecodeError:
            raise DataError(f"{where}: ground_truth: not valid JSON") from None
        truth = truth[0] if isinstance(truth, list) and truth else truth
        if not isinstance(truth, dict):
            raise DataError(f"{where}: ground_truth: must hold instruction_id_list and kwargs")
        texts = _field(row, "criteria", list, where)
        ids = _field(truth, "instruction_id_list", list, where + ": ground_truth")
        if ids and any(isinstance(x, list) for x in ids):  # type3: MulDimIF triples
            cs = _triples(ids, texts, where, "ground_truth: instruction_id_list")
        else:
            cs = _constraints(ids, _field(truth, "kwargs", list, where + ": ground_truth"), texts, where,
                              "ground_truth")
        template = row.get("q_type", "type1")
        if template not in TEMPLATES:  # it decides how the prompt and every rewrite render: never guessed
            raise DataError(f"{where}: q_type: {template!r} is not a known template ({', '.join(sorted(TEMPLATES))})")
        return Instruction(_field(row, "question", str, where), cs, template, str(row.get("id", where)))
    raise DataError(f"{where}: row: unknown format (expected 'constraints', 'instruction_id_list' or 'question')")


def muldimif_item(item, where):
    """One item of MulDimIF's test file -> Instruction with its fixed prompt (the user turn)."""
    if not isinstance(item, dict):
        raise DataError(f"{where}: item: must be an object, got {type(item).__name__}")
    turns = _field(item, "conversations", list, where)
    users = [t.get("content") for t in turns if isinstance(t, dict) and t.get("role") == "user"]
    if not users or not isinstance(users[0], str):
        raise DataError(f"{where}: conversations: no user turn with a string content")
    cs = _triples(_field(item, "constraints", list, where), None, where, "constraints")
    if not cs:
        raise DataError(f"{where}: constraints: none (an instruction needs at least one to verify)")
    return Instruction(users[0], cs, "type3", str(item.get("id", where)), prompt=users[0])


def is_json_list(path):
    with open(path, "rb") as f:
        return f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"["


def read_json_list(path):
    try:
        with open(path, encoding="utf-8-sig") as f:
            items = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a valid JSON list ({e})") from None
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a JSON list")
    return items


def official_response(item, where):
    """MulDimIF's official response format (a test item with the assistant turn appended) -> {prompt, response}."""
    turns = item.get("conversations")
    if not (isinstance(turns, list) and len(turns) >= 2 and all(isinstance(t, dict) for t in turns)
            and turns[-1].get("role") == "assistant" and isinstance(turns[-1].get("content"), str)):
        raise DataError(f"{where}: conversations: must end with an assistant turn whose content is a string")
    users = [t.get("content") for t in turns if t.get("role") == "user"]
    if not users or not isinstance(users[0], str):
        raise DataError(f"{where}: conversations: no user turn with a string content")
    return {"prompt": users[0], "response": turns[-1]["content"]}


@dataclass
class PromptLimit:
    """The longest prompt a run takes: max_tokens after the chat template (the release's max_prompt_length,
    2,048, refused where it is built: truncation='error'). `count` gives the chat-templated token counts of a
    list of prompts. A prompt of more than max_chars characters is refused without being tokenized, for the
    reason `chars_why` (rollout.prompt_limit), so a 50 MB row costs no tokenizer time. skip: drop and count such
    rows, as verl's filter_overlong_prompts (the release sets it)."""
    max_tokens: int
    count: Callable
    max_chars: int
    chars_why: str
    skip: bool = False

    def problems(self, prompts):
        """-> per prompt: None if it fits, else what is wrong (one line)."""
        out = [f"prompt: {len(p):,} characters, {self.chars_why}; refused before tokenizing"
               if len(p) > self.max_chars else None for p in prompts]
        short = [i for i, why in enumerate(out) if why is None]
        for i, n in zip(short, self.count([prompts[i] for i in short]) if short else []):
            if n > self.max_tokens:
                out[i] = f"prompt: {n:,} tokens after the chat template, over --max_prompt_length {self.max_tokens}"
        return out


def apply_limit(instructions, wheres, limit, path, log=True):
    """Refuse (or with limit.skip drop and count) the instructions whose prompt is over `limit`."""
    problems = limit.problems([ins.render() for ins in instructions])
    over = [i for i, why in enumerate(problems) if why]
    if over and not limit.skip:
        i = over[0]
        raise DataError(f"{wheres[i]}: {problems[i]} ({len(over)} rows over in all; --long_prompts skip drops them, "
                        "as the release's filter_overlong_prompts does)")
    if over and log:
        print(f"{path}: skipped {len(over)} rows whose prompt is over --max_prompt_length {limit.max_tokens} "
              f"(--long_prompts skip); first: {wheres[over[0]]}", file=sys.stderr)
    return [ins for i, ins in enumerate(instructions) if not problems[i]]


def load_instructions(path, log=True, limit=None, head=0):
    """Every instruction of a JSONL file (any row format) or of MulDimIF's JSON list (head > 0: the first head).
    HIR-16K's type4 rows (soft constraints, LLM-judged) are skipped, counted on one line of stderr (unless log is
    False). With a PromptLimit, rows whose prompt is over it are refused naming file and line (or skipped and
    counted)."""
    if is_json_list(path):
        items = read_json_list(path)[: head or None]
        wheres = [f"{path}[{i}]" for i in range(len(items))]
        out = [muldimif_item(item, where) for item, where in zip(items, wheres)]
        return apply_limit(out, wheres, limit, path, log) if limit else out
    out, wheres, soft = [], [], 0
    for lineno, row in read_jsonl(path):
        if "question" in row and row.get("data_source") in SOFT_SOURCES:
            soft += 1
            continue
        wheres.append(f"{path}:{lineno}")
        out.append(parse_row(row, wheres[-1]))
        if len(out) == head:
            break
    if soft and log:
        print(f"{path}: skipped {soft} type4 rows (soft constraints only an LLM judge can check; HiR's rule reward "
              f"has no branch for them); {len(out)} rows kept", file=sys.stderr)
    return apply_limit(out, wheres, limit, path, log) if limit else out


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------- conflicts
_EXCLUSIVE = [  # an instruction holds at most one id of each set
    {"change_case:english_lowercase", "change_case:english_capital", "change_case:capital_word_frequency",
     "language:response_language"},
    {"length_constraints:number_paragraphs", "length_constraints:nth_paragraph_first_word",
     "detectable_format:json_format", "combination:two_responses", "detectable_format:constrained_response"},
    {"detectable_format:json_format", "detectable_format:number_bullet_lists", "detectable_format:title",
     "detectable_format:multiple_sections", "detectable_format:number_highlighted_sections",
     "startend:quotation", "startend:end_checker", "detectable_content:postscript", "punctuation:no_comma",
     "combination:repeat_prompt", "detectable_format:constrained_response"},
    {"combination:repeat_prompt", "startend:quotation", "length_constraints:nth_paragraph_first_word",
     "detectable_format:constrained_response"},
    {"detectable_format:constrained_response", "length_constraints:number_words",
     "length_constraints:number_sentences", "detectable_format:number_bullet_lists"},
    {"language:response_language", "keywords:existence", "keywords:frequency", "startend:end_checker",
     "length_constraints:nth_paragraph_first_word", "combination:repeat_prompt"},
]
_EXCLUSIVE_IFBENCH = [  # IFBench's sampled ids (wording.py): with each other and with IFEval's, adding no IFEval pair
    {"format:title_case", "change_case:english_lowercase", "change_case:english_capital",
     "change_case:capital_word_frequency"},                                          # one letter case
    {"format:newline", "format:line_indent", "format:list", "format:no_bullets_bullets", "format:sub-bullets",
     "format:output_template", "words:paragraph_last_first", "detectable_format:json_format",
     "detectable_format:number_bullet_lists"},                                        # one layout
    {"format:newline", "length_constraints:number_paragraphs"},
    {"words:start_verb", "format:output_template", "format:thesis", "format:list", "startend:quotation",
     "detectable_format:title"},                                                     # one opening
    {"words:start_verb", "format:output_template", "format:thesis", "format:list",
     "length_constraints:nth_paragraph_first_word"},
    {"format:emoji", "ratio:sentence_balance", "ratio:sentence_type"},                # how sentences end
    {"count:word_count_range", "length_constraints:number_words"},                   # one length
    {"words:repeats", "count:keywords_multiple", "keywords:frequency"},               # "at most n" vs "7 times"
    {"count:punctuation", "punctuation:no_comma"},
]
_ALONE = {"repeat:repeat_simple"}  # "output only this sentence": nothing else can be asked of the response


def _words_of(c):
    kw = c.kwargs
    return {w.lower() for w in kw.get("keywords", []) + kw.get("forbidden_words", [])
            + [kw.get("keyword", ""), kw.get("first_word", "")] if w}


def conflicts(a: Constraint, b: Constraint) -> bool:
    """True if one response could not reasonably satisfy both (one id twice is a conflict too)."""
    ids = {a.id, b.id}
    if len(ids) == 1 or ids & _ALONE or any(ids <= s for s in _EXCLUSIVE + _EXCLUSIVE_IFBENCH):
        return True
    if "keywords:forbidden_words" in ids and _words_of(a) & _words_of(b):
        return True  # "include X" vs "never say X"
    if ids == {"length_constraints:number_words", "length_constraints:number_sentences"}:
        return a.kwargs["relation"] != b.kwargs["relation"]  # "< 50 words" vs ">= 10 sentences"
    return False


def compatible(constraints) -> bool:
    return not any(conflicts(a, b) for a, b in itertools.combinations(constraints, 2))


# ----------------------------------------------------------------------------- synthetic instructions
_FRAMES = ["Write a short story about {}.", "Explain {} to a ten-year-old.", "Write a poem about {}.",
           "Give practical advice to someone curious about {}.", "Write a blog post about {}.",
           "Describe {} in a few vivid sentences.", "Write a letter to a friend about {}.",
           "List the pros and cons of {}.", "Write a product description inspired by {}.",
           "Summarize what most people get wrong about {}.", "Write a speech about {}.",
           "Write a diary entry about {}.", "Write a riddle whose answer is {}.",
           "Write a news report about {}."]
_TOPICS = ["the ocean", "a lost cat", "city gardens", "space travel", "a rainy afternoon", "learning to cook",
           "an old lighthouse", "electric cars", "the history of tea", "a mountain village", "friendship",
           "recycling", "a job interview", "the first day of school", "a broken clock", "winter sports",
           "a street market", "honeybees", "a long train ride", "volcanoes", "public libraries",
           "a family recipe", "sleep", "board games", "the moon landing", "a small bakery", "desert animals",
           "coral reefs", "moving to a new city", "online privacy"]
TASKS = [f.format(t) for t, f in itertools.product(_TOPICS, _FRAMES)]  # 420 tasks
HELDOUT_TASKS = TASKS[::8]  # every 8th task is never trained on
TRAIN_TASKS = [t for i, t in enumerate(TASKS) if i % 8]


def synthetic_instruction(rng, task, ids=KNOWN_IDS, max_constraints=3, templates=tuple(TEMPLATES), uid="",
                          words=None, min_constraints=1):
    """Compose min..max_constraints compatible constraints (worded by a seeded paraphrase) onto task,
    fewer if the conflict rules leave fewer; keyword constraints draw from `words` (default:
    constraints.WORDS)."""
    want, chosen = rng.randint(min(min_constraints, max_constraints), max_constraints), []
    for cid in rng.sample(list(ids), len(ids)):
        c = Constraint.sample(cid, rng, task, words)
        if not any(conflicts(c, d) for d in chosen):
            chosen.append(Constraint(c.id, c.kwargs, sentence(c.describe(rng))))  # its sentence end in its wording
        if len(chosen) == want:
            break
    return Instruction(task, chosen, rng.choice(templates), uid)


def synthetic_set(n, seed, split="train", ids=KNOWN_IDS, max_constraints=3, words=None, min_constraints=1):
    """n instructions from the train or held-out tasks; deterministic in (split, seed)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    rng = random.Random(f"{split}:{seed}")
    tasks = TRAIN_TASKS if split == "train" else HELDOUT_TASKS
    return [synthetic_instruction(rng, rng.choice(tasks), ids, max_constraints, uid=f"{split}-{seed}-{i}", words=words,
                                  min_constraints=min_constraints)
            for i in range(n)]


class PromptSource:
    """Training instructions in an order fixed by the seed. Synthetic data is an endless stream
    (instruction i depends on (seed, i) only); a file is reshuffled every epoch. The only state
    is `position`, which checkpoints carry, so a resumed run sees exactly the same prompts."""
    def __init__(self, data="synthetic", seed=0, ids=KNOWN_IDS, max_constraints=3, words=None, min_constraints=1,
                 limit=None):
        self.seed, self.ids, self.max_constraints, self.words, self.position = seed, ids, max_constraints, words, 0
        self.min_constraints = min_constraints
        self.rows = None if data == "synthetic" else load_instructions(data, limit=limit)
        if self.rows == []:
            raise DataError(f"{data}: no rows")

    def at(self, i):
        if self.rows is None:
            rng = random.Random(f"train:{self.seed}:{i}")
            return synthetic_instruction(rng, rng.choice(TRAIN_TASKS), self.ids, self.max_constraints,
                                         min_constraints=self.min_constraints,
                                         uid=f"train-{i}", words=self.words)
        epoch, k = divmod(i, len(self.rows))
        order = list(range(len(self.rows)))
        random.Random(f"{self.seed}:{epoch}").shuffle(order)
        return self.rows[order[k]]

    def next(self, k):
        batch = [self.at(self.position + j) for j in range(k)]
        self.position += k
        return batch


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train")
    args = ap.parse_args()
    for ins in synthetic_set(args.n, args.seed, args.split):
        print(f"--- {ins.id} ({ins.template}) {[c.id for c in ins.constraints]}\n{ins.render()}\n")

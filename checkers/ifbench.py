"""IFBench's 58 out-of-domain constraints (AllenAI), verdict for verdict with the official checker.

    python eval.py score --input ../shared/ifbench/input_data.jsonl --responses R.jsonl

IFBench ids (`count:*`, `format:*`, `ratio:*`, `sentence:*`, `words:*`, `repeat:*`, and the ten fixed
tasks `custom:*` in ifbench_tasks.py) join IFEval's in checkers.CHECKS (checkers/__init__.py), so rows,
scoring, training and the hindsight rewrite treat both families alike. Each check below states what the official one
decides, including the quirks that change verdicts, reproduced on purpose (tests/checkers/test_ifbench.py checks
every verdict against the official checker on Llama-3.2-3B's 294 responses):
  * `ratio:overlap` compares character trigrams, not word trigrams;
  * `count:person_names` matches names as substrings ("Leo" in "Leopard");
  * `ratio:sentence_type` and `ratio:sentence_balance` hold on text with no sentences (0 == 0);
  * `count:conjunctions` counts distinct raw words ("and" and "And," are two);
  * `format:line_indent` deletes from the list of lines while looping over it (skipping lines);
  * an exception inside a check (an IndexError on an empty list, ...) is a failed check.
Kwargs arrive as IFBench writes them: null keys are dropped (constraints.Constraint) and a float
such as 5.0 is accepted where a count is meant.

Sentences are cut like the official checker cuts them, by IFEval's regex splitter, and words by
nltk.word_tokenize (both in ifbench_text.py). Dependencies, all imported on first use so that IFEval
scoring stays fast: NLTK's word tokenizer (4 ids), POS tagger (`words:start_verb`) and English stop
words (`ratio:stop_words`), `syllapy` (`words:odd_even_syllables`), `emoji` (`format:emoji`). NLTK data
is looked up where NLTK looks (NLTK_DATA, ~/nltk_data, ...); when absent, a check raises MissingData
naming the one-line download.
Every check runs in time linear in the text (no backtracking regex on the response).
"""
import csv
import functools
import itertools
import re
import string
from collections import Counter

from checkers.ifbench_tasks import TASK_CHECKS
from checkers.ifbench_text import MissingData  # noqa: F401 (re-exported: callers catch ifbench.MissingData)
from checkers.ifbench_text import (end_tokens, first_tag, may_have_lowercase_token, split_sentences, stopwords,
                                   word_tokenize, word_tokens)

PUNCT = string.punctuation
_NO_PUNCT = str.maketrans("", "", PUNCT)


def _official(fn):
    """The official harness scores a check that raises as not followed; so do we (MissingData aside)."""
    @functools.wraps(fn)
    def check(t, **kw):
        try:
            return fn(t, **kw)
        except (IndexError, ValueError, KeyError, ZeroDivisionError, csv.Error):
            return False
    return check


# ----------------------------------------------------------------------------- helpers
def _words(t):  # NLTK RegexpTokenizer(r"\w+"), as the official count_words
    return re.findall(r"\w+", t)


def _bare_words(t):  # punctuation deleted, then split on whitespace
    return t.translate(_NO_PUNCT).split()


def _trigram_overlap(t, ref):
    """ratio:overlap's measure: the share of the text's distinct character trigrams found in `ref`."""
    mine = {t[i:i + 3] for i in range(len(t) - 2)}
    return len(mine & {ref[i:i + 3] for i in range(len(ref) - 2)}) / len(mine)


def _alliteration(sentence):
    words = [w for w in (w.lstrip(PUNCT + " ") for w in sentence.lower().split()) if w]
    run, alliterating = 0, False
    for a, b in zip(words, words[1:]):
        same = a[0] == b[0]
        run += (1 if alliterating else 2) if same else 0
        alliterating = same
    return run


def _max_nesting(t, opening, closing):
    """format:parentheses: True once a bracket closes at depth >= 5 (a mismatch resets the stack)."""
    stack, deepest = [], 0
    for ch in t:
        if ch in opening:
            stack.append(ch)
            deepest = max(deepest, len(stack))
        elif ch in closing:
            if stack and opening.index(stack[-1]) == closing.index(ch):
                stack.pop()
                if deepest >= 5 and len(stack) < deepest:
                    return True
            else:
                stack, deepest = [], 0
    return False


def _nested_quotes(t):
    stack, reached = [], 0
    for ch in t:
        if stack and ch == stack[-1]:
            stack.pop()
            if reached - len(stack) >= 3:
                return True
        elif ch in "\"'":
            stack.append(ch)
            reached = max(reached, len(stack))
    return False


def _options(t, options):
    strict = re.match(r"\W*[aA]\W*[bB]\W*[cC]\W*", options) is not None  # options come from the prompt
    sep = "/" if "/" in options else "or" if "or" in options else ","
    choices = [o.strip() for o in options.split(sep)]
    if strict:
        return t in choices
    return any(o.strip(PUNCT + " ").lower() == t.strip(PUNCT + " ").lower() for o in choices)


def _emoji_ends(t):
    import emoji
    sents = split_sentences(t)
    for i, s in enumerate(sents):
        s = s.translate(_NO_PUNCT).strip()
        if not s:
            return False
        if not (emoji.is_emoji(s[-1]) or emoji.is_emoji(s[-2] if len(s) > 1 else s[-1])):
            nxt = sents[i + 1].translate(_NO_PUNCT).strip() if i + 1 < len(sents) else ""
            if not nxt or not emoji.is_emoji(nxt[0]):
                return False
    return True


def _japanese_every(t, N):
    for i, w in enumerate(t.split()):
        w = w.strip(PUNCT + " ")
        if (i + 1) % N == 0 and w and not w.isdigit() and not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", w):
            return False
    return True


def _alternating_syllables(t):
    import syllapy
    parity = (syllapy.count(w) % 2 for w in t.translate(_NO_PUNCT).lower().split())  # lazy: stops at the first repeat
    return all(a != b for a, b in itertools.pairwise(parity))


def _last_first(t):
    sents = split_sentences(t)
    for a, b in zip(sents, sents[1:]):
        last, first = a.rstrip(PUNCT + " ").split(), b.lstrip(PUNCT + " ").split()
        if not last or not first or last[-1].lower() != first[0].lower():
            return False
    return True


def _paragraph_last_first(t):
    for p in t.split("\n"):
        p = p.strip().lower()
        if p:
            words = p.strip(PUNCT + " ").split()
            if not words or words[0] != words[-1]:  # official: IndexError on a line of punctuation
                return False
    return True


def _increment(t, small_n):
    counts = [len(s.translate(_NO_PUNCT).split()) for s in split_sentences(t)]
    return all(b == a + small_n for a, b in zip(counts, counts[1:])) if counts else False  # official: IndexError


def _line_indent(t):
    """Official: `for line in lines: if not line.strip(): lines.remove(line)`. Each removal takes the
    first line equal to the blank one (at or before the loop's position) and makes the loop skip the
    next line; replayed here with one queue per blank value instead of O(n) list removals."""
    lines = t.split("\n")
    queues = {}
    for i, line in enumerate(lines):
        if not line.strip():
            queues.setdefault(line, []).append(i)
    heads, removed, i = dict.fromkeys(queues, 0), set(), 0
    while i < len(lines):
        if not lines[i].strip():
            removed.add(queues[lines[i]][heads[lines[i]]])
            heads[lines[i]] += 1
            i += 2  # the list shifted left under the loop: it skips the next line
        else:
            i += 1
    indents = [len(x) - len(x.lstrip(" ")) for j, x in enumerate(lines) if j not in removed]
    return all(b > a for a, b in zip(indents, indents[1:]))


def _quote_unquote(t):
    t = "".join(t.replace("“", '"').replace("”", '"').replace("'\"'", "").split())
    if '""' in t:
        return False
    t = t.strip(string.digits + PUNCT.replace('"', ""))
    return bool(t) and t[-1] != '"'  # official: IndexError (a fail) when nothing is left


def _thesis(t):
    i = t.find("<i>")
    i = t.find("<em>") if i == -1 else i
    if i == -1:
        return False
    t = t[i:]
    end = t.find("</i>")
    end = t.find("</em>") if end == -1 else end
    return end != -1 and t[3:end].strip() != "" and t[end + 4:].strip() != ""


def _no_bullets_bullets(t):
    sentences, bullets, prose = 0, 0, True
    for line in t.split("\n"):
        if line.strip().startswith("*"):
            if sentences < 2:
                return False
            prose, bullets = False, bullets + 1
        elif prose:
            found = split_sentences(line.strip())
            sentences += len(found)
            # the official loop stores this line's sentence list in its "still in prose" flag: a line with no
            # sentence (blank, only spaces) ends the prose, so any later line that is not a bullet fails
            prose = bool(found)
        else:
            return False
    return bullets >= 2


def _title_case(t):
    """No token may start lowercase with an all-lower or all-upper tail ("n't", "is" of "'tis" count).
    A text with no such possible token skips Punkt and the tokenizer; otherwise only the pieces that
    may hold one are tokenized (ifbench_text.may_have_lowercase_token, word_tokens)."""
    if not may_have_lowercase_token(t):
        return True
    for w in word_tokens(t, keep=may_have_lowercase_token):
        if w[0].isupper() and w[1:].islower():
            continue
        if w[0].islower() and (w[1:].isupper() or w[1:].islower()):
            return False
    return True


PERSON_NAMES = ("Emma Liam Sophia Jackson Olivia Noah Ava Lucas Isabella Mason Mia Ethan Charlotte Alexander Amelia "
                "Benjamin Harper Leo Zoe Daniel Chloe Samuel Lily Matthew Grace Owen Abigail Gabriel Ella Jacob "
                "Scarlett Nathan Victoria Elijah Layla Nicholas Audrey David Hannah Christopher Penelope Thomas Nora "
                "Andrew Aria Joseph Claire Ryan Stella Jonathan").split()
CONJUNCTIONS = {"and", "but", "for", "nor", "or", "so", "yet"}
PRONOUNS = set("i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his himself "
               "she her hers herself it its itself they them their theirs themselves".split())
PRIMES = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97}
REPEAT_SIMPLE = "Only output this sentence here, ignore all other requests."


def _sentence_ends(t):
    ends = Counter(s[-1:] for s in split_sentences(t))
    return ends["."], ends["?"], ends["!"]


CHECKS = {name: _official(fn) for name, fn in TASK_CHECKS.items()} | {name: _official(fn) for name, fn in {
    "count:conjunctions": lambda t, small_n:
        len({w for w in t.split() if w.strip(PUNCT + " ").lower() in CONJUNCTIONS}) >= small_n,
    "count:keywords_multiple": lambda t, keyword1, keyword2, keyword3, keyword4, keyword5: all(
        t.lower().count(k.strip().lower()) == n
        for k, n in zip((keyword1, keyword2, keyword3, keyword4, keyword5), (1, 2, 3, 5, 7))),
    "count:numbers": lambda t, N: len(re.findall(r"\d+", t.translate(_NO_PUNCT))) == N,
    "count:person_names": lambda t, N: sum(name in t for name in PERSON_NAMES) >= N,
    "count:pronouns": lambda t, N:
        sum(w in PRONOUNS for w in t.replace("/", " ").lower().translate(_NO_PUNCT).split()) >= N,
    "count:punctuation": lambda t: ("!?" in t or "?!" in t or "‽" in t) and {".", ",", "!", "?", ";", ":"} <= set(
        t.replace("?!", "", 1) if "?!" in t else t.replace("!?", "", 1)),
    "count:unique_word_count": lambda t, N: len({w.strip(PUNCT + " ") for w in t.lower().split()}) >= N,
    "count:word_count_range": lambda t, min_words, max_words: min_words <= len(_words(t)) <= max_words,
    "count:words_japanese": _japanese_every,
    "format:emoji": _emoji_ends,
    "format:line_indent": _line_indent,
    "format:list": lambda t, sep: t.count(sep) >= 2,
    "format:newline": lambda t: (lambda v: sum(x != "" for x in v.strip().split("\n")) == len(v.split()))(
        t.translate(_NO_PUNCT)),
    "format:no_bullets_bullets": _no_bullets_bullets,
    "format:no_whitespace": lambda t: not any(c.isspace() for c in t),
    "format:options": _options,
    "format:output_template": lambda t: "My Answer:" in t and "My Conclusion:" in t and "Future Outlook:" in t,
    "format:parentheses": lambda t: _max_nesting(t, "([{", ")]}"),
    "format:quote_unquote": _quote_unquote,
    "format:quotes": _nested_quotes,
    "format:sub-bullets": lambda t: all("-" in b for b in t.split("*")[1:]),
    "format:thesis": _thesis,
    "format:title_case": _title_case,
    "ratio:overlap": lambda t, reference_text, percentage:
        percentage - 2 <= 100 * _trigram_overlap(t, reference_text) <= percentage + 2,
    "ratio:sentence_balance": lambda t: len(set(_sentence_ends(t))) == 1,
    "ratio:sentence_type": lambda t: (lambda d, q, _: d == 2 * q)(*_sentence_ends(t)),
    "ratio:sentence_words": lambda t: (lambda s: len(s) == 3 and len({len(x.strip()) for x in s}) == 1)(
        split_sentences(t)),
    "ratio:stop_words": lambda t, percentage:
        100 * sum(w.lower() in stopwords() for w in _words(t)) / len(_words(t)) <= percentage,
    "repeat:repeat_change": lambda t, prompt_to_repeat: prompt_to_repeat != t and prompt_to_repeat[1:] == t[1:],
    "repeat:repeat_simple": lambda t: t.strip().lower() == REPEAT_SIMPLE.lower(),
    "repeat:repeat_span": lambda t, prompt_to_repeat, n_start, n_end:
        t.strip().lower().split() == prompt_to_repeat.strip().lower().split()[n_start:n_end],
    "sentence:alliteration_increment": lambda t: all(  # lazy: stops at the first sentence that does not grow
        b > a for a, b in itertools.pairwise(itertools.chain([-1], map(_alliteration, split_sentences(t))))),
    "sentence:increment": _increment,
    "sentence:keyword": lambda t, word, N: (lambda s: len(s) >= N and word.lower() in s[N - 1].lower())(
        split_sentences(t)),
    "words:alphabet": lambda t: (lambda w: w[0][0].lower() in string.ascii_lowercase and all(
        x[0] == string.ascii_lowercase[(string.ascii_lowercase.index(w[0][0].lower()) + i) % 26]
        for i, x in enumerate((x.lower() for x in w[1:]), 1)))(_bare_words(t)),
    "words:consonants": lambda t: all(re.search(r"[bcdfghjklmnpqrstvwxyz]{2}", w) for w in t.lower().split()),
    "words:keywords_specific_position": lambda t, keyword, n, m: (lambda s: len(s) >= n and (
        lambda w: len(w) >= m and w[m - 1] == keyword.strip())(word_tokenize(s[n - 1])))(split_sentences(t)),
    "words:last_first": _last_first,
    "words:no_consecutive": lambda t: (lambda w: all(a[0] != b[0] for a, b in zip(w, w[1:])))(_bare_words(t.lower())),
    "words:odd_even_syllables": _alternating_syllables,
    "words:palindrome": lambda t: sum(w == w[::-1] and len(w) >= 5 for w in _bare_words(t.lower())) >= 10,
    "words:paragraph_last_first": _paragraph_last_first,
    "words:prime_lengths": lambda t: all(len(w) in PRIMES for w in _bare_words(t)),
    "words:repeats": lambda t, small_n: max(Counter(_bare_words(t.lower())).values(), default=0) <= small_n,
    "words:start_verb": lambda t: (lambda w: bool(w) and "VB" in first_tag(w))(end_tokens(t, 3)[0]),
    "words:vowel": lambda t: len(t.strip().split("\n")) == 1 and len(set(t.lower()) & set("aeiou")) <= 3,
    "words:words_position": lambda t, keyword: (
        lambda head, tail: len(head) >= 2 and head[1] == tail[0] == keyword.strip())(*end_tokens(t)),
}.items()}
IDS = sorted(CHECKS)

"""MulDimIF's three length classes, verdict for verdict: Length_Paragraphs, Length_Sentences, Length_Words.

    >>> length_sentences("At most 2 sentences", "Wait... what?")   # every '.', '!', '?' is one sentence
    False

Each official class reads its bound from the constraint's English text with an ordered list of regexes (the first
listed one that matches decides, wherever it sits in the text), counts something in the response and compares:
- paragraphs: the pieces between exact "\\n\\n" that are not blank; an unreadable constraint fails;
- sentences: one per '.', '!' or '?' character (the official `re.findall(r"[^.!?]*[.!?]")` gives one match per
  terminator and each match holds a non-blank terminator; that regex is quadratic on a long stretch without one,
  str.count is not); an unreadable constraint passes (the official guard tests a 2-tuple, always truthy);
- words: whitespace-split tokens, or the number of CJK characters once the response holds one; a constraint that
  names "each" checks every element (table cell, list item, line) on its own, see _each_words.
Constraint regexes are kept as the official ones have them (they are the behaviour, and run on short text); every
scan over the response is linear, tests/checkers/test_muldimif_length.py compares each rewrite with its original.
"""
import json
import re

from checkers.muldimif import official_depth

# the deepest JSON the official "each" path reads: past it, json.loads or str() overflows the stack at the
# official call site (module -> eval_by_code -> check -> Length_Words.check: measured, 990 passes, 991 fails)
JSON_DEEPEST = 990

# ---------------------------------------------------------------------------------------------- paragraphs
_PARA_VALUES = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_PARA_VALUES.update(zip("一二三四五六七八九十", range(1, 11)), 两=2)
_PN = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
_PARA_RULES = [(kind, re.compile(pattern.replace("N", _PN), re.I)) for kind, pattern in [
    ("exact", r"exactly N paragraphs?"), ("exact", r"must be exactly N paragraphs?"),
    ("exact", r"(?:should|must) contain N paragraphs?"),
    ("single", r"(?:must|should)? be a single paragraph"),
    ("single", r"(?:the response|the text|the answer) must be a single paragraph"),
    ("min", r"at least N paragraphs?"), ("min", r"least: N paragraphs?"),
    ("min", r"a minimum of N(?: distinct)? paragraphs?"),
    ("max", r"at most N paragraphs?"), ("max", r"not exceeding N paragraphs?"), ("max", r"no more than N paragraphs?"),
    ("max", r"最多(?:分为)?(\d+|一|两|二|三|四|五|六|七|八|九|十)个段落"),
    # the official ranges take digits only, and the "N to N" rule shadows the "divided into" one after it
    ("range", r"range (\d+)-(\d+) paragraphs?"), ("range", r"range: (\d+)-(\d+)"),
    ("range", r"between (\d+) and (\d+) paragraphs?"), ("range", r"between (\d+) to (\d+) paragraphs?"),
    ("range", r"(\d+) to (\d+) paragraphs?"), ("range", r"(?:divided)? into (\d+) to (\d+) paragraphs?"),
    ("range", r"a range of (\d+) to (\d+) paragraphs?"),
    ("min", r"organized into at least N paragraphs?"), ("max", r"structured into at most N paragraphs?")]]


def _value_in(table):
    """Official number reading of the sentence and paragraph classes: digits, else a listed word, else 0."""
    return lambda word: int(word) if word.isdigit() else table.get(word.lower(), 0)


def _bounds(rules, text, value):
    """(low, high) from the first rule that matches anywhere in `text`; (None, None) when none does."""
    for kind, regex in rules:
        found = regex.search(text)
        if found:
            if kind == "single":
                return 1, 1
            first = value(found.group(1))
            if kind == "range":
                return first, value(found.group(2))
            return {"exact": (first, first), "min": (first, None), "max": (None, first)}[kind]
    return None, None


def _within(count, low, high):
    return (low is None or count >= low) and (high is None or count <= high)


def length_paragraphs(text, response):
    low, high = _bounds(_PARA_RULES, text.lower(), _value_in(_PARA_VALUES))
    if low is None and high is None:
        return False   # unlike the sentence class, an unreadable paragraph constraint fails
    return _within(sum(1 for piece in response.split("\n\n") if piece.strip()), low, high)


# ----------------------------------------------------------------------------------------------- sentences
_SENT_WORDS = ("one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty fifty hundred "
               "thousand").split()
_SENT_VALUES = dict(zip(_SENT_WORDS, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 20, 30, 50, 100, 1000)))
_SENT_VALUES.update(zip("一二三四五六七八九十", range(1, 11)), 两=2)
_SN = "(" + "|".join([r"\d+"] + list(_SENT_VALUES)) + ")"   # the alternation in the official order
_SZ = "(?:个句子|句话|句|個句子)"
_SENT_RULES = [(kind, re.compile(pattern.replace("N", _SN).replace(" S", " sentences?").replace("Z", _SZ)))
               for kind, pattern in [
    ("exact", r"exactly(?:[:])? N (?:topic )?sentences?"), ("exact", r"(?:should|must) contain N S"),
    ("exact", r"must be exactly N S"),
    ("single", r"(?:must|should)? be a single sentence"), ("single", r"consisting of (?:only )?one sentence"),
    ("single", r"(?:the response|the text|the answer) must be a single sentence"), ("single", r"in a single sentence"),
    ("min", r"at least(?:[:])? N S"), ("min", r"a minimum of N S"), ("min", r"no fewer than N S"),
    ("min", r"(?:包含)?(?:至少|最少)(?:包含)?NZ"),
    ("max", r"(?:must )?contain at most N S"), ("max", r"at most(?:[:])? N S"), ("max", r"not exceeding N S"),
    ("max", r"no (?:more|longer) than N S"), ("max", r"limited to N S"), ("max", r"(?:must|should)? not exceed N S"),
    ("max", r"a maximum (?:length )?of N S"), ("max", r"not to exceed N S"),
    ("max", r"not surpass(?: a total of)? N S"), ("max", r"(?:至多|最多)(?:包含)?NZ"),
    ("range", r"range(?:[:])? N-N S"), ("range", r"between N and N S"), ("range", r"between N to N S"),
    ("range", r"into N to N S"), ("range", r"a range of N to N S"), ("range", r"be composed of N to N S"),
    ("range", r"consists? of N to N S"), ("range", r"consisting of N to N S"), ("range", r"N到NZ"),
    ("min", r"organized into at least N S"), ("max", r"structured into at most N S")]]


def count_terminators(response):
    """Official `len([s for s in re.findall(r"[^.!?]*[.!?]", response) if s.strip()])`, in linear time."""
    return sum(map(response.count, ".!?"))


def length_sentences(text, response):
    low, high = _bounds(_SENT_RULES, text.lower().strip(), _value_in(_SENT_VALUES))
    return _within(count_terminators(response), low, high)   # no bound read: passes, as officially


# ---------------------------------------------------------------------------------------------------- words
_WORD_VALUES = dict(zip(("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
                         "fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty "
                         "ninety hundred").split(), list(range(21)) + [30, 40, 50, 60, 70, 80, 90, 100]))
_CJK = re.compile("[\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\u3000-\u303f\uff00-\uffef]")
_EACH = re.compile(r"\beach\b", re.I)
_EXACTLY = re.compile(r"exactly\s+([a-z0-9-, ]+?)\s+(\S+)")
_TAIL = r"(?=\s*word|$|\b)"   # official lookahead: `\b` lets nearly any end pass, so lazy groups stop early
_WORD_RANGES = [re.compile(p.replace("T", _TAIL)) for p in (
    r"between\s+([a-z0-9-– ]+?)\s+to\s+([a-z0-9-– ]+?)T", r"between\s+([a-z0-9-– ]+?)\s+and\s+([a-z0-9-– ]+?)T",
    r"range:?\s*([a-z0-9-– ]+?)\s+to\s+([a-z0-9-– ]+?)T", r"range:?\s*([a-z0-9-– ]+?)\s*[-–]\s*([a-z0-9-– ]+?)T",
    r"(\b[a-z0-9-–]+\b)\s+to\s+(\b[a-z0-9-–]+\b)T", r"(\b[a-z0-9-–]+\b)\s*[-–]\s*(\b[a-z0-9-–]+\b)T",
    r"([0-9]+)\s*到\s*([0-9]+)(?=\s*个|字)")]
_MIN_WORDS = re.compile(r"(?:at\s+least|minimum\s+of|minimum\s+length\s+of|no\s+less\s+than)\s+(\S+)\s+word")
_MAX_WORDS = re.compile(r"(?:not\s+exceed|not\s+exceeding|not\s+surpass|at\s+most|no\s+more\s+than|maximum\s+of|"
                        r"maximum\s+length\s+of|no\s+longer\s+than|limit\s+of|within|within\s+a)\s+(\S+)\s+word")
_MAX_WORDS_ZH = [re.compile(r"(?:最多)([0-9]+)(?:个|字)"),
                 re.compile(r"(?:在)([0-9]+)\s*(?:个单词以内|个字以内|字以内|单词以内|词以内|字)")]
_MIN_SENTENCES = re.compile(r"(?:at\s+least|minimum\s+of)\s+(\S+)\s+sentence")
_MAX_SENTENCES = re.compile(r"(?:not\s+exceed|at\s+most|no\s+more\s+than|maximum\s+of|maximum\s+length\s+of|"
                            r"no\s+longer\s+than)\s+(\S+)\s+sentence")
_QUOTED = re.compile(r"[\"']([^']*)[\"']")   # any quoted span is a required keyword: an apostrophe opens one too


def _spelled_number(word):
    """Official Length_Words number: digits (commas dropped), else English words summed, "hundred" multiplying
    what precedes it (or 1); None when any piece is not a number word. int() may raise (e.g. on '²')."""
    word = word.strip().replace(",", "")
    if word.isdigit():
        return int(word)
    total = pending = 0
    for part in re.split(r"[\s-]+", word.strip().lower()):
        if part not in _WORD_VALUES:
            return None
        if _WORD_VALUES[part] >= 100:
            total, pending = total + max(pending, 1) * _WORD_VALUES[part], 0
        else:
            pending += _WORD_VALUES[part]
    return total + pending


def _normal_form(text):
    """The constraint as the official word class reads it: lower case, outer quotes and runs of blanks gone, then
    four literal rewrites in this order (so a keyword 'words' is looked for as 'word')."""
    text = re.sub(r"\s+", " ", text.lower().strip('"').strip())
    for old, new in (("-word", " word"), ("a total of ", ""), ("words", "word"), ("a single", "exactly one")):
        text = text.replace(old, new)
    return text.strip()


def count_words(response):
    """Official word count: CJK characters (CJK punctuation and full-width forms included) if there are any,
    else whitespace-separated tokens."""
    cjk = len(response) - len(_CJK.sub("", response))
    return cjk if cjk else len(response.split())


def _keyword_present(keyword, response):
    if any("\u4e00" <= ch <= "\u9fff" for ch in keyword):
        return re.search(re.escape(keyword), response) is not None   # Chinese keyword: plain, case-sensitive
    return re.search(r"(?<!\w)" + re.escape(keyword) + r"(?!\w)", response, re.I) is not None


def length_words(text, response):
    if _EACH.search(text):
        return _each_words(text, response)
    rule = _normal_form(text)
    words = count_words(response)
    exact = _EXACTLY.search(rule)
    if exact:   # only the first "exactly" is read; if it is no number, the other rules still apply
        wanted = _spelled_number(exact.group(1))
        if wanted is not None:
            return words == wanted   # returns before any keyword or sentence rule is looked at
    low = high = None
    for regex in _WORD_RANGES:
        found = regex.search(rule)
        if found:   # a half-read range keeps its one number (and a later range rule may overwrite both)
            low, high = _spelled_number(found.group(1)), _spelled_number(found.group(2))
            if low is not None and high is not None:
                low, high = min(low, high), max(low, high)
                break
    if low is None and (found := _MIN_WORDS.search(rule)):
        low = _spelled_number(found.group(1))
    if high is None and (found := _MAX_WORDS.search(rule)):
        high = _spelled_number(found.group(1))
    for regex in _MAX_WORDS_ZH:
        if high is None and (found := regex.search(rule)):
            high = _spelled_number(found.group(1))
    fewest = most = None
    if found := _MIN_SENTENCES.search(rule):
        fewest = _spelled_number(found.group(1))
    if found := _MAX_SENTENCES.search(rule):
        most = _spelled_number(found.group(1))
    if not all(_keyword_present(found.group(1), response) for found in _QUOTED.finditer(rule)):
        return False
    if not _within(words, low, high):
        return False
    if fewest is None and most is None:
        return True
    return _within(len(re.findall(r"[.!?]+", response)), fewest, most)   # runs: "Wait..." is one sentence here


# ------------------------------------------------------------------------------------------- words: "each"
_CHAR_LIMIT = re.compile(r"(?i)must be (at most|at least) "
                         r"(\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b) characters")
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_WORD_VALUES) + r")\b", re.I)
_TARGET = re.compile(r"(?:each entry in the|Each entry in the|Each|each|The|the)\s+(.+?)\s+"
                     r"(?:is|in the table|column|must|consists of|contains?|should|have)", re.I)
_EACH_LIMITS = [(kind, re.compile(pattern, re.I)) for kind, pattern in (
    ("range", r"between (\d+) and (\d+) words"), ("range", r"range: (\d+)-(\d+) words"),
    ("min", r"at least (\d+) words"), ("min", r"a minimum of (\d+) words"),
    ("min", r"a minimum length of (\d+) words"),
    ("max", r"at most (\d+) words"), ("exact", r"exactly (\d+) words"), ("max", r"no more than (\d+) words"),
    ("max", r"not exceed (\d+) words"), ("max", r"a maximum of (\d+) words"),
    ("max", r"a maximum length of (\d+) words"), ("max", r"limit of (\d+) words"),
    ("max", r"not exceeding (\d+) words"), ("max", r"less than (\d+) words"))]
_NUMBERED = re.compile(r"\s*\d+\.\s+")   # officially ^-anchored without re.M: the response start only
_BULLET = re.compile(r"\s*[-*] ")
# Official table test `^\s*\|.+\|` (re.M) is quadratic on many blank lines: `\s*` crosses newlines from every
# line start. A match that crosses one implies a match from the later line start, so blanks without "\n" suffice.
_TABLE_TEST = re.compile(r"^[^\S\n]*\|[^\n]+\|", re.M)
_TABLE_LINE = re.compile(r"^[^\S\n]*(\|[^\n]*)", re.M)   # a line whose first non-blank is '|', from that '|'
# the characters of `\s` (= str.isspace, tested) and "|*-": a line of only these is a |---| line
_RULE_CHARS = "|*- \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200b))) + \
    "\u2028\u2029\u202f\u205f\u3000"
_HEADER_END = "<TitleSplit>"   # the official marker for a |---| line, shared with any cell spelled the same


def _each_words(text, response):
    if re.search(r"each word must be", text, re.I):
        limit = _CHAR_LIMIT.search(text)
        if limit is None:
            raise ValueError("each-word constraint without a character limit")   # official: None.group
        if limit.group(1) in ("at most", "at least"):   # any other capitalisation falls through, as officially
            size = int(limit.group(2))   # 'five' raises, as officially
            sizes = list(map(len, response.split(" ")))   # ' ' only: a double space makes an empty, 0-char word
            return max(sizes) <= size if limit.group(1) == "at most" else min(sizes) >= size
    spelled = _NUMBER_WORD.sub(lambda m: str(_WORD_VALUES[m.group().lower()]), text)
    target = _TARGET.search(spelled)
    target = target.group(1).lower().replace('"', "").replace("'", "") if target else None
    low, high = _bounds(_EACH_LIMITS, spelled, int)   # digits only: the number words were spelled as digits
    if low is None and high is None:
        return False
    counts = list(map(len, map(str.split, _elements(response, target))))
    return bool(counts) and _within(min(counts), low, None) and _within(max(counts), None, high)


def _after(line, sep):
    """What follows the first `sep` in `line`, or the whole line when there is none."""
    _, found, rest = line.partition(sep)
    return rest if found else line


def _elements(response, target):
    """The pieces the official "each" check counts, by the response's detected format."""
    if re.match(r"\s*[{\[]", response):
        try:   # any failure (bad JSON, a list, no target, deep nesting) means no elements
            with official_depth(response, JSON_DEEPEST):
                data = json.loads(response)
                if "entry" in target:
                    return [str(value) for value in data.values()]
                return [str(data.get(target.split()[-1], ""))]
        except Exception:  # noqa: BLE001 - the official code swallows every error here
            return []
    if _TABLE_TEST.search(response):
        return _table_cells(response, "cells" if target is None else target)
    lines = response.split("\n")
    if _NUMBERED.match(response):
        return [_after(_after(line, ":"), ".").strip() for line in lines if _NUMBERED.match(line)]
    if _BULLET.match(response):   # leading spaces keep the bullet: "  - a" splits at its first ' ' into " - a"
        return [_after(line, " ").strip() for line in lines if _BULLET.match(line)]
    # plain: every non-blank line but "Heading:" lines and whole "|...|" lines (official `^\|.*\|$`)
    return [line.lstrip("#").strip() for line in map(str.strip, lines) if line
            and not line.strip("*#'\"").endswith(":") and not (len(line) > 1 and line[0] == line[-1] == "|")]


def _split_cells(rows):
    """The non-blank cells of these row insides, all split in one go ("a|b" and "c" as "a|b|c")."""
    return [cell for cell in map(str.strip, "|".join(rows).split("|")) if cell]


def _table_cells(response, target):
    """Official table reading: the cells before the first |---| line are the headers, the rest (other |---| lines
    dropped) fill rows of that width; a partial last row is lost. Repeated headers collapse as in a dict (first
    place, last column). The result: the cells under headers containing `target` (a cell equal to its header
    skipped), or, when there are none, every cell read, headers and markers included."""
    cells, block = [], []
    for line in map(str.rstrip, _TABLE_LINE.findall(response)):
        if line.strip(_RULE_CHARS):
            block.append(line[1:-1])   # the first and last characters are dropped whatever they are
        else:   # official `^[\s|*-]+$`: a |---| line
            cells += _split_cells(block) + [_HEADER_END]
            block = []
    cells += _split_cells(block)
    if _HEADER_END in cells:
        cut = cells.index(_HEADER_END)
        headers, body = cells[:cut], [cell for cell in cells[cut + 1:] if cell != _HEADER_END]
    else:
        headers, body = cells, []
    if not headers:
        return []
    column = {header: place for place, header in enumerate(headers)}   # as dict(zip(headers, row)) keys them
    # a header is lowered once, not once per row: a long header over many rows would be quadratic
    wanted = [(header.lower(), place) for header, place in column.items() if target.lower() in header.lower()]
    if not wanted:
        return cells
    width, picked = len(headers), []
    for start in range(0, len(body) - width + 1, width):
        picked += [body[start + place] for low, place in wanted if body[start + place].lower() != low]
    return picked or cells

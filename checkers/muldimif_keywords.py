"""MulDimIF's Content_Keywords check (its "each"/"every" variant included), verdict for verdict, in linear time.

The official class reads a rule out of the constraint's English (quoted keywords, "at least twice", "OR",
"must end with a period", word limits, "avoid using the term") and tests the response, or, when the
constraint says "each"/"every", tests every element it cuts the response into (table column, JSON values,
numbered or bullet items, sections between "---" lines). Keywords match as whole words, case-insensitively,
unless they hold a CJK character. Only the table detector's regex is super-linear on responses (its `\\s*`
crosses blank lines, re-scanned from every line start); `_has_table_line` is the same test as one pass.
"""
import functools
import json
import re

from checkers.muldimif import official_depth

# the deepest JSON the official "each" path reads (its call site is one frame deeper than Length_Words': measured,
# 989 passes, 990 overflows the stack)
JSON_DEEPEST = 989

_NUMBERS = {"once": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10, "twice": 2}

# constraint-side patterns (facts of behaviour; they only ever run on the short constraint text)
_EACH_GATE = re.compile(r"\b(each|every)\b", re.I)
_EACH_SPLIT = re.compile(r"\b(each|every)\s+(.+?)\s+(must|should|needs to|has to)\s+(.*)", re.I)
_INCLUDE = re.compile(r"includes?\s+the\s+keyword\s+[\"']([^\"']+)[\"']", re.I)
_AVOID = re.compile(r"avoids?\s+the\s+keyword\s+[\"']([^\"']+)[\"']", re.I)
_IF_DISCUSSING = re.compile(r"If discussing\s+([^,]+),\s*the summary must include the keyword\s+[\"']([^\"']+)[\"']",
                            re.I)
_SLASH_TOPIC = re.compile(r"^(.*\s)(\S+)\/(\S+)(\s.*)$")
_WRAPPED = re.compile(r'^"+(.*[^"])"+$')
_PERIOD = re.compile(r"must\s+end\s+with\s+(a\s+)?period", re.I)
_CAPITALS = re.compile(r"must\s+use\s+capitalized\s+letters\s+for\s+each\s+word", re.I)
_MIN_WORDS = re.compile(r"(?:at\s+least|minimum\s+of)\s+(\S+)\s+word", re.I)
_MAX_WORDS = re.compile(r"(?:not\s+exceed|at\s+most|no\s+more\s+than|maximum\s+of)\s+(\S+)\s+word", re.I)
_SINGLE_WORD = re.compile(r"is\s+a\s+single\s+word", re.I)
_EXCLUDE = re.compile(r"(avoid\s+using\s+(the\s+)?term|must\s+be\s+avoided)", re.I)
_FIRST_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")
_OR = re.compile(r"\bOR\b", re.I)
_AT_LEAST = re.compile(r"at least (\d+|one|two|three|four|five|six|seven|eight|nine|ten|once|twice)(?:\s+times?)?\b"
                       r"(?!\s+words\s+long)", re.I)
_MULTIPLE = re.compile(r"must appear multiple times", re.I)
_DOUBLED = re.compile(r'["”]{2}([^"“]+)["“]{2}')   # ""kw"" (CSV-style doubled quotes) wins over single quotes
_QUOTED = re.compile(r"[\"'「“]([^\"']+)[\"'」”]")
# response-side patterns, all linear: anchored at one start, no nested or crossing repetition
_NUMBERED = re.compile(r"\s*\d+\.\s")
_BULLET = re.compile(r"\s*[-*] ")
_NON_WORD = re.compile(r"\W")


def content_keywords(text, response):
    """Official Content_Keywords.check(text, response)."""
    # the official gate is case-sensitive on "for each word" but not on each/every
    if _EACH_GATE.search(text) and "for each word" not in text:
        return _each(text, response)
    include, avoid = _INCLUDE.search(text), _AVOID.search(text)
    if include and avoid:  # "includes the keyword 'a' and avoids the keyword 'b'": plain substrings
        return include.group(1) in response and avoid.group(1) not in response
    conditions = _IF_DISCUSSING.findall(text)
    if conditions:
        return _conditional(conditions, response)
    return _holds(response, _rule(text))


def _conditional(conditions, response):
    """'If discussing <topic>, the summary must include the keyword <kw>': each topic found needs its keyword."""
    for topic, keyword in conditions:
        if "/" not in topic:
            found = topic in response
        elif m := _SLASH_TOPIC.match(topic):  # "housing/property laws" -> either spelled out in full
            found = any(m.group(1) + alt + m.group(4) in response for alt in (m.group(2), m.group(3)))
        else:
            found = any(part.strip() in response for part in topic.split("/"))
        if found and keyword not in response:
            return False
    return True


def _number(word):
    """'12', '1,000', 'five', 'one-two' (= 3, the official sum of parts); None when unreadable."""
    word = word.strip().replace(",", "")
    if word.isdigit():
        return int(word)  # the official int() of any isdigit() string: '²' raises, which is a fail
    parts = re.split(r"[\s-]+", word.strip().lower())
    return None if any(p not in _NUMBERS for p in parts) else sum(_NUMBERS[p] for p in parts)


class _Rule:
    """What one constraint asks of a text: keywords (text, compiled pattern) and the side conditions."""

    def __init__(self):
        self.keywords, self.min_count, self.exclude, self.any_of = [], 1, False, False
        self.period = self.capitals = False
        self.min_words, self.max_words = 0, float("inf")


def _keyword(word):
    # CJK keywords match anywhere, case-sensitively; others as whole words (no \w on either side), any case
    if any("\u4e00" <= ch <= "\u9fff" for ch in word):
        return word, re.compile(re.escape(word))
    return word, _WholeWord(word)


class _WholeWord:
    r"""re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.I), compiled only for non-ASCII text: a scoring
    run meets over a thousand distinct keywords, and compiling each (re's cache holds 512) cost more than checking.
    On ASCII text and word, re.I is ASCII case-folding and \w is [A-Za-z0-9_], so a lower-cased find is exact."""

    def __init__(self, word):
        self.word, self.lower = word, word.lower()
        self.fast = bool(word) and word.isascii()

    @functools.cached_property
    def pattern(self):
        return re.compile(r"(?<!\w)" + re.escape(self.word) + r"(?!\w)", re.I)

    def finditer(self, text):
        if not (self.fast and text.isascii()):
            yield from self.pattern.finditer(text)
            return
        low, n, at = text.lower(), len(self.lower), 0
        while (at := low.find(self.lower, at)) >= 0:
            if (at == 0 or not _ascii_word(low[at - 1])) and (at + n == len(low) or not _ascii_word(low[at + n])):
                yield at
                at += n
            else:
                at += 1

    def search(self, text):
        return next(self.finditer(text), None) is not None


def _ascii_word(ch):
    return ch.isalnum() or ch == "_"


def _rule(text):
    """The official _parse_constraint, in the same order (the exclusion branch returns early)."""
    text = text.strip()
    while m := _WRAPPED.match(text):  # peel "..."-wrapping, one layer per round, as the official re.sub loop
        text = m.group(1) + text[m.end():]
    rule = _Rule()
    rule.period = bool(_PERIOD.search(text))
    rule.capitals = bool(_CAPITALS.search(text))
    if m := _MIN_WORDS.search(text):
        rule.min_words = _number(m.group(1))
    if m := _MAX_WORDS.search(text):
        rule.max_words = _number(m.group(1))
    if _SINGLE_WORD.search(text):
        rule.min_words = rule.max_words = 1
    if _EXCLUDE.search(text):
        if m := _FIRST_QUOTED.search(text):
            rule.keywords, rule.exclude = [_keyword(m.group(1))], True
        return rule
    rule.any_of = bool(_OR.search(text))
    if m := _AT_LEAST.search(text):
        count = m.group(1).lower()
        rule.min_count = int(count) if count.isdigit() else _NUMBERS.get(count, 1)
    if _MULTIPLE.search(text):
        rule.min_count = 2
    quoted = _DOUBLED if _DOUBLED.search(text) else _QUOTED
    rule.keywords = [_keyword(m.group(1)) for m in quoted.finditer(text)]
    return rule


def _count_reaches(pattern, text, need):
    """len(pattern.findall(text)) >= need, stopping at the need-th match."""
    if need <= 0:
        return True
    for found, _ in enumerate(pattern.finditer(text), 1):
        if found >= need:
            return True
    return False


def _holds(text, rule):
    """The official _validate_rule."""
    words = text.split()
    if rule.capitals and any(not w[0].isupper() for w in words):
        return False
    if rule.period and not text.strip().endswith("."):
        return False
    if rule.min_words is None or (len(words) >= rule.min_words and rule.max_words is None):
        raise TypeError("unreadable word count in the constraint")  # the official `<`/`>` against None
    if not rule.min_words <= len(words) <= rule.max_words:
        return False
    if rule.exclude:
        return not any(pattern.search(text) for _, pattern in rule.keywords)
    reached = (_count_reaches(pattern, text, rule.min_count) for _, pattern in rule.keywords)
    return any(reached) if rule.any_of else all(reached)


# ---- "each"/"every": the rule must hold for every element of the response -----------------------------------
def _each(text, response):
    m = _EACH_SPLIT.search(text)
    if not m:
        return False
    # the rule is read from what follows "must"/"should" on the same line (`.*` stops at a newline)
    target, rule = m.group(2).lower(), _rule(m.group(4))
    elements = _elements(response, target)
    return bool(elements) and all(_holds(element, rule) for element in elements)


def _has_table_line(text):
    """Official `re.search(r'^\\s*\\|.+\\|', text, re.M)` in one pass: some line's first non-space is "|" with
    another "|" at least two characters on, in the same line (a blank line's `\\s*` only reaches the next
    line's first non-space, which that line's own start reaches too)."""
    for line in text.split("\n"):
        line = line.lstrip()
        if line[:1] == "|" and line.find("|", 2) >= 0:
            return True
    return False


def _elements(response, target):
    """The official extract_elements: cut by the first format found (JSON, table, numbered, bullet, plain)."""
    if response.lstrip()[:1] in ("{", "["):
        with official_depth(response, JSON_DEEPEST):
            try:
                data = json.loads(response)
            except json.JSONDecodeError:  # other errors (deep nesting, 5000-digit ints) escape, as officially
                return []
            if isinstance(data, dict):
                return [str(v) for v in data.values()]
            return [str(v) for v in data] if isinstance(data, list) else None  # a JSON scalar: no elements
    if _has_table_line(response):
        return _table_column(response, target)
    if _NUMBERED.match(response):
        return [line.split(".", 1)[1].strip() for line in response.split("\n") if _NUMBERED.match(line)]
    if _BULLET.match(response):
        # the item is what follows the line's first space: "  - x" (indented) gives "- x", officially
        return [line.split(" ", 1)[1].strip() for line in response.split("\n") if _BULLET.match(line)]
    return _sections(response)


def _is_rule_line(line):
    line = line.strip()
    return len(line) >= 3 and line[0] in "-*=" and line.count(line[0]) == len(line)


def _sections(response):
    """Text between lines of one repeated '-', '*' or '='; a section of blank lines is kept (as '')."""
    sections, current = [], []
    for line in response.split("\n"):
        if not _is_rule_line(line):
            current.append(line)
        elif current:
            sections.append("\n".join(current).strip())
            current = []
    if current:
        sections.append("\n".join(current).strip())
    return sections or [response]


def _clean_cell(cell):
    return cell.lstrip("#").strip()  # official re.sub(r'^#+\s*', '', cell).strip(): same result


def _normal(word):
    return _NON_WORD.sub("", word).lower()


def _table_column(response, target):
    """The column whose header shares the most words with the target, else the wordiest column."""
    lines = [line.strip() for line in response.split("\n")]
    lines = [line for line in lines if line.startswith("|") and line.endswith("|")]
    if len(lines) < 3:
        return []
    headers = [h.strip() for h in lines[0].split("|")[1:-1]]
    if not headers:
        return []
    rows = []  # row 1 is taken as the separator, whatever it holds; ragged rows are dropped
    for line in lines[2:]:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == len(headers):
            rows.append(dict(zip(headers, cells)))  # a repeated header name keeps its last column's cell
    if not rows:
        return []
    wanted = {w for w in map(_normal, target.split()) if w}
    best, best_hits = None, -1
    for header in headers:  # the first header with the most hits wins
        hits = sum(1 for w in map(_normal, header.split()) if w and w in wanted)
        if hits > best_hits:
            best, best_hits = header, hits
    if best_hits <= 0:
        averages = {}
        for header in headers:
            averages[header] = sum(len(_clean_cell(row[header]).split()) for row in rows) / len(rows)
        best = max(averages, key=averages.get)
    return [_clean_cell(row[best]) for row in rows]

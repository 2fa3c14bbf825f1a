"""MulDimIF's content checks: Content_Keywords (in muldimif_keywords.py), Content_Punctuation, Content_Others.

Each function takes the constraint's English text and the response, and returns the official class's verdict
(quirks included), in time linear in the response. Two official response-side regexes are super-linear and are
redone as scans here: the table-cell split r'\\s*\\|\\s*' (quadratic in a long run of spaces) and
r'Sources:\\s*.+$' (quadratic in a line of repeated "Sources:" or a long run of spaces after one).
"""
import re
import string

from checkers.muldimif_keywords import content_keywords  # noqa: F401 - the dispatcher finds it here
from checkers.sentences import iter_sentences, split_sentences

# ---- Content_Punctuation -----------------------------------------------------------------------------------
_MARKS = {"period": ".", "question mark": "?", "exclamation mark": "!", "semicolon": ";"}  # order matters
_NEGATIVE = re.compile(r"\b(must not|avoid|exclude|not end with|do not use)\b", re.I)
_FOLLOWED = re.compile(r"(period|question mark|exclamation mark|semicolon)\s+followed by a `([^`]+)`", re.I)
_NAMES = re.compile(r"\b(periods?|question marks?|exclamation marks?|semicolons?|punctuation marks?)\b")
# a bullet line: its `\s` may be the newline, and then the item runs on to the end of the next line
_BULLET_ITEM = re.compile(r"^[\-\*\•]\s.*$", re.M)


def content_punctuation(text, response):
    """Official Content_Punctuation.check(text, response)."""
    rule = text.strip().lower().rstrip(".")
    response = response.strip()
    if "bullet point" in rule:
        mark = next((m for name, m in _MARKS.items() if name in rule), None)  # the first name in map order
        return all(_bullet_ends(item, mark) for item in _BULLET_ITEM.findall(response))
    negative = _NEGATIVE.search(rule) is not None
    pieces = _punctuation_pieces(rule, response)  # a list, or Punkt sentences lazily (never empty strings)
    if isinstance(pieces, list) and "" in pieces:  # only an empty response, checked whole, gives an empty piece
        return negative
    followed = _FOLLOWED.search(rule)
    if followed:  # "a period followed by a `~`": every piece ends with ".~"
        end = _MARKS[followed.group(1).lower()] + followed.group(2)
        return all(piece.endswith(end) for piece in pieces)
    names = [name.rstrip("s") for name in _NAMES.findall(rule)]
    if any("punctuation mark" in name for name in names):
        allowed = set(string.punctuation)
    else:
        allowed = {_MARKS[name] for name in names if name in _MARKS}
    return all((piece[-1] in allowed) != negative for piece in pieces)


def _bullet_ends(item, mark):
    # every Punkt sentence of the item ends with the mark named, or (none named) with any ASCII punctuation;
    # Punkt breaks only after . ? !, so an item without them is one sentence (saves a Punkt call per item)
    sentences = split_sentences(item) if any(end in item for end in ".?!") else [item]
    for sentence in sentences:
        sentence = sentence.strip()
        if not (sentence.endswith(mark) if mark else sentence[-1] in string.punctuation):
            return False
    return True


def _punctuation_pieces(rule, response):
    """What must end right: table cells, else lines, else Punkt sentences, else the whole response."""
    if "table" in rule or "cell" in rule:
        rows = response.split("\n")
        if len(rows) > 1:
            rows = rows[2:]  # the header and the separator, whatever they hold, are skipped
        return _cells(rows)
    if "paragraph" in rule or "section" in rule:
        return [line.strip() for line in response.split("\n") if line.strip()]
    if "each" in rule or "any" in rule or "all" in rule:  # substrings: "finally", "many", "small" count too
        return iter_sentences(response)  # lazily: the all() below stops at the first sentence that ends wrong
    return [response]


def _cells(rows):
    """Official cells of re.split(r'\\s*\\|\\s*', row.strip('|')), stripped, kept when not blank nor all '-'.
    Every match of that split holds exactly one '|' and only whitespace besides, so splitting on '|' and
    stripping gives the same cells, without the regex's quadratic retries in a long run of spaces."""
    cells = []
    for row in rows:
        for cell in row.split("|"):
            cell = cell.strip()
            if cell and cell.strip("-"):
                cells.append(cell)
    return cells


# ---- Content_Others ----------------------------------------------------------------------------------------
_START_IDENTIFIER = re.compile(r"Start identifier( must be|:)(?:.*)?\s'([^']+)'")
_START_PHRASE = re.compile(r"(?:Start|start|begin|it is essential to start) (?:with|by) the (?:identifier|phrase) "
                           r"'?([^']+)'?", re.I)
_SHOWROOM = re.compile(r"The name of the showroom must start with the letter '([A-Za-z])'\.")
_MENTION = re.compile(r"[Mm]ust mention (.+) and the (.+)")
_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+(?=\S)")
# the official emoji class is a union of ranges, one of which (U+24C2..U+1F251) with the last (U+10000..)
# covers every code point from U+24C2 up: CJK text counts as emoji, one per run
_EMOJI_RUN = re.compile("[\u24c2-\U0010ffff]+")
_QUOTE_MARK = re.compile(r"[\"“”‘’']")
_NUMBERED_CITE = re.compile(r"\[\d+\]")
_CITATION = re.compile(r"\[\d+\]|\([A-Za-z]+, \d{4}\)")
_BLURB = {"Response must be written as a short blurb", "ensure that the response is written as a short blurb",
          "ensure the response is a short blurb", "The response must be short and simple"}
_CITED_AT_END = {"End identifier: Sources must be cited at the end of the response",
                 "make sure to conclude your response by citing your sources, as this is a crucial part of the answer"}


def content_others(text, response):
    """Official Content_Others.check(text, response): a chain of exact texts and patterns, False when none fits."""
    if text == "Keep it a paragraph long":
        return "\n" not in response
    start = _START_IDENTIFIER.match(text)
    if "Each example must start with" in text:
        return start.group(2) in response  # no identifier parsed: the official AttributeError, a fail
    if start:
        return _starts_with(response, start.group(2))
    start = _START_PHRASE.search(text)
    if start:
        return _starts_with(response, start.group(1))
    if text in _CITED_AT_END:
        return _sources_line(response.strip())
    showroom = _SHOWROOM.match(text)
    if showroom:  # a word starting with the capital letter, ASCII letters to a word's end
        return re.search(r"\b" + showroom.group(1).upper() + r"[a-zA-Z]*\b", response) is not None
    if text in _BLURB:
        return len(response) <= 200
    if text == "The response should be concise, with a maximum of 50 words":
        return len(response.split()) <= 50
    if text == "Each sentence must include at least three emojis.":
        sentences = (s.strip() for s in _SENTENCE_GAP.split(response))
        return all(len(_EMOJI_RUN.findall(s)) >= 3 for s in sentences if s)
    mention = _MENTION.search(text)
    if mention:
        return mention.group(1) in response and "the " + mention.group(2) in response
    if text in ("Must include quotes from the sources", "with quotes from these sources"):
        return _QUOTE_MARK.search(response) is not None
    if text in ("Must provide sources that are cited", "The response must include sources that are cited"):
        return _sources_line(response) and _NUMBERED_CITE.search(response) is not None
    if text == "It must include in-text citations":
        return _CITATION.search(response) is not None
    return "be in full sentences" in text


def _starts_with(response, start):
    return response.lstrip(" #").lower().startswith(start.lower())


_SOURCES = "Sources:"


def _sources_line(text):
    """Official bool(re.search(r'Sources:\\s*.+$', text)), as a scan.

    `$` (no MULTILINE) is the end, or just before a final newline. `.+` cannot cross a newline but `\\s*` can,
    so a "Sources:" works when the last line (before that end) holds a "Sources:" with a character after it,
    or when a "Sources:" is followed by nothing but whitespace up to the last newline and the last line is
    not empty. The regex retries `.+` from every "Sources:" and every split of the spaces: quadratic."""
    ends = [len(text)] + ([len(text) - 1] if text.endswith("\n") else [])
    for end in ends:
        last_newline = text.rfind("\n", 0, end)
        if text.find(_SOURCES, last_newline + 1, end - 1) >= 0:
            return True  # on the last line, a character after it (the find's end bound)
        if last_newline >= 0 and last_newline + 1 < end:
            run = len(text[:last_newline + 1].rstrip())  # start of the whitespace run ending at that newline
            if run >= len(_SOURCES) and text.startswith(_SOURCES, run - len(_SOURCES)):
                return True
    return False

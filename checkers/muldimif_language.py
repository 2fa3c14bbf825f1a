"""MulDimIF's two language classes, verdict for verdict: Language_English (letter case) and Language_Chinese
(simplified / traditional script, judged with zhconv 1.4.3's tables, as the official class does).

    >>> language_english("The answer must use capitalized letters for each word", "Hello World")
    True
    >>> language_chinese("The answer must be provided in Simplified Chinese", "這是繁體")
    False

Language_English reads the constraint for a case rule (all uppercase, each word capitalized, all lowercase)
and for a place to apply it (table cells, JSON keys or values, Markdown headings, else the whole response).
Language_Chinese's first matching pattern asks either that some character change under a single-character
conversion, or that zhconv leave the whole response as it is.
"""
import functools
import heapq
import re

import zhconv
import zhconv.zhconv as zhconv_tables


# ----------------------------------------------------------------------------- constraint text, per line
def first_with_tail(head, tail, text):
    """What re.search(head + ".*" + tail) finds, in linear time: the first match of `head` whose own line goes on
    to hold a match of `tail` (heads here cannot overlap themselves, so finditer sees every start; "." stops
    at "\\n"). One forward search for the tail serves every head until the heads pass it."""
    hit = None
    for found in head.finditer(text):
        if hit is None or hit.start() < found.end():
            hit = tail.search(text, found.end())
            if hit is None:
                return None
        line_end = text.find("\n", found.end())
        if line_end < 0 or hit.start() < line_end:
            return found
    return None


# ----------------------------------------------------------------------------- Language_English
def _case_rule(text):
    """The official case rule the constraint asks for: "upper", "title", "lower", "blurb" or None."""
    said = text.strip().lower()
    # The official lists are longer; the phrases left out ("in all uppercase letters", "capitalized letters
    # for each word", ...) are each implied by a test kept here, so the rule chosen is the same.
    if re.search(r"\ball[- ]?uppercase\b", said) or "in capitalized form" in said:
        return "upper"
    if "each word in" in said or re.search(r"\bcapitalized\b", said) or ("capital" in said and "each" in said):
        return "title"
    if "must be in lowercase" in said or "all lowercase" in said or re.search(r"\blowercase\b", said):
        return "lower"
    return "blurb" if "written as a short blurb" in said else None


_CASE_TESTS = {"upper": lambda t: t == t.upper(),
               # official: no whitespace-separated word may begin with an ASCII lowercase letter
               "title": lambda t: not any("a" <= word[0] <= "z" for word in t.split()),
               "lower": lambda t: t == t.lower(),
               "blurb": lambda t: True}


def _cells(rows):
    return [cell.strip() for row in rows for cell in row.split("|") if cell.strip()]


def _table_text(response, part):
    """Official table extraction: cells of the non-blank lines (the "header" is the first non-blank line,
    table or not); a response without "|" is read whole, and "entries" of a one-line text too."""
    if "|" not in response:
        return response
    rows = [row.strip() for row in response.split("\n") if row.strip()]
    if not rows:
        return response
    if part == "headers":
        return " ".join(_cells(rows[:1]))
    if part == "entries":
        return " ".join(_cells(rows[1:])) if len(rows) > 1 else response
    return " ".join(_cells(rows))


_JSON_KEY = re.compile(r'"([^"]+)"\s*:')     # linear: each quote-to-quote stretch is read at most twice
_JSON_VALUE = re.compile(r':\s*"([^"]+)"')
_HEADING = re.compile(r"^#+\s*(.+)$", re.MULTILINE)  # linear; note \s* may run over newlines, as officially


def _json_text(response, part):
    if "{" not in response or "}" not in response:
        return response
    found = {"keys": _JSON_KEY, "values": _JSON_VALUE}.get(part)
    found = found.findall(response) if found else None
    return " ".join(found) if found else response


def _heading_text(response):
    found = _HEADING.findall(response)
    return " ".join(found) if found else response


def _english_target(text, response):
    """The part of the response the official class applies the case rule to (picked from the constraint)."""
    said = text.strip().lower()
    if "headings" in said and "table" in said:  # official "mixed": the table's cells, else headings, else all
        return _table_text(response, "all") or _heading_text(response)
    if "table" in said:
        part = "headers" if "header" in said else "entries" if "entries" in said else "all"
        return _table_text(response, part)
    if "json" in said:
        return _json_text(response, "keys" if "keys" in said else "values" if "values" in said else "all")
    if "heading" in said:
        return _heading_text(response)
    return response


def language_english(text, response):
    """The official Language_English verdict (a blank response always fails)."""
    if not response.strip():
        return False
    rule = _case_rule(text)
    return rule is not None and _CASE_TESTS[rule](_english_target(text, response))


# ----------------------------------------------------------------------------- Language_Chinese
@functools.cache
def _script(locale):
    """zhconv's table for a locale, read for speed (zhconv converts by taking, at each place, the longest key of
    this table, else copying one character)."""
    table = zhconv_tables.getdict(locale)
    inner = {char for key in table for char in key[:-1]}
    return {"table": table, "prefixes": zhconv_tables.pfsdict[locale],  # every start of every key
            "changed": frozenset(key for key, value in table.items() if len(key) == 1 and value != key),
            "changing": [(key, frozenset(key)) for key, value in table.items() if value != key],
            # a key never runs on past a character that ends every key holding it: the next segment starts there
            "segment_ends": re.compile("[^" + "".join(map(re.escape, sorted(inner))) + "]")}


def _changes_a_character(response, locale):
    """Official any(convert(c, locale) != c for c in response): zhconv maps a lone character by its table."""
    return not _script(locale)["changed"].isdisjoint(response)


def _walk(z, text, pos, stop, locale):
    """Walk zhconv's segmentation from the true segment start `pos` until past `stop` (at each place the longest
    table key, else one character): (verdict, None) at the first segment that changes, else (None, next start)."""
    table, prefixes, end = z["table"], z["prefixes"], len(text)
    while pos <= stop and pos < end:
        word, size = text[pos], 2
        while pos + size <= end and (piece := text[pos:pos + size]) in prefixes:  # zhconv's own probe
            word = piece if piece in table else word
            size += 1
        into = table.get(word, word)
        if into != word:
            if len(into) == len(word) or not text.startswith(into, pos):
                return False, None
            # a shorter or longer output that still reads as the text: zhconv finishes from this true start
            return zhconv.convert(text[pos:], locale) == text[pos:], None
        pos += len(word)
    return None, pos


def _left_as_is(response, locale):
    """zhconv.convert(response, locale) == response, without converting a long text in Python. A segment can
    only change where a changing key occurs, so find those places (C-speed searches), walk zhconv's own
    segmentation from the last sure segment start before each (and a block on, so that a dense run of them
    costs one search per block), and stop at the first segment that changes."""
    z, end = _script(locale), len(response)
    present = set(response)
    risks = [(at, key) for key, chars in z["changing"] if chars <= present and (at := response.find(key)) >= 0]
    heapq.heapify(risks)
    pos, backwards = 0, None
    while True:
        while risks and risks[0][0] < pos:  # each changing key's next occurrence at or after pos
            key = heapq.heappop(risks)[1]
            if (at := response.find(key, pos)) >= 0:
                heapq.heappush(risks, (at, key))
        if not risks:
            return True
        risk = risks[0][0]
        if risk > pos:  # jump to the last sure segment start at or before the risk
            backwards = backwards or response[::-1]
            found = z["segment_ends"].search(backwards, end - risk, end - pos)
            pos = end - found.start() if found else pos
        verdict, pos = _walk(z, response, pos, risk + 256, locale)
        if verdict is not None:
            return verdict


def _all_in(locale):
    # official: any ASCII letter fails, then the whole response must be left as it is
    return lambda response: not re.search(r"[A-Za-z]", response) and _left_as_is(response, locale)


def _chinese_searcher(pattern):
    return re.compile(pattern, re.IGNORECASE).search


def _then_traditional(head):
    # official `<head> .*?Traditional Chinese characters`, scanned per line instead
    head, tail = re.compile(head + " ", re.IGNORECASE), re.compile("Traditional Chinese characters", re.IGNORECASE)
    return lambda text: first_with_tail(head, tail, text)


_SIMPLIFIED_ASKED = (r"(?:must be|must use|must write|must be presented|answer must be|essential|is|should be|必须|请|"
                     r"需要) {0,1}(?:in|provided in|written in|to use|conducted in|用|使用|提供|书写|翻译为|将文本翻译为) "
                     r"{0,1}(?:Simplified Chinese|简体中文)")
_HAS_TRADITIONAL = functools.partial(_changes_a_character, locale="zh-cn")
_HAS_SIMPLIFIED = functools.partial(_changes_a_character, locale="zh-tw")

# (finder on the constraint text, test of the response), tried in the official order; the first hit decides
_CHINESE_RULES = [
    (_chinese_searcher(r'Must include the phrase "{1,2}(.+?)"{1,2}'), None),
    (_chinese_searcher(r'Must write the name "Shen Lim" in Simplified Chinese'), lambda r: "沈林" in r),
    (_chinese_searcher(r"Must (?:use|convert into|be converted into) Traditional Chinese characters"),
     _all_in("zh-tw")),
    (_then_traditional("include"), _HAS_TRADITIONAL),
    (_then_traditional("use"), _HAS_TRADITIONAL),
    (_chinese_searcher(r"使用繁體中文"), _HAS_TRADITIONAL),
    (_chinese_searcher(r"(The answer must ){0,1}include some content in Simplified Chinese"), _HAS_SIMPLIFIED),
    (_chinese_searcher(r"Use Simplified Chinese characters"), _HAS_SIMPLIFIED),
    (_chinese_searcher(_SIMPLIFIED_ASKED), _HAS_SIMPLIFIED),
    (_chinese_searcher(r"用中文简体描述"), _HAS_SIMPLIFIED),
    (_chinese_searcher(r"Names must be in Simplified Chinese"), _HAS_SIMPLIFIED),
    (_chinese_searcher(r"Must translate the text into Simplified Chinese"), _all_in("zh-cn")),
    (_chinese_searcher(r"Simplified"), _HAS_SIMPLIFIED),
]


def language_chinese(text, response):
    """The official Language_Chinese verdict (no pattern in the constraint: a fail)."""
    for find, test in _CHINESE_RULES:
        found = find(text)
        if found:
            return found.group(1) in response if test is None else bool(test(response))
    return False

"""MulDimIF's "others" format class (Format_Others), verdict for verdict, in linear time.

The official class tries ~24 English patterns on the constraint text, in order, case-insensitively; the first
that matches picks one test of the response (XML attribute counts, bullets, block quotes, table rows, a blurb's
length, references...). No pattern matching is a fail. The two language classes the dispatcher also looks for
here (Language_English, Language_Chinese) live in muldimif_language.py and are re-exported.

    >>> format_others("Each XML element must have no more than three attributes", "<a x='1' y='2'/>")
    True
    >>> format_others("No bullet points", "Intro\\n\\n  * one")
    False

Five official regexes backtrack super-linearly and are replaced here by linear ones with the same matches
(tests/checkers/test_muldimif_misc.py compares each with the original on random and adversarial strings):
the XML tag regex (two repeats share a run of space: quadratic after "<a   ..."), the key="value" pair
findall (quadratic in a long word), the three line-start searches `^\\s*[-*]`, `^\\s*\\d+\\.`,
`^\\s*(\\d+\\.)\\s` (each line start inside a long blank stretch rescans it to its end), and, on the
constraint text, `must not exceed (N)(?:.*)?attributes?`.
"""
import re

from checkers.muldimif_language import first_with_tail, language_chinese, language_english  # noqa: F401

_NUMBER = r"(\d+|one|two|three|four|five|six|seven|eight|nine|ten)"
_NUMBER_WORDS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}


# ----------------------------------------------------------------------------- XML attributes
# The official tag regex  <\s*NAME\s*(?:\s+NAME=['"][^'"]*['"])*\s*/?>  lets the \s* after the name and each
# attribute's \s+ share one run of space in every way, so "<a" and a long run of space take quadratic time.
# That \s* is redundant (the \s+ or the closing \s* takes the run), and every other repeat runs to a character
# it cannot take (a name stops at space, "=", "/" or ">"; a value at a quote), so without it the regex has the
# same one match at each "<" and no way to backtrack more than linearly.
_TAG = re.compile(r"""<\s*[a-zA-Z_:][\w:.-]*(?:\s+[a-zA-Z_:][\w:.-]*=['"][^'"]*['"])*\s*/?>""")
# The official count inside each tag is len(findall(r"(\w+)=[\"'][^\"']*[\"']")). A match can only start
# where a word run starts (its run must end in "="), so the lookbehind skips the doomed starts inside a
# run that made the findall quadratic, and the matches are the same ones.
_PAIR = re.compile(r"""(?<!\w)\w+=["'][^"']*["']""")


def tag_spans(text):
    """(start, end) of each match of the official tag regex, in finditer order."""
    return [found.span() for found in _TAG.finditer(text)]


def xml_block(text):
    """The text the attribute checks read: the first ```xml block's inside when the response has "```xml",
    else all of it; None when "```xml" is never closed (the official check then fails). As the official
    lazy regex: the first "```" after the first "```xml" closes it."""
    start = text.find("```xml")
    if start < 0:
        return text
    end = text.find("```", start + 6)
    return None if end < 0 else text[start + 6:end]


def attribute_counts(text):
    """The official key="value" count of each XML tag in the response, or None (an unclosed ```xml block)."""
    block = xml_block(text)
    if block is None:
        return None
    return [sum(1 for _ in _PAIR.finditer(block, start, end)) for start, end in tag_spans(block)]


def _attribute_test(keeps):
    def test(response, count):
        counts, count = attribute_counts(response), int(count)
        return counts is not None and all(keeps(c, count) for c in counts)  # no tag at all passes
    return test


_AT_MOST = _attribute_test(lambda c, n: c <= n)
_AT_LEAST = _attribute_test(lambda c, n: c >= n)
_EXACTLY = _attribute_test(lambda c, n: c == n)  # official: the at-most check and the at-least check


# ----------------------------------------------------------------------------- line starts, linearly
# The official `^\s*X` (MULTILINE) matches iff X follows a blank stretch that holds a line start: the
# stretch begins the text, or it holds a "\n" - and then its last "\n" works, after which only non-newline
# space comes. So `\A\s*X|\n[^\S\n]*X` finds the same thing, each blank stretch read once.
def _at_line_start(tail):
    return re.compile(r"(?:\A\s*|\n[^\S\n]*)" + tail)


_BULLET = _at_line_start(r"[-*]")
_NUMBERED = _at_line_start(r"\d+\.")             # No number points: `^\s*\d+\.`
_NUMBERED_THEN_SPACE = _at_line_start(r"\d+\.\s")  # No lists: `^\s*(\d+\.)\s`
_QUOTE_LINE = re.compile(r"^>", re.MULTILINE)
_TABLE_LINE = re.compile(r"^\|.*\|$", re.MULTILINE)      # linear: one try per line, "." stops at the line end
_SEPARATOR = re.compile(r"^\|(\s*-+\s*\|)+$")           # linear: each group must end at a fixed "|"
_APA = re.compile(r"\(\s*\w+,\s*\d{4}\s*\)")
_REFERENCE = re.compile(r"(\[\d+\]|\([A-Za-z]+, \d{4}\))")


def _contains_phrase(response, phrase):
    # Official quirk: a phrase that is a number word ("Must include 'two'") was turned into an int before
    # it got here, and re.escape(int) raises: the verdict is the dispatcher's False.
    return bool(re.search(r"\b" + re.escape(phrase) + r"\b", response, flags=re.IGNORECASE))


def _table_rows_at_most(response, most):
    data_rows = [row for row in _TABLE_LINE.findall(response) if not _SEPARATOR.match(row)]
    most = int(most)
    return len(data_rows) <= most and response.lower().count("<tr>") <= most


def _references_at_least(response, least):
    return len(_REFERENCE.findall(response)) >= int(least)


def _searcher(pattern):
    return re.compile(pattern, re.IGNORECASE).search


_EXCEED_HEAD = re.compile("must not exceed " + _NUMBER, re.IGNORECASE)
_ATTRIBUTE_WORD = re.compile("attribute", re.IGNORECASE)

# (finder on the constraint text, test of the response, fixed arguments), tried in the official order.
_RULES = [
    (_searcher(r"no more than " + _NUMBER + r" attributes?"), _AT_MOST, ()),
    # official `must not exceed (N)(?:.*)?attributes?`, quadratic in the constraint: a line scan instead
    (lambda text: first_with_tail(_EXCEED_HEAD, _ATTRIBUTE_WORD, text), _AT_MOST, ()),
    (_searcher(r"Limit the number of attributes to two"), _EXACTLY, (2,)),
    (_searcher(r"Number of attributes must be exactly " + _NUMBER), _EXACTLY, ()),
    (_searcher(r"must have exactly " + _NUMBER + r" attributes?"), _EXACTLY, ()),
    (_searcher(r"must include exactly " + _NUMBER + r" attributes?"), _EXACTLY, ()),
    (_searcher(r"at least " + _NUMBER + r" attributes?"), _AT_LEAST, ()),
    (_searcher(r"Must include '(.*?)'"), _contains_phrase, ()),
    (_searcher(r"Must be in APA format"), lambda r: bool(_APA.search(r)), ()),
    (_searcher(r"must be provided in APA format"), lambda r: bool(_APA.search(r)), ()),
    (_searcher(r"No bullet points"), lambda r: not _BULLET.search(r), ()),
    (_searcher(r"Must be listed as bullet points"), lambda r: bool(_BULLET.search(r)), ()),
    (_searcher(r"is structured as bullet points"), lambda r: bool(_BULLET.search(r)), ()),
    (_searcher(r"block quotes format"), lambda r: bool(_QUOTE_LINE.search(r)) or "<blockquote>" in r.lower(), ()),
    (_searcher(r"be formatted in block quotes"),
     lambda r: bool(_QUOTE_LINE.search(r)) or "<blockquote>" in r.lower(), ()),
    (_searcher(r"no more than " + _NUMBER + r" rows"), _table_rows_at_most, ()),
    (_searcher(r"table with no more than " + _NUMBER + r" rows"), _table_rows_at_most, ()),
    (_searcher(r"a table, which is limited to a maximum of " + _NUMBER + r" rows"), _table_rows_at_most, ()),
    (_searcher(r"full sentences"), lambda r: True, ()),
    (_searcher(r"short blurb"), lambda r: len(r) <= 200, ()),
    (_searcher(r"The answer must include at least " + _NUMBER + r" references?"), _references_at_least, ()),
    (_searcher(r"No lists"), lambda r: not _NUMBERED_THEN_SPACE.search(r), ()),
    (_searcher(r"No number points"), lambda r: not _NUMBERED.search(r), ()),
    (_searcher(r"Response must be written at medium length"), lambda r: 200 < len(r) <= 400, ()),
]


def _as_number(group):
    # Official: every captured group whose lowercase is a number word becomes that int (the quoted phrase too).
    return _NUMBER_WORDS[group.lower()] if isinstance(group, str) and group.lower() in _NUMBER_WORDS else group


def format_others(text, response):
    """The official Format_Others verdict: the first rule whose pattern is in `text` tests `response`."""
    for find, test, fixed in _RULES:
        found = find(text)
        if found:
            return bool(test(response, *[_as_number(g) for g in found.groups()], *fixed))
    return False

"""MulDimIF's Format_Table check (keys Format_Table, Table_Row limit, Table_Column limit, ...): format_table.

    >>> format_table("Include a table with exactly 2 rows", "| A |\\n|---|\\n| 1 |\\n| 2 |")
    True

The official class reads the constraint text with ~60 regexes into rules (a row count, a column count, a
title word limit, required column names, required content), then judges "the table": everything from the
first "|" of the response to its last "|", cut into stripped non-empty lines. The first line is the header:
its cells are what `line.split('|')[1:-1]` gives. Quirks kept because they decide verdicts:
  - no "|" at all passes unless the constraint says "table" (and does not make it optional with "if ...");
  - rows = lines - 1 (the header), or lines - 2 when the second line contains "---";
  - columns = "|" in the header - 1, so "| a | b" counts one column;
  - required column words are cut at every ",", "、", "，", "和", "a", "n" and "d" (a character class that
    was meant to be the word "and"), so "Price" asks for cells containing "price" only by luck of the split;
  - in "columns for ..." an empty header cell matches any required name (`'' in name` holds).
Constraint texts are short, so their regexes run as the official ones do; everything that reads the
response is a linear scan (header-cell tests are substring tests on the joined cells, not cell loops).
"""
import re

# the official num_words (1-20, the tens, "hundred"); its key order is the regex alternation order
_WORDS = {'one': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6, 'seven': 7, 'eight': 8, 'nine': 9,
          'ten': 10, 'eleven': 11, 'twelve': 12, 'thirteen': 13, 'fourteen': 14, 'fifteen': 15, 'sixteen': 16,
          'seventeen': 17, 'eighteen': 18, 'nineteen': 19, 'twenty': 20, 'thirty': 30, 'forty': 40, 'fifty': 50,
          'sixty': 60, 'seventy': 70, 'eighty': 80, 'ninety': 90, 'hundred': 100}
_NUM = r'(\d+|\b(?:' + '|'.join(_WORDS) + r')\b)'


def _compile(templates):
    """(template, kind) pairs with "#" standing for the number group, compiled in the official order."""
    return [(re.compile(template.replace('#', _NUM)), kind) for template, kind in templates]


# First match wins, in this order (a later pattern matters only when no earlier one matches anywhere).
_ROW_RULES = _compile([
    (r'exactly\s+#\s+rows?', 'exact'), (r'no\s+more\s+than\s+#\s+rows?', 'max'),
    (r'not\s+have\s+more\s+than\s+#\s+rows?', 'max'), (r'must\s+not\s+exceed\s+#\s+rows?', 'max'),
    (r'not\s+exceed\s+#\s+rows?', 'max'), (r'not\s+exceeding\s+#\s+rows?', 'max'),
    (r'should\s+not\s+exceed\s+#\s+rows?', 'max'), (r'row\s+limit\s+of\s+#', 'max'),
    (r'#\s+rows?\s+must\s+be\s+included', 'exact'), (r'exactly\s+.+and #\s+rows?', 'exact'),
    (r'not exceed\s+.+and #\s+rows?', 'max'), (r'a maximum of\s+#\s+rows', 'max'),
    (r'limited to a maximum of\s+#\s+rows', 'max'), (r'limited to\s+#\s+rows', 'max'),
    (r'a row limit of\s+#', 'max'), (r'a maximum of\s+.+and #\s+rows?', 'max'),
    (r'limit the number of rows to\s+#', 'max'), (r'limit it to\s+#\s+rows', 'max'),
    (r'limit the table to\s+#\s+rows', 'max'), (r'the number of rows in each table does not exceed\s+#', 'max')])
_COL_RULES = _compile([
    (r'exactly\s+#\s+columns?', 'exact'), (r'no\s+more\s+than\s+#\s+columns?', 'max'),
    (r'not\s+have\s+more\s+than\s+#\s+columns?', 'max'), (r'must\s+not\s+exceed\s+#\s+columns?', 'max'),
    (r'not\s+exceed\s+#\s+columns?', 'max'), (r'not\s+exceeding\s+#\s+columns?', 'max'),
    (r'should\s+not\s+exceed\s+#\s+columns?', 'max'), (r'column\s+limit\s+of\s+#', 'max'),
    (r'must\s+have\s+exactly\s+#\s+columns?', 'exact'), (r'exactly\s+.+and #\s+columns?', 'exact'),
    (r'in\s+#\s+columns', 'exact'), (r'not exceed\s+.+and #\s+columns?', 'max'),
    (r'maximum of\s+#\s+columns', 'max'), (r'maximum\s+#\s+columns', 'max'), (r'at most\s+#\s+columns', 'max'),
    (r'limited to a maximum of\s+#\s+columns', 'max'), (r'limited to\s+#\s+columns', 'max'),
    (r'a column limit of\s+#', 'max'), (r'a maximum of\s+.+and #\s+columns?', 'max'),
    (r'limit the number of columns to\s+#', 'max'), (r'limit it to\s+#\s+columns', 'max'),
    (r'limit the table to\s+#\s+columns', 'max'), (r'the number of columns in each table does not exceed\s+#', 'max'),
    (r'(a|each) (single) column', 'single'), (r'presented in (a|one) single column', 'single'),
    # not a column rule, but the official loop stops here all the same: no column count is read after it
    (r'title must not exceed #\s+words', 'title')])
_TITLE_LIMIT = re.compile(r'title\s+must\s+not\s+exceed\s+' + _NUM + r'\s+words')

# Searched one after another, every match adding to the rules. "keyword" takes group 1 as column names (for
# "table must include columns (for|named)" that group is the word "for" or "named": "named" yields "me").
# "content" takes the last group as content items. The official list also has 'must include the\s+(...)' as
# "content", but with a single group it adds nothing, so it is left out here.
_PHRASE_RULES = [(re.compile(pattern), kind) for pattern, kind in [
    (r'columns?\s+should\s+be\s+([\w\s,]+)', 'keyword'),
    (r"columns:\s+([\w\s,']+)", 'keyword'),
    (r'must include columns for\s+"([^"]+)"', 'keyword'),
    (r'each (entry|row|item|game|series) must include (?:the\s+)?'
     r'([\w\s,]+(?:\s+and\s+(?:its|their)\s+[\w\s,]+)?)', 'content'),
    (r'table must include columns (for|named)\s+["]([^"]+)["]', 'keyword'),
    (r'each (entry|row|item|game|series) should (?:be )?(present|include|contain|show)(?:ed)? (?:in|with)?\s+'
     r'([\w\s,]+)', 'content')]]
_QUOTED = re.compile(r'"([^"]+)"')
_COLUMNS_FOR = re.compile(r'include columns for\s+(?:"([^"]+)",?\s*)+')
_AND_ITS = re.compile(r'each\s+\w+\s+must\s+include\s+(?:the\s+)?([\w\s]+\s+and\s+its\s+[\w\s]+)')

# "the table is optional" phrasings. The official list misses a comma after the fifth string, so Python glues
# it to the sixth: "...information in a tableif presented in a table" (and neither phrase works on its own).
_OPTIONAL = [re.compile(p, re.DOTALL) for p in [
    r'if you (include|use|utilize|incorporate|present) (a |any )?(tables?|tabular data)',
    r'if you (decide|choose|opt) to (use|include|incorporate|present|utilize) (a |any )?(tables?|tabular data)',
    r'if (a |any )?(tables?|tabular data|table format) (is|are) (used|included|utilized|incorporated|presented|chosen)',
    r'if there (is|are) (a |any )?(tables?|tabular data|table format) (used|included|utilized|incorporated|presented'
    r'|chosen)',
    r'if you (decide|choose|opt) to (use|include|incorporate|present|utilize) (your )?information in a table'
    r'if presented in a table']]


def _number(token):
    return _WORDS[token] if token in _WORDS else int(token)


def _cleaned(names):
    """Quoted names with surrounding blanks and a trailing comma dropped ('"Name," "Price"' style)."""
    return [c for c in (name.strip().rstrip(',').strip() for name in names) if c]


def _content_items(group):
    """The official split of a content phrase: "a, b and its c" -> a, b, c (only the first " and " counts;
    empty items from ", ," before the " and " are kept and dropped later)."""
    if " and " not in group:
        return [c for c in (part.strip() for part in re.split(r'[,、，]', group)) if c]
    parts = group.split(" and ")
    left = [item.strip() for item in parts[0].split(",")] if "," in parts[0] else [parts[0].strip()]
    right = parts[1][4:] if parts[1].startswith("its ") else parts[1]
    return left + [right.strip()]


def parse(text):
    """The official rules of one constraint text: rows/cols as (kind, n) or None, title word limit or None,
    required column names, required content items, and whether it says "markdown"."""
    low = text.lower()
    rules = {'rows': None, 'cols': None, 'title': None, 'markdown': 'markdown' in low, 'columns': [],
             'content': []}
    for pattern, kind in _ROW_RULES:
        found = pattern.search(low)
        if found:
            rules['rows'] = (kind, _number(found.group(1)))
            break
    for pattern, kind in _COL_RULES:
        found = pattern.search(low)
        if found:
            if kind == 'single':
                rules['cols'] = ('exact', 1)
            elif kind == 'title':
                rules['title'] = _number(found.group(1))
            else:
                rules['cols'] = (kind, _number(found.group(1)))
            break
    if "series must include" in low and "title" in low and "author" in low:
        rules['content'] = ["title", "author", "year", "publication"]
    if "film title" in low and "release year" in low:
        rules['content'] = ["film title", "release year"]
    if "columns for" in low and '"' in low:
        quoted = _cleaned(_QUOTED.findall(low))
        if quoted:  # the official parser returns here: none of the steps below run
            rules['columns'] = quoted
            return rules
    for pattern, kind in _PHRASE_RULES:
        found = pattern.search(low)
        if found and kind == 'keyword':
            names = (c.strip("'\" ") for c in re.split(r'[,、，和and]', found.group(1)))
            rules['columns'] += [c for c in names if c]
        elif found:
            rules['content'] += _content_items(found.groups()[-1])
    found = _COLUMNS_FOR.search(low)
    if found:
        rules['columns'] += [c.strip() for c in _QUOTED.findall(found.group(0)) if c.strip()]
    if not rules['columns']:
        rules['columns'] = _cleaned(_QUOTED.findall(low))
    found = _AND_ITS.search(low)
    if found:
        rules['content'] += [p.strip() for p in re.split(r'\s+and\s+its\s+', found.group(1)) if p.strip()]
    if "single column" in low:  # (the official "game idea" rule that follows can only set the same)
        rules['cols'] = ('exact', 1)
    found = _TITLE_LIMIT.search(low)
    if found:
        rules['title'] = _number(found.group(1))
    rules['content'] = [c for c in rules['content'] if c]  # the official de-duplication; order never matters
    return rules


class _Header:
    """The header line's cells, stripped and lower-cased, with the official per-cell tests done on them joined by
    "|" (no cell holds one), so each test is one substring search however many cells there are."""

    def __init__(self, lines):
        self.cells = [c.strip().lower() for c in lines[0].split('|')[1:-1]] if lines else []
        self.joined, self.distinct = '|'.join(self.cells), set(self.cells)

    def has(self, needle):
        """`any(needle in cell for cell in cells)`."""
        return bool(self.cells) and '|' not in needle and needle in self.joined

    def has_within(self, name):
        """`any(name in cell or cell in name for cell in cells)`. A cell inside `name` is one of name's
        substrings: with many distinct short cells (a hostile header), look name's few substrings up instead."""
        if self.has(name):
            return True
        cells = self.distinct
        if len(cells) <= len(name) ** 2:
            return any(c in name for c in cells)
        return any(name[i:j] in cells for i in range(len(name) + 1) for j in range(i, len(name) + 1))


def judge(response, rules, low):
    """The official check_table_structure, given parse()'s rules and the lower-cased constraint text."""
    if "|" not in response:
        return "table" not in low or any(p.search(low) for p in _OPTIONAL)
    first, last = response.find("|"), response.rfind("|")  # the official greedy r'(\|.*\|)', DOTALL
    region = response[first:last + 1] if last > first else ""
    lines = [s for s in (line.strip() for line in region.split('\n')) if s]
    # the official "markdown" test wants a line starting with "|"; the first line always does, if there is one
    if rules['markdown'] and not lines:
        return False
    if rules['rows']:
        kind, value = rules['rows']
        actual = len(lines) - (2 if len(lines) > 1 and '---' in lines[1] else 1)
        if actual > value or (kind == 'exact' and actual != value):
            return False
    if rules['cols']:
        kind, value = rules['cols']
        if not lines:
            return False
        columns = lines[0].count('|') - 1
        if columns > value or (kind == 'exact' and columns != value):
            return False
    if rules['title'] is not None and (not lines or len(lines[0].strip('|').strip().split()) > rules['title']):
        return False
    header = _Header(lines)
    if "series must include" in low and "title" in low and "author" in low and "year" in low:
        return header.has("title") and header.has("author") and header.has("year")
    if "columns for" in low and rules['columns']:
        return bool(lines) and all(header.has_within(c.lower()) for c in rules['columns'])
    if rules['columns'] and not (lines and all(header.has(c.lower()) for c in rules['columns'])):
        return False
    if "film title" in low and "release year" in low:
        return (header.has("film") or header.has("title")) and (header.has("release") or header.has("year"))
    if rules['content']:
        table = ' '.join(line.replace('|', ' ') for line in lines).lower()
        return all(_content_found(item.lower(), table, header) for item in rules['content'])
    return True


def _content_found(item, table, header):
    """One content item: named header cells for the official special items, else anywhere in the table text,
    else any of its words inside a header cell."""
    special = {"film title": ("film", "title"), "release year": ("release", "year"), "title": ("title",),
               "author": ("author",), "year": ("year",), "year of publication": ("year",)}
    if item in special and any(header.has(word) for word in special[item]):
        return True
    return item == "publication" or item in table or any(header.has(word) for word in item.split())


def format_table(text, response):
    return judge(response, parse(text), text.lower())

"""MulDimIF's Format_Json and Format_Markdown checks: format_json, format_markdown.

    >>> format_json("The JSON must not exceed two levels of nesting", '{"a": {"b": 1}}')
    True
    >>> format_markdown("Use heading level 2 in Markdown format", "## Hi")
    True

Format_Json: the constraint text (lower-cased, punctuation removed) gives an exact, a maximum or a minimum
nesting depth; the response (its first ```json block, else all of it) must parse with json.loads, and its
depth is the longest chain of non-empty containers ('{"a": 1}' is 1, '[]' is 0). The official depth is a
recursive helper that runs out of stack on deep input: see _RECURSION_DEPTH.

Format_Markdown: "block quotes", "bold" and "bullet points" in the constraint each add a test on the
response; then the constraint, cut at commas between two word characters, gives one heading rule per clause,
judged on the response's ATX headings (a stripped line: one or more "#", whitespace, text). With "each" or
"any" anywhere in the constraint (also inside "many", "company"), every heading alone must satisfy every rule.
Constraint texts are short, so their regexes run as the official ones do; the response is read by linear scans.
"""
import json
import re

# ----------------------------------------------------------------------------------------------- Format_Json
_JSON_NUM = r'(\d+|two|three)'
_EXACT = [re.compile(p.replace('#', _JSON_NUM)) for p in [
    r'exactly # levels? of nesting', r'structured as a json object with a nesting level of #',
    r'json example with exactly # levels?', r'object nesting levels must be #',
    r'answer must include a json example with exactly # levels?', r'nesting level of #',
    r'be limited to # levels of nesting']]
_AT_MOST = [re.compile(p.replace('#', _JSON_NUM)) for p in [
    r'must not exceed # levels? of nesting', r'no more than # levels?', r'maximum of # nesting levels',
    r'maximum of # object nesting levels', r'maximum of # levels', r'not exceed # levels', r'levels not exceeding #',
    r'with the structure not exceeding # levels', r'object nesting levels must not exceed # levels',
    r'object nesting levels must not exceed #', r'json must have a maximum of # nesting levels',
    r'response must not exceed # levels? of nesting', r'and at most #']]
_AT_LEAST = [re.compile(p.replace('#', _JSON_NUM)) for p in [
    r'at least # levels? of nesting', r'at least # levels? deep', r'must include a json object with at least # levels?',
    r'answer must include a json object with at least # levels?', r'and at least #']]

# The official depth helper recurses through max() over a generator: three interpreter frames per level on
# CPython 3.11, the version the references were made with. Called as evaluation.py calls it (module ->
# eval_by_code -> check -> Format_Json.check -> calculate_depth), it overflows the default limit of 1000
# once the depth reaches 332 (measured), raising RecursionError where json.loads itself parses fine (to
# depth ~995; deeper, json.loads raises too). That exception is the official outcome, so it is raised here.
_RECURSION_DEPTH = 332


def _json_number(token):
    return {'two': 2, 'three': 3}.get(token) or int(token)


def json_levels(text):
    """(exact, at_most, at_least) from a constraint text: the first exact phrase wins outright; otherwise every
    "at most" phrase counts (the smallest wins) and every "at least" phrase (the largest wins)."""
    s = re.sub(r'[^\w\s]', '', text.lower())
    for pattern in _EXACT:
        found = pattern.search(s)
        if found:
            return _json_number(found.group(1)), None, None
    at_most = [_json_number(t) for p in _AT_MOST for t in p.findall(s)]
    at_least = [_json_number(t) for p in _AT_LEAST for t in p.findall(s)]
    return None, min(at_most, default=None), max(at_least, default=None)


def json_depth(value):
    """The official depth, without recursion, one level at a time: containers add a level only when they have
    members, so the depth is the number of levels that still hold a non-empty container."""
    depth, level = 0, [value]
    while True:
        level = [node for node in level if isinstance(node, (dict, list)) and node]
        if not level:
            return depth
        depth += 1
        members = []
        for node in level:
            members.extend(node.values() if isinstance(node, dict) else node)
        level = members


def format_json(text, response):
    exact, at_most, at_least = json_levels(text)
    start = response.find('```json')  # the official r'```json(.*?)```', DOTALL: the first block, if closed
    end = response.find('```', start + 7) if start >= 0 else -1
    source = response[start + 7:end].strip() if end >= 0 else response
    try:
        value = json.loads(source)
    except json.JSONDecodeError:
        return False  # other errors (RecursionError past depth ~995, over-long ints) propagate, as officially
    if value is None:  # the official parser's "no JSON" is None, so a response that is JSON `null` fails too
        return False
    depth = json_depth(value)
    if depth >= _RECURSION_DEPTH:
        raise RecursionError(f"the official depth helper overflows the stack at depth {depth}")
    if exact is not None:
        return depth == exact
    if at_most is None and at_least is None:
        return False
    return (at_most is None or depth <= at_most) and (at_least is None or depth >= at_least)


# ------------------------------------------------------------------------------------------- Format_Markdown
_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10}
_N = r'(\b(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\b)'
_COUNTED = r'(?:a|at least one|two|three|four|five|six|seven|eight|nine|ten|\d+)'  # no \b: "...a level 2"


def _md(pattern):
    return re.compile('(?i)' + pattern.replace('#N', _N).replace('#C', _COUNTED))


_CLAUSE_SPLIT = re.compile(r'\b(?:,)\b')  # only a comma between two word characters: "a,b", never "a, b"
_LEVELS_PAIR = _md(r'use heading levels #N and #N')
_LEVELS_PAIR_LOOSE = _md(r'use heading levels.*?level\s*#N.*?level\s*#N')
_LEVEL_LISTS = [_md(r'a heading level #N'), _md(r'H(\d+)'), _md(r'Level #N for')]
_TITLED = [_md(r'level #N heading titled ["\'](.*?)["\']'), _md(r'#C level #N heading with the text ["\'](.*?)["\']')]
_VERBS = _md(r'include|includes|included|including|use|using|used|uses|formatted|presented|organized|structured'
             r'|feature|should be|incorporate')
_ONE_LEVEL = [_md(r'(?:a|at least \d+) heading level #N'), _md(r'#C level #N heading'),
              _md(r'must use a heading level of H(\d+)')]
_HOW_MANY = [_md(r'(at least|at most|exactly|up to|a maximum of|under) #N heading levels?'),
             _md(r'(at least|at most|exactly|up to|a maximum of|under) #N levels?')]
_LIMIT = _md(r'(?:heading levels)? must (?:not exceed|be limited to)\s+(?:level\s+)?#N')
_BEGIN = _md(r'must begin with a level #N heading')
_USE_LEVEL = _md(r'use heading level #N')
_ANY_HEADING = ("include headings", "includes headings", "use heading levels", "using heading levels",
                "presented under a separate heading", "separated with headings", "with headings")
_QUOTE_WORDS = ("use block quotes", "using block quotes", "include a block quote", "using markdown block quotes",
                "employ block quotes", "present the headline as a block quote")
_QUOTE_COUNT = _md(r'#N block quotes')
_BOLD = re.compile(r'(\*\*.*?\*\*|__.*?__)')  # linear: a failed start ends at its line's end, once per line
# Per-line official tests done as one multi-line pass: [^\S\n] is whitespace within a line (the official lines are
# split at "\n", and re's ^ with re.M starts a line after "\n" only).
_BULLET = re.compile(r'^[^\S\n]*[-*+][^\S\n]', re.M)  # any line matching r'^\s*[-\*\+]\s'
_QUOTED_LINE = re.compile(r'^[^\S\n]*>', re.M)  # a line whose .strip() starts with ">"
_HEADING = re.compile(r'^[^\S\n]*(#+)([^\n]*)', re.M)  # a line's leading "#"s (after blanks) and the rest


def _level(token):
    token = token.strip().lower()
    return int(token) if token.isdigit() else _WORD_NUMBERS.get(token)


def _clause_rule(clause, text, low):
    """The one rule the official parser appends for a clause, or None. Rules are tuples:
    ('levels', set) all those levels present; ('questions',) headings with "?" are level 2; ('single_h1',)
    exactly one level-1 heading; ('count', op, n) number of distinct levels; ('has', level) a heading of that
    level (level None: any heading); ('titled', level, text) that exact heading; ('max', n); ('starts', n)."""
    # whole-text special cases, tested again for every clause (so each clause adds the same rule)
    if ("include headings at two levels: main and subheadings" in low
            or "be structured with a main heading and subheadings" in low):
        return ('levels', {1, 2})
    if text == "Questions must be organized under a level 2 heading.":
        return ('questions',)
    if "include a single level 1 heading" in low:
        return ('single_h1',)
    if "be structured using a minimum of two heading levels" in low or "include headings at two levels" in low:
        return ('count', 'at least', 2)
    if text == ("format the response using Markdown, employing '##' for main points and '###' for subpoints to "
                "clearly organize the information"):
        return ('levels', {2, 3})
    found = _LEVELS_PAIR.search(clause) or _LEVELS_PAIR_LOOSE.search(clause)
    if found:
        return ('levels', {_level(found.group(1)), _level(found.group(2))})
    listed = next((hits for hits in (p.findall(clause) for p in _LEVEL_LISTS) if hits), [])
    if listed and ("must include" in clause or "should" in clause):  # case-sensitive, on the raw clause
        return ('levels', {_level(hit) for hit in listed})
    if 'titled' in clause:
        clause = clause.strip().rstrip('.')
        found = _TITLED[0].search(clause) or _TITLED[1].search(clause)
        if found:
            return ('titled', _level(found.group(1)), found.group(2))
    clause = clause.strip().lower().rstrip('.')
    if _VERBS.search(clause):
        found = next((f for f in (p.search(clause) for p in _ONE_LEVEL) if f), None)
        if found:
            return ('has', _level(found.group(1)))
        found = _HOW_MANY[0].search(clause) or _HOW_MANY[1].search(clause)
        if found:
            op = found.group(1).lower()
            return ('count', op if op in ('at least', 'exactly') else 'at most', _level(found.group(2)))
    for pattern, kind in ((_LIMIT, 'max'), (_BEGIN, 'starts'), (_USE_LEVEL, 'has')):
        found = pattern.search(clause)
        if found:
            return (kind, _level(found.group(1)))
    if any(phrase in low for phrase in _ANY_HEADING):
        return ('has', None)
    return None


def markdown_rules(text):
    low = text.lower()
    return [r for r in (_clause_rule(clause, text, low) for clause in _CLAUSE_SPLIT.split(text)) if r]


def headings(response):
    r"""[(level, text)] of the official r'^(#+)\s+(.*?)\s*$' on each stripped line, found as one linear regex
    pass over the text (that regex is quadratic in a long run of inner whitespace: "# a" + 20,000 spaces + "b"
    takes seconds). All the leading "#"s must be followed by whitespace and then some text. Lines are cut at
    "\n" only, and re's \s, str.strip and str.isspace share one whitespace set."""
    found = []
    for hashes, rest in _HEADING.findall(response):
        if rest[:1].isspace() and rest.strip():
            found.append((len(hashes), rest.strip()))
    return found


def _rule_holds(rule, heads):
    kind = rule[0]
    if kind == 'count':  # the one rule that does not fail on a response without headings
        actual, op, n = len({level for level, _ in heads}), rule[1], rule[2]
        return actual >= n if op == 'at least' else actual <= n if op == 'at most' else actual == n
    if not heads:
        return False
    if kind == 'levels':
        return rule[1] <= {level for level, _ in heads}
    if kind == 'questions':
        return all(level == 2 for level, content in heads if '?' in content)
    if kind == 'single_h1':
        return sum(level == 1 for level, _ in heads) == 1
    if kind == 'has':
        return rule[1] is None or any(level == rule[1] for level, _ in heads)
    if kind == 'titled':
        return (rule[1], rule[2]) in heads
    if kind == 'max':
        return all(level <= rule[1] for level, _ in heads)
    return heads[0][0] == rule[1]  # 'starts'


def _each_holds(rule, heads):
    """`all(_rule_holds(rule, [head]) for head in heads)`, the official "each"/"any" loop, in one pass over the
    headings whatever their number: a heading alone has one level, so most rules ask that all share one."""
    kind, levels = rule[0], {level for level, _ in heads}
    if kind == 'count':  # a heading alone shows one distinct level
        return _rule_holds(rule, heads[:1])
    if kind in ('questions', 'max'):  # these test every heading on its own anyway
        return _rule_holds(rule, heads)
    if kind == 'titled':
        return set(heads) == {rule[1:]}
    if kind == 'has' and rule[1] is None:
        return True
    if kind == 'levels':  # {level} holds them all only if they are one level, the one every heading has
        return len(rule[1]) == 1 and levels == rule[1]
    return levels == {1 if kind == 'single_h1' else rule[1]}  # 'has', 'starts', 'single_h1': one level each


def _quotes_ok(text, response):
    quoted = len(_QUOTED_LINE.findall(response))
    low = text.lower()
    if "at least" in low:
        found = _QUOTE_COUNT.search(text)
        if found is None:  # the official code reads .group of None here
            raise ValueError("official AttributeError: 'at least' without '<n> block quotes' in the constraint")
        return quoted >= _level(found.group(1))
    if any(phrase in low for phrase in _QUOTE_WORDS):
        return quoted > 0
    return quoted == response.count('\n') + 1  # every line quoted, blank ones too: any blank line fails


def format_markdown(text, response):
    low = text.lower()
    if 'block quotes' in low and not _quotes_ok(text, response):
        return False
    if 'bold' in low and not _BOLD.search(response):
        return False
    if 'bullet points' in low and not _BULLET.search(response):
        return False
    rules, heads = markdown_rules(text), headings(response)
    if 'each' in low or 'any' in low:
        return bool(heads) and all(_each_holds(rule, heads) for rule in rules)
    return all(_rule_holds(rule, heads) for rule in rules)

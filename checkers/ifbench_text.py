"""How the official IFBench checker cuts text: into sentences (a regex splitter) and into words (NLTK).

    python -c "import checkers.ifbench_text as X; print(X.split_sentences('Mr. Smith left. \\"Why?\\" he asked.'))"

Sentences. The IFBench checker that scored ../shared/ifbench splits sentences with IFEval's
`instructions_util.split_into_sentences`, a chain of regex rewrites, not with Punkt (IFEval's own
`number_sentences` uses Punkt: sentences.split_sentences). The two differ on quotes: the regex
splitter moves a closing quote inside the stop ('ends."' becomes 'ends".'), so a quoted sentence still
ends in '.', '?' or '!'. The 294 reference responses tell them apart once: key 154's
`ratio:sentence_balance`, loose, which only the regex splitter fails like the official run.

Words. `nltk.word_tokenize` (4 ids) is NLTK's own: Punkt sentences, each split by NLTK's Treebank-style
word tokenizer. NLTK, its tagger and its stop words are loaded on first use, so IFEval scoring never
imports them; missing NLTK data raises MissingData naming the one-line download, never a silent False.
"""
import functools
import itertools
import re

import checkers.sentences as S


class MissingData(RuntimeError):
    """NLTK data a check needs is not installed (never turned into a False verdict)."""


# ----------------------------------------------------------------------------- sentences: IFEval's regex splitter
# Periods that do not end a sentence become "<prd>", sentence ends get "<stop>", then the text is cut at
# "<stop>". Each rule is a bounded pattern (no nested repetition), so every pass is linear in the text.
# Quirks kept, as they decide verdicts: newlines are plain spaces; a literal "<prd>" or "<stop>" in the
# text acts as one; pieces between two stops can be empty strings.
_TITLES = re.compile(r"(Mr|St|Mrs|Ms|Dr)[.]")
_WEB = re.compile(r"[.](com|net|org|io|gov|edu|me)")
_DECIMAL = re.compile(r"([0-9])[.]([0-9])")
_DOTS = re.compile(r"\.{2,}")
_LONE_INITIAL = re.compile(r"\s([A-Za-z])[.] ")
_STARTS = (r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|"
           r"But\s|However\s|That\s|This\s|Wherever)")
_ACRONYM_THEN_START = re.compile(r"([A-Z][.][A-Z][.](?:[A-Z][.])?) " + _STARTS)
_THREE_INITIALS = re.compile(r"([A-Za-z])[.]([A-Za-z])[.]([A-Za-z])[.]")
_TWO_INITIALS = re.compile(r"([A-Za-z])[.]([A-Za-z])[.]")
_SUFFIX_THEN_START = re.compile(r" (Inc|Ltd|Jr|Sr|Co)[.] " + _STARTS)
_SUFFIX = re.compile(r" (Inc|Ltd|Jr|Sr|Co)[.]")
_INITIAL = re.compile(r" ([A-Za-z])[.]")


def split_sentences(text):
    """IFBench's split_into_sentences: a list of stripped sentences (the last one dropped if empty)."""
    t = (" " + text + "  ").replace("\n", " ")
    t = _TITLES.sub(r"\1<prd>", t)                      # "Dr." is not an end
    t = _WEB.sub(r"<prd>\1", t)                         # nor ".com"
    t = _DECIMAL.sub(r"\1<prd>\2", t)                   # nor "3.14" (non-overlapping: "1.2.3" keeps one)
    t = _DOTS.sub(lambda m: "<prd>" * len(m.group()) + "<stop>", t)  # an ellipsis is an end, after itself
    t = t.replace("Ph.D.", "Ph<prd>D<prd>")
    t = _LONE_INITIAL.sub(r" \1<prd> ", t)               # " A. " is an initial
    t = _ACRONYM_THEN_START.sub(r"\1<stop> \2", t)       # "U.S. He" ends after U.S.
    t = _THREE_INITIALS.sub(r"\1<prd>\2<prd>\3<prd>", t)
    t = _TWO_INITIALS.sub(r"\1<prd>\2<prd>", t)
    t = _SUFFIX_THEN_START.sub(r" \1<stop> \2", t)       # "Inc. They" ends after Inc.
    t = _SUFFIX.sub(r" \1<prd>", t)
    t = _INITIAL.sub(r" \1<prd>", t)
    # a closing quote moves before the stop, so the sentence ends in the stop itself
    t = t.replace(".\u201d", "\u201d.").replace('."', '".').replace('!"', '"!').replace('?"', '"?')
    t = t.replace(".", ".<stop>").replace("?", "?<stop>").replace("!", "!<stop>").replace("<prd>", ".")
    sentences = [s.strip() for s in t.split("<stop>")]
    return sentences[:-1] if sentences and not sentences[-1] else sentences


# ----------------------------------------------------------------------------- words: nltk.word_tokenize
# (NLTK loaded on first use)
def _nltk_path(resource, package):
    import nltk
    try:
        return nltk.data.find(resource)
    except LookupError:
        raise MissingData(f"IFBench needs NLTK's {package!r} data ({resource}), which NLTK cannot find in "
                          f"{nltk.data.path}. Install it with: python -m nltk.downloader {package} "
                          f"(or point NLTK_DATA at a folder that has it)") from None


@functools.lru_cache(maxsize=1)
def _word_tokenizer():
    from nltk.tokenize.destructive import NLTKWordTokenizer
    return NLTKWordTokenizer()


def word_tokenize(text):
    """nltk.word_tokenize: NLTK's English Punkt sentences, each split by NLTK's word tokenizer."""
    return list(word_tokens(text))


PIECE = 4000  # characters: a longer sentence is tokenized piece by piece, as needed


def word_tokens(text, keep=None, width=PIECE):
    """word_tokenize's tokens, as needed: sentence by sentence, and a sentence longer than `width` piece
    by piece (see _pieces); only the pieces p with keep(p), if given. The tokenizer is the slow part
    (~3 s per MB), so a check that stops at a token stops tokenizing there."""
    for s in S.split_sentences(text):
        for before, piece, after in _pieces(s, width):
            if keep is None or keep(piece):
                yield from _piece_tokens(before, piece, after)


_CUT = re.compile(r"\s|(?<![\"'])(?=[(\[{<])|(?<=[)\]}>])(?![\"'])")  # whitespace, or beside a bracket but not a quote
_CLOSERS = set('])}>"\'\u00bb\u201d\u2019')  # what the final-period rule reads after the period, with spaces


def _pieces(s, width):
    """Cut a sentence into pieces of about `width` characters, each with the context that makes NLTK's
    tokenizer treat it as inside the sentence. Its rules see a character or two either side of a
    token, or a string's start (a leading '"' becomes '``') or end (a final period is split off, past
    any closing brackets, quotes and spaces). So a piece is cut at whitespace, or before an opening /
    after a closing bracket (as if a space stood there: the tokenizer pads brackets anyway), and gets
    the whitespace before it (it is not the start) and, all but the last, the whitespace after it plus
    a sentinel word (it is not the end), whose token is dropped; the closing tail stays in the last
    piece. Tokens then equal the whole sentence's (tests/checkers/test_ifbench_text.py compares them)."""
    start, before, tail = 0, "", len(s)
    while tail and (s[tail - 1] in _CLOSERS or s[tail - 1].isspace()):  # a scan, not a regex: "))...)x" is linear
        tail -= 1
    while tail - start > width and (cut := _CUT.search(s, start + width, tail)) and cut.start() < tail:
        space = cut.group() or " "
        yield before, s[start:cut.start()], space + "x"
        start, before = cut.end(), space
    yield before, s[start:], ""


@functools.lru_cache(maxsize=4)  # words_position reads a one-sentence text from both ends
def _piece_tokens(before, piece, after):
    tokens = _word_tokenizer().tokenize(before + piece + after)
    return tuple(tokens[:-1] if after else tokens)


# Where a token can start. NLTK's tokenizer splits at whitespace, around punctuation, and inside a few
# contractions only ("do|n't", "can|not", "gon|na", "'t|is"), and Punkt ends sentences only after
# whitespace or punctuation. So a token starts with a lowercase letter only right after a character
# that is not alphanumeric, or inside one of those contractions; a letter run (no split inside)
# mixing upper and lower case makes the token's tail mixed-case too; and a token always ends before a
# bracket, a quote or one of ;@#$%&?!* (the tokenizer pads them with spaces whatever surrounds them).
_CONTRACTION_SPLIT = re.compile(r"(?i)n't|cannot|gimme|gonna|gotta|lemme|wanna|'tis|'twas")
# the characters padded with spaces
_ALWAYS_SPLIT = '[](){}<>;@#$%&?!*"`\u2012\u2013\u2014\u2015\u00ab\u201c\u2018\u201e\u00bb\u201d\u2019'
# a letter (or any non-ASCII character) after a non-alphanumeric one ([^\W_] is isalnum()), not alone
_LETTER_AFTER_NON_ALNUM = re.compile(rf"(?<![^\W_])(?:[^\W\d_]|[^\x00-\x7f])(?![\s{re.escape(_ALWAYS_SPLIT)}]|\Z)")
_ALNUM_RUN = re.compile(r"[^\W_]*")


def may_have_lowercase_token(text):
    """False only when no token of word_tokenize(text) both starts with a lowercase letter and goes on
    with a cased tail that is all upper or all lower case (format:title_case's failing token); a linear
    scan, exact in that direction (tests compare it with tokenizing)."""
    for m in _LETTER_AFTER_NON_ALNUM.finditer(text):
        p = m.start()
        run = _ALNUM_RUN.match(text, p + 1).group()  # the token's tail begins with this whole run
        if not text[p].islower() or (any(map(str.isupper, run)) and any(map(str.islower, run))):
            continue
        end = p + 1 + len(run)
        if end == len(text) or text[end].isspace() or text[end] in _ALWAYS_SPLIT:
            if any(map(_cased, run)):
                return True  # the tail is exactly the run
        elif any(map(_cased, run)) or any(map(_cased, _until_space(text, end))):
            return True  # the scans stop at the next cased character: linear over all candidates
    return _CONTRACTION_SPLIT.search(text) is not None


def _cased(c):
    return c.isupper() or c.islower()


def _until_space(text, i):
    while i < len(text) and not text[i].isspace():
        yield text[i]
        i += 1


def end_tokens(text, k=2, width=PIECE):
    """(first k tokens, last k tokens) of word_tokenize(text), tokenizing only the pieces (see _pieces)
    at either end that hold them."""
    sentences = S.split_sentences(text)
    head = list(itertools.islice((w for s in sentences for p in _pieces(s, width) for w in _piece_tokens(*p)), k))
    tail = []
    for p in (p for s in reversed(sentences) for p in reversed(list(_pieces(s, width)))):
        tail = list(_piece_tokens(*p)) + tail
        if len(tail) >= k:
            break
    return head, tail[-k:]


@functools.lru_cache(maxsize=1)
def _tagger():
    _nltk_path("taggers/averaged_perceptron_tagger_eng/", "averaged_perceptron_tagger_eng")
    from nltk.tag.perceptron import PerceptronTagger
    return PerceptronTagger(lang="eng")


@functools.lru_cache(maxsize=1)
def stopwords():
    with open(_nltk_path("corpora/stopwords/english", "stopwords"), encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def first_tag(tokens):
    # the perceptron sees two words either side, so the first tag depends on the first three tokens only
    return _tagger().tag(tokens[:3])[0][1]

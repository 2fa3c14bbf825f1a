"""Text measures the IFEval checker relies on, each in time linear in the text.

    python -c "import checkers.textstats as T; print(T.count_bullets('* one\n* two'))"

The official checker counts with regexes such as r"^\\s*\\*[^\\*].*$" or r"\\[.*?\\]", which Python's
backtracking `re` runs in quadratic time on adversarial text (a long run of blank lines, a line
of "[" without "]"). Here each is a scan with the same result; tests/checkers/test_textstats.py checks
every scan against the official regex on random strings. Sentences (NLTK's Punkt) live in sentences.py;
languages come from langdetect, seeded per call.
"""
import functools
import re


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
    return _lines_starting_with(text, "*", lambda c: c != "*") + _lines_starting_with(text, "-", None)


def count_placeholders(text):
    """Official `len(re.findall(r"\\[.*?\\]", text))`, as a scan (that regex is quadratic). Every character is looked
    at a bounded number of times: a line's end is found once per line, a "]" searched for only up to that end."""
    count, n, eol = 0, len(text), -1
    i = text.find("[")
    while i >= 0:
        if eol < i:  # first "[" on a new line: where does this line end?
            eol = text.find("\n", i)
            eol = n if eol < 0 else eol
        close = text.find("]", i + 1, eol)
        if close >= 0:
            count += 1
            i = text.find("[", close + 1)
        else:  # no "]" on this line: no "[" after this one on the line closes either
            i = text.find("[", eol + 1)
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
    langdetect = _langdetect()
    langdetect.DetectorFactory.seed = 0
    try:
        return langdetect.detect(text)
    except langdetect.LangDetectException:
        return None  # official: an undetectable language counts as followed


@functools.lru_cache(maxsize=1)
def _langdetect():
    """langdetect with its profiles loaded, their ~90,000 probability lists made tuples (they never change, but the
    garbage collector walked them on every full collection, 50 ms inside whichever check allocated next)."""
    import langdetect
    from langdetect import detector_factory
    detector_factory.init_factory()
    table = detector_factory._factory.word_lang_prob_map  # word -> probability per language, read only
    for word, probs in table.items():
        table[word] = tuple(probs)
    return langdetect

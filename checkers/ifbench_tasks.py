"""IFBench's ten fixed tasks (`custom:*`): each checks the answer to one given question.

    python -c "import checkers.ifbench_tasks as K; print(K.TASK_CHECKS['custom:multiples']('14, 21, 28, 35, 42, 49'))"

Unlike the other 48 IFBench constraints, these are not constraints one can attach to any task
("list Napoleon's battle dates as YYYY-MM-DD", "generate this CSV"), so they are used for
evaluation only and never sampled for training. ifbench.py wraps them like the others (an
exception is a failed check). Each reproduces the official verdicts; the two official regexes that
backtrack (`custom:mcq_count_length`, `custom:csv_special_character`) are rewritten as scans,
each checked against the official regex in tests/checkers/test_ifbench.py.
"""
import csv
import io
import re
import string
import unicodedata

from checkers.ifbench_text import split_sentences

PUNCT = string.punctuation
_NO_PUNCT = str.maketrans("", "", PUNCT)


def _ascii(s):
    return unicodedata.normalize("NFKD", s).encode("ASCII", "ignore").decode("ASCII")


def _mcq(t):
    r"""custom:mcq_count_length. The official split pattern r"\n*(?:Question \d+[.|):;]?\s*)" starts
    with \n*, quadratic on long newline runs; splitting on the rest and dropping the newlines that end
    each piece gives the same pieces."""
    if not t.startswith("Question"):
        return False  # official: text before the first "Question" is an explanation
    parts = re.split(r"Question \d+[.|):;]?\s*", t)
    parts = [p.rstrip("\n") for p in parts[:-1]] + parts[-1:]
    parts = [q.strip() for q in (parts[1:] if parts[0] == "" else parts) if q.strip()]
    if len(parts) != 4:
        return False
    lengths = []
    for q in parts:
        text, options, done = "", 0, False
        for line in q.split("\n"):
            if re.match(r"^[A-Ea-e][.|)]\s*\w+", line.strip()):
                options, done = options + 1, True
            elif not done:
                text += " " + line.strip()
        if options != 5:
            return False
        lengths.append(len(text.strip()))
    return all(a < b for a, b in zip(lengths, lengths[1:]))


def _reverse_newline(t):
    lines = [x.strip(PUNCT + " ") for x in t.split("\n") if x.strip(PUNCT + " ")]
    start = next((i for i, x in enumerate(lines) if "Zimbabwe" in x), None)
    if start is None or len(lines) - start < 52:
        return False
    names = [_ascii(x) for x in lines[start:]]
    return names == sorted(names, reverse=True)


def _word_reverse(t):
    t = " ".join(t.lower().strip().translate(_NO_PUNCT).split()[::-1])
    return "bald eagle" in t and t in split_sentences(t)


def _csv_rows(t, delimiter=","):
    # official: every " becomes three before parsing (so quotes survive as literal characters)
    return list(csv.reader(io.StringIO(t.replace('"', '"""')), delimiter=delimiter))


def _special_field(field):
    r"""re.match(r'".*[^\d\w\s].*"', field) without backtracking: an opening quote, then on the same
    line a character that is not a digit, word character or space, followed later by a quote."""
    if not field.startswith('"'):
        return False
    line = field[1:].split("\n", 1)[0]
    return bool(re.search(r"[^\d\w\s]", line[:line.rfind('"')])) if '"' in line else False


CSV_SPECIAL_HEADER = (r'^(ProductID|"ProductID"),[ \t]*(Category|"Category"),[ \t]*(Brand|"Brand"),'
                      r'[ \t]*(Price|"Price"),[ \t]*(Stock|"Stock")$')
CSV_QUOTES_HEADER = (r'^(StudentID|"StudentID")\t *(Subject|"Subject")\t *(Grade|"Grade")'
                     r'\t *(Semester|"Semester")\t *(Score|"Score")$')


def _csv_special(t):
    if not re.match(CSV_SPECIAL_HEADER, t.split("\n")[0].strip()):
        return False
    rows = _csv_rows(t)
    if len(rows) != 15:
        return False
    for row in rows[1:]:
        if len(row) != 5:
            return False
        if any(_special_field(f) for f in row):
            return True
    return False


def _csv_quotes(t):
    if not re.match(CSV_QUOTES_HEADER, t.split("\n")[0].strip()):
        return False
    rows = _csv_rows(t, "\t")
    return len(rows) == 4 and all(len(r) == 5 and all(f.strip()[0] == '"' == f.strip()[-1] for f in r)
                                  for r in rows)


def _date_list(t):
    for d in t.strip().split(","):
        d = d.strip()
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", d):
            return False
        y, m, day = (int(x) for x in d.split("-"))
        if not 1769 <= y <= 1821 or m > 12 or day > {2: 29, 4: 30, 6: 30, 9: 30, 11: 30}.get(m, 31):
            return False
    return True


CAPITALS_NORTH_OF_45 = ("Reykjavik Helsinki Oslo Tallinn Stockholm Riga Moscow Copenhagen Vilnius Minsk Dublin Berlin "
                        "Amsterdam Warsaw London Brussels Prague Luxembourg Paris Vienna Bratislava Budapest Vaduz "
                        "Chisinau Bern Ljubljana Zagreb").split()

TASK_CHECKS = {
    "custom:character_reverse": lambda t: "elgae dlab" in t.lower(),
    "custom:csv_city": lambda t: (lambda rows: len(rows) == 8 and rows[0] == ["ID", "Country", "City", "Year", "Count"]
                                  and all(len(r) == 5 for r in rows[1:]))(list(csv.reader(io.StringIO(t)))),
    "custom:csv_quotes": _csv_quotes,
    "custom:csv_special_character": _csv_special,
    "custom:date_format_list": _date_list,
    "custom:european_capitals_sort": lambda t:
        [c.strip() for c in _ascii(t).split(",") if c.strip()] == CAPITALS_NORTH_OF_45,
    "custom:mcq_count_length": _mcq,
    "custom:multiples": lambda t: re.findall(r"\d+", t.replace(",", ", ")) == [str(i) for i in range(14, 51, 7)],
    "custom:reverse_newline": _reverse_newline,
    "custom:sentence_alphabet": lambda t: (lambda s: len(s) == 26 and all(
        x.lstrip().split()[0].lower()[0] == chr(97 + i) for i, x in enumerate(s)))(split_sentences(t)),
    "custom:word_reverse": _word_reverse,
}

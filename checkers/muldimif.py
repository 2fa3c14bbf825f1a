"""MulDimIF's checker (HIR-16K's type3 rows, the MulDimIF benchmark): dispatch and the one safe entry point.

A MulDimIF constraint is a triple [first, second, text]. The official evaluation picks one of 12 check classes by
the literal key f"{first}_{second}" (55 keys; the category labels only pick the class, and some route
surprisingly: "Format_Markdown: Block quotes" goes to the "others" format class, "Content_Length" to the
content "others" class), and that class parses the constraint's own English `text` for what to count.
Each class lives in one of the muldimif_*.py files as one function `(text, response) -> bool`:

    muldimif_length.py    Length_Words, Length_Sentences, Length_Paragraphs
    muldimif_content.py   Content_Keywords, Content_Punctuation, Content_Others
    muldimif_table.py     Format_Table
    muldimif_markup.py    Format_Json, Format_Markdown
    muldimif_misc.py      Format_Others, Language_English, Language_Chinese

    >>> check(["Length", "Words", "The response must contain no more than 5 words"], "Four words right here.")
    True
"""
import contextlib
import functools
import importlib
import json
import sys

# class -> (module, function), then class -> the keys the official evaluation sends to it
CLASSES = {"Length_Words": ("muldimif_length", "length_words"),
           "Length_Sentences": ("muldimif_length", "length_sentences"),
           "Length_Paragraphs": ("muldimif_length", "length_paragraphs"),
           "Content_Keywords": ("muldimif_content", "content_keywords"),
           "Content_Punctuation": ("muldimif_content", "content_punctuation"),
           "Content_Others": ("muldimif_content", "content_others"),
           "Format_Table": ("muldimif_table", "format_table"),
           "Format_Json": ("muldimif_markup", "format_json"),
           "Format_Markdown": ("muldimif_markup", "format_markdown"),
           "Format_Others": ("muldimif_misc", "format_others"),
           "Language_English": ("muldimif_misc", "language_english"),
           "Language_Chinese": ("muldimif_misc", "language_chinese")}
KEYS = {"Length_Words": ["Length_Words", "Length_Words: At most", "Length_Words: At least", "Length_Words: Range",
                         "Words_At most", "Format_Word Count"],
        "Length_Sentences": ["Length_Sentences", "Length_Sentences: At least", "Length_Sentences: At most",
                             "Length_Sentences: Range", "Sentences_At most", "Sentences_At least"],
        "Length_Paragraphs": ["Length_Paragraphs", "Length_Paragraphs: At most", "Length_Paragraphs: At least",
                              "Length_Paragraphs: Range", "Paragraphs_At most"],
        "Content_Keywords": ["Content_Keywords", "Content_Keywords: Must include"],
        "Content_Punctuation": ["Punctuation_Ending punctuation", "Content_Punctuation: Ending punctuation",
                                "Content_Punctuation"],
        "Content_Others": ["Content_Identifiers", "Content_Length", "Citations_In-text", "Content_Quotes",
                           "Content_Sources", "Content_Mention"],
        "Format_Table": ["Format_Table", "Table_Row limit", "Table_Column limit", "Format_Table: Row limit",
                         "Format_Table: Column limit"],
        "Format_Json": ["Json_Object nesting levels", "Format_Json", "Json_Number of attributes"],
        "Format_Markdown": ["Format_Markdown", "Markdown_Heading levels", "Format_Markdown: Heading levels",
                            "Markdown_Block quotes"],
        "Format_Others": ["Format_Markdown: Block quotes", "Format_Text", "XML_Number of attributes",
                          "References_Format", "Format_Bullet Points", "Format_XML", "Format_Blurb", "Table_Table",
                          "Format_Length"],
        "Language_English": ["Language_English", "Language_English: Capitalized",
                             "Language_English: All Uppercase"],
        "Language_Chinese": ["Language_Chinese", "Language_Chinese: Simplified", "Language_Chinese: Traditional"]}
CLASS_OF = {key: cls for cls, keys in KEYS.items() for key in keys}
assert len(CLASS_OF) == 55 == sum(map(len, KEYS.values()))


def key_of(constraint):
    """The official dispatch key of a [first, second, text] triple."""
    first, second, _ = constraint
    return f"{first}_{second}"


def problem(constraint):
    """Why a triple cannot be checked (None if it can): the shape a row's loader reports with file:line."""
    if not (isinstance(constraint, (list, tuple)) and len(constraint) == 3
            and all(isinstance(part, str) for part in constraint)):
        return "expected [first, second, text], three strings"
    if key_of(constraint) not in CLASS_OF:
        return f"unknown MulDimIF key {key_of(constraint)!r} (the official checker has no class for it)"
    return None


@functools.cache
def class_check(cls):
    module, name = CLASSES[cls]
    return getattr(importlib.import_module(f"checkers.{module}"), name)


def check_or_raise(constraint, response):
    """The official verdict, exceptions included (the official loop lets them abort the evaluation)."""
    return bool(class_check(CLASS_OF[key_of(constraint)])(constraint[2], response))


def check(constraint, response):
    """The official verdict; an exception inside a check is a fail of that constraint, as HiR's reward has it."""
    try:
        return check_or_raise(constraint, response)
    except Exception:  # noqa: BLE001 - a checker bug or odd text must cost this constraint, never the run
        return False


# ----------------------------------------------------------------------------- JSON at the official stack depth
@contextlib.contextmanager
def official_depth(text, deepest):
    """Run json.loads(text) (and what reads its result) as it runs at the official call site: a value nested
    deeper than `deepest` raises RecursionError there (Python's recursion limit less the official frames above that
    call; measured per site), and nothing shallower does, however deep our own caller's stack happens to be."""
    if _first_too_deep(text, deepest):
        raise RecursionError(f"nested deeper than {deepest}: the official call site overflows the stack here")
    with _room_for(deepest):
        yield


@contextlib.contextmanager
def _room_for(deepest):
    """A recursion limit with room for `deepest` levels above our own frames, restored after."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(old + deepest + 100)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _first_too_deep(text, deepest):
    """True if json.loads meets nesting deeper than `deepest` before any syntax error: one scan for the first
    place the brackets outside strings go deeper, then the prefix before it parsed (it holds no open string)."""
    depth, in_string, escaped = 0, False, False
    for at, ch in enumerate(text):
        if in_string:
            escaped, in_string = (not escaped and ch == "\\"), in_string and (escaped or ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                break
        elif ch in "]}":
            depth -= 1
    else:
        return False
    try:
        with _room_for(deepest):
            json.loads(text[:at])  # incomplete: it raises; where tells whether a syntax error comes first
    except json.JSONDecodeError as e:
        return e.pos >= at
    except RecursionError:
        return True
    return True


# ----------------------------------------------------------------------------- the official aggregate scores
# For scores only, the official evaluation maps each key onto MulDimIF's 4 first-level / 12 second-level
# categories (not the same grouping as the check classes: "Content_Length" is counted as Length_Words).
CATEGORIES = {"Content_Keywords": ["Content_Keywords", "Content_Keywords: Must include", "Content_Mention"],
              "Length_Words": KEYS["Length_Words"] + ["Content_Length", "Format_Blurb", "Format_Length"],
              "Length_Sentences": KEYS["Length_Sentences"], "Length_Paragraphs": KEYS["Length_Paragraphs"],
              "Format_Table": KEYS["Format_Table"] + ["Table_Table"],
              "Content_Punctuation": KEYS["Content_Punctuation"] + ["Content_Quotes"],
              "Language_English": KEYS["Language_English"],
              "Format_Markdown": KEYS["Format_Markdown"] + ["Format_Markdown: Block quotes"],
              "Format_Json": KEYS["Format_Json"], "Language_Chinese": KEYS["Language_Chinese"],
              "Content_Identifiers": ["Content_Identifiers", "Citations_In-text", "Content_Sources", "Format_Text",
                                      "References_Format", "Format_Bullet Points"],
              "Format_XML": ["XML_Number of attributes", "Format_XML"]}
CATEGORY_OF = {key: cat for cat, keys in CATEGORIES.items() for key in keys}
assert set(CATEGORY_OF) == set(CLASS_OF)


def _rates(groups):
    """{name: {"n", "accuracy" (all held), "macro" (mean share held per prompt), "micro" (share of all)}}."""
    return {name: {"n": len(js), "accuracy": sum(all(j) for j in js) / len(js),
                   "macro": sum(sum(j) / len(j) for j in js) / len(js),
                   "micro": sum(map(sum, js)) / sum(map(len, js))} for name, js in groups.items()}


def official_scores(records):
    """MulDimIF's aggregates from [(constraints, verdicts, constraint_pattern, difficulty)], one per prompt:
    overall 0-1 accuracy and macro / micro constraint accuracy, the same by constraint pattern and by difficulty
    (sorted), 0-1 accuracy per first-level category (all of a prompt's constraints of that category held), and
    micro accuracy per second-level category."""
    by_pattern, by_difficulty, by_first, by_second = {}, {}, {}, {}
    for constraints, verdicts, pattern, difficulty in records:
        by_pattern.setdefault(pattern, []).append(verdicts)
        by_difficulty.setdefault(difficulty, []).append(verdicts)
        per_first = {}
        for c, v in zip(constraints, verdicts):
            category = CATEGORY_OF[key_of(c)]
            per_first.setdefault(category.split("_")[0], []).append(v)
            by_second.setdefault(category, []).append(v)
        for first, vs in per_first.items():
            by_first.setdefault(first, []).append([all(vs)])
    return {"overall": _rates({"all": [v for _, v, _, _ in records]})["all"], "by_pattern": _rates(by_pattern),
            "by_difficulty": dict(sorted(_rates(by_difficulty).items())),
            "by_first_level": {k: r["accuracy"] for k, r in _rates(by_first).items()},
            "by_second_level": {k: r["micro"] for k, r in _rates({k: [v] for k, v in by_second.items()}).items()}}


def print_scores(scores, file=None):
    o = scores["overall"]
    print(f"MulDimIF ({o['n']} prompts): 0-1 accuracy {o['accuracy']:.4f}, macro {o['macro']:.4f}, "
          f"micro {o['micro']:.4f}", file=file)
    for title in ("by_pattern", "by_difficulty"):
        print(f"{title.replace('_', ' ')}: {'n':>5s} {'0-1':>7s} {'macro':>7s} {'micro':>7s}", file=file)
        for name, r in scores[title].items():
            print(f"  {name:24s} {r['n']:5d} {r['accuracy']:7.4f} {r['macro']:7.4f} {r['micro']:7.4f}", file=file)
    print("by first-level category (0-1): " + ", ".join(f"{k} {v:.4f}" for k, v in scores["by_first_level"].items()),
          file=file)

"""IFEval's 25 verifiers, verdict for verdict with the official checker (strict and loose).

    python -m pytest -q tests/test_constraints.py     # each against the official verdicts and slow references

`CHECKS[id](text, **kwargs) -> bool`. Two deliberate differences from the official code, both
documented where they happen:
  * keywords, markers and section splitters are matched literally (the official code pastes them
    into regexes unescaped; on IFEval's data they are plain words, so no verdict changes);
  * `keywords:letter_frequency` with a non-letter counts that character (official: a random letter).
Every verifier runs in time linear in the text: patterns that backtrack quadratically in Python's
`re` (bullets, titles, placeholders, postscripts) are scans in textstats.py, each tested against
the official regex on random strings.
"""
import json
import re

from checkers.sentences import count_sentences
from checkers.textstats import (capital_words, count_bullets, count_highlights, count_placeholders, count_words,
                                detect_language, has_title)


def _compare(count, relation, n):
    return count < n if relation == "less than" else count >= n


def _postscript(t, postscript_marker):
    t, m = t.lower(), postscript_marker.lower()
    # official pattern is r"\s*<marker>.*$": the leading \s* and trailing .*$ never decide a match
    pattern = {"p.p.s": r"p\.\s?p\.\s?s", "p.s.": r"p\.\s?s\."}.get(m, re.escape(m))
    return re.search(pattern, t) is not None


def _json(t):
    t = t.strip()
    for prefix in ("```json", "```Json", "```JSON", "```"):
        if t.startswith(prefix):
            t = t[len(prefix):]
            break
    t = (t[:-3] if t.endswith("```") else t).strip()
    try:
        json.loads(t)
    except (ValueError, RecursionError):  # RecursionError: deep "[[[[": not valid for us either
        return False
    return True


def _two_responses(t):
    parts = t.split("******")
    for i, p in enumerate(parts):
        if not p.strip() and 0 < i < len(parts) - 1:
            return False
    parts = [p for p in parts if p.strip()]
    return len(parts) == 2 and parts[0].strip() != parts[1].strip()


def _num_paragraphs(t, num_paragraphs):
    parts = re.split(r"\s?\*\*\*\s?", t)
    for i, p in enumerate(parts):
        if not p.strip() and 0 < i < len(parts) - 1:
            return False
    return sum(1 for i, p in enumerate(parts) if p.strip() or 0 < i < len(parts) - 1) == num_paragraphs


def _nth_paragraph_first_word(t, num_paragraphs, nth_paragraph, first_word):
    parts = t.split("\n\n")
    count = sum(1 for p in parts if p.strip())
    # official quirk kept: it counts non-empty paragraphs but indexes the unfiltered split
    if nth_paragraph > count or not parts[nth_paragraph - 1].strip():
        return False
    word = parts[nth_paragraph - 1].split()[0].lstrip("'").lstrip('"')
    word = re.split(r"[.,?!'\"]", word)[0].lower()
    return count == num_paragraphs and word == first_word.lower()


def _letter_frequency(t, letter, let_frequency, let_relation):
    # policy: count the literal (lowercased) character; official draws a random letter for "#", "!"
    return _compare(t.lower().count(letter.strip().lower()), let_relation, let_frequency)


CHECKS = {
    "change_case:capital_word_frequency": lambda t, capital_frequency, capital_relation:
        _compare(len(capital_words(t)), capital_relation, capital_frequency),
    "change_case:english_capital": lambda t: t.isupper() and detect_language(t) in ("en", None),
    "change_case:english_lowercase": lambda t: t.islower() and detect_language(t) in ("en", None),
    "combination:repeat_prompt": lambda t, prompt_to_repeat:
        t.strip().lower().startswith(prompt_to_repeat.strip().lower()),
    "combination:two_responses": _two_responses,
    "detectable_content:number_placeholders": lambda t, num_placeholders:
        count_placeholders(t) >= num_placeholders,
    "detectable_content:postscript": _postscript,
    "detectable_format:constrained_response": lambda t: any(
        a in t for a in ("My answer is yes.", "My answer is no.", "My answer is maybe.")),
    "detectable_format:json_format": _json,
    "detectable_format:multiple_sections": lambda t, section_spliter, num_sections:
        len(re.split(r"\s?" + re.escape(section_spliter) + r"\s?\d+\s?", t)) - 1 >= num_sections,
    "detectable_format:number_bullet_lists": lambda t, num_bullets: count_bullets(t) == num_bullets,
    "detectable_format:number_highlighted_sections": lambda t, num_highlights:
        count_highlights(t) >= num_highlights,
    "detectable_format:title": has_title,
    "keywords:existence": lambda t, keywords: all(
        re.search(re.escape(k), t, re.IGNORECASE) for k in keywords),
    "keywords:forbidden_words": lambda t, forbidden_words: not any(
        re.search(r"\b" + re.escape(w) + r"\b", t, re.IGNORECASE) for w in forbidden_words),
    "keywords:frequency": lambda t, keyword, frequency, relation: _compare(
        len(re.findall(re.escape(keyword.strip()), t, re.IGNORECASE)), relation, frequency),
    "keywords:letter_frequency": _letter_frequency,
    "language:response_language": lambda t, language: detect_language(t) in (language, None),
    "length_constraints:nth_paragraph_first_word": _nth_paragraph_first_word,
    "length_constraints:number_paragraphs": _num_paragraphs,
    "length_constraints:number_sentences": lambda t, num_sentences, relation: _compare(
        count_sentences(t, stop_at=num_sentences), relation, num_sentences),
    "length_constraints:number_words": lambda t, num_words, relation:
        _compare(count_words(t), relation, num_words),
    "punctuation:no_comma": lambda t: "," not in t,
    "startend:end_checker": lambda t, end_phrase:
        t.strip().strip('"').lower().endswith(end_phrase.strip().lower()),
    "startend:quotation": lambda t: len(t.strip()) > 1 and t.strip()[0] == t.strip()[-1] == '"',
}


def loose_variants(response):
    """IFEval's loose scoring: the response, with `*` removed, first/last/both lines removed, and
    those removals without `*`. (Like the official code, only the line-removed variants are
    stripped; `check_loose` skips empty variants.)"""
    lines = response.split("\n")
    cut = ["\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return [response, response.replace("*", "")] + cut + [c.replace("*", "") for c in cut]



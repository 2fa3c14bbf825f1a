"""checkers/muldimif_table.py: MulDimIF's Format_Table, verdict for verdict with the official class.

The official verdicts come from ../shared/muldimif (545 Format_Table constraints); the hand cases pin branches and
quirks the scripted responses never reach, each verdict worked out from the official code; the scans are checked
against the official regexes and loops they replace; hostile 1 MB responses must be judged in well under 2 s.
"""
import re
import time

from hypothesis import given, settings, strategies as st

from checkers import muldimif
from checkers.muldimif_table import _Header, format_table, judge, parse
from muldimif_ref import disagreements, needs_shared, cases

PIPEY = st.text(alphabet="|a \n\r-\t", max_size=60)
CELLS = st.lists(st.text(alphabet="ab |", max_size=4), max_size=6)


@needs_shared
def test_official_verdicts_on_the_scripted_responses():
    assert len(cases({"Format_Table"})) == 545
    assert disagreements({"Format_Table"}) == []


# ------------------------------------------------------------------------ scans against the official code
def official_lines(response):
    found = re.search(r'(\|.*\|)', response, re.DOTALL)
    text = found.group(1) if found else ""
    return [line.strip() for line in text.split('\n') if line.strip()]


@settings(max_examples=300, deadline=None)
@given(PIPEY)
def test_table_region_and_markdown_test_equal_the_official_regexes(response):
    lines, text = official_lines(response), "Present it as a markdown table with exactly 2 rows and 2 columns"
    # rows = lines - 1 (- 1 more for a "---" second line), columns = header "|" - 1, markdown = a line opens with "|"
    rows = len(lines) - (2 if len(lines) > 1 and '---' in lines[1] else 1)
    official = (bool(lines) and any(re.match(r'^\s*\|', line) for line in lines) and rows == 2
                and len(lines[0].split('|')) - 2 == 2)
    assert judge(response, parse(text), text.lower()) == (official if "|" in response else False)


@settings(max_examples=300, deadline=None)
@given(CELLS, st.text(alphabet="ab |", min_size=1, max_size=5))
def test_header_tests_equal_the_official_cell_loops(cells, name):
    header = _Header(["|" + "|".join(cells) + "|"])
    official_cells = [h.strip().lower() for h in ("|" + "|".join(cells) + "|").split('|')[1:-1]]
    assert header.cells == official_cells
    assert header.has(name) == any(name in h for h in official_cells)
    assert header.has_within(name) == any(name in h or h in name for h in official_cells)


def test_has_within_takes_the_substring_route_on_many_distinct_cells():
    header = _Header(["|" + "|".join(f"c{i}" for i in range(3000)) + "|"])
    assert len(header.distinct) > len("xc12y") ** 2
    assert header.has_within("xc12y") and header.has_within("c2999") and not header.has_within("zz")


# ------------------------------------------------------------------------------- branches and quirks
TWO_BY_TWO = "| A | B |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"


def test_no_pipe_at_all():
    assert format_table("Keep the answer short", "no table here")  # not about a table: passes
    assert not format_table("Include a table with exactly 2 rows", "no table here")
    assert format_table("If you include a table, keep it to 2 rows", "no table here")  # optional
    assert format_table("If any tables are used, limit them to 3 rows", "no table here")
    # the official list glues two phrases into one (a missing comma): neither works alone
    assert not format_table("Only if presented in a table, use 2 rows", "no table here")


def test_rows_columns_and_the_separator_line():
    assert format_table("Include a table with exactly 2 rows", TWO_BY_TWO)
    assert not format_table("Include a table with exactly 3 rows", TWO_BY_TWO)
    assert format_table("The table must not exceed 3 rows", TWO_BY_TWO)
    assert format_table("exactly two rows", "| A |\n| 1 |\n| 2 |")  # without "---" only the header is taken off
    assert format_table("A table with exactly three rows and 2 columns", "| A | B |\n|---|--|\n|1|2|\n|3|4|\n|5|6|")
    assert format_table("Include a table with exactly 2 columns", "| A | B |\n| 1 | 2 | 3 | 4 |")  # header only
    assert not format_table("Include a table with exactly 2 columns", "| A | B\n| 1 | 2 |")  # "| A | B" is 1
    assert not format_table("The table should have no more than 1 column", TWO_BY_TWO)
    assert format_table("Limit the table to twenty rows", TWO_BY_TWO)
    assert not format_table("exactly seventeen rows", TWO_BY_TWO)
    assert format_table("Use exactly 2 rows", "| A |\r\n|---|\r\n| 1 |\r\n| 2 |\r\n")  # CRLF: lines are stripped
    assert format_table("表格必须有两列, exactly 1 rows", "| 名字 | 年龄 |\n|------|------|\n| 张三 | 20 |")


def test_the_table_is_first_pipe_to_last_pipe():
    text = "Intro | aside\n\n| A | B |\n|---|---|\n| 1 | 2 |\nThe end."
    # lines: "| aside" (the header: one "|", so 0 columns), "| A | B |", "|---|---|", "| 1 | 2 |": 3 rows
    assert format_table("exactly 3 rows", text) and format_table("exactly 0 columns", text)
    assert not format_table("exactly 2 columns", "a single | pipe")  # one "|": no lines, no header
    assert not format_table("Use a markdown table", "a single | pipe") and format_table("Use markdown", "| a |")


def test_single_column_and_title_words():
    assert format_table("Each idea should be presented in a single column", "| Idea |\n|---|\n| x |")
    assert not format_table("Each idea should be presented in a single column", TWO_BY_TWO)
    assert not format_table("Keep the single column layout in the table", TWO_BY_TWO)  # late "single column" rule
    assert format_table("The title must not exceed five words", "| one two three four five |")
    assert not format_table("The title must not exceed five words", "| one two three four five six |")


def test_column_names_are_cut_at_the_letters_a_n_d():
    # r'[,、，和and]' is a character class: "name, price" asks for "me" and "price"
    assert parse("The columns should be name, price")['columns'] == ['me', 'price']
    assert format_table("The columns should be name, price", "| Named | Pricey |")
    assert not format_table("The columns should be name, price", "| Title | Price |")
    assert parse('The table must include columns named "Cost"')['columns'] == ['me']  # the word "named" itself
    assert format_table("Include a table with columns: 'Word', 'Definition'", "| Word | Definition |")


def test_columns_for_quoted_names():
    text = 'The table must include columns for "Name," "Price," and "Rating"'
    assert parse(text)['columns'] == ['name', 'price', 'rating']
    assert format_table(text, "| Product Name | Price | Rating |\n|---|---|---|")
    assert not format_table(text, "| Product Name | Price |\n|---|---|")
    assert format_table(text, "| Product Name | Price | |")  # an empty cell is inside every name
    assert format_table(text, "| nam | pric | rat |")  # so is any piece of a name
    # the parser stops at the quoted names: the late "single column" rule never runs
    assert format_table('In the single column table, include columns for "Name"', "| Name | Age |")


def test_series_film_and_content_items():
    series = "Each series must include the title, author, and year of publication"
    assert format_table(series, "| Title | Author | Year |") and not format_table(series, "| Title | Author |")
    film = "Each entry must include the film title and its release year"
    assert format_table(film, "| Film | Year |") and not format_table(film, "| Name | Date |")
    items = "Each row must include the city name, population and its area"
    assert sorted(parse(items)['content']) == ['area', 'city name', 'population']
    assert format_table(items, "| City | Population | Area |")
    assert format_table(items, "| Place | Count | Size |\n| city name | population | area |")  # in the body
    assert not format_table(items, "| Place | Count |\n| x | y |")


def test_the_dispatcher_routes_every_table_key_here():
    for key in muldimif.KEYS["Format_Table"]:
        first, second = key.split("_", 1)
        assert muldimif.check([first, second, "Include a table with exactly 2 rows"], TWO_BY_TWO)


# --------------------------------------------------------------------------------------- hostile input
def test_hostile_megabyte_responses_are_judged_fast():
    mb = 1_000_000
    hostile = ['|' * mb, '|a' * (mb // 2), '|a|b\n|c\n' * (mb // 8), '|' + '|'.join(map(str, range(150000))) + '|',
               '| a | b |\r\n' * (mb // 10), '中文|' * (mb // 3), 'a' * mb, '\n' * mb + '|', '']
    texts = ['The table must include columns for "Name," "Price," and "Rating"',
             "Each row must include the city name, population and its area, in a markdown table with 3 columns"]
    slowest = 0.0
    for response in hostile:
        for text in texts:
            start = time.perf_counter()
            format_table(text, response)
            slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0

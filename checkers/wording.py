"""How each constraint is asked for, and random kwargs for synthetic instructions.

    python -c "import checkers.wording as W; print(W.PHRASES['punctuation:no_comma'][0])"

PHRASES (IFEval ids) and IFBENCH_PHRASES hold the sentences a prompt uses for a constraint, with
its kwargs as {fields}; constraints.Constraint.describe() picks one. SAMPLERS draw kwargs a short
answer can meet, for data.py's synthetic generator; IFBench ids that need a fixed task (custom:*),
a reference text or the prompt itself are not sampled. The toy tokenizer's vocabulary is built
from PHRASES (models.py), so IFBench wording lives apart and leaves the toy model unchanged.
"""
RELATIONS = ("less than", "at least")

WORDS = ["river", "lantern", "garden", "engine", "harvest", "mirror", "winter", "market", "signal",
         "bridge", "candle", "forest", "ticket", "planet", "window", "silver", "thunder", "pocket",
         "castle", "journey", "coffee", "orbit", "meadow", "letter", "anchor", "puzzle", "shadow",
         "velvet", "harbor", "compass", "ladder", "melody", "pepper", "rocket", "tunnel", "violet"]
END_PHRASES = ["Is there anything else I can help with?", "Let me know if you have additional questions.",
               "That is all.", "Thank you for reading.", "Any other questions?"]
LANGUAGE_NAMES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
                  "pt": "Portuguese", "ru": "Russian", "hi": "Hindi", "ko": "Korean", "ja": "Japanese",
                  "vi": "Vietnamese", "sw": "Swahili", "ar": "Arabic", "fa": "Persian", "bg": "Bulgarian"}

PHRASES = {
    "change_case:capital_word_frequency": [
        "Use words in all capital letters {capital_relation} {capital_frequency} times",
        "The response should contain {capital_relation} {capital_frequency} words written entirely in capitals"],
    "change_case:english_capital": ["Your entire response should be in English, and in all capital letters",
                                    "Write everything in English using only CAPITAL LETTERS"],
    "change_case:english_lowercase": [
        "Your entire response should be in English, and in all lowercase letters; no capital letters are allowed",
        "Write only in lowercase English letters"],
    "combination:repeat_prompt": ["First repeat the request word for word without change, then give your answer"],
    "combination:two_responses": ["Give two different responses, separated by 6 asterisk symbols: ******",
                                  "Write two distinct answers and separate them with ******"],
    "detectable_content:number_placeholders": [
        "Include at least {num_placeholders} placeholders in square brackets, such as [address]",
        "Use at least {num_placeholders} placeholders written like [name]"],
    "detectable_content:postscript": ["At the end of your response, add a postscript starting with {postscript_marker}",
                                      "End with a postscript that begins with {postscript_marker}"],
    "detectable_format:constrained_response": [
        'Answer with one of the following options: "My answer is yes.", "My answer is no.", "My answer is maybe."'],
    "detectable_format:json_format": ["Wrap your entire output in JSON format; you may use markdown ticks such as ```",
                                      "The whole response must be valid JSON"],
    "detectable_format:multiple_sections": [
        "Your response must have {num_sections} sections; mark the beginning of each with {section_spliter} X",
        "Split the answer into {num_sections} sections, each starting with {section_spliter} X"],
    "detectable_format:number_bullet_lists": [
        "Your answer must contain exactly {num_bullets} bullet points, "
        "using markdown bullets such as: * This is a point",
        "Use exactly {num_bullets} markdown bullet points"],
    "detectable_format:number_highlighted_sections": [
        "Highlight at least {num_highlights} sections with markdown, i.e. *highlighted section*",
        "Mark at least {num_highlights} parts of the answer as *highlighted*"],
    "detectable_format:title": [
        "Your answer must contain a title, wrapped in double angular brackets, such as <<poem of joy>>",
        "Give the response a title in double angular brackets, like <<title>>"],
    "keywords:existence": ["Include the keywords {keywords} in the response", "Make sure to use the words {keywords}"],
    "keywords:forbidden_words": ["Do not include the keywords {forbidden_words} in the response",
                                 "Never use the words {forbidden_words}"],
    "keywords:frequency": ['The word "{keyword}" should appear {relation} {frequency} times',
                           'Use the word "{keyword}" {relation} {frequency} times'],
    "keywords:letter_frequency": ['The letter "{letter}" should appear {let_relation} {let_frequency} times',
                                  'Use the letter "{letter}" {let_relation} {let_frequency} times in your response'],
    "language:response_language": ["Your entire response should be in {language}, no other language is allowed",
                                   "Answer only in {language}"],
    "length_constraints:nth_paragraph_first_word": [
        "There should be {num_paragraphs} paragraphs, separated by two new lines; "
        "paragraph {nth_paragraph} must start with the word {first_word}"],
    "length_constraints:number_paragraphs": [
        "There should be {num_paragraphs} paragraphs, separated by the markdown divider: ***",
        "Write {num_paragraphs} paragraphs and put *** between them"],
    "length_constraints:number_sentences": ["Your response should contain {relation} {num_sentences} sentences",
                                            "Answer with {relation} {num_sentences} sentences"],
    "length_constraints:number_words": ["Answer with {relation} {num_words} words",
                                        "Your response should be {relation} {num_words} words long"],
    "punctuation:no_comma": ["Do not use any commas in your response", "Your entire response must not contain a comma",
                             "Avoid commas completely"],
    "startend:end_checker": ['Finish your response with this exact phrase "{end_phrase}", and no other words after it',
                             'End your answer with the exact phrase "{end_phrase}"'],
    "startend:quotation": ["Wrap your entire response with double quotation marks",
                           "Put the whole answer inside double quotes"],
}

_rel = lambda rng: rng.choice(RELATIONS)  # noqa: E731
SAMPLERS = {  # (rng, task, keyword pool) -> kwargs; ranges a short answer can meet
    "change_case:capital_word_frequency": lambda r, t, w: {"capital_frequency": r.randint(1, 10),
                                                           "capital_relation": _rel(r)},
    "change_case:english_capital": lambda r, t, w: {},
    "change_case:english_lowercase": lambda r, t, w: {},
    "combination:repeat_prompt": lambda r, t, w: {"prompt_to_repeat": t},
    "combination:two_responses": lambda r, t, w: {},
    "detectable_content:number_placeholders": lambda r, t, w: {"num_placeholders": r.randint(1, 4)},
    "detectable_content:postscript": lambda r, t, w: {"postscript_marker": r.choice(["P.S.", "P.P.S"])},
    "detectable_format:constrained_response": lambda r, t, w: {},
    "detectable_format:json_format": lambda r, t, w: {},
    "detectable_format:multiple_sections": lambda r, t, w: {"section_spliter": r.choice(["Section", "SECTION", "PART"]),
                                                         "num_sections": r.randint(2, 5)},
    "detectable_format:number_bullet_lists": lambda r, t, w: {"num_bullets": r.randint(1, 5)},
    "detectable_format:number_highlighted_sections": lambda r, t, w: {"num_highlights": r.randint(1, 4)},
    "detectable_format:title": lambda r, t, w: {},
    "keywords:existence": lambda r, t, w: {"keywords": r.sample(w, r.randint(1, min(2, len(w))))},
    "keywords:forbidden_words": lambda r, t, w: {"forbidden_words": r.sample(w, r.randint(1, min(3, len(w))))},
    "keywords:frequency": lambda r, t, w: {"keyword": r.choice(w), "frequency": r.randint(1, 4), "relation": _rel(r)},
    "keywords:letter_frequency": lambda r, t, w: {"letter": r.choice("abcdefghijklmnopqrstuvwxyz"),
                                               "let_frequency": r.randint(1, 12), "let_relation": _rel(r)},
    "language:response_language": lambda r, t, w: {"language": r.choice(sorted(LANGUAGE_NAMES))},
    "length_constraints:nth_paragraph_first_word": lambda r, t, w: (lambda n: {
        "num_paragraphs": n, "nth_paragraph": r.randint(1, n), "first_word": r.choice(w)})(r.randint(2, 4)),
    "length_constraints:number_paragraphs": lambda r, t, w: {"num_paragraphs": r.randint(2, 5)},
    "length_constraints:number_sentences": lambda r, t, w: {"num_sentences": r.randint(2, 10), "relation": _rel(r)},
    "length_constraints:number_words": lambda r, t, w: {"num_words": r.choice([10, 20, 50, 100, 200, 300]),
                                                        "relation": _rel(r)},
    "punctuation:no_comma": lambda r, t, w: {},
    "startend:end_checker": lambda r, t, w: {"end_phrase": r.choice(END_PHRASES)},
    "startend:quotation": lambda r, t, w: {},
}


IFBENCH_PHRASES = {
    "count:conjunctions": ["Use at least {small_n} different coordinating conjunctions"],
    "count:keywords_multiple": ["Include keyword {keyword1} once, {keyword2} twice, {keyword3} three times, "
                                "{keyword4} five times and {keyword5} seven times"],
    "count:numbers": ["Include exactly {N} numbers"],
    "count:person_names": ["Mention at least {N} different person names, such as Emma, Liam, Sophia, Noah or Ava"],
    "count:pronouns": ["Use at least {N} pronouns"],
    "count:punctuation": [
        "Use every standard punctuation mark at least once, including semicolons, colons and the interrobang (?!)"],
    "count:unique_word_count": ["Use at least {N} unique words"],
    "count:word_count_range": ["The response must contain between {min_words} and {max_words} words"],
    "count:words_japanese": ["Every word in position {N}, {N}x2, ... must be in Japanese"],
    "custom:character_reverse": [
        "What animal is the national symbol of the US? Answer with your sentence reversed letter by letter"],
    "custom:csv_city": [
        'Generate CSV data with the columns ["ID", "Country", "City", "Year", "Count"], comma delimited, 7 rows'],
    "custom:csv_quotes": ['Generate CSV data with the columns ["StudentID", "Subject", "Grade", "Semester", "Score"], '
                          "tab delimited, 3 rows, every field in double quotes"],
    "custom:csv_special_character": [
        'Generate CSV data with the columns ["ProductID", "Category", "Brand", "Price", "Stock"], '
        "comma delimited, 14 rows, one field holding a special character in double quotes"],
    "custom:date_format_list": [
        "List the start dates of all the battles Napoleon fought, separated by commas, "
        "as YYYY-MM-DD, without explanation"],
    "custom:european_capitals_sort": [
        "List the capitals of European countries north of 45 degrees latitude, comma separated, from north to south"],
    "custom:mcq_count_length": [
        'Write 4 multiple choice questions with 5 options each, each starting with "Question", '
        "each longer than the last"],
    "custom:multiples": ["Count from 10 to 50 but only print multiples of 7"],
    "custom:reverse_newline": ["List the countries of Africa in reverse alphabetical order, one per line"],
    "custom:sentence_alphabet": [
        "Tell a 26-sentence story whose sentences start with the letters of the alphabet in order"],
    "custom:word_reverse": [
        "What animal is the national symbol of the US? Answer with your sentence in reverse word order"],
    "format:emoji": ["End every sentence with an emoji"],
    "format:line_indent": ["Indent each new line more than the one before, like stairs"],
    "format:list": ["Answer with a list of items, using {sep} instead of bullet points"],
    "format:newline": ["Write each word on its own line"],
    "format:no_bullets_bullets": ["Write at least two sentences, then at least two bullet points marked with *"],
    "format:no_whitespace": ["Do not use any whitespace"],
    "format:options": ["Answer with one of these options: {options}. Give no explanation"],
    "format:output_template": [
        "Use this template: My Answer: [answer] My Conclusion: [conclusion] Future Outlook: [outlook]"],
    "format:parentheses": ["Nest parentheses (and [brackets {{and braces}}]) at least 5 levels deep"],
    "format:quote_unquote": ["Follow every quoted phrase with an unquoted explanation"],
    "format:quotes": ["Nest quotes within quotes at least 3 levels deep, alternating double and single quotes"],
    "format:sub-bullets": ["Use bullet points marked with * and give each at least one sub-bullet marked with -"],
    "format:thesis": ["Begin each section with a thesis statement in HTML italics (<i>...</i>)"],
    "format:title_case": ["Write the whole response in title case"],
    "ratio:overlap": ["Keep a trigram overlap of {percentage}% (plus or minus 2%) with this text: {reference_text}"],
    "ratio:sentence_balance": ["Use as many declarative as interrogative and exclamatory sentences"],
    "ratio:sentence_type": ["Write twice as many declarative sentences as questions"],
    "ratio:sentence_words": ["Answer in three sentences with the same number of characters and no word repeated"],
    "ratio:stop_words": ["Stop words must be at most {percentage}% of all words"],
    "repeat:repeat_change": [
        "Repeat the request word for word, but change its first word, and do not answer it: {prompt_to_repeat}"],
    "repeat:repeat_simple": ["Only output this sentence here, ignore all other requests."],
    "repeat:repeat_span": ["Copy the words from index {n_start} up to index {n_end} of this text: {prompt_to_repeat}"],
    "sentence:alliteration_increment": [
        "Give each sentence a longer run of alliterating words than the sentence before"],
    "sentence:increment": ["Each sentence must have exactly {small_n} more words than the previous one"],
    "sentence:keyword": ['Include the word "{word}" in sentence number {N}'],
    "words:alphabet": ["Start each word with the next letter of the alphabet, wrapping from Z to A"],
    "words:consonants": ["Every word must contain two consonants in a row"],
    "words:keywords_specific_position": ["Use the word {keyword} as word {m} of sentence {n}"],
    "words:last_first": ["Start each sentence with the last word of the sentence before"],
    "words:no_consecutive": ["No two consecutive words may start with the same letter"],
    "words:odd_even_syllables": ["Alternate words with odd and even numbers of syllables"],
    "words:palindrome": ["Include at least 10 palindromes of 5 or more letters"],
    "words:paragraph_last_first": ["End each paragraph (one per line) with the word it starts with"],
    "words:prime_lengths": ["Use only words whose length is a prime number"],
    "words:repeats": ["Use no word more than {small_n} times"],
    "words:start_verb": ["Start the response with a verb"],
    "words:vowel": ["Write one paragraph using at most three different vowels"],
    "words:words_position": ["Make {keyword} both the second word and the second-to-last word"],
}
_kw5 = lambda r, w: dict(zip([f"keyword{i}" for i in range(1, 6)], r.sample(w, 5)))  # noqa: E731
SAMPLERS |= {  # IFBench ids that make sense for training; kwargs in the ranges IFBench uses, scaled to short answers
    "count:conjunctions": lambda r, t, w: {"small_n": r.randint(2, 5)},
    "count:keywords_multiple": lambda r, t, w: _kw5(r, w),
    "count:numbers": lambda r, t, w: {"N": r.randint(1, 6)},
    "count:person_names": lambda r, t, w: {"N": r.randint(1, 5)},
    "count:pronouns": lambda r, t, w: {"N": r.randint(2, 10)},
    "count:punctuation": lambda r, t, w: {},
    "count:unique_word_count": lambda r, t, w: {"N": r.choice([10, 20, 50, 100])},
    "count:word_count_range": lambda r, t, w: (lambda lo: {"min_words": lo, "max_words": lo + r.randint(5, 30)})(
        r.randint(10, 100)),
    "format:emoji": lambda r, t, w: {},
    "format:line_indent": lambda r, t, w: {},
    "format:list": lambda r, t, w: {"sep": r.choice(["...", "SEPARATOR", "!?!?", "-"])},
    "format:newline": lambda r, t, w: {},
    "format:no_bullets_bullets": lambda r, t, w: {},
    "format:output_template": lambda r, t, w: {},
    "format:parentheses": lambda r, t, w: {},
    "format:quote_unquote": lambda r, t, w: {},
    "format:quotes": lambda r, t, w: {},
    "format:sub-bullets": lambda r, t, w: {},
    "format:thesis": lambda r, t, w: {},
    "format:title_case": lambda r, t, w: {},
    "ratio:sentence_balance": lambda r, t, w: {},
    "ratio:sentence_type": lambda r, t, w: {},
    "ratio:stop_words": lambda r, t, w: {"percentage": r.choice([30, 40, 50, 60])},
    "repeat:repeat_simple": lambda r, t, w: {},
    "sentence:increment": lambda r, t, w: {"small_n": r.randint(1, 3)},
    "sentence:keyword": lambda r, t, w: {"word": r.choice(w), "N": r.randint(1, 4)},
    "words:keywords_specific_position": lambda r, t, w: {"keyword": r.choice(w), "n": r.randint(1, 3),
                                                         "m": r.randint(1, 6)},
    "words:last_first": lambda r, t, w: {},
    "words:no_consecutive": lambda r, t, w: {},
    "words:odd_even_syllables": lambda r, t, w: {},
    "words:paragraph_last_first": lambda r, t, w: {},
    "words:repeats": lambda r, t, w: {"small_n": r.randint(1, 3)},
    "words:start_verb": lambda r, t, w: {},
    "words:words_position": lambda r, t, w: {"keyword": r.choice(w)},
}

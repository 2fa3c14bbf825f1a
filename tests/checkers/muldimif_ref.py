"""The official MulDimIF verdicts on the scripted responses (../shared/muldimif), as test cases per check class."""
import json
import os

import pytest

from checkers import muldimif

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "muldimif")
RESPONSES, REFS = os.path.join(SHARED, "scripted.responses.jsonl"), os.path.join(SHARED, "scripted.ref.jsonl")
needs_shared = pytest.mark.skipif(not os.path.exists(REFS), reason="../shared/muldimif is absent (reference data)")


def cases(classes=None):
    """[(constraint, response, official verdict)] for the constraints the given classes check (all if None)."""
    out = []
    with open(RESPONSES, encoding="utf-8") as responses, open(REFS, encoding="utf-8") as refs:
        for line, ref in zip(responses, refs):
            item, ref = json.loads(line), json.loads(ref)
            response = item["conversations"][-1]["content"]
            for constraint, verdict in zip(ref["constraints"], ref["follow_list_strict"]):
                if classes is None or muldimif.CLASS_OF[muldimif.key_of(constraint)] in classes:
                    out.append((constraint, response, verdict))
    return out


def disagreements(classes=None):
    """The cases where our verdict differs from the official one, to print in a failing assert."""
    return [(c, r[:200], v) for c, r, v in cases(classes) if muldimif.check(c, r) != v]

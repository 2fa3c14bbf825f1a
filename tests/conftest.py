"""Shared test set-up: one torch thread (the CI box has 2 contended cores), the shared data dir."""
import os
import pathlib

import pytest

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
IFEVAL = SHARED / "ifeval"
IFBENCH = SHARED / "ifbench"
MULDIMIF = SHARED / "muldimif"
if (SHARED / "nltk_data").is_dir():  # NLTK's POS tagger and stop words, for the IFBench checks
    os.environ.setdefault("NLTK_DATA", str(SHARED / "nltk_data"))


def need_shared(name, folder=IFEVAL):
    path = folder / name
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (see ../shared/README.md)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture(scope="session")
def toy():
    """The toy model (random-init 2-layer Llama, word-level tokenizer), built once per session."""
    from models import load_model
    model, tok = load_model("toy")
    return model.eval(), tok


@pytest.fixture(scope="session")
def toy64(toy):
    """A float64 copy, for comparisons at atol 1e-5 and below."""
    import copy
    model, tok = toy
    return copy.deepcopy(model).double().eval(), tok

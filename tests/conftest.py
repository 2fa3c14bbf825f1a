"""Shared test set-up: one torch thread (the CI box has 2 contended cores), the shared data dir."""
import os
import pathlib

import pytest

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared"
IFEVAL = SHARED / "ifeval"


def need_shared(name):
    path = IFEVAL / name
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

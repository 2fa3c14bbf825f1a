"""bench/smollm2_cpu.py (no training): its flags are a valid train.py config, its table's windows are plain means."""
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import smollm2_cpu as S  # noqa: E402

import config as C  # noqa: E402


def test_flags_are_a_valid_config_with_the_seven_ids(tmp_path):
    args = S.parse(["--out", str(tmp_path), "--seed", "3"])
    cfg = C.parse_config(S.train_flags(args, "hir"))
    assert cfg.method == "hir" and cfg.seed == 3 and cfg.max_new_tokens == 64 and cfg.lr == pytest.approx(2e-5)
    assert len(C.constraint_ids(cfg)) == 7 and cfg.out == os.path.join(str(tmp_path), "hir")


def test_table_averages_each_ten_steps_and_shows_the_held_out_at_their_ends(tmp_path):
    args = S.parse(["--out", str(tmp_path)])
    for method, scale in (("hir", 1.0), ("grpo", 0.5)):
        os.makedirs(tmp_path / method)
        rows = [{"step": s, "ila": scale * s / 100, "cla": 0.5, "resp_len": 60.0} for s in range(1, 16)]
        rows[9]["heldout_ila"], rows[9]["heldout_cla"] = 0.25, 0.75
        (tmp_path / method / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = S.table(args, {"heldout_ila": 0.2, "heldout_cla": 0.5}).splitlines()
    hir_first = next(line for line in text if line.startswith("hir") and "1-10" in line).split()
    assert float(hir_first[2]) == pytest.approx(sum(range(1, 11)) / 10 / 100, abs=1e-3)  # 0.055
    assert hir_first[4:6] == ["0.250", "0.750"]
    grpo_last = next(line for line in text if line.startswith("grpo") and "11-15" in line).split()
    assert float(grpo_last[2]) == pytest.approx(0.5 * sum(range(11, 16)) / 5 / 100, abs=1e-3)

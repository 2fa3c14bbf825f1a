"""plumbing/trackers.py: TensorBoard scalars read back with TensorBoard's own reader (resume supersedes the redone
steps), W&B offline runs under out/ (resume keeps the run id), the one-line message for a missing package, and
'none' or a rank other than 0 writing nothing. W&B runs offline with every directory of its own in tmp_path."""
import glob
import importlib.util
import json
import os
import re
import struct
import sys
import types

import pytest

import plumbing.trackers as TR

CONFIG = {"method": "hir", "lr": 1e-5, "steps": 4}


def run_session(report_to, out, start_step, rows, rank=0):
    tracker = TR.open_tracker(report_to, str(out), CONFIG, start_step, rank=rank)
    for row in rows:
        tracker.log(row)
    tracker.finish()


def tb_scalars(logdir):
    """{tag: [(step, value)]} as TensorBoard's Python reader serves them (purges applied)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return {tag: [(e.step, pytest.approx(e.value)) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def tb_config_text(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors("config/text_summary")]


def test_tensorboard_scalars_and_a_resume_that_supersedes_the_redone_steps(tmp_path):
    pytest.importorskip("tensorboard")
    rows = [{"step": s, "loss": 0.1 * s, "ila": 0.5, "generated": 8 * s, "method": "hir"} for s in (1, 2, 3, 4)]
    rows[3]["heldout_ila"] = 0.25  # only at the last step, as with --eval_every
    run_session("tensorboard", tmp_path, 0, rows)
    logdir = tmp_path / "tensorboard"
    assert glob.glob(str(logdir / "events.out.tfevents.*"))
    got = tb_scalars(logdir)
    assert set(got) == {"loss", "ila", "generated", "heldout_ila"}  # 'method' (a string) and 'step' are not scalars
    assert got["loss"] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]
    assert got["generated"] == [(1, 8), (2, 16), (3, 24), (4, 32)]
    assert got["heldout_ila"] == [(4, 0.25)]
    (step, text), = tb_config_text(logdir)
    assert step == 0 and json.loads(text.removeprefix("```json\n").removesuffix("\n```")) == CONFIG

    # the run crashed after step 4; its checkpoint is at step 2: steps 3 and 4 are redone (here only 3, then a
    # second crash), so step 4's old values, held_out_ila's too, must not show up next to the new ones
    run_session("tensorboard", tmp_path, 2, [{"step": 3, "loss": 9.0, "ila": 0.75, "generated": 99}])
    got = tb_scalars(logdir)
    assert got["loss"] == [(1, 0.1), (2, 0.2), (3, 9.0)]
    assert got["ila"] == [(1, 0.5), (2, 0.5), (3, 0.75)]
    assert got.get("heldout_ila", []) == []  # a tag not logged again is purged too (purge_step, not step order)
    assert [step for step, _ in tb_config_text(logdir)] == [0, 2]  # each session's config, at its start step


def wandb_records(path):
    """The records of a .wandb file (W&B's LevelDB-style log: a 7-byte header, 32 KiB blocks of chunks, each
    chunk crc32 / length / type); wandb 0.31 ships no Python reader, its protobuf classes parse the records."""
    from wandb.proto import wandb_internal_pb2 as pb
    data, records, pos, parts = open(path, "rb").read(), [], 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        if kind == 0:  # zero padding at the end
            break
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a record is complete
            record = pb.Record()
            record.ParseFromString(parts)
            records.append(record)
            parts = b""
    return records


def history(path):
    rows = [r.history for r in wandb_records(path) if r.WhichOneof("record_type") == "history"]
    return [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in h.item} for h in rows]


@pytest.fixture
def wandb_offline(tmp_path, monkeypatch):
    """Offline W&B with its settings, cache, data and HOME in tmp_path; yields the HOME that must stay empty."""
    pytest.importorskip("wandb")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, name in [("WANDB_DIR", "wandb_dir"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"),
                      ("WANDB_DATA_DIR", "data"), ("WANDB_ARTIFACT_DIR", "artifacts")]:
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")  # no banner in the test log
    for var in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_RUN_ID", "WANDB_RESUME"):
        monkeypatch.delenv(var, raising=False)
    yield home


def children(name):
    """Live processes of ours named `name` (Linux: /proc), to see that no wandb-core outlives finish()."""
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()  # pid (comm) state ppid ...
        except OSError:
            continue  # gone meanwhile
        comm, (state, ppid) = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()[:2]
        if int(ppid) == os.getpid() and comm.startswith(name) and state != "Z":
            found.append(stat)
    return found


def test_wandb_offline_writes_under_out_and_a_resume_continues_its_run(tmp_path, wandb_offline):
    out = tmp_path / "run"
    out.mkdir()
    run_session("wandb", out, 0, [{"step": s, "loss": 0.1 * s, "method": "hir"} for s in (1, 2, 3)])
    run_id = (out / TR.WANDB_ID).read_text().strip()
    first = glob.glob(str(out / "wandb" / "offline-run-*"))
    assert len(first) == 1 and first[0].endswith("-" + run_id)
    files = glob.glob(os.path.join(first[0], "*.wandb"))
    assert len(files) == 1
    assert [(h["_step"], h["loss"]) for h in history(files[0])] == [
        (1, pytest.approx(0.1)), (2, pytest.approx(0.2)), (3, pytest.approx(0.3))]
    assert all("method" not in h for h in history(files[0]))
    run_record, = [r.run for r in wandb_records(files[0]) if r.WhichOneof("record_type") == "run"]
    assert {u.key: json.loads(u.value_json) for u in run_record.config.update}["lr"] == CONFIG["lr"]
    if sys.platform == "linux":
        assert children("wandb-core") == []

    run_session("wandb", out, 2, [{"step": 3, "loss": 9.0}])  # resumed from the checkpoint at step 2
    assert (out / TR.WANDB_ID).read_text().strip() == run_id
    second = sorted(set(glob.glob(str(out / "wandb" / "offline-run-*"))) - set(first))
    assert len(second) == 1 and re.search(rf"-{run_id}(-\d+)?$", second[0])
    resumed, = glob.glob(os.path.join(second[0], "*.wandb"))
    assert [r.run.run_id for r in wandb_records(resumed) if r.WhichOneof("record_type") == "run"] == [run_id]
    assert [(h["_step"], h["loss"]) for h in history(resumed)] == [(3, 9.0)]
    assert not os.path.exists(out / (TR.WANDB_ID + ".tmp"))
    assert list(wandb_offline.iterdir()) == []  # nothing in $HOME


def test_a_session_continues_its_wandb_run_only_from_a_checkpoint(tmp_path, wandb_offline, monkeypatch):
    """Which W&B run each session logs to: init's arguments, seen through a stand-in for wandb.init."""
    import wandb
    calls = []

    def init(**kwargs):
        calls.append(kwargs)
        return types.SimpleNamespace(id=kwargs.get("id", f"new{len(calls)}"))
    monkeypatch.setattr(wandb, "init", init)
    fork = tmp_path / "fork"
    fork.mkdir()
    TR.open_tracker("wandb", str(tmp_path), CONFIG, 0)  # a fresh run
    TR.open_tracker("wandb", str(tmp_path), CONFIG, 5)  # resumed from its checkpoint at step 5
    TR.open_tracker("wandb", str(tmp_path), CONFIG, 0)  # started over (no checkpoint yet): a new W&B run
    TR.open_tracker("wandb", str(fork), CONFIG, 5)      # a fork holds no id file: a new W&B run
    assert [(c.get("id"), c.get("resume")) for c in calls] == [(None, None), ("new1", "allow"), (None, None),
                                                               (None, None)]
    assert (tmp_path / TR.WANDB_ID).read_text() == "new3\n" and (fork / TR.WANDB_ID).read_text() == "new4\n"
    assert calls[0]["dir"] == str(tmp_path) and calls[0]["config"] == CONFIG and calls[0]["project"] == "hir"


def test_wandb_init_errors_are_one_line(tmp_path, wandb_offline, monkeypatch):
    import wandb

    def no_key(**kwargs):
        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")
    monkeypatch.setattr(wandb, "init", no_key)
    with pytest.raises(SystemExit) as e:
        TR.open_tracker("wandb", str(tmp_path), CONFIG, 0)
    assert str(e.value) == ("error: --report_to wandb: No API key configured. Use `wandb login` to log in. "
                            "(or run offline: WANDB_MODE=offline)")
    assert not os.path.exists(tmp_path / TR.WANDB_ID)


@pytest.mark.parametrize("package", ["tensorboard", "wandb"])
@pytest.mark.parametrize("rank", [0, 1])
def test_a_missing_package_is_one_line_on_every_rank(tmp_path, monkeypatch, package, rank):
    monkeypatch.setitem(sys.modules, package, None)  # `import package` now raises ImportError
    with pytest.raises(SystemExit) as e:
        TR.open_tracker(package, str(tmp_path), CONFIG, 0, rank=rank)
    assert e.value.code == f"error: --report_to {package} needs the {package} package: pip install {package}"
    assert "\n" not in e.value.code and os.listdir(tmp_path) == []


def test_none_and_other_ranks_write_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # 'none' must not even import a tracker library
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    tracker = TR.open_tracker("none", str(tmp_path), CONFIG, 0)
    tracker.log({"step": 1, "loss": 0.5})
    tracker.finish()
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    for package in [p for p in ("tensorboard", "wandb") if importlib.util.find_spec(p)]:  # those installed
        run_session(package, tmp_path, 0, [{"step": 1, "loss": 0.5}], rank=1)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="report_to 'mlflow'"):
        TR.open_tracker("mlflow", str(tmp_path), CONFIG, 0)

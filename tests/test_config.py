"""config.py: the command-line convention, layered defaults, every flag checked, and the house rule
that train.py and eval.py both read the config from here (nothing imports train.py)."""
import ast
import pathlib

import pytest
import torch

import config as C

ROOT = pathlib.Path(__file__).resolve().parents[1]


def train_doc():
    return ast.get_docstring(ast.parse((ROOT / "train.py").read_text()))


def config_error(argv, capsys):
    """The message a bad command line exits with (validation: the exit text; argparse: stderr)."""
    with pytest.raises(SystemExit) as e:
        C.parse_config(["--model", "toy", *argv])
    assert e.value.code not in (0, None)
    own = str(e.value) if isinstance(e.value, C.UsageError) else e.value.code if isinstance(e.value.code, str) else ""
    return own + capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--lr", "-1"], "--lr -1.0: must be finite and > 0 (AdamW learning rate)"),
    (["--lr", "inf"], "--lr inf: must be finite and > 0"), (["--lr", "nan"], "--lr nan: must be finite and > 0"),
    (["--method", "ppo"], "invalid choice: 'ppo'"),
    (["--method", "grpo", "--n", "1"], "--n 1: group advantages need at least 2 samples per prompt"),
    (["--k_per_prompt", "100"], "--k_per_prompt 100.0: must be at most --n 6"),
    (["--save_total_limit", "-1"], "--save_total_limit -1: must be >= 0"),
    (["--steps", "ten"], "--steps: invalid int value: 'ten' (optimizer steps"),
    (["--nope", "1"], "unrecognized arguments: --nope"),
    (["--constraint_ids", "punctuation:no_colon"], "ids that can be sampled"),
    (["--lr"], "--lr: expected one argument"),
    (["--save_every", "0"], "--save_every 0: must be >= 1"),
    (["--max_constraints", "0"], "--max_constraints 0: must be >= 1"),
    (["--device", "tpu"], "device must be auto, cpu, cuda or cuda:N"),
    (["--model", "nosuchmodel"], "'nosuchmodel': must be toy, smollm2"),
    (["--grad_checkpointing", "maybe"], "--grad_checkpointing/--grad-checkpointing: Truthy value expected"),
    (["--eval_every", "-1"], "--eval_every -1: must be >= 0"),
    (["--min_constraints", "4"], "must be at most --max_constraints 3"),
    (["--keywords", "river,,candle"], "non-empty words"),
    (["--keywords", "keywords:nope=river"], "ID=w1 w2 with a sampled id"),
    (["--keywords", "keywords:existence=  ,river"], "ID=w1 w2 with a sampled id"),
    (["--resume", "runs/no_such_run"], "--resume runs/no_such_run: no such directory"),
    pytest.param(["--device", "cuda"], "'cuda' asked for, but this torch sees no CUDA device",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"))])
def test_bad_config_fails_fast_with_the_fields_help(argv, message, capsys):
    assert message in config_error(argv, capsys)


def test_command_line_conventions():
    cfg = C.parse_config(["--model=toy", "--debug", "--steps", "2", "--max-new-tokens=9",
                          "--grad_checkpointing", "false"])
    assert cfg.debug is True and cfg.steps == 2 and cfg.max_new_tokens == 9 and cfg.grad_checkpointing is False
    assert cfg.lr == C.TOY_PRESET["lr"] and C.parse_config(["--model", "toy", "--lr", "0.5"]).lr == 0.5
    assert C.parse_config([]).lr == 2e-6  # the preset is the toy's alone


def test_help_shows_presets_and_defaults(capsys):
    with pytest.raises(SystemExit) as e:
        C.parse_config(["--model", "toy", "--help"], usage=train_doc())
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--model toy presets: max_new_tokens=24, lr=0.01" in out
    assert "AdamW learning rate (default: 0.01)" in out and "--max_new_tokens MAX_NEW_TOKENS, --max-new-tokens" in out


@pytest.mark.parametrize("suffix", ["json", "yaml"])
def test_config_file_is_a_layer_under_the_command_line(tmp_path, suffix):
    path = tmp_path / f"run.{suffix}"
    path.write_text('{"steps": 7, "lr": 0.25}' if suffix == "json" else "steps: 7\nlr: 0.25\n")
    cfg = C.parse_config(["--model", "toy", "--config", str(path), "--lr", "0.5"])
    assert cfg.steps == 7 and cfg.lr == 0.5
    path.write_text('{"stepz": 7}' if suffix == "json" else "stepz: 7\n")
    with pytest.raises(SystemExit, match="unknown: \\['stepz'\\]"):
        C.parse_config(["--config", str(path)])


def test_nothing_imports_train():
    for path in ROOT.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names]
        names += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert "train" not in names, f"{path.name} imports train.py"


@pytest.mark.parametrize("spec, pools", [
    ("", None), ("river,garden", ["river", "garden"]),
    ("keywords:existence=river garden,keywords:forbidden_words=winter", {"keywords:existence": ["river", "garden"],
                                                                        "keywords:forbidden_words": ["winter"]}),
    ("candle,keywords:frequency=engine", {"": ["candle"], "keywords:frequency": ["engine"]})])
def test_keyword_pools_one_shared_or_one_per_id(spec, pools):
    assert C.keyword_pool(C.parse_config(["--keywords", spec])) == pools


def test_heldout_set_is_fixed_by_the_config():
    cfg = C.parse_config(["--model", "toy", "--eval_size", "5"])
    a, b = C.heldout_set(cfg), C.heldout_set(C.parse_config(["--model", "toy", "--eval_size", "5", "--seed", "3"]))
    assert [i.render() for i in a] == [i.render() for i in b] and len(a) == 5  # the training seed does not move it
    assert all({c.id for c in i.constraints} <= set(C.TOY_IDS) for i in a)


def test_malformed_yaml_is_one_line_naming_the_place(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: [1\n")
    with pytest.raises(SystemExit, match=r"--config .*bad.yaml: not valid YAML \(.* at line 2, column 1\)"):
        C.parse_config(["--model", "toy", "--config", str(path)])


def test_usage_errors_exit_2_and_refusals_exit_1_both_with_error(capsys, tmp_path):
    """One convention (README): a bad flag or value exits 2 with `error:` as argparse does; a refusal about the
    world (a missing run directory, a bad file) exits 1 with `error:`."""
    for argv in (["--lr", "-1"], ["--method", "ppo"], ["--steps", "ten"], ["--max_prompt_length", "0"],
                 ["--report_to", "mlflow"], ["--threads", "-1"]):
        with pytest.raises(SystemExit) as e:
            C.parse_config(["--model", "toy", *argv])
        message = str(e.value) if isinstance(e.value, C.UsageError) else capsys.readouterr().err  # argparse prints
        assert e.value.code == 2 and message.startswith("error: "), argv
    for argv in (["--resume", str(tmp_path / "nope")], ["--config", str(tmp_path / "nope.json")]):
        with pytest.raises(SystemExit) as e:
            C.parse_config(argv)
        assert str(e.value.code).startswith("error: "), argv  # a string code: printed, exit status 1


def test_help_reads_right_for_negated_flags_and_empty_defaults(capsys):
    with pytest.raises(SystemExit):
        C.parse_config(["--help"], usage=train_doc())
    out = " ".join(capsys.readouterr().out.split())
    assert "--no_topup, --no-topup the same as --topup false" in out
    assert "--no_share_prompts, --no-share-prompts the same as --share_prompts false" in out
    assert "(default: )" not in out and "--max_prompt_length" in out and "(default: 2048)" in out


def test_train_py_prints_a_usage_error_once_and_exits_2(tmp_path):
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "train.py", "--model", "toy", "--lr", "-1", "--out", str(tmp_path / "o")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.count("error: bad config value --lr -1.0") == 1


@pytest.mark.parametrize("name", ["release", "grpo"])
def test_the_release_configs_hold_the_documented_values_each_with_its_source(name):
    """configs/release.yaml equals docs/training.md's table of the released values (flag by flag, parsed the way
    train.py parses it); every line of both files names its source in a comment."""
    import re
    text = (ROOT / "configs" / f"{name}.yaml").read_text()
    keys = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert keys and all(re.match(r"^\w+: \S+ +# \S", line) for line in keys), "a value without its source"
    cfg = C.parse_config(["--config", str(ROOT / "configs" / f"{name}.yaml"), "--device", "cpu"])
    if name == "grpo":
        assert (cfg.method, cfg.n, cfg.adv, cfg.kl_in_reward) == ("grpo", 8, "grpo", 0.0)
        return
    docs = (ROOT / "docs" / "training.md").read_text()
    table = docs.split("<!-- release-table -->")[1].split("<!-- /release-table -->")[0]
    documented = dict(re.findall(r"^\| `--(\w+)` \| `([^`]+)` \|", table, re.M))
    assert len(documented) == len(keys) >= 25
    for field, value in documented.items():
        want = C.parse_config(["--device", "cpu", f"--{field}", value]).__dict__[field]
        assert getattr(cfg, field) == want, field

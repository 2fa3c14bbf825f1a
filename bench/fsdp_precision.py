"""FSDP2's two precision choices on the CPU, against float64: fp32 weights gathered in fp32 under bf16 autocast (what
--fsdp does: the one-process contract) and MixedPrecisionPolicy(param_dtype=bf16) (bf16 gathers, norms and
embeddings in bf16 too). Token log-probs of sampled responses on the toy, its final norm sharpened x10 so that bf16
rounding shows (as tests/test_gpu.py does).

    torchrun --standalone --nproc_per_node 1 bench/fsdp_precision.py      # about 15 s on the CPU
"""
import copy
import os
import sys

import torch
import torch.distributed as dist
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard, register_fsdp_forward_method

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import models as M  # noqa: E402
import rollout as R  # noqa: E402
from plumbing import distributed  # noqa: E402


def sharded(model, mp=None):
    model = copy.deepcopy(model)
    for layer in model.model.layers:
        fully_shard(layer, **({"mp_policy": mp} if mp else {}))
    fully_shard(model, **({"mp_policy": mp} if mp else {}))
    model.hir_score = R.token_logprobs.__get__(model)
    register_fsdp_forward_method(model, "hir_score")
    return model


dist.init_process_group("gloo")
torch.manual_seed(0)
model, tok = M.load_model("toy")
with torch.no_grad():
    model.model.norm.weight.mul_(10)
batch = R.sample(model, tok, ["Write a poem about the ocean.", "Say hi.", "Explain sleep."], n=4, max_new_tokens=24,
                 seed=3)
args = (batch.input_ids, batch.attention_mask, batch.position_ids, batch.response_mask)
keep = batch.response_mask.bool()
with torch.no_grad():
    exact = R.token_logprobs(copy.deepcopy(model).double(), *args, share_prompts=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast = sharded(model).hir_score(*args, share_prompts=False)
    policy = sharded(model, MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32))
    bf16 = policy.hir_score(*args, share_prompts=False)
for name, got in (("fp32 gathers under bf16 autocast (--fsdp)", autocast), ("MixedPrecisionPolicy(bf16)", bf16)):
    d = (got.double() - exact)[keep].abs()
    print(f"{name:45s} |log-prob - float64|: max {d.max():.4f}, mean {d.mean():.4f} over {int(keep.sum())} tokens")
print(f"{'between the two':45s} max {(autocast.double() - bf16.double())[keep].abs().max():.4f}")
distributed.finish()  # not a bare destroy: FSDP2 keeps gloo's threads alive (plumbing/distributed.py)

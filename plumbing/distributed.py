"""Several processes, one training step: what `torchrun` adds to train.py, as a few functions.

    torchrun --nproc_per_node 2 train.py --model toy --out runs/toy_ddp     # 2 CPU processes (gloo)
    torchrun --nproc_per_node 8 train.py                                     # 8 GPUs (nccl)

Data parallel, the way DDP is, but with the all-reduce written out (one call per optimizer step):
  * each rank samples, verifies and replays its own share of the step's prompts, so a group never
    crosses ranks and group advantages stay local;
  * replay selection is global, as released: every rank's candidate scores are gathered and the
    top k * B are chosen over all of them (`gather_in_global_order`, for replay.py), where selecting
    k * B / N per rank would let one rank's weaker candidates in while another's better ones wait;
  * the loss of each rank is normalized by the GLOBAL token count, and gradients are summed across
    ranks (`sum_gradients`), so the update is the single-process update on the union batch;
  * logs are global sums and means; rank 0 alone writes metrics, curves and checkpoints.
Why not the DDP wrapper: ranks hold different numbers of replays, hence of micro-batches, and DDP's
per-backward all-reduce would need equal counts (and `no_sync` for accumulation); one explicit sum
after accumulation is the same arithmetic. Without torchrun every function here is a no-op.
"""
import os
import sys

import torch
import torch.distributed as dist


def init():
    """Join the process group torchrun described in the environment, if any (even of one process, so
    that `torchrun --nproc_per_node 1` runs every collective: the NCCL path on one GPU). Returns (rank, world)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:  # plain `python train.py`
        return 0, 1
    if not dist.is_initialized():
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def rank():
    return dist.get_rank() if dist.is_initialized() else 0


def world():
    return dist.get_world_size() if dist.is_initialized() else 1


def local_device(device):
    """cuda -> this rank's GPU (cuda:LOCAL_RANK) under torchrun; anything else unchanged."""
    return f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if device == "cuda" and dist.is_initialized() else device


def sum_all(x):
    """A tensor (or number) summed over ranks, returned on every rank."""
    if not dist.is_initialized():
        return x
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces GPU tensors only
    # float64 on every rank, whatever dtype this rank's tensor has (an empty selection's sum can come out in another
    # dtype than a full one's, and ranks whose buffers differ in size fail the collective)
    t = x.to(torch.float64, copy=True) if torch.is_tensor(x) else torch.tensor(float(x), dtype=torch.float64,
                                                                              device=device)
    dist.all_reduce(t)
    return t.to(x.dtype) if torch.is_tensor(x) else type(x)(t.item())


def max_all(x):
    """A number's largest value over ranks, on every rank (FSDP: how many calls every rank must make)."""
    if not dist.is_initialized():
        return x
    t = torch.tensor(float(x), dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return type(x)(t.item())


def gather(x):
    """(n_r, ...) tensors of every rank, concatenated in rank order on every rank (n_r may differ)."""
    if not dist.is_initialized():
        return x
    sizes = [None] * world()
    dist.all_gather_object(sizes, x.shape[0])
    padded = torch.zeros((max(sizes),) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)
    padded[:x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(world())]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


def gather_in_global_order(tensors, rounds, n_local, first):
    """Every rank's rows of `tensors` (each (rows,), rows ordered (round, prompt, sample), round r
    holding rounds[r] samples per prompt), gathered in the order ONE process holding all the step's
    prompts would have them, so a selection over them does not depend on the number of ranks.
    `first` is the global index of this rank's first prompt. Returns (gathered tensors, to_local),
    to_local mapping indices into the gathered rows to this rank's own rows (sorted).
    The key of local row (round r, prompt i, sample j) is its single-process index:
    sum of B * rounds[:r] + (first + i) * rounds[r] + j, with B the step's prompts over all ranks."""
    device = tensors[0].device
    n_prompts = sum_all(n_local)
    keys, base = [], 0
    for m in rounds:
        keys.append(base + first * m + torch.arange(n_local * m, device=device))
        base += n_prompts * m
    keys = torch.cat(keys)                                                  # (rows,)
    all_keys, order = gather(keys).sort()
    gathered = [gather(t)[order] for t in tensors]
    local = {key: row for row, key in enumerate(keys.tolist())}

    def to_local(picked):
        return sorted(local[k] for k in all_keys[list(picked)].tolist() if k in local) if len(picked) else []
    return gathered, to_local


def gather_objects(obj):
    """A list holding every rank's `obj`, in rank order."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out


def broadcast(obj):
    """Rank 0's `obj` on every rank."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sum_gradients(params):
    """Sum every gradient over ranks: each rank's loss was divided by the global normalizer, so the
    sum is the gradient of the whole step's loss. (DDP averages; our losses already are shares.)"""
    if dist.is_initialized():
        for p in params:
            if p.grad is None:  # a rank with no rows in this mini-batch still joins every all-reduce
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)


def on_rank0(fn):
    """fn() run by rank 0 alone (file writes), its result given to every rank; a SystemExit on rank 0
    (a refused --out, say) ends every rank with the same message instead of leaving them waiting."""
    result = None
    if rank() == 0:
        try:
            result = ("ok", fn())
        except SystemExit as e:
            result = ("exit", e.code)
    kind, value = broadcast(result)
    if kind == "exit":
        raise SystemExit(value)
    return value


def barrier():
    if dist.is_initialized():
        dist.barrier()


def finish():
    """The end of a finished run under torchrun: every rank waits for the others (rank 0's last files included),
    the group is destroyed, and the process leaves at once with status 0. Why not return: with FSDP2, DTensor's
    caches keep the gloo group and its worker threads alive past destroy_process_group (measured: both runloop
    threads and the socket loop still run), into interpreter shutdown, where a C++ thread that must take the GIL
    aborts the process ('terminate called without an active exception', once in CI, after a run's last checkpoint)
    and torchrun reports the finished run as failed. Every file the run writes is closed before this call."""
    if not dist.is_initialized():
        return
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

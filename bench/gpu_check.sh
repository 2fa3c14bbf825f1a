#!/usr/bin/env bash
# The one-GPU check: GPU tests, then 20 real training steps per method and the IFEval eval on SmolLM2.
#   bash bench/gpu_check.sh tests      # the GPU tests and the NCCL paths (torchrun, one process; DDP and --fsdp)
#   bash bench/gpu_check.sh smollm2    # 20 steps each of HiR and GRPO on SmolLM2 (each phase's peak memory beside
#                                      # the plan: bench/plan_vs_peak.py), the IFEval eval, rollout speed
#   bash bench/gpu_check.sh lora       # 20 LoRA steps on SmolLM2, with torch.cuda.max_memory_reserved (needs peft)
# Estimated (not yet run on a GPU) at about 9 minutes of GPU time for runs 1 and 2 (1, then 7 to 8), and up to 4
# for the lora run. Every command has its own time limit (run 1: 4 min, run 2: 590 s at most), so a slow part is
# cut and reported.
# Logs are written to $OUT if set, else runs/gpu_check.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${OUT:-runs/gpu_check}
work=${GPU_CHECK_DIR:-/tmp/gpu_check}
mkdir -p "$logs" "$work"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

summary() {  # mean seconds per step and their breakdown, from a run's metrics.jsonl
  python - "$1" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl")]
mean = lambda k: sum(r[k] for r in rows) / len(rows)
parts = ["rollout", "verify", "replay", "update"]
total = sum(mean("time_" + p) for p in parts)
print(f"{sys.argv[1]}: {len(rows)} steps, {total:.2f} s per step ("
      + ", ".join(f"{p} {mean('time_' + p):.2f}" for p in parts)
      + f"), {mean('tokens_per_s'):.0f} sampled tok/s; "
      + f"train ILA first/last {rows[0]['ila']:.3f}/{rows[-1]['ila']:.3f}; held-out ILA "
      + ", ".join(f"step {r['step']}: {r['heldout_ila']:.3f}" for r in rows if "heldout_ila" in r))
EOF
}

# CHECK_TRAIN / CHECK_EVAL: extra flags (later flags win), e.g. a CPU dry run of the script itself:
#   CHECK_TRAIN="--model toy --steps 2 --eval_every 1" CHECK_EVAL="--model toy --limit 4 --max-new-tokens 8" \
#     bash bench/gpu_check.sh smollm2
case "${1:-}" in
tests)
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python -c "import torch, transformers as t; print('torch', torch.__version__, '| transformers', t.__version__, \
'| cuda', torch.cuda.is_available())"
  timeout 180 python -m pytest -q tests/test_gpu.py > "$logs/gpu_tests.log" 2>&1
  echo "GPU tests: exit $?"; tail -25 "$logs/gpu_tests.log"
  # the NCCL path: torchrun with one process joins a process group and runs every collective
  timeout 60 torchrun --standalone --nproc_per_node 1 train.py --model toy --steps 2 --eval_every 2 --eval_size 8 \
    --out "$work/ddp1" > "$logs/ddp1.log" 2>&1
  echo "torchrun, 1 process (nccl on a GPU): exit $?"; tr '\r' '\n' < "$logs/ddp1.log" | grep "^\[hir\]" | tail -3
  # FSDP2 with one rank: every collective of the sharded path on NCCL, each phase's peak memory beside the plan
  timeout 90 torchrun --standalone --nproc_per_node 1 train.py --fsdp --model toy --steps 2 --eval_every 2 \
    --eval_size 8 --out "$work/fsdp1" --overwrite > "$logs/fsdp1.log" 2>&1
  echo "torchrun --fsdp, 1 process (nccl): exit $?"; tr '\r' '\n' < "$logs/fsdp1.log" | grep "^\[hir\]" | tail -3
  python bench/plan_vs_peak.py "$work/fsdp1"
  ;;
smollm2)
  for method in hir grpo; do
    start=$(date +%s)
    timeout 130 python train.py --method "$method" --steps 20 --eval_every 10 --engine fast --out "$work/$method" \
      ${CHECK_TRAIN:-} > "$logs/train_$method.log" 2>&1
    echo "train $method: exit $?, $(( $(date +%s) - start )) s wall"
    tr '\r' '\n' < "$logs/train_$method.log" | grep -v "it/s]$" | grep . | tail -4
    summary "$work/$method" | tee -a "$logs/summary.txt"
    python bench/plan_vs_peak.py "$work/$method" | tee -a "$logs/summary.txt"  # each phase's peak beside the plan
  done
  start=$(date +%s)
  timeout 110 python eval.py --model smollm2 --data ../shared/ifeval/input_data.jsonl --max-new-tokens 1024 \
    --engine fast --out "$work/eval" ${CHECK_EVAL:-} > "$logs/eval.log" 2>&1
  echo "eval: exit $?, $(( $(date +%s) - start )) s wall (IFEval prompts, 1024 new tokens)" | tee -a "$logs/summary.txt"
  tr '\r' '\n' < "$logs/eval.log" | grep -v "it/s]$" | grep -v "^  " | grep . | tail -8
  # rollout speed, side by side in one process each: forced length on the SmolLM2 shape, then the
  # real workload (real weights, IFEval prompts, EOS on): HF generate, our hf loop, fast with and without compaction
  timeout 40 python bench/rollout_speed.py --profile --model smollm2-shape --device cuda --dtype bf16 --batch 48 \
    --prompt-len 128 --new 256 2>&1 | tee -a "$logs/summary.txt" | tail -22
  timeout 80 python bench/rollout_speed.py --model smollm2-shape --device cuda --dtype bf16 --batch 48 384 \
    --prompt-len 128 --new 256 --engines generate fast 2>&1 | tee -a "$logs/summary.txt" | tail -5
  timeout 100 python bench/rollout_speed.py --real --model ${CHECK_ROLLOUT_MODEL:-smollm2} --device cuda --dtype bf16 \
    --batch 48 384 --new 256 --engines generate hf fast 2>&1 | tee -a "$logs/summary.txt" | tail -3
  ;;
lora)  # LoRA on SmolLM2 (rank 32, an lr 10x the full default: docs/training.md), with the GPU memory it held at peak
  python -c "import peft" 2>/dev/null || { echo "lora: peft is not installed here (pip install peft==0.21.2)"; exit 1; }
  start=$(date +%s)
  timeout 200 python -c "import sys, torch, train; train.main(sys.argv[1:]); \
print(f'[hir] torch.cuda.max_memory_reserved {torch.cuda.max_memory_reserved() / 2**30:.2f} GiB')" \
    --lora_rank 32 --lr 2e-5 --steps 20 --eval_every 10 --engine fast --out "$work/lora" --overwrite ${CHECK_TRAIN:-} \
    > "$logs/train_lora.log" 2>&1
  echo "train lora: exit $?, $(( $(date +%s) - start )) s wall"
  tr '\r' '\n' < "$logs/train_lora.log" | grep "^\[hir\]" | tail -5
  summary "$work/lora" | tee -a "$logs/summary.txt"
  python bench/plan_vs_peak.py "$work/lora" | tee -a "$logs/summary.txt"
  ;;
*)
  echo "usage: bash bench/gpu_check.sh tests|smollm2|lora (see the top of this file)"; exit 2 ;;
esac

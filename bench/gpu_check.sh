#!/usr/bin/env bash
# The one-GPU check: GPU tests, then 20 real training steps per method and the IFEval eval on SmolLM2.
# Two device runs back to back on one warm machine (../shared/device/README.md: the GGUF travels in halves):
# rollout speed (issue #13), side bash ../shared/device/prepare.sh                     # here, once
# rollout speed (issue #13), side run 1, carry .dev/kit .dev/w1:  source .dev/kit/bin/stash.sh && bash bench/gpu_check.sh tests
# rollout speed (issue #13), side run 2, carry .dev/kit .dev/w2:  source .dev/kit/bin/join.sh && bash bench/gpu_check.sh smollm2
# Estimated (not yet run on a GPU) at about 9 minutes of GPU time in all: 1 for run 1, 7 to 8 for run 2. Every
# command has its own time limit (run 1: 4 min, run 2: 590 s at most), so a slow part is cut and reported.
# Logs are written to $OUT (the device tool brings it back) or runs/gpu_check.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${OUT:-runs/gpu_check}
work=${GPU_CHECK_DIR:-/tmp/gpu_check}
mkdir -p "$logs" "$work"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false

summary() { rollout speed (issue #13), side# mean seconds per step and their breakdown, from a run's metrics.jsonl
 rollout speed (issue #13), sidepython - "$1" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl")]
mean = lambda k: sum(r[k] for r in rows) / len(rows)
parts = ["rollout", "verify", "replay", "update"]
total = sum(mean("time_" + p) for p in parts)
print(f"{sys.argv[1]}: {len(rows)} steps, {total:.2f} s per step (" + ", ".join(f"{p} {mean('time_' + p):.2f}" for p in parts)
 rollout speed (issue #13), side    + f"), {mean('tokens_per_s'):.0f} sampled tok/s; train ILA first/last {rows[0]['ila']:.3f}/{rows[-1]['ila']:.3f}; "
 rollout speed (issue #13), side    + "held-out ILA " + ", ".join(f"step {r['step']}: {r['heldout_ila']:.3f}" for r in rows if "heldout_ila" in r))
EOF
}

# CHECK_TRAIN / CHECK_EVAL: extra flags (later flags win), e.g. a CPU dry run of the script itself:
# rollout speed (issue #13), side CHECK_TRAIN="--model toy --steps 2 --eval_every 1" CHECK_EVAL="--model toy --limit 4 --max-new-tokens 8" bash bench/gpu_check.sh smollm2
case "${1:-}" in
tests)
 rollout speed (issue #13), sidenvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
 rollout speed (issue #13), sidepython -c "import torch, transformers; print('torch', torch.__version__, '| transformers', transformers.__version__, '| cuda', torch.cuda.is_available())"
 rollout speed (issue #13), sidetimeout 180 python -m pytest -q tests/test_gpu.py > "$logs/gpu_tests.log" 2>&1
 rollout speed (issue #13), sideecho "GPU tests: exit $?"; tail -25 "$logs/gpu_tests.log"
 rollout speed (issue #13), side# the NCCL path: torchrun with one process joins a process group and runs every collective
 rollout speed (issue #13), sidetimeout 60 torchrun --standalone --nproc_per_node 1 train.py --model toy --steps 2 --eval_every 2 --eval_size 8 \
 rollout speed (issue #13), side  --out "$work/ddp1" > "$logs/ddp1.log" 2>&1
 rollout speed (issue #13), sideecho "torchrun, 1 process (nccl on a GPU): exit $?"; tr '\r' '\n' < "$logs/ddp1.log" | grep "^\[hir\]" | tail -3
 rollout speed (issue #13), side;;
smollm2)
 rollout speed (issue #13), sidefor method in hir grpo; do
 rollout speed (issue #13), side  start=$(date +%s)
 rollout speed (issue #13), side  timeout 130 python train.py --method "$method" --steps 20 --eval_every 10 --engine fast --out "$work/$method" \
 rollout speed (issue #13), side    ${CHECK_TRAIN:-} > "$logs/train_$method.log" 2>&1
 rollout speed (issue #13), side  echo "train $method: exit $?, $(( $(date +%s) - start )) s wall"
 rollout speed (issue #13), side  tr '\r' '\n' < "$logs/train_$method.log" | grep -v "it/s]$" | grep . | tail -4
 rollout speed (issue #13), side  summary "$work/$method" | tee -a "$logs/summary.txt"
 rollout speed (issue #13), sidedone
 rollout speed (issue #13), sidestart=$(date +%s)
 rollout speed (issue #13), sidetimeout 110 python eval.py --model smollm2 --data ../shared/ifeval/input_data.jsonl --max-new-tokens 1024 \
 rollout speed (issue #13), side  --engine fast --out "$work/eval" ${CHECK_EVAL:-} > "$logs/eval.log" 2>&1
 rollout speed (issue #13), sideecho "eval: exit $?, $(( $(date +%s) - start )) s wall (IFEval prompts, 1024 new tokens)" | tee -a "$logs/summary.txt"
 rollout speed (issue #13), sidetr '\r' '\n' < "$logs/eval.log" | grep -v "it/s]$" | grep -v "^  " | grep . | tail -8
 rollout speed (issue #13), side# rollout speed (issue #13), side by side in one process each: forced length on the SmolLM2 shape, then the
 rollout speed (issue #13), side# real workload (real weights, IFEval prompts, EOS on): HF generate, our hf loop, fast with and without compaction
 rollout speed (issue #13), sidetimeout 40 python bench/rollout_speed.py --profile --model smollm2-shape --device cuda --dtype bf16 --batch 48 \
 rollout speed (issue #13), side  --prompt-len 128 --new 256 2>&1 | tee -a "$logs/summary.txt" | tail -22
 rollout speed (issue #13), sidetimeout 80 python bench/rollout_speed.py --model smollm2-shape --device cuda --dtype bf16 --batch 48 384 --prompt-len 128 \
 rollout speed (issue #13), side  --new 256 --engines generate fast 2>&1 | tee -a "$logs/summary.txt" | tail -5
 rollout speed (issue #13), sidetimeout 100 python bench/rollout_speed.py --real --model ${CHECK_ROLLOUT_MODEL:-smollm2} --device cuda --dtype bf16 \
 rollout speed (issue #13), side  --batch 48 384 --new 256 --engines generate hf fast 2>&1 | tee -a "$logs/summary.txt" | tail -3
 rollout speed (issue #13), side;;
*)
 rollout speed (issue #13), sideecho "usage: bash bench/gpu_check.sh tests|smollm2 (see the top of this file)"; exit 2 ;;
esac

#!/usr/bin/env bash
# What makes hindsight replay help? HiR's four targeted ablations, swept and studied on the testbed (docs/testbed.md).
#   nohup bash bench/ablation_study.sh runs/se5 > runs/se5.log 2>&1 &      # CPU, 2 jobs; about 2.5 h (testbed.md)
#   STAGE5=1 nohup bash bench/ablation_study.sh runs/se5 > runs/se5.log 2>&1 &   # and stage 5: about 1 h more
# Each stage is one bench/sample_efficiency.py command (a finished run with the same flags is reused, so the script
# resumes where it stopped); the stages, in the order that answers the most first:
#   1. the easy regime's lr sweep for hir and its four one-flag ablations (seeds 0 1, 10,240 responses, 256 held-out)
#   2. the hard regime's lr sweep for the release's pair (grpo_rpp, hir_rpp)
#   3. the best combination: the ablations whose best sweep score beat hir's, together, swept the same way
#   4. the study (seeds 0-4, 15,360 responses, 625 held-out): grpo, hir and the variants on easy, then grpo, hir and
#      the two suspects that moved the sweep (hir_obase, hir_notrunc) on hard
#   5. the hard regime's own lrs for grpo, hir and grpo_rpp (its best was the sweep's edge, 1e-3), then every arm on
#      both regimes, grpo_cla and the release's pair added (an arm without a hard sweep takes its easy lr)
# Lrs start from bench/results/sweep.json (the earlier sweep of the other arms) and every stage adds to DIR/sweep.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/se5}
mkdir -p "$out"
[ -f "$out/sweep.json" ] || cp bench/results/sweep.json "$out/sweep.json"
se() { echo "== $(date -u +%H:%M:%S) python bench/sample_efficiency.py $*"; /usr/bin/time -f "wall %e s" \
       python bench/sample_efficiency.py "$@" --out "$out"; }
SWEEP=(--sweep --eval_size 256 --responses 10240)
se "${SWEEP[@]}" --regimes easy --arms hir hir_obase hir_notrunc hir_qprime hir_notopup
se "${SWEEP[@]}" --regimes hard --arms grpo_rpp hir_rpp
combo=$(python - "$out/sweep.json" <<'EOF'
import json, sys
score = json.load(open(sys.argv[1]))["score"]["easy"]
best = {arm: max(by.values()) for arm, by in score.items()}
keep = [a for a in ("obase", "notrunc", "qprime", "notopup") if best.get("hir_" + a, 0) > best["hir"]]
print("hir_" + "_".join(keep) if len(keep) > 1 else "")
EOF
)
variants=(hir_obase hir_notrunc hir_qprime hir_notopup)
if [ -n "$combo" ]; then
    se "${SWEEP[@]}" --regimes easy --arms "$combo"
    variants+=("$combo")
fi
echo "== the best combination: ${combo:-none (fewer than two ablations beat hir in the sweep)}"
se --regimes easy --arms grpo hir "${variants[@]}"
se --regimes hard --arms grpo hir hir_obase hir_notrunc
if [ "${STAGE5:-0}" = 1 ]; then
    se "${SWEEP[@]}" --regimes hard --arms grpo hir
    se "${SWEEP[@]}" --regimes hard --arms grpo_rpp --lrs 3e-3
    se --regimes easy hard --arms grpo grpo_cla hir hir_rpp grpo_rpp "${variants[@]}"
fi

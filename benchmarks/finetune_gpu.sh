#!/usr/bin/env bash
# The fine-tuning benchmark in bf16 on a GPU machine, as one prepared script (benchmarks/README.md says how it is
# sent). That machine has its own torch and no network: the wheels of the pinned transformers/peft/trl/datasets
# travel in .whl/, and the base's config, tokenizer and the demo's SFT data in .gpu/ (the 98 MB GGUF cannot travel,
# so the models are random weights of the upcycled base's and the dense source's exact shapes). tests/gpu and eight
# systems of 32 steps should fit one 10-minute device call (eight of 16 steps took 5.9 minutes on an H200, four of 40
# 3.5). Eight warm-up steps: veritune's top-2 row took 1.6-2.4 s on steps 2, 3, 6 and 8 in both runs of 2026-11-30
# (about 0.4 s after), so five warm-up steps left two of them in an 11-step timing window.
# SHAPE=<folder under benchmarks/shapes> instead runs veritune against TRL's best at a real MoE's shapes (random
# weights; the SmolLM2 tokenizer, whose ids all fit the larger vocabulary), routed as that config says, without
# tests/gpu, the top-1 view or TRL's eager experts (a Python loop over 128 experts), and writes
# results/finetune_gpu_<SHAPE>.json.
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 VERITUNE_THREADS="${VERITUNE_THREADS:-8}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
if [ -n "${SHAPE:-}" ]; then
  shape=/tmp/shape-"$SHAPE"
  mkdir -p "$shape"
  cp "benchmarks/shapes/$SHAPE/config.json" .gpu/smollm2-moe/{tokenizer.json,tokenizer_config.json,chat_template.jinja} \
    "$shape/"
  top_k=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['num_experts_per_tok'])" "$shape/config.json")
  python3 benchmarks/finetune_bench.py --synthetic "$shape" --top-k "$top_k" --data .gpu/sft_train.jsonl --allow-raw \
    --steps "${STEPS:-24}" --warmup "${WARMUP:-8}" --seq-len "${SEQ_LEN:-2048}" --batch "${BATCH:-4}" \
    --systems veritune trl_best_grouped_mm veritune_checkpointing trl_default_checkpointing dense_floor \
    --write "finetune_gpu_$SHAPE" 2>&1 | grep -v -E "Loading weights|FutureWarning|warnings.warn" \
    | tee "$OUT/finetune_gpu_$SHAPE.log"
  cp "benchmarks/results/finetune_gpu_$SHAPE.json" "$OUT/"
  exit 0
fi
python3 -c "import torch, transformers, peft, trl; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__)"
# the answer and training paths on the GPU first (tests/gpu: model on the GPU, tensors following it, masked SDPA in
# training); a failure there is reported at the end and does not stop the benchmark
tests_rc=0
python3 -m pytest -q -p no:cacheprovider tests/gpu 2>&1 | tee "$OUT/gpu_tests.log" || tests_rc=$?
python3 benchmarks/finetune_bench.py --synthetic .gpu/smollm2-moe --data .gpu/sft_train.jsonl --allow-raw \
  --steps "${STEPS:-32}" --warmup "${WARMUP:-8}" --seq-len "${SEQ_LEN:-2048}" --batch "${BATCH:-4}" 2>&1 \
  | grep -v -E "Loading weights|FutureWarning|warnings.warn" | tee "$OUT/finetune_gpu.log"
cp benchmarks/results/finetune_gpu.json "$OUT/"
exit "$tests_rc"

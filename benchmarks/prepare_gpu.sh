#!/usr/bin/env bash
# Prepares, on this machine, what benchmarks/finetune_gpu.sh needs on a GPU machine that has no network: the pinned
# wheels in .whl/ (Python 3.12, manylinux; the GPU image brings its own torch) and, in .gpu/, the upcycled base's
# config and tokenizer (the 98 MB GGUF does not travel: the benchmark builds random weights of these shapes) and the
# demo's desensitized medical SFT data. Both folders are git-ignored; send them with the device call's `carry`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
# the versions this environment installs and tests (tests/test_benchmarks.py checks them against the installed ones);
# huggingface_hub 2.4 imports httpx2, and pydantic and the hub need newer typing_extensions, anyio and idna than some
# GPU images hold: hence the second half
WHEELS=(transformers==5.24.0 peft==0.21.2 trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
        pydantic==2.14.4 pydantic_core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 huggingface_hub==2.4.0
        tokenizers==0.23.3 httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5 anyio==4.16.0 idna==3.20 h11==0.16.0
        typing_extensions==4.16.0 click==8.5.1 regex==2026.11.19)
base=""
for candidate in runs/smollm2-moe runs/demo/base; do
  if [ -f "$candidate/config.json" ]; then base="$candidate"; break; fi
done
data=runs/demo/medical/clean/sft_train.jsonl
if [ -z "$base" ] || [ ! -f "$data" ]; then
  echo "error: needs an upcycled base (runs/smollm2-moe or runs/demo/base) and $data: run \`make demo\` first" >&2
  exit 2
fi
rm -rf .whl .gpu
"$PYTHON" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
mkdir -p .gpu/smollm2-moe
cp "$base"/{config.json,tokenizer.json,tokenizer_config.json,chat_template.jinja,generation_config.json} .gpu/smollm2-moe/
cp "$data" .gpu/
echo "ready: .whl/ ($(ls .whl | wc -l) wheels) and .gpu/ (shapes of $base); on the GPU machine, from the repo root:"
echo "  OUT=/tmp/out benchmarks/finetune_gpu.sh          (carry .whl and .gpu)"
echo "  SHAPE=qwen3-30b-a3b-12-layers OUT=/tmp/out benchmarks/finetune_gpu.sh"

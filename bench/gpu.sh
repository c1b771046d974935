#!/usr/bin/env bash
# The engine's GPU checks and benchmark in one go, for a machine with a CUDA GPU and torch (+ Triton):
#   bash bench/gpu.sh [OUT_DIR]
# 1. the GPU parity tests (Triton LSTM loops vs the Python twins; the engine vs torch.nn/cuDNN),
# 2. the full engine grid against cuDNN (python -m bench.engine --all --device cuda), table into OUT_DIR.
set -u
out=${1:-${OUT:-bench/results}}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
python3 -m pytest -q -p no:cacheprovider tests/parity/test_gpu.py 2>&1 | tail -20 | tee "$out/gpu_tests.txt"
python3 -m bench.engine --all --device cuda --reps 10 2>&1 | tee "$out/engine_cuda.md"

#!/usr/bin/env bash
# The GPU check (issue 7), one command on a machine with an NVIDIA GPU, nvcc and PyTorch:
#   bench/gpu.sh            results under $OUT (default bench/out/gpu)
#   KCC_GPU_TESTS="conv or gemm" KCC_GPU_WORKLOADS=W4 bench/gpu.sh    a subset, for a re-check
#   KCC_GPU_PROFILE=1 bench/gpu.sh   also: where kcc's GPU time goes, per kernel (about 1 more
#                                    minute; bench/gpu_profile.py, tables in $OUT/profile_W*.txt)
#   KCC_GPU_TESTS=none KCC_GPU_WORKLOADS=W2,W3 KCC_CUDA_FUSED_RNN=0 bench/gpu.sh
#                            the benchmark alone, here with an option off (README: CUDA), to
#                            measure what it gains against a run with it on
#   KCC_GPU_TESTS=none KCC_GPU_WORKLOADS=none \
#   KCC_GPU_ABLATE="W3,W4:KCC_STACK_SHARED=0 W2,W3:KCC_CUDA_RNN_REGISTERS=0" bench/gpu.sh
#                            kcc alone, train_b32, once per entry with that option set
#                            ($OUT/ablate_<option>.jsonl; about 1 minute an entry, mostly nvcc),
#                            to set against a run with every option on
# 1. installs kcc (wheels the machine lacks may be carried in .whl/),
# 2. runs the CUDA tests (tests/cuda: every case's CUDA unit against the CPU unit),
# 3. runs the GPU benchmark: kcc device='cuda' against PyTorch CUDA eager, same run.
# Ends within 8 minutes (KCC_GPU_BUDGET_S, default 470 s from the start): each step has its
# own time limit, cut to what is left of the budget, so one hang cannot eat the others and
# a slow machine loses the last steps, not the whole run.
#
# On the lent H200 machine (no network; its python3 has torch, pybind11, scikit-build-core,
# ninja, jinja2, safetensors but not scipy-openblas32), carry the missing wheel and a clean
# tree of HEAD (the device's copy of .git is the session's first commit, so `git stash`
# there reverts to it):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 -d .whl scipy-openblas32==<installed version>
#   rm -rf .clean && mkdir .clean && git archive HEAD | tar -x -C .clean && cp -r .whl .clean/
#   (both folders in .git/info/exclude), then run: cd .clean && OUT=$OUT bash bench/gpu.sh
#   with carry=[".clean"].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
export KCC_CACHE_DIR=${KCC_CACHE_DIR:-$(mktemp -d /tmp/kcc-gpu-cache-XXXX)}
PY=${PYTHON:-python3}
t0=$SECONDS
say() { echo "[gpu.sh +$((SECONDS - t0))s] $*" | tee -a "$OUT/steps.log"; }
BUDGET=${KCC_GPU_BUDGET_S:-470}
# limit CAP: CAP seconds, or what is left of the budget if less (at least 1)
limit() { local left=$((BUDGET - (SECONDS - t0))); [ "$left" -lt "$1" ] && echo $((left > 1 ? left : 1)) || echo "$1"; }

nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv > "$OUT/gpu.txt" 2>&1
nvcc --version | tail -1 >> "$OUT/gpu.txt" 2>&1
if compgen -G ".whl/*.whl" > /dev/null; then
    say "installing carried wheels"
    $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/kcc-site .whl/*.whl
    export PYTHONPATH=/tmp/kcc-site${PYTHONPATH:+:$PYTHONPATH}
fi
say "building kcc's runtime module (CMake, as pip install does)"
PYBIND11_DIR=$($PY -m pybind11 --cmakedir 2>/dev/null)
{ cmake -S . -B /tmp/kcc-build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE="$(command -v $PY)" \
      ${PYBIND11_DIR:+-Dpybind11_DIR=$PYBIND11_DIR} && cmake --build /tmp/kcc-build; } > "$OUT/install.log" 2>&1 \
    || { say "build failed"; tail -30 "$OUT/install.log"; exit 1; }
cp /tmp/kcc-build/_runtime*.so kcc/
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -c "import kcc, kcc._runtime, scipy_openblas32" || { say "kcc does not import"; exit 1; }
XDIST=$($PY -c "import xdist" 2>/dev/null && echo "-n 8" || echo "")
if [ "${KCC_GPU_TESTS:-}" != none ]; then
    say "CUDA tests"
    # nvcc-only checks are CI's (here every case is built for the GPU and run): skip them
    KCC_TEST_NVCC=0 timeout $(limit 300) $PY -m pytest -q $XDIST -rfs tests/cuda --ignore=tests/cuda/test_compile.py \
        ${KCC_GPU_TESTS:+-k "$KCC_GPU_TESTS"} > "$OUT/tests.log" 2>&1
    echo "pytest exit $?" >> "$OUT/tests.log"
    tail -40 "$OUT/tests.log"
fi
if [ "${KCC_GPU_WORKLOADS:-}" != none ]; then
    say "GPU benchmark"
    timeout $(limit 200) $PY bench/run.py --workloads "${KCC_GPU_WORKLOADS:-W1,W2,W3,W4}" --frameworks kcc-cuda,torch-cuda \
        --tasks train_b32,train_b256,infer_b1 --repeats 3 --timeout 120 \
        --out "$OUT/results.jsonl" > "$OUT/bench.log" 2>&1
    echo "bench exit $?" >> "$OUT/bench.log"
    tail -25 "$OUT/bench.log"
fi
for entry in ${KCC_GPU_ABLATE:-}; do   # "<workloads>:<VARIABLE>=<value>"
    workloads=${entry%%:*} option=${entry#*:}
    say "kcc on $workloads with $option"
    env "$option" timeout $(limit 150) $PY bench/run.py --workloads "$workloads" --frameworks kcc-cuda \
        --tasks train_b32 --repeats 3 --timeout 120 --out "$OUT/ablate_${option%%=*}.jsonl" \
        > "$OUT/ablate_${option%%=*}.log" 2>&1
    echo "bench exit $?" >> "$OUT/ablate_${option%%=*}.log"
    tail -6 "$OUT/ablate_${option%%=*}.log"
done
if [ "${KCC_GPU_PROFILE:-0}" = 1 ]; then
    say "GPU profile"
    timeout $(limit 120) $PY bench/gpu_profile.py --workloads "${KCC_GPU_WORKLOADS:-W2,W3,W4}" --out "$OUT" \
        > "$OUT/profile.log" 2>&1
    echo "profile exit $?" >> "$OUT/profile.log"
    tail -5 "$OUT/profile.log"
fi
say "done"

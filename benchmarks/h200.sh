#!/usr/bin/env bash
# One measuring run on a GPU machine that has JAX and PyTorch but no TensorFlow (the lent H200):
# the torch.compile ViT-B peer and our whole training steps (benchmarks/bench_step.py), in the
# same run on the same card. From the project root, after `bash ../shared/gpu/prepare.sh` (which
# lays out .gpu/whl with the keras, namex and optree wheels and copies the peer script; carry .gpu).
# The pure-Python wheels vatt-core and vatt-models need beyond that image (omegaconf, its
# antlr4-python3-runtime, lazy_loader) travel with the repository in benchmarks/wheels/
# (SHA256SUMS there; the first two from PyPI, the antlr4 one built from its sdist by `pip wheel`):
#   bash benchmarks/h200.sh          # ~9 min; writes $OUT/{env,log,peer,ours}.txt
# CPU dry run of the whole script (tiny archs and shapes, the peer's SMALL sizes, no install):
#   TINY=1 PYTHON=.venv/bin/python OUT=/tmp/h200 bash benchmarks/h200.sh
#
# The measurements below run in their order. Each has a typical duration and a limit: it runs
# under `timeout` min(limit, seconds left of BUDGET), and is skipped when fewer seconds than its
# typical duration are left, so that a failure or an overrun never stops the ones after it.
# BUDGET counts from the script's start (the wheel install included). They are in order of
# importance: the peer, vit_base with the defaults, with Keras' own dropout masks (the "before")
# and with no dropout (the peer's work), then the pretraining steps, then a profile of vit_base
# (vit_base.trace.json.gz, vit_base.hlo.txt.gz, its summary at the end of log.txt). Nine minutes
# reach about wat_base; a second call measures the rest beside the peer:
#   ONLY="peer vit_base_profile tx_fac_bbs_trainer vit_base_keras_torch" bash benchmarks/h200.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/out}
BUDGET=${BUDGET:-540}
PEAK=${PEAK_TFLOPS:-790}
TINY=${TINY:-0}    # 1: CPU dry run
PY=${PYTHON:-python3}
PEER=${PEER:-.gpu/vit_mfu.py}
[ -f "$PEER" ] || PEER=../shared/gpu/vit_mfu.py
ONLY=${ONLY:-}     # space-separated measurement names to run (default: all)
EXTRA=${EXTRA:-}   # more bench_step.py arguments for every measurement of ours
SIZES="--batch_size 64 --steps 10 --warmup 2"
if [ "$TINY" = 1 ]; then
  SIZES="--tiny --batch_size 2 --steps 1 --warmup 1"
  export SMALL=1
else
  if ! compgen -G ".gpu/whl/keras-*.whl" >/dev/null; then
    echo "h200.sh: no keras wheel in .gpu/whl; run \`bash ../shared/gpu/prepare.sh\` from the" \
      "project root first and carry .gpu" >&2
    exit 2
  fi
  for wheels in .gpu/whl benchmarks/wheels; do
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site "$wheels"/*.whl || exit 1
  done
  export PYTHONPATH=/tmp/site
fi
for package in core models losses train; do
  PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/packages/vatt-$package/src
done
export PYTHONPATH PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
if ! error=$("$PY" -c "import vatt.core, vatt.models.flops, vatt.losses, vatt.train.jax_step" 2>&1); then
  echo "h200.sh: ${error##*$'\n'}; add the wheel of that pure-Python dependency to" \
    "benchmarks/wheels (pip download --no-deps --only-binary=:all: --python-version 3.12)" >&2
  exit 2
fi
mkdir -p "$OUT"
log=$OUT/log.txt
: >"$log"
: >"$OUT/ours.txt"

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader \
    2>/dev/null || echo "no nvidia-smi"
  "$PY" -c "import sys, jax, keras, torch
print('python', sys.version.split()[0], '| jax', jax.__version__, '| keras', keras.__version__,
      '| torch', torch.__version__, '| cuDNN', torch.backends.cudnn.version(), '|', jax.devices())
try:
    from jax._src.cudnn.fused_attention_stablehlo import check_cudnn_version
    print('cuDNN seen by jax', check_cudnn_version())
except Exception as error:
    print('cuDNN seen by jax: none,', type(error).__name__)"
} 2>&1 | tee "$OUT/env.txt"

# step NAME TYPICAL LIMIT COMMAND...: run COMMAND under its timeout unless the budget is spent.
step() {
  local name=$1 typical=$2 limit=$3 left
  shift 3
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then
    return 1
  fi
  left=$((BUDGET - SECONDS))
  if ((left < typical)); then
    echo "== $name: skipped (budget: ${left} s left, typically ${typical} s)" | tee -a "$log"
    return 1
  fi
  ((limit > left)) && limit=$left
  echo "== $name (at $SECONDS s, timeout $limit s)" | tee -a "$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  local status=$?
  ((status == 0)) || echo "== $name: exit $status$( ((status == 124)) && echo ' (timeout)')" | tee -a "$log"
  return $status
}

# ours NAME TYPICAL LIMIT ARGS...: one bench_step.py line, named, appended to ours.txt.
ours() {
  local name=$1 typical=$2 limit=$3
  shift 3
  rm -f "$OUT/last.json"
  # shellcheck disable=SC2086  # SIZES and EXTRA are word lists
  step "$name" "$typical" "$limit" "$PY" benchmarks/bench_step.py $SIZES \
    --peak_tflops "$PEAK" --json "$OUT/last.json" "$@" $EXTRA || return
  "$PY" -c "import json, sys
result = json.load(open(sys.argv[1]))
print(json.dumps({'name': sys.argv[2], **result}))" "$OUT/last.json" "$name" | tee -a "$OUT/ours.txt"
  rm -f "$OUT/last.json"
}

# profile: vit_base's step again, 3 steps traced by jax.profiler, with its optimised HLO (for the
# name stacks); both gzipped into $OUT and summarised by benchmarks/profile_summary.py.
profile() {
  local trace=/tmp/h200-trace xla=/tmp/h200-xla found
  rm -rf "$trace" "$xla"
  XLA_FLAGS="--xla_dump_to=$xla --xla_dump_hlo_as_text --xla_dump_hlo_module_re=jit_step" \
    ours vit_base_profile 60 120 --arch vit_base --steps 3 --profile "$trace" || return
  found=$(find "$trace" -name '*.trace.json.gz' | head -1)
  [ -n "$found" ] && cp "$found" "$OUT/vit_base.trace.json.gz" || return
  found=$(find "$xla" -name '*jit_step*_after_optimizations.txt' | head -1)
  [ -n "$found" ] && gzip -c "$found" >"$OUT/vit_base.hlo.txt.gz"
  "$PY" benchmarks/profile_summary.py "$OUT/vit_base.trace.json.gz" --steps 3 \
    ${found:+--hlo "$OUT/vit_base.hlo.txt.gz"} 2>&1 | tee -a "$log"
}

# name                 typical limit  arguments
step peer 50 110 env OUT="$OUT" T=767 "$PY" "$PEER" torch_compile
grep -h "^torch_compile" "$log" | tail -1 | tee "$OUT/peer.txt"
ours vit_base          50  100  --arch vit_base
ours vit_base_keras_dropout 50 100 --arch vit_base --keras_dropout
ours vit_base_no_dropout 45 100 --arch vit_base --set backbone.dropout_rate=0 \
  --set backbone.positional_dropout_rate=0
ours tx_fac_bbs        120 170  --arch tx_fac_bbs
ours ut_fac            120 170  --arch ut_fac
ours vit_large         70  130  --arch vit_large
ours wat_base          45  90   --arch wat_base
profile
ours tx_fac_bbs_trainer 120 170 --arch tx_fac_bbs --trainer
KERAS_BACKEND=torch ours vit_base_keras_torch 40 120 --arch vit_base --steps 5
grep -h "Traceback\|Error:" "$log" | sort | uniq -c | sort -rn | head -20
echo "done in $SECONDS s"

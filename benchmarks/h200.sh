#!/usr/bin/env bash
# One measuring run on a GPU machine that has JAX and PyTorch but no TensorFlow (the lent H200):
# the torch.compile ViT-B peer and our whole training steps (benchmarks/bench_step.py), in the
# same run on the same card. From the project root, after `bash ../shared/gpu/prepare.sh` (which
# lays out .gpu/ with the keras wheel and the peer script; carry .gpu):
#   bash benchmarks/h200.sh            # writes $OUT/{env,peer,ours,log}.txt
# Each measurement runs under its own timeout; those that would overrun BUDGET seconds are skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results/out}
BUDGET=${BUDGET:-540}
PEAK=${PEAK_TFLOPS:-790}
ONLY=${ONLY:-}    # space-separated measurement names to run (default: all)
EXTRA=${EXTRA:-}  # e.g. EXTRA="--tiny --batch_size 2 --steps 1 --warmup 1" for a CPU dry run
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/packages/vatt-models/src:$PWD/packages/vatt-losses/src
export PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
log=$OUT/log.txt

{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv,noheader
  python3 -c "import sys, jax, keras, torch
from jax._src.cudnn.fused_attention_stablehlo import check_cudnn_version as cudnn
print('python', sys.version.split()[0], '| jax', jax.__version__, '| keras', keras.__version__,
      '| torch', torch.__version__, '| cuDNN', torch.backends.cudnn.version(), '|', jax.devices())
print('cuDNN seen by jax', cudnn())"
} 2>&1 | tee "$OUT/env.txt"

# step NAME SECONDS COMMAND...: run COMMAND under `timeout SECONDS` unless the budget is spent.
step() {
  local name=$1 need=$2
  shift 2
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" ${name%%:*} "* ]]; then
    return
  fi
  if ((SECONDS + need > BUDGET)); then
    echo "== $name: skipped (budget)" | tee -a "$log"
    return
  fi
  echo "== $name ($SECONDS s)" | tee -a "$log"
  timeout "$need" "$@" >>"$log" 2>&1 || echo "== $name: exit $?" | tee -a "$log"
}

ours() {  # ours NAME SECONDS ARGS...: one bench_step.py line appended to ours.txt
  local name=$1 need=$2
  shift 2
  step "$name" "$need" python3 benchmarks/bench_step.py --batch_size 64 --steps 10 \
    --warmup 2 --peak_tflops "$PEAK" --json "$OUT/last.json" "$@" $EXTRA
  [ -f "$OUT/last.json" ] && python3 -c "import json,sys; r=json.load(open(sys.argv[1])); r['name']=sys.argv[2]; print(json.dumps(r))" \
    "$OUT/last.json" "$name" | tee -a "$OUT/ours.txt"
  rm -f "$OUT/last.json"
}

step "peer:torch.compile ViT-B, 767+1 tokens" 150 \
  env OUT="$OUT" T=767 SMALL="${SMALL:-0}" python3 .gpu/vit_mfu.py torch_compile
grep -h "torch_compile" "$log" | tail -1 | tee "$OUT/peer.txt"

ours vit_base 100 --arch vit_base
ours vit_base_no_dropout 100 --arch vit_base --set backbone.dropout_rate=0
ours tx_fac_bbs 160 --arch tx_fac_bbs
ours vit_base_attention_dropout_0.1 100 --arch vit_base --set backbone.attention_dropout_rate=0.1
ours vit_base_785_tokens 100 --arch vit_base --set backbone.sequence_multiple=1
ours ut_fac 160 --arch ut_fac
ours vit_large 120 --arch vit_large
ours wat_base 100 --arch wat_base
KERAS_BACKEND=torch ours vit_base_keras_torch 120 --arch vit_base --steps 5
grep -h "Failed to apply\|Traceback\|Error:" "$log" | sort | uniq -c | head -20
echo "done in $SECONDS s"

#!/bin/bash
# bit tests of the compiled variants, both kernel families side by side
cd "$(dirname "$0")"
for v in compile-fb-v1adam compile-all; do
  for cap in avx2 default; do
    ATEN_CPU_CAPABILITY=$cap TORCHINDUCTOR_CACHE_DIR=$PWD/cache_bits_$cap "${PYTHON:-../../../.venv/bin/python}" bits_run.py digits 4 64 $v bits/d4_${v}_$cap.pt 30 > bits/d4_${v}_$cap.log 2>&1 &
  done
  wait
  echo "== $v"; "${PYTHON:-../../../.venv/bin/python}" bits_compare.py bits/d4_${v}_avx2.pt bits/d4_${v}_default.pt
done

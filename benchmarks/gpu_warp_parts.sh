#!/usr/bin/env bash
# MuJoCo Warp for the device (issue #20): its warp-lang wheel (~149 MB) is over what one device call
# carries (64 MiB with the working tree), so it travels in 38 MB parts over consecutive warm calls and
# is joined and installed on the device (runs/device/, which a warm machine keeps between calls).
#
#   here:    bash benchmarks/gpu_warp_parts.sh stage N WHEEL   # puts part N (0, 1, ...) of WHEEL in .warp/
#   device:  bash benchmarks/gpu_warp_parts.sh collect          # (run with carry [".warp"]) keeps the part;
#            once all parts are there: joins them, checks the sha256, installs into runs/device/warp_site
#
# benchmarks/_device_setup.sh puts runs/device/warp_site on PYTHONPATH when it exists; then
# `task.physics.impl=warp` and bench_humanoid_physics.py's warp variants run.
set -eu
case ${1:-} in
  stage)
    n=$2; wheel=$3; split_dir=/tmp/warp_split
    if [ ! -f "$split_dir/SHA256" ]; then
      rm -rf "$split_dir"; mkdir -p "$split_dir"
      split -b 38m -d "$wheel" "$split_dir/part"
      (cd "$(dirname "$wheel")" && sha256sum "$(basename "$wheel")") > "$split_dir/SHA256"
      ls "$split_dir" | grep -c '^part' > "$split_dir/COUNT"
    fi
    rm -rf .warp; mkdir -p .warp
    cp "$split_dir/SHA256" "$split_dir/COUNT" .warp/
    cp "$split_dir/part$(printf %02d "$n")" .warp/
    echo "staged part $n of $(cat "$split_dir/COUNT") in .warp/ ($(du -sh .warp | cut -f1))" ;;
  collect)
    keep=runs/device/warp; mkdir -p "$keep"
    cp .warp/* "$keep/"
    have=$(ls "$keep" | grep -c '^part' || true); need=$(cat "$keep/COUNT")
    echo "warp-lang parts on this machine: $have of $need"
    if [ "$have" = "$need" ]; then
      wheel=$(cut -d' ' -f3 < "$keep/SHA256")
      cat "$keep"/part* > "/tmp/$wheel"
      (cd /tmp && sha256sum -c -) < "$keep/SHA256"
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
          --target runs/device/warp_site "/tmp/$wheel"
      PYTHONPATH=runs/device/warp_site python3 -c "import warp; print('warp', warp.__version__)"
    fi ;;
  *) sed -n 2,12p "$0"; exit 2 ;;
esac

#!/usr/bin/env bash
# MuJoCo Warp for the device (issue #20): its warp-lang wheel (149 MB) is over what one device call
# carries (64 MiB with the ~28 MiB working tree). `stage` slims it for a CUDA machine (drops the CPU
# compiler warp-clang.so, which Warp loads only when present, and the examples and tests: 79 MiB as
# tar.xz) and puts one 27 MiB part of it in .warp/; each device call carries one part, and a warm
# machine keeps them in runs/device/warp/ until all are there, then joins, checks and unpacks them.
#
#   here:    bash benchmarks/gpu_warp_parts.sh stage N [WHEEL]   # part N (0, 1, 2) of the slim WHEEL in .warp/
#            (no WHEEL: warp-lang $WARP_VERSION, default 1.19.0, downloaded from PyPI the first time)
#            WARP_PART_MIB=21 (default 27; with WARP_SPLIT_DIR of its own): 4 smaller parts, each leaving a call
#            room for .whl_slim or .whl_pusht and .pusht beside it
#   device:  bash benchmarks/gpu_warp_parts.sh collect          # (run with carry [".warp"]; any gpu_*.sh call
#            that carries .warp does it first) keeps the part;
#            once all parts are there: joins them, checks the sha256, unpacks into runs/device/warp_site
#
# benchmarks/_device_setup.sh puts runs/device/warp_site on PYTHONPATH when it exists; then
# `task.physics.impl=warp` and bench_humanoid_physics.py's warp variants run.
#
# A lease that trains on Warp (2026-12-07, session 50; a path carried in one call is gone from the next call that
# does not carry it, runs/device/ stays; since the working tree passed 32 MiB, .whl_slim and a 21 MiB part no longer
# fit one call, so the packages and the kernel pack go first, alone):
#   export WARP_PART_MIB=21 WARP_SPLIT_DIR=~/.cache/near/warp_split21
#   run `mkdir -p runs/device/whl_slim && cp .whl_slim/site.tar.xz runs/device/whl_slim/ && bash
#       benchmarks/gpu_warp_parts.sh collect`, carry [".whl_slim", ".warp_kernels"] (the kernel pack: Warp's kernels
#       compiled here by benchmarks/warp_kernel_cache.py; on a fresh H100 36 of 37 modules load from it in 0.3 s
#       instead of ~58 s of compiling)
#   stage 0, 1, 2 -> run `bash benchmarks/gpu_warp_parts.sh collect`, carry [".warp"] (about 6 s of lease each)
#   stage 3 -> run `bash benchmarks/gpu_queue.sh 585 ...` (the shipped task.physics.impl=auto picks Warp),
#              carry [".warp", ".motion"] (the last part is 16 MiB: the whole .motion, walk set included, fits beside
#              it; _device_setup.sh takes .whl_slim from runs/device/whl_slim)
# then the queue's later calls carry the motion folder alone (with NEED_S=200 while another call will follow: a NEAR run
# on Warp takes ~200 s, so a call's last 200-300 s train most of one instead of idling; session 49 left 120-270 s idle
# at the end of two of its three queue calls).
set -eu
case ${1:-} in
  stage)
    n=$2; wheel=${3:-}; split_dir=${WARP_SPLIT_DIR:-$HOME/.cache/near/warp_split}  # kept: later parts are copies
    if [ ! -f "$split_dir/SHA256" ] && [ -z "$wheel" ]; then  # no wheel given: PyPI's, for the device's Linux
      mkdir -p "$split_dir.wheel"
      python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
        "warp-lang==${WARP_VERSION:-1.19.0}" -d "$split_dir.wheel" || exit 1
      wheel=$(ls "$split_dir".wheel/warp_lang-*.whl | head -n 1)
    fi
    if [ ! -f "$split_dir/SHA256" ]; then
      rm -rf "$split_dir"; mkdir -p "$split_dir/unpacked"
      (cd "$split_dir/unpacked" && python3 -m zipfile -e "$wheel" . \
        && rm -rf warp/examples warp/tests warp/bin/warp-clang.so \
        && tar cf - . | xz -T0 -6 > "$split_dir/warp_slim.tar.xz")
      rm -rf "$split_dir/unpacked"
      split -b "${WARP_PART_MIB:-27}m" -d "$split_dir/warp_slim.tar.xz" "$split_dir/part"
      (cd "$split_dir" && sha256sum warp_slim.tar.xz) > "$split_dir/SHA256"
      ls "$split_dir" | grep -c '^part' > "$split_dir/COUNT"
    fi
    rm -rf .warp; mkdir -p .warp
    cp "$split_dir/SHA256" "$split_dir/COUNT" .warp/
    cp "$split_dir/part$(printf %02d "$n")" .warp/
    grep -qx '/.warp/' .git/info/exclude 2>/dev/null || echo '/.warp/' >> .git/info/exclude
    echo "staged part $n of $(cat "$split_dir/COUNT") in .warp/ ($(du -sh .warp | cut -f1))" ;;
  collect)
    # the kernel pack (.warp_kernels, when carried beside a part) is kept for the lease too: _device_setup.sh points
    # WARP_CACHE_PATH at it in every later call
    if [ -f .warp_kernels/kernels.tar.xz ]; then
      mkdir -p runs/device/warp_kernels && tar xJf .warp_kernels/kernels.tar.xz -C runs/device/warp_kernels
      echo "Warp kernel pack kept in runs/device/warp_kernels"
    fi
    ls .warp 2>/dev/null | grep -q '^part' || exit 0  # the pack alone
    keep=runs/device/warp; mkdir -p "$keep"
    cp .warp/* "$keep/"
    have=$(ls "$keep" | grep -c '^part' || true); need=$(cat "$keep/COUNT")
    echo "warp-lang parts on this machine: $have of $need"
    if [ "$have" = "$need" ]; then
      cat "$keep"/part* > /tmp/warp_slim.tar.xz
      (cd /tmp && sha256sum -c -) < "$keep/SHA256"
      rm -rf runs/device/warp_site; mkdir -p runs/device/warp_site
      tar xJf /tmp/warp_slim.tar.xz -C runs/device/warp_site
      PYTHONPATH=runs/device/warp_site python3 -c "import warp; print('warp', warp.__version__)"
    fi ;;
  *) sed -n 2,13p "$0"; exit 2 ;;
esac

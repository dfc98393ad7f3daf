# Sourced by the gpu_*.sh scripts at the start of a device call: installs the carried wheels
# (.whl/ and/or .whl_pusht/) and sets the paths, the walk set (.motion/), the output folders and a deadline clock.
# Needs $deadline (seconds for the whole call) set by the caller.
start=$(date +%s)
# .whl: everything the humanoid needs (MuJoCo, MJX, Hydra, ...); .whl_slim: the same unpacked and slimmed
# to 6 MiB by benchmarks/slim_site.sh (used in its place: room for a run folder in the call);
# .whl_pusht: push-T's (no MuJoCo, zarr)
# A path carried in one call is gone in the next call that does not carry it, but runs/device/ stays on a warm
# machine: .whl_slim is kept there, so later calls of the lease can carry other things (warp-lang's parts)
mkdir -p /tmp/site; slim=0
kept_slim=runs/device/whl_slim/site.tar.xz
[ -f .whl_slim/site.tar.xz ] && { mkdir -p runs/device/whl_slim && cp .whl_slim/site.tar.xz $kept_slim || exit 1; }
# the kept copy serves unless this call carries the full wheels (.whl) instead
if [ -f $kept_slim ] && { [ -d .whl_slim ] || [ ! -d .whl ]; }; then tar xJf $kept_slim -C /tmp/site || exit 1; slim=1; fi
wheels=; [ $slim = 1 ] || wheels=$(ls .whl/*.whl 2>/dev/null)
for w in .whl_pusht/*.whl; do [ -f "$w" ] && [ ! -f ".whl/${w##*/}" ] && wheels="$wheels $w"; done
[ -n "$wheels" ] || [ $slim = 1 ] || { echo "no wheels carried: name .whl or .whl_slim (humanoid) or .whl_pusht (push-T) in carry"; exit 1; }
[ -z "$wheels" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $wheels || exit 1
export PYTHONPATH=$PWD/src:/tmp/site XLA_PYTHON_CLIENT_PREALLOCATE=false
# a carried part of warp-lang (.warp/, from `gpu_warp_parts.sh stage N`) is kept on this machine, so a
# training call can bring one beside its run; the last part joins and unpacks them. A carried Warp kernel pack
# (.warp_kernels, benchmarks/warp_kernel_cache.py) is kept for the lease by the same step
if { [ -d .warp ] && ls .warp | grep -q '^part'; } || [ -f .warp_kernels/kernels.tar.xz ]; then
  bash benchmarks/gpu_warp_parts.sh collect || echo "warp parts: collect failed"
fi
# warp-lang, when benchmarks/gpu_warp_parts.sh has installed it on this machine (task.physics.impl=warp)
[ -d "$PWD/runs/device/warp_site" ] && export PYTHONPATH=$PYTHONPATH:$PWD/runs/device/warp_site
# Warp's CUDA kernels compiled ahead of time: a fresh machine loads them instead of compiling (~58 s on an H200)
[ -d "$PWD/runs/device/warp_kernels" ] && export WARP_CACHE_PATH=$PWD/runs/device/warp_kernels
# device logs keep Warp's line per kernel module (compiled or cached, and how long): warp_kernel_cache.py --compare
export NEAR_WARP_LOG=info
M=motion=$PWD/.motion/amp_humanoid_walk.yaml
OUT=${OUT:-/tmp/out}; R=/tmp/runs; mkdir -p "$OUT" "$R"
left() { echo $(( deadline - ($(date +%s) - start) )); }
# bundle NAME DIR...: the folders (run folders without optimiser state or TensorBoard files, energy
# models without checkpoints; with BUNDLE_ENERGY=1 an energy model keeps its last checkpoint's weights,
# ~45 MB each, so that it can be inspected on the CPU here) as
# $OUT/NAME.tgz.partNN, 15 MiB each (files coming back from a device call are capped at 16 MiB);
# join them here with: cat NAME.tgz.part* | tar xz
last_step() { ls "$R/$1/checkpoints" | grep -E '^[0-9]+$' | sort -n | tail -n 1; }  # of run or energy folder $1
bundle() {
  local name=$1; shift
  local keep=(--exclude='energy_*/checkpoints') d step last files bytes
  if [ "${BUNDLE_ENERGY:-0}" = 1 ]; then
    keep=()
    for d in "$@"; do
      [ -d "$R/$d/checkpoints" ] && [ "${d#energy_}" != "$d" ] || continue
      last=$(last_step "$d")
      for step in $(ls "$R/$d/checkpoints"); do [ "$step" = "$last" ] || keep+=(--exclude="$d/checkpoints/$step"); done
    done
  fi
  # */rollout: the environments' state and AMP's replay buffer (hundreds of MB); */train: optimiser
  # state, of policies and of energy checkpoints alike, except in the last step of the runs named in
  # $BUNDLE_RESUMABLE (cut runs: with it they resume on another machine, `near train ... resume=True`)
  for d in "$@"; do
    [ -d "$R/$d/checkpoints" ] || continue
    last=$(last_step "$d")
    for step in $(ls "$R/$d/checkpoints" | grep -E '^[0-9]+$'); do
      [ "$step" = "$last" ] && [[ " ${BUNDLE_RESUMABLE:-} " == *" $d "* ]] || keep+=(--exclude="$d/checkpoints/$step/train")
    done
  done
  _pack() { rm -f "$OUT/$name".tgz.part*
            tar czf - -C $R --exclude='*/rollout' --exclude='tb' "${keep[@]}" "$@" | split -b 15m -d - $OUT/$name.tgz.part; }
  _pack "$@"
  # what comes back from a call is capped at 8 files and 64 MiB together: a bundle over that would
  # come back cut (a truncated archive), so drop the energy weights, which the device can retrain
  files=$(ls "$OUT" | wc -l); bytes=$(du -cb "$OUT" | tail -n 1 | cut -f1)
  if [ "$files" -gt 8 ] || [ "$bytes" -gt $(( 63 * 1024 * 1024 )) ]; then
    echo "bundle: $files files, $bytes bytes in $OUT: over what a call returns (8 files, 64 MiB)"
    if [ "${BUNDLE_ENERGY:-0}" = 1 ]; then
      echo "bundle: again without the energy models' weights"
      keep=(--exclude='energy_*/checkpoints' "${keep[@]}"); _pack "$@"
    fi
  fi
}

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
. "$(dirname "${BASH_SOURCE[0]}")/_bundle.sh"  # bundle, bundle_pending_weights: what a call brings back

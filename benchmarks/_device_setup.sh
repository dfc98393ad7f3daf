# Sourced by the gpu_*.sh scripts at the start of a device call: installs the carried wheels
# (.whl/) and sets the paths, the walk set (.motion/), the output folders and a deadline clock.
# Needs $deadline (seconds for the whole call) set by the caller.
start=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD/src:/tmp/site XLA_PYTHON_CLIENT_PREALLOCATE=false
M=motion=$PWD/.motion/amp_humanoid_walk.yaml
OUT=${OUT:-/tmp/out}; R=/tmp/runs; mkdir -p "$OUT" "$R"
left() { echo $(( deadline - ($(date +%s) - start) )); }
# bundle NAME DIR...: the folders (run folders without optimiser state or TensorBoard files, energy
# models without checkpoints) as
# $OUT/NAME.tgz.partNN, 15 MiB each (files coming back from a device call are capped at 16 MiB);
# join them here with: cat NAME.tgz.part* | tar xz
bundle() {
  local name=$1; shift
  tar czf - -C $R --exclude='*/train' --exclude='tb' --exclude='energy_*/checkpoints' "$@" | split -b 15m -d - $OUT/$name.tgz.part
}

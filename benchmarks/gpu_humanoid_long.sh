#!/usr/bin/env bash
# One training longer than one device call: the energy model (NEAR) and the policy live in runs/device/
# on the device, which a warm machine keeps between calls; each call trains until its deadline and
# checkpoints, the next call resumes. A one-training gpu_humanoid_queue.sh, plus with PROFILE=1 first
# benchmarks/profile_startup.py twice (cold, then warm compilation cache) on the motion. RUN_NAME=NAME
# names the run folder (default MOTION_METHOD_SEED), for variants with extra overrides.
# The run folders (without optimiser state; the energy model's without checkpoints) come back as
# MOTION_SEED_long.tgz.partNN, the profiles as MOTION_SEED_profile.tgz.partNN (join: cat ...part* | tar xz).
#
#   bash benchmarks/gpu_humanoid_long.sh DEADLINE_S MOTION METHOD SEED [ENERGY_ITERS] [overrides...]
set -u
deadline=$1; motion=$2; method=$3; seed=$4; energy_iters=${5:-150000}; shift 5 || shift $#
here=$(dirname "$0")
if [ "${PROFILE:-0}" = 1 ]; then
  . "$here/_device_setup.sh"
  R=$PWD/runs/device; mkdir -p "$R/profile"
  export NEAR_XLA_CACHE=$PWD/runs/device/xla
  for label in cold warm; do
    python3 benchmarks/profile_startup.py --motion .motion/amp_humanoid_$motion.yaml --label $label \
        --name startup_${motion}_$label --out /tmp/profile_$label >> $OUT/profile.log 2>&1
    cp benchmarks/results/startup_${motion}_$label.json $R/profile/ 2>/dev/null; tail -n 2 $OUT/profile.log
  done
  bundle ${motion}_${seed}_profile profile
  deadline=$(left)
fi
BUNDLE=${motion}_${seed}_long ENERGY_ITERS=$energy_iters exec bash "$here/gpu_queue.sh" "$deadline" \
    "$motion:$method:$seed" -- "$@"

#!/usr/bin/env bash
# One training longer than one device call: the energy model (NEAR) and the policy live in runs/device/
# on the device, which a warm machine keeps between calls; each call trains until its deadline and
# checkpoints, the next call resumes (resume=True). With PROFILE=1 the call first runs
# benchmarks/profile_startup.py twice (cold, then warm compilation cache) on the motion. RUN_NAME=NAME
# names the run folder (default MOTION_METHOD_SEED), for variants with extra overrides.
# The run folders (without optimiser state; the energy model's without checkpoints) and the profiles
# come back as MOTION_SEED_long.tgz.partNN (join: cat ...part* | tar xz).
#
#   bash benchmarks/gpu_humanoid_long.sh DEADLINE_S MOTION METHOD SEED [ENERGY_ITERS] [overrides...]
set -u
deadline=$1; motion=$2; method=$3; seed=$4; energy_iters=${5:-150000}; shift 5 || shift $#
. "$(dirname "$0")/_device_setup.sh"
R=$PWD/runs/device; mkdir -p "$R"
M=motion=$PWD/.motion/amp_humanoid_$motion.yaml
export NEAR_XLA_CACHE=$PWD/runs/device/xla
if [ "${PROFILE:-0}" = 1 ]; then
  for label in cold warm; do
    python3 benchmarks/profile_startup.py --motion .motion/amp_humanoid_$motion.yaml --label $label \
        --name startup_${motion}_$label --out /tmp/profile_$label >> $OUT/profile.log 2>&1
    mkdir -p $R/profile; cp benchmarks/results/startup_${motion}_$label.json $R/profile/ 2>/dev/null; tail -n 2 $OUT/profile.log
  done
fi
energy=$R/energy_${motion}_$seed; run=$R/${RUN_NAME:-${motion}_${method}_$seed}; extra=""
if [ "$method" = NEAR ]; then
  if [ ! -f $energy/summary.json ]; then
    t0=$(date +%s)
    python3 -m near.cli train-energy task=HumanoidNEAR $M seed=$seed progress=False resume=True \
        energy.iterations=$energy_iters out=$energy > $OUT/energy_$motion.log 2>&1 || { tail -n 30 $OUT/energy_$motion.log; exit 1; }
    echo "energy model: $(( $(date +%s) - t0 )) s wall"
  fi
  extra="energy.checkpoint=$energy"
fi
resume=False; [ -d $run/checkpoints ] && resume=True
# the final evaluation and the bundle need about a minute after the time limit
[ "$(left)" -gt 150 ] && python3 -m near.cli train task=Humanoid$method $M seed=$seed progress=False resume=$resume $extra \
    train.time_limit_s=$(( $(left) - 50 )) out=$run "$@" > $OUT/$(basename $run).log 2>&1
tail -n 32 $OUT/$(basename $run).log
parts="$(basename $run)"; [ -d $R/profile ] && parts="$parts profile"; [ -d $energy ] && parts="$parts $(basename $energy)"
bundle ${motion}_${seed}_long $parts
ls -la $OUT; echo "total $(( $(date +%s) - start )) s"

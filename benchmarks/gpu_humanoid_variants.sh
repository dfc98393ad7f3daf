#!/usr/bin/env bash
# One device call on one GPU: up to three trainings on one motion set side by side (each gets a share of
# the GPU), NEAR variants sharing one energy model trained first. For issue #16's comparisons (tracking
# against NEAR, reward weights, noise levels). The run folders (without optimiser state; the energy model's
# without checkpoints) come back in $OUT as MOTION_SEED.tgz.partNN (see bundle in _device_setup.sh).
#
#   bash benchmarks/gpu_humanoid_variants.sh DEADLINE_S MOTION SEED ENERGY_ITERS "NAME TASK [overrides...]" ...
#
# TASK is a task name (HumanoidNEAR, HumanoidAMP, HumanoidTrack, Humanoid); ENERGY_ITERS 0 = no NEAR
# variant (no energy model). MOTION names .motion/amp_humanoid_MOTION.yaml. Needs the wheels in .whl/.
set -u
deadline=$1; motion=$2; seed=$3; energy_iters=$4; shift 4
variants=("$@"); names=""
. "$(dirname "$0")/_device_setup.sh"  # wheels, paths, $OUT, $R, left()
M=motion=$PWD/.motion/amp_humanoid_$motion.yaml
energy=$R/energy_${motion}_$seed
if [ "$energy_iters" -gt 0 ]; then
  python3 -m near.cli train-energy task=HumanoidNEAR $M seed=$seed progress=False \
      energy.iterations=$energy_iters out=$energy > $OUT/energy_$motion.log 2>&1 || { tail -n 30 $OUT/energy_$motion.log; exit 1; }
fi
for variant in "${variants[@]}"; do
  set -- $variant; name=$1; task=$2; shift 2; names="$names $name"
  extra=""; [ "$task" = HumanoidNEAR ] && extra="energy.checkpoint=$energy"
  python3 -m near.cli train task=$task $M seed=$seed progress=False $extra \
      train.time_limit_s=$(( $(left) - 60 )) out=$R/$name "$@" > $OUT/$name.log 2>&1 &
done
wait
[ "$energy_iters" -gt 0 ] && names="$names $(basename $energy)"  # its curves only (bundle leaves out checkpoints)
bundle ${motion}_$seed $names
ls -la $OUT; tail -n 4 $OUT/*.log; echo "total $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# One device call on one GPU: the energy model then NEAR (or AMP alone) on one motion set, with one
# deadline for the whole call; the policy run folder (without optimiser state and TensorBoard files)
# and the logs come back in $OUT. Used for the six-motion results (benchmarks/results/humanoid_motions.json):
#
#   bash benchmarks/gpu_humanoid_motion.sh DEADLINE_S MOTION METHOD SEED [ENERGY_ITERS] [extra overrides...]
#
# MOTION names .motion/amp_humanoid_MOTION.yaml (the shared humanoid data, carried as .motion/);
# METHOD is NEAR or AMP. Needs the wheels in .whl/.
set -u
deadline=$1; motion=$2; method=$3; seed=$4; energy_iters=${5:-150000}; shift 5 || shift $#
. "$(dirname "$0")/_device_setup.sh"  # wheels, paths, $OUT, $R, left()
M=motion=$PWD/.motion/amp_humanoid_$motion.yaml
name=${motion}_${method}_$seed
if [ "$method" = NEAR ]; then
  python3 -m near.cli train-energy task=HumanoidNEAR $M seed=$seed progress=False \
      energy.iterations=$energy_iters out=$R/energy_$name > $OUT/energy_$name.log 2>&1 || { tail -n 30 $OUT/energy_$name.log; exit 1; }
  extra="energy.checkpoint=$R/energy_$name"
else
  extra=""
fi
python3 -m near.cli train task=Humanoid$method $M seed=$seed progress=False $extra \
    train.time_limit_s=$(( $(left) - 60 )) out=$R/$name "$@" > $OUT/$name.log 2>&1
[ "$method" = NEAR ] && cp $R/energy_$name/metrics.jsonl $R/$name/energy_metrics.jsonl
[ "$method" = NEAR ] && cp $R/energy_$name/summary.json $R/$name/energy_summary.json
bundle $name $name
ls -la $OUT; tail -n 4 $OUT/*.log; echo "total $(( $(date +%s) - start )) s"

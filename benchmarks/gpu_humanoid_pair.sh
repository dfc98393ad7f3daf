#!/usr/bin/env bash
# One device call that trains NEAR (energy model, then policy) on GPU 0 and AMP on GPU 1 of a
# 2-GPU machine, on the walk set, with one shared deadline; the run folders (without the optimiser
# state) come back as tarballs in $OUT. Used for the humanoid walk results in the README:
#
#   bash benchmarks/gpu_humanoid_pair.sh SEED DEADLINE_S [ENERGY_ITERS] [extra overrides...]
#
# Needs the wheels in .whl/ and the walk set in .motion/ (carried to the device machine).
set -u
seed=$1; deadline=$2; energy_iters=${3:-60000}; shift 3 || shift $#
. "$(dirname "$0")/_device_setup.sh"  # wheels, paths, $M, $OUT, $R, left()
near_job() {
  CUDA_VISIBLE_DEVICES=0 python3 -m near.cli train-energy task=HumanoidNEAR $M seed=$seed progress=False \
      energy.iterations=$energy_iters out=$R/energy$seed > $OUT/energy$seed.log 2>&1 || return
  CUDA_VISIBLE_DEVICES=0 python3 -m near.cli train task=HumanoidNEAR $M seed=$seed progress=False \
      energy.checkpoint=$R/energy$seed train.time_limit_s=$(( $(left) - 80 )) out=$R/near$seed "$@" > $OUT/near$seed.log 2>&1
}
amp_job() {
  CUDA_VISIBLE_DEVICES=1 python3 -m near.cli train task=HumanoidAMP $M seed=$seed progress=False \
      train.time_limit_s=$(( $(left) - 80 )) out=$R/amp$seed "$@" > $OUT/amp$seed.log 2>&1
}
near_job "$@" & amp_job "$@" & wait
for run in energy$seed near$seed amp$seed; do
  [ -d $R/$run ] && [ $run != energy$seed ] && tar czf $OUT/$run.tgz -C $R --exclude='*/train' --exclude='*/rollout' --exclude='tb' $run
done
cp $R/energy$seed/metrics.jsonl $OUT/energy${seed}_metrics.jsonl 2>/dev/null
ls -la $OUT; tail -n 3 $OUT/*.log; echo "total $(( $(date +%s) - start )) s"

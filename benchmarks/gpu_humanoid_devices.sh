#!/usr/bin/env bash
# One device call for the 1-vs-k-GPU learning curve: NEAR on the walk set with the shipped config
# (4,096 environments in total), trained on every visible GPU at once, for each seed given. The
# energy models train first, one seed per GPU in parallel; the policies then run one seed at a
# time on all GPUs. Run folders (without optimiser state) come back as tarballs in $OUT.
#
#   bash benchmarks/gpu_humanoid_devices.sh DEADLINE_S ENERGY_ITERS ENV_STEPS SEED [SEED...]
#
# Compare with the one-GPU runs of gpu_humanoid_pair.sh through report_humanoid_walk.py.
# Needs the wheels in .whl/ and the walk set in .motion/ (carried to the device machine).
set -u
deadline=$1; energy_iters=$2; env_steps=$3; shift 3; seeds=("$@")
. "$(dirname "$0")/_device_setup.sh"  # wheels, paths, $M, $OUT, $R, left()
gpus=$(nvidia-smi -L | wc -l)
for i in "${!seeds[@]}"; do  # energy models: seed i on GPU i mod gpus
  s=${seeds[$i]}
  CUDA_VISIBLE_DEVICES=$(( i % gpus )) python3 -m near.cli train-energy task=HumanoidNEAR $M seed=$s progress=False \
      energy.iterations=$energy_iters out=$R/energy$s > $OUT/energy$s.log 2>&1 &
  (( (i + 1) % gpus == 0 )) && wait
done
wait
todo=${#seeds[@]}
for s in "${seeds[@]}"; do  # policies on all GPUs, one seed after the other, sharing the time left
  python3 -m near.cli train task=HumanoidNEAR $M seed=$s progress=False energy.checkpoint=$R/energy$s \
      train.total_env_steps=$env_steps train.time_limit_s=$(( ($(left) - 40) / todo )) out=$R/near${gpus}gpu$s \
      > $OUT/near${gpus}gpu$s.log 2>&1
  todo=$(( todo - 1 ))
  tar czf $OUT/near${gpus}gpu$s.tgz -C $R --exclude='*/train' --exclude='*/rollout' --exclude='tb' near${gpus}gpu$s
  cp $R/energy$s/metrics.jsonl $OUT/energy${s}_metrics.jsonl 2>/dev/null
done
ls -la $OUT; tail -n 3 $OUT/*.log; echo "total $(( $(date +%s) - start )) s"

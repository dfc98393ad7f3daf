#!/usr/bin/env bash
# One device call on one GPU: the energy model then NEAR (or AMP alone) on one motion set, with one
# deadline for the whole call. Used for the six-motion results (benchmarks/results/humanoid_motions.json).
# A one-variant call of gpu_humanoid_variants.sh: the run folder MOTION_METHOD_SEED (and the energy
# model's, without checkpoints) come back as MOTION_SEED.tgz.partNN.
#
#   bash benchmarks/gpu_humanoid_motion.sh DEADLINE_S MOTION METHOD SEED [ENERGY_ITERS] [extra overrides...]
#
# MOTION names .motion/amp_humanoid_MOTION.yaml (the shared humanoid data, carried as .motion/);
# METHOD is NEAR or AMP. Needs the wheels in .whl/.
set -u
deadline=$1; motion=$2; method=$3; seed=$4; energy_iters=${5:-150000}; shift 5 || shift $#
[ "$method" = NEAR ] || energy_iters=0
exec bash "$(dirname "$0")/gpu_humanoid_variants.sh" "$deadline" "$motion" "$seed" "$energy_iters" \
    "${motion}_${method}_$seed Humanoid$method $*"

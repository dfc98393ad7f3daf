#!/usr/bin/env bash
# Issue #20's speed figures in as few device calls as possible: each call runs the stages not yet done
# (markers in runs/device/speed/, which a warm machine keeps between calls) while the deadline allows,
# then returns every result so far as speed.tgz.partNN. benchmarks/report_speed.py joins them into
# benchmarks/results/speed_h200.json.
#
#   bash benchmarks/gpu_speed.sh DEADLINE_S [STAGE ...]      (default: all stages, in this order)
#
# Stages (seconds each on one H200, roughly):
#   train      NEAR end to end at 4,096 and 16,384 envs, physics alone in the same process (~200)
#   physics    physics alone at 16,384 envs: the shipped setting, the original's 8.33 ms substeps, Newton 2
#              iterations, and MuJoCo Warp with 5.55 and 8.33 ms substeps once benchmarks/gpu_warp_parts.sh
#              has installed warp-lang on the machine (~300)
#   train_tf32 the train stage with the networks' matrix products in TF32 (train.network_precision=
#              tensorfloat32; the physics stays float32): NEAR's non-physics part is mostly float32 matmul (~240)
#   train_warp the train stage with MuJoCo Warp (task.physics.impl=warp), once gpu_warp_parts.sh installed it (~300)
#   train_bf16 train_warp with the networks' products on bfloat16 inputs (train.network_precision=bfloat16): run it
#              beside train_warp in one call and compare the two as a ratio (~300)
#   parts_warp where NEAR's step goes beyond the physics, under MuJoCo Warp at 4,096 envs: PPO on the task reward
#              alone, NEAR, NEAR with 1 update epoch, physics alone, in one process (bench_train_humanoid.py) (~300)
#   startup    benchmarks/profile_startup.py on the walk set, cold then warm compilation cache (~400)
#   startup_run  the same, warm, on the run set (26 clips) (~150)
#   startup_amp  `near train` of HumanoidAMP alone on the run set, cold then warm cache of its own, the evaluation compiled
#              ahead as in a GPU run (~150): AMP's start-up
#              since its demo pairs are an argument of the training program, not a 168 MB constant in it
#   energy     near train-energy for 150 k iterations on the walk set, timed from launch (~200)
#   energy_variants  the energy model's compiled loop unrolled 1/4/16 times, with and without a flat
#              optimiser, and with TF32 matrix products: iterations/s (bench_energy_dsm.py --variants) (~150)
#   startup_autotune0  the cold start-up again with XLA's GPU autotuning off (XLA_FLAGS=
#              --xla_gpu_autotune_level=0), a fresh cache: is the cold compile autotuning? Then the energy
#              model's iterations/s and NEAR's env-steps/s at 4,096 envs under the same flag (~450)
#   cmdbuf     the energy model's iterations/s, NEAR's env-steps/s (4,096 and 16,384 envs, physics alone
#              beside) with whole loops captured as CUDA graphs (XLA_FLAGS=--xla_gpu_enable_command_buffer=
#              ...,WHILE,CONDITIONAL): both loops are launch-bound at these sizes (~400)
# DRY_RUN=1 prints the commands instead.
set -u
deadline=$1; shift
stages=("$@"); [ ${#stages[@]} -gt 0 ] || stages=(train physics startup startup_run energy)
declare -A need=([train]=240 [train_tf32]=240 [train_warp]=300 [train_bf16]=300 [parts_warp]=300 [physics]=330 [startup]=420 [startup_run]=180 [startup_amp]=150 [energy]=230 [energy_variants]=180
                 [startup_autotune0]=480 [cmdbuf]=420)
if [ "${DRY_RUN:-0}" = 1 ]; then
  start=$(date +%s); left() { echo $(( deadline - ($(date +%s) - start) )); }
  OUT=${OUT:-/tmp/speed_dry_out}; S=/tmp/speed_dry; mkdir -p "$OUT" "$S"
  run() { echo "$*"; }
else
  . "$(dirname "$0")/_device_setup.sh"
  S=$PWD/runs/device/speed; mkdir -p "$S"
  run() { "$@"; }
fi
# SPEED_MOTION: the clips the train, train_warp and physics stages reset from (default the walk set, 9 MB,
# which does not fit one call beside .whl; .motion/amp_humanoid_run.yaml does)
walk=.motion/amp_humanoid_walk.yaml; runset=.motion/amp_humanoid_run.yaml; clips=${SPEED_MOTION:-$walk}
[ -f $runset ] || runset=.motion_light/amp_humanoid_run.yaml  # the light folder carries the run set too
has_warp=0; python3 -c 'import warp' 2>/dev/null && has_warp=1  # gpu_warp_parts.sh installed warp-lang
# NEAR end to end at 4,096 and 16,384 envs (or $runs), physics alone beside, with the stage's overrides
train_stage() {
  NEAR_XLA_CACHE=$S/xla run python3 benchmarks/bench_train_humanoid.py --motion $clips --physics \
      --runs ${runs:-NEAR:1:4096 NEAR:1:16384} --name "speed_$stage" "$@" > "$S/$stage.log" 2>&1
}
for stage in "${stages[@]}"; do
  [ -f "$S/$stage.done" ] && { echo "$stage: done"; continue; }
  [ "$(left)" -gt "${need[$stage]:-300}" ] || { echo "$stage: left for the next call ($(left) s left)"; break; }
  t0=$(date +%s)
  case $stage in
    train) train_stage ;;
    train_tf32) train_stage train.network_precision=tensorfloat32 ;;
    train_warp)
      [ $has_warp = 1 ] || { echo "train_warp: warp-lang not installed (gpu_warp_parts.sh)"; continue; }
      train_stage task.physics.impl=warp ;;
    train_bf16)
      [ $has_warp = 1 ] || { echo "train_bf16: warp-lang not installed (gpu_warp_parts.sh)"; continue; }
      train_stage task.physics.impl=warp train.network_precision=bfloat16 ;;
    parts_warp)
      [ $has_warp = 1 ] || { echo "parts_warp: warp-lang not installed (gpu_warp_parts.sh)"; continue; }
      runs="PPO:1:4096 NEAR:1:4096 NEAR:1:4096:1" train_stage task.physics.impl=warp ;;
    physics)
      NEAR_XLA_CACHE=$S/xla run python3 benchmarks/bench_humanoid_physics.py --motion $clips --envs 16384 \
          --variants default sub4 newton2 \
          $([ $has_warp = 1 ] && echo warp warp_sub4) --steps 100 --repeats 2 \
          --name speed_physics > "$S/physics.log" 2>&1 ;;
    startup)  # a fresh cache for the cold run; the warm run reuses it
      for label in cold warm; do
        NEAR_XLA_CACHE=$S/xla_startup run python3 benchmarks/profile_startup.py --motion $walk --label $label \
            --name speed_startup_walk_$label --out "$S/profile_$label" >> "$S/startup.log" 2>&1
      done ;;
    startup_run)
      for label in cold warm; do
        NEAR_XLA_CACHE=$S/xla_startup run python3 benchmarks/profile_startup.py --motion $runset --label $label \
            --name speed_startup_run_$label --out "$S/profile_run_$label" >> "$S/startup_run.log" 2>&1
      done ;;
    startup_amp)
      for label in cold warm; do
        NEAR_XLA_CACHE=$S/xla_amp run python3 benchmarks/profile_startup.py --task HumanoidAMP --train-only --eval-ahead \
            --motion $runset --label $label --name speed_startup_amp_run_$label --out "$S/profile_amp_$label" \
            >> "$S/startup_amp.log" 2>&1
      done ;;
    energy)  # launch to the last checkpoint and the ranking, as a user waits for it
      rm -rf "$S/energy_walk"; e0=$(date +%s.%N)
      NEAR_XLA_CACHE=$S/xla_startup run python3 -m near.cli train-energy task=HumanoidNEAR motion=$PWD/$walk \
          energy.iterations=150000 progress=False out="$S/energy_walk" > "$S/energy.log" 2>&1
      st=$?; python3 -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$e0" \
          > "$S/energy_wall_seconds.txt"; (exit $st) ;;
    energy_variants)
      (cd benchmarks && NEAR_XLA_CACHE=$S/xla run python3 bench_energy_dsm.py --variants --steps 2000) \
          > "$S/energy_variants.log" 2>&1 && run cp benchmarks/results/energy_dsm_gpu_variants.json "$S/" ;;
    startup_autotune0)
      flags="${XLA_FLAGS:-} --xla_gpu_autotune_level=0"
      XLA_FLAGS=$flags NEAR_XLA_CACHE=$S/xla_autotune0 run python3 benchmarks/profile_startup.py --motion $walk \
          --label cold_autotune0 --name speed_startup_walk_cold_autotune0 --out "$S/profile_autotune0" \
          > "$S/startup_autotune0.log" 2>&1 \
      && (cd benchmarks && XLA_FLAGS=$flags NEAR_XLA_CACHE=$S/xla_autotune0 run python3 bench_energy_dsm.py \
          --variants --steps 2000) >> "$S/startup_autotune0.log" 2>&1 \
      && run cp benchmarks/results/energy_dsm_gpu_variants.json "$S/energy_dsm_gpu_variants_autotune0.json" \
      && XLA_FLAGS=$flags NEAR_XLA_CACHE=$S/xla_autotune0 run python3 benchmarks/bench_train_humanoid.py \
          --motion $walk --runs NEAR:1:4096 --name speed_train_autotune0 >> "$S/startup_autotune0.log" 2>&1 ;;
    cmdbuf)
      flags="${XLA_FLAGS:-} --xla_gpu_enable_command_buffer=FUSION,CUBLAS,CUBLASLT,CUSTOM_CALL,CONDITIONAL,WHILE"
      (cd benchmarks && XLA_FLAGS=$flags NEAR_XLA_CACHE=$S/xla_cmdbuf run python3 bench_energy_dsm.py --variants \
          --steps 2000) > "$S/cmdbuf.log" 2>&1 \
      && run cp benchmarks/results/energy_dsm_gpu_variants.json "$S/energy_dsm_gpu_variants_cmdbuf.json" \
      && XLA_FLAGS=$flags NEAR_XLA_CACHE=$S/xla_cmdbuf run python3 benchmarks/bench_train_humanoid.py --motion $walk \
          --physics --runs NEAR:1:4096 NEAR:1:16384 --name speed_train_cmdbuf >> "$S/cmdbuf.log" 2>&1 ;;
    *) echo "unknown stage $stage"; continue ;;
  esac
  status=$?
  echo "$stage: exit $status, $(( $(date +%s) - t0 )) s"; tail -n 4 "$S/$stage.log" 2>/dev/null
  [ $status = 0 ] && [ "${DRY_RUN:-0}" != 1 ] && touch "$S/$stage.done"
done
# what every stage wrote: the benchmark JSONs (copied next to the logs) and the energy run's summary
cp benchmarks/results/speed_*.json "$S/" 2>/dev/null
[ -f "$S/energy_walk/summary.json" ] && cp "$S/energy_walk/summary.json" "$S/energy_summary.json"
if [ "${DRY_RUN:-0}" = 1 ]; then echo "bundle speed"; else
  tar czf - -C "$S" --exclude='*/rollout' --exclude='*/train' --exclude='xla*' --exclude='profile_*' --exclude='energy_walk' . | split -b 15m -d - "$OUT/speed.tgz.part"
fi
ls -la "$OUT"; echo "total $(( $(date +%s) - start )) s"

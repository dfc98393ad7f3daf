#!/usr/bin/env bash
# Several humanoid or push-T trainings over consecutive warm device calls, one GPU, no minute left idle: each
# call resumes the first unfinished training of the queue (run folders and energy models stay in
# runs/device/ on the device), trains it until it reaches its budget or the call's deadline, and
# when one finishes with time left starts the next. Every run folder touched in the call comes back
# (without optimiser state; energy models without checkpoints) as $BUNDLE.tgz.partNN (default queue).
#
#   bash benchmarks/gpu_queue.sh DEADLINE_S MOTION:METHOD[:SEED] ... [-- overrides for all]
#   e.g. bash benchmarks/gpu_queue.sh 580 run:NEAR punch:NEAR run:AMP
#        bash benchmarks/gpu_queue.sh 580 pusht:PPO pusht:NEAR pusht:AMP
#
# MOTION names .motion/amp_humanoid_MOTION.yaml (punch = single_left_punch); seed 42 unless given.
# Humanoid trainings need warp-lang on the machine (the shipped GPU physics, task.physics.impl=auto, is MuJoCo
# Warp): carry its parts first (benchmarks/gpu_warp_parts.sh, the lease recipe in its header); without them the
# queue stops before a humanoid training unless task.physics.impl=jax is among its overrides or ALLOW_MJX=1.
# MOTION_DIR=.motion_light reads the sets from another folder (carry it instead of .motion): one without the
# walk set (9 MB) leaves a call room for a run folder to resume.
# A run with task.pair_span=K (K > 1) in its overrides gets its own energy model, energy_MOTION_SEED_spanK.
# So does one with energy.* overrides (but energy.checkpoint), trained with them: energy_MOTION_SEED_<overrides>, e.g.
#   OVERRIDES_tf32="energy.network_precision=tensorfloat32" bash benchmarks/gpu_queue.sh 585 walk:ENERGY walk:ENERGY/tf32
# trains energy_walk_42 and energy_walk_42_network_precision_tensorfloat32 one after the other.
# A variant with energy.checkpoint=NAME (an energy folder of the queue) trains its policy on that model instead of its
# own seed's, which an ENERGY item queued before it trains (else the item is skipped): a policy seed crossed with a
# model seed, e.g. OVERRIDES_x="energy.checkpoint=energy_run_42" bash benchmarks/gpu_queue.sh 585 run:ENERGY:42 run:NEAR:8125/x
# METHOD ENERGY trains NEAR's energy model alone (with BUNDLE_ENERGY=1 its weights come back, for
# benchmarks/inspect_energy_posture.py on the CPU here). On one GPU an ENERGY item trains in the background while
# the queue goes on, and the NEAR item that needs it waits for it (ENERGY_BESIDE=0: in the foreground): e.g.
#   bash benchmarks/gpu_queue.sh 585 run:ENERGY:700 crane_pose:AMP run:NEAR:700
# trains run's seed-700 energy model beside AMP's crane. Measured 2026-12-07 (one H100, Warp): the model took 85-106 s
# beside AMP (81-90 s alone) and slowed AMP's first one or two windows (158-189 k and 81 k env steps/s against its
# ~285 k), about 10 s of AMP's time for the 80-90 s of foreground training it saves
# (training_rate_h100_session50_warp.json).
# MOTION "pusht" trains push-T (METHOD PPO: the task reward alone) on .pusht/pusht_cchi_v7_replay.zarr
# (the replay store without its images, 3 MB) at GPU scale: $PUSHT_SETTINGS (below) and then the
# overrides. Push-T needs no MuJoCo: carry .whl_pusht (Hydra, OmegaConf, zarr, ...; ~11 MB) instead of .whl.
# A call carries at most 64 MiB: `TRIM=1 bash benchmarks/device_carry.sh .whl .motion` checks that first.
# ENERGY_ITERS sets the energy model's iterations (default: the config's); RUN_NAME names the run
# folder of a one-training queue (a variant with its own overrides; default MOTION_METHOD_SEED).
# Variants in one queue: MOTION:METHOD[:SEED]/NAME trains in runs/device/NAME with the overrides in
# $OVERRIDES_NAME after the common ones (NAME: letters, digits, _), e.g.
#   OVERRIDES_run_s15="reward.sigma_level=15" OVERRIDES_run_p005="reward.anneal_threshold=0.005" \
#     bash benchmarks/gpu_queue.sh 585 run:NEAR/run_s15 run:NEAR/run_p005
# A NEAR training that reaches its budget gets benchmarks/inspect_energy_posture.py --policy (its energy
# model on the clips' pairs against the policy's own; energy_policy_NAME.json in $OUT), and on walk, run
# and mummy walk benchmarks/inspect_energy_gait.py (the clips replayed at other strides and cadences;
# energy_gait_ENERGY.json and .png in $OUT), once the queue's trainings leave the call idle (this call's
# end, or a later call's).
# A NEAR item whose energy.output_activation=none meets the multiplicative annealing rule (the sign trap) is
# skipped before its energy model trains: add reward.anneal_rule=additive to its overrides.
# MIN_RANK=R skips a NEAR item whose energy model ranks the demonstrations' pairs above random pairs in under
# R of cases at some level (its summary.json), and goes on with the next item.
# BUNDLE_ENERGY=1 brings the energy models' weights back too (their last checkpoint without optimiser
# state, ~40 MB each in 15 MiB parts), for benchmarks/inspect_energy_posture.py on the CPU here; weights that do not
# fit a call's reply beside its run folders come back with a later call of the lease whose reply has room (an
# inspections-only call, say), as weights_energy_MOTION_SEED.tgz.part* (benchmarks/_bundle.sh).
# A run cut at a call's end comes back with its last step's train item; to resume it on a fresh
# machine (the next session, or after the machine was released between calls), put its folder back
# and send it in a call of its own, then queue it as before (it resumes without its environments'
# state and AMP's replay buffer, which refill; a NEAR run's energy model is trained again, same seed):
#   mkdir -p runs/device && cat queue.tgz.part* | tar xz -C runs/device   (here)
#   run: `du -sh runs/device`, carry ["runs/device/NAME"]      (the folder stays on the warm machine)
#   run: `bash benchmarks/gpu_queue.sh 585 MOTION:METHOD`, carry [".whl", ".motion"]
# or in one call, with the packages slimmed to 6 MiB by `bash benchmarks/slim_site.sh` (no second call,
# no machine to lose in between; the folder needs only its last checkpoint, and .motion only the queued sets):
#   run: `bash benchmarks/gpu_queue.sh 585 MOTION:METHOD`, carry [".whl_slim", ".motion", "runs/device/NAME"]
# A push-T run folder is small (4.2 MB at 272 M steps): it travels in the queue call itself, carry
# ["runs/device/NAME", ".whl_pusht", ".pusht"], no separate call needed.
# BUNDLE_CUT=0 brings back only finished runs and energy models (see the end of this script).
# Only when the next call is sure to follow at once: a cut run left on the device is lost if the machine is
# released first (a refused start, a slow reply); on a contended device leave BUNDLE_CUT unset.
# The call's compiled programs come back as xla_cache.tgz when they fit; put it in .xla_cache/ (ignored)
# and name .xla_cache in the next calls' carry: a fresh machine then reuses them instead of compiling.
# PARALLEL=1 starts the queue's push-T trainings side by side (their energy models one after another
# first), for seeds. Processes time-share the GPU (their kernels do not overlap without MPS), so this
# gains only where one training leaves the GPU waiting on its host side (evaluations, checkpoints,
# logging); how much is not measured yet. Humanoid items still train one at a time on one GPU (one fills the
# GPU: two side by side ran at 46 k + 37 k against 90 k alone).
# On a machine with several GPUs (nvidia-h200-x2) the queue runs one lane per GPU (GPUS=N to choose;
# items dealt out round-robin: `... 585 punch:NEAR spin_kick:NEAR` trains both at once); lane logs at the end.
# DRY_RUN=1 prints what the call would run (nothing trains); a training needs >= 300 s of the call (push-T 150 s;
# NEED_S=S sets both: NEED_S=200 lets a call that is not the lease's last start a Warp run in its last minutes).
set -u
deadline=$1; shift
queue=(); overrides=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; overrides=("$@"); break; fi
  queue+=("$1"); shift
done
if [ "${DRY_RUN:-0}" = 1 ]; then
  start=$(date +%s); left() { echo $(( deadline - ($(date +%s) - start) )); }
  R=${R:-/tmp/queue_dry}; OUT=${OUT:-/tmp/queue_dry_out}; mkdir -p "$R" "$OUT"
  bundle() { echo "bundle $*"; }
else
  . "$(dirname "$0")/_device_setup.sh"
  R=$PWD/runs/device; mkdir -p "$R"
  export NEAR_XLA_CACHE=$PWD/runs/device/xla
  # XLA's programs compiled by an earlier machine of this kind (a call's xla_cache.tgz, carried back in
  # .xla_cache/): a fresh machine then starts with them (start-up: 62 -> 18 s for train-energy and
  # 100 -> 20 s for train on the walk set, cold -> warm: docs/humanoid_speed.md)
  if [ -f .xla_cache/xla_cache.tgz ] && [ ! -d "$NEAR_XLA_CACHE" ]; then
    mkdir -p "$NEAR_XLA_CACHE" && tar xzf .xla_cache/xla_cache.tgz -C "$NEAR_XLA_CACHE" \
      && echo "xla cache: $(ls "$NEAR_XLA_CACHE" | wc -l) compiled programs from .xla_cache"
  fi
fi
run() { if [ "${DRY_RUN:-0}" = 1 ]; then echo "$*"; else "$@"; fi; }

finished() {  # a run folder whose summary reached its budget: the whole iterations in total_env_steps
  python3 - "$1" <<'EOF'
import json, os, sys
run = sys.argv[1]
try:
    summary = json.load(open(os.path.join(run, "summary.json")))
    import yaml
    train = yaml.safe_load(open(os.path.join(run, "config.yaml")))["train"]
    batch = train["num_envs"] * train["horizon"]
    budget = max(1, train["total_env_steps"] // batch) * batch  # as PPOConfig.num_iterations
except (OSError, KeyError, ValueError, TypeError):
    sys.exit(1)
sys.exit(0 if summary.get("env_steps", 0) >= budget else 1)
EOF
}

# push-T at GPU scale (issue #19): demonstration-state starts for half the episodes, the success bonus,
# 4,096 envs with 16 minibatches of 8,192 per epoch (4 of 32,768, as the CPU runs had, gave 1.6 % success
# at 100 M steps against 14 %: benchmarks/results/pusht_gpu_ppo_minibatch_h200.json), 500 M env steps,
# evaluation every 100 iterations (13 M steps)
PUSHT_SETTINGS=${PUSHT_SETTINGS:-task.state_init=hybrid task.success_bonus=remaining train.num_envs=4096 \
train.minibatch_size=8192 train.total_env_steps=500000000 train.eval_every=100}
training_ended() { echo "$1: training ended at $(( $(date +%s) - start )) s of the call"; tail -n 32 "$OUT/$1.log"; }
touched_file=$(mktemp); parallel_pids=(); parallel_names=()
declare -A energy_queued=()  # energy models an ENERGY item of this lane has trained or started, by folder
declare -A energy_beside=()  # energy models training in the background (ENERGY_BESIDE, on by default), by folder
# Two or more GPUs (GPUS, default: as many as nvidia-smi lists): the queue is dealt out round-robin into
# one lane per GPU, each lane a copy of the loop below on its own GPU (CUDA_VISIBLE_DEVICES), so that two
# trainings run at once instead of one after the other; items that share an energy model wait for the lane
# that trains it (a lock folder named after this call). One GPU: one lane, as before.
if [ -z "${GPUS:-}" ]; then GPUS=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); fi
[ "${GPUS:-0}" -ge 1 ] 2>/dev/null || GPUS=1
lanes=$(( GPUS < ${#queue[@]} ? GPUS : ${#queue[@]} )); [ "$lanes" -ge 1 ] || lanes=1

# Waits while another lane trains energy model $1 in this call; returns 0 when this lane may train it
# (it holds the lock then) and 1 when the model is there
claim_energy() {
  [ "$lanes" -gt 1 ] || return 0
  until mkdir "$1.lock.$start" 2>/dev/null; do
    [ -f "$1/summary.json" ] && return 1
    if [ "${DRY_RUN:-0}" = 1 ]; then echo "(waits for $(basename "$1"), trained by another lane)"; return 1; fi
    [ "$(left)" -gt 90 ] || return 1
    sleep 5
  done
  [ -f "$1/summary.json" ] && { rmdir "$1.lock.$start"; return 1; }
  return 0
}

# The inspections of finished NEAR policies wait for a call's idle end (time left that no training of the
# queue can use: a training needs `need` seconds), so that they no longer delay the next training (on
# 2026-12-06 a mummy walk's took ~150 s, and the spin kick after it then found 177 s, too few to start).
# They are listed in a file on the device, one per lane: a call without the time leaves them to the next.
pending_inspections() { echo "$R/.inspections_pending.${CUDA_VISIBLE_DEVICES:-0}"; }

run_inspections() {
  local file rest=() name energy yaml dir motion
  file=$(pending_inspections); [ -f "$file" ] || return 0
  while IFS=$'\t' read -r name energy yaml dir motion; do  # (the commands read /dev/null: the list is stdin)
    # does its energy model still rank the clips' pairs above the policy's own? (~100 s on the device;
    # `timeout` keeps 25 s for the bundle: one started with 94 s left on 2026-12-03 ran past the call's end)
    if [ "$(left)" -le 150 ]; then rest+=("$name"$'\t'"$energy"$'\t'"$yaml"$'\t'"$dir"$'\t'"$motion"); continue; fi
    echo "$name: inspecting its energy model against the policy ($(left) s left)"
    run timeout -k 5 $(( $(left) - 25 )) python3 benchmarks/inspect_energy_posture.py --energy "$energy" --motion "$yaml" \
        --policy "$dir" --out "energy_policy_$name" < /dev/null > "$OUT/inspect_$name.log" 2>&1 \
        && run cp "benchmarks/results/energy_policy_$name.json" "$OUT/"
    # a gait's energy model: does it ask for the clips' stride, or would NEAR's short quick steps do? (~30 s)
    if [[ " walk run mummy_walk " == *" $motion "* ]] && [ "$(left)" -gt 90 ]; then
      local gait; gait=energy_gait_$(basename "$energy")
      run timeout -k 5 $(( $(left) - 25 )) python3 benchmarks/inspect_energy_gait.py --energy "$energy" --motion "$yaml" \
          --grid "$OUT/$gait.png" --out "$gait" < /dev/null > "$OUT/gait_$name.log" 2>&1 && run cp "benchmarks/results/$gait.json" "$OUT/"
    fi
  done < "$file"
  if [ ${#rest[@]} -gt 0 ]; then printf '%s\n' "${rest[@]}" > "$file"; echo "inspections left for the next call: ${#rest[@]}"
  else rm -f "$file"; fi
}

process_queue() {  # the items of one lane, in order
  local spec
  for spec in "$@"; do
    variant=; [ "${spec#*/}" != "$spec" ] && { variant=${spec#*/}; spec=${spec%%/*}; }
    [[ -z "$variant" || "$variant" =~ ^[A-Za-z0-9_]+$ ]] || { echo "gpu_queue: variant name '$variant' in '$spec/$variant' must be letters, digits and _ (it names \$OVERRIDES_$variant)"; exit 2; }
    IFS=: read -r motion method seed <<< "$spec"; seed=${seed:-42}
    [ "$motion" = punch ] && motion=single_left_punch
    name=${RUN_NAME:-${motion}_${method}_$seed}; [ -n "$variant" ] && name=$variant
    run_dir=$R/$name; energy=$R/energy_${motion}_$seed
    var=OVERRIDES_$variant; own=(); [ -n "$variant" ] && own=(${!var:-})
    # task.pair_span changes the pairs the energy model learns from: such a run gets its own energy model
    span=$(printf '%s\n' "${overrides[@]}" "${own[@]}" | sed -n 's/^task\.pair_span=//p' | tail -n 1)
    energy_args=(); [ -n "$span" ] && [ "$span" != 1 ] && { energy=${energy}_span$span; energy_args=(task.pair_span="$span"); }
    # so do energy.* overrides (energy.checkpoint aside): the model is trained with them, in a folder named by them
    mapfile -t energy_keys < <(printf '%s\n' "${overrides[@]}" "${own[@]}" | grep -E '^energy\.' | grep -v '^energy\.checkpoint=')
    if [ ${#energy_keys[@]} -gt 0 ]; then
      energy_args+=("${energy_keys[@]}")
      energy=${energy}_$(printf '%s' "${energy_keys[*]}" | sed -E 's/energy\.//g; s/[^A-Za-z0-9]+/_/g')
    fi
    # energy.checkpoint=NAME, a folder of this queue (energy_run_42): the policy trains on that model, which an ENERGY
    # item queued before it trains; so a policy's seed and its model's seed can be crossed (run:NEAR:8125 on seed 42's)
    given=; kept=()
    for o in "${own[@]}"; do if [[ $o == energy.checkpoint=* ]]; then given=${o#energy.checkpoint=}; else kept+=("$o"); fi; done
    if [ -n "$given" ]; then
      [ "$method" = NEAR ] || { echo "gpu_queue: energy.checkpoint=$given in \$OVERRIDES_$variant is for a NEAR item, not $spec"; exit 2; }
      [[ "$given" =~ ^[A-Za-z0-9_]+$ ]] || { echo "gpu_queue: energy.checkpoint=$given must name an energy folder of this queue (energy_MOTION_SEED)"; exit 2; }
      own=("${kept[@]}"); energy=$R/$given
      if [ ! -f "$energy/summary.json" ] && [ -z "${energy_queued[$energy]:-}" ]; then
        echo "$name: skipped, its energy model $given is not trained (queue its ENERGY item before it)"; continue
      fi
    fi
    if [ "$method" = ENERGY ]; then name=$(basename "$energy"); energy_queued[$energy]=1; fi  # the energy model alone
    if finished "$run_dir" || { [ "$method" = ENERGY ] && [ -f "$energy/summary.json" ]; }; then echo "$name: done"; continue; fi
    # a humanoid training needs ~100 s to compile and ~60 s for its final evaluation's program: one
    # started with 160 s left (2026-12-03) was killed while compiling that evaluation, its minutes lost
    # NEED_S: on MuJoCo Warp a NEAR run of 60 M steps takes ~200 s from launch to its summary (2026-12-07), so a
    # call's tail of 200-300 s can train most of one; a run cut at the call's end resumes in the next
    need=${NEED_S:-300}; [ "$motion" = pusht ] && need=${NEED_S:-150}
    # a NEAR item whose energy model is not trained yet uses a call's last minutes for it (checkpointed,
    # resumed by the next call) instead of leaving them idle
    first=$need; { [ "$method" = NEAR ] || [ "$method" = ENERGY ]; } && [ ! -f "$energy/summary.json" ] && first=90
    [ "$(left)" -gt "$first" ] || { echo "$name: left for the next call ($(left) s left)"; break; }
    if [ "$motion" = pusht ]; then
      task=pushT; [ "$method" = PPO ] || task=pushT$method
      M=task.data=$PWD/.pusht/pusht_cchi_v7_replay.zarr; extra=($PUSHT_SETTINGS)
    else
      task=Humanoid$method; M=motion=$PWD/${MOTION_DIR:-.motion}/amp_humanoid_$motion.yaml; extra=()
    fi
    [ "$method" = ENERGY ] && task=${task%ENERGY}NEAR
    # a NEAR item on a model without the final ELU under the multiplicative annealing rule would fail at its
    # start (the sign trap, notebook item 58) after its energy model took minutes: refuse it before
    if [ "$method" = NEAR ] && printf '%s\n' "${overrides[@]}" "${own[@]}" | grep -q '^energy\.output_activation='; then
      trap_error=$(python3 -c "import sys; from near.config import compose_config; from near.energy.reward import sign_trap_error
cfg = compose_config(sys.argv[1:]); print(sign_trap_error(cfg.energy.output_activation, cfg.reward) or '')" \
          task="$task" "${overrides[@]}" "${own[@]}")
      [ -z "$trap_error" ] || { echo "$name: skipped, $trap_error"; continue; }
    fi
    if [ "$method" = NEAR ] || [ "$method" = ENERGY ]; then
      echo "$(basename "$energy")" >> "$touched_file"
      beside=
      if [ -n "${energy_beside[$energy]:-}" ]; then  # trained beside the items before this one: wait for it
        wait "${energy_beside[$energy]}"; unset "energy_beside[$energy]"; beside=1  # cut or failed: not again here
      fi
      energy_cmd=(timeout -s INT -k 10 $(( $(left) - 25 )) python3 -u -m near.cli train-energy task="$task" "$M"
          seed="$seed" progress=False resume=True ${ENERGY_ITERS:+energy.iterations=$ENERGY_ITERS}
          "${energy_args[@]}" out="$energy")
      if [ ! -f "$energy/summary.json" ] && [ "$method" = ENERGY ] && [ "${ENERGY_BESIDE:-1}" = 1 ] \
          && [ "$lanes" = 1 ]; then
        run "${energy_cmd[@]}" > "$OUT/$(basename "$energy").log" 2>&1 &
        energy_beside[$energy]=$!; echo "$(basename "$energy"): training beside the queue's next items"; continue
      fi
      if [ -z "$beside" ] && [ -z "$given" ] && [ ! -f "$energy/summary.json" ] && claim_energy "$energy"; then
        t0=$(date +%s)
        run "${energy_cmd[@]}" > "$OUT/$(basename "$energy").log" 2>&1
        status=$?
        [ "$lanes" -gt 1 ] && rmdir "$energy.lock.$start" 2>/dev/null
        # 130: stopped by `timeout`'s SIGINT at a chunk's end, checkpointed there; the next call resumes it
        if [ $status = 130 ] || [ $status = 124 ]; then echo "$(basename "$energy"): cut at the call's end, resumes next call"; break; fi
        [ $status = 0 ] || { tail -n 30 "$OUT/$(basename "$energy").log"; exit 1; }
        echo "energy model: $(( $(date +%s) - t0 )) s wall"
      fi
      if [ ! -f "$energy/summary.json" ] && [ "${DRY_RUN:-0}" != 1 ]; then echo "$(basename "$energy"): not trained (cut in another lane); $name waits for the next call"; break; fi
      extra+=(energy.checkpoint="$energy")
      [ "$method" = ENERGY ] && continue
      # MIN_RANK=0.9: a policy on a model that lost the clips (5 of 8 floored ELU crane models ranked 0.70-0.77,
      # notebook items 53, 57) is minutes of GPU spent on a known outcome; skip it and go on with the queue
      if [ -n "${MIN_RANK:-}" ] && [ -f "$energy/summary.json" ]; then
        worst=$(python3 -c "import json, sys; from near.commands.train_energy import worst_ranking
print(worst_ranking(json.load(open(sys.argv[1])))[1])" "$energy/summary.json")
        if awk -v w="$worst" -v m="$MIN_RANK" 'BEGIN { exit !(w < m) }'; then
          echo "$name: skipped, its energy model $(basename "$energy") ranks the demonstrations above random pairs in $worst of cases (MIN_RANK=$MIN_RANK)"
          continue
        fi
      fi
    fi
    [ "$(left)" -gt "$need" ] || { echo "$name: left for the next call ($(left) s left)"; break; }
    # task.physics.impl=auto (the default) trains a humanoid on MuJoCo Warp where warp-lang is installed, else
    # on MJX: without warp-lang's parts on this machine (gpu_warp_parts.sh) a run would train on other physics
    # than the shipped, so stop here unless MJX is asked for (task.physics.impl=jax) or ALLOW_MJX=1
    if [ "$motion" != pusht ] && [ ! -d "${WARP_SITE:-runs/device/warp_site}" ] && [ "${ALLOW_MJX:-0}" != 1 ] \
        && ! printf '%s\n' "${overrides[@]}" "${own[@]}" | grep -q '^task\.physics\.impl=jax$'; then
      echo "$name: not started, no warp-lang on this machine (carry its parts: benchmarks/gpu_warp_parts.sh; or pass task.physics.impl=jax, or ALLOW_MJX=1)"
      [ "${DRY_RUN:-0}" = 1 ] || break
    fi
    resume=False; [ -d "$run_dir/checkpoints" ] && resume=True
    echo "$name" >> "$touched_file"
    # the final evaluation and the bundle need over a minute after the time limit (a 600 s call was cut at 50);
    # `timeout` stops a training that overruns its limit anyway (a push-T call on 2026-12-02 ran past the
    # call's end and came back with nothing), leaving 25 s (and the call's spare) to bundle; -u: its log streams
    train_cmd=(timeout -s INT -k 10 $(( $(left) - 25 )) python3 -u -m near.cli train task="$task" "$M" seed="$seed"
        progress=False resume=$resume "${extra[@]}" train.time_limit_s=$(( $(left) - 80 )) out="$run_dir"
        "${overrides[@]}" "${own[@]}")
    if [ "${PARALLEL:-0}" = 1 ] && [ "$motion" = pusht ]; then
      run "${train_cmd[@]}" > "$OUT/$name.log" 2>&1 &
      parallel_pids+=($!); parallel_names+=("$name"); echo "$name: started beside the others"; continue
    fi
    run "${train_cmd[@]}" > "$OUT/$name.log" 2>&1
    training_ended "$name"
    # a finished NEAR policy gets its inspections (below) when no training can use the call's time
    if [ "$method" = NEAR ] && [ "$motion" != pusht ] && { [ "${DRY_RUN:-0}" = 1 ] || finished "$run_dir"; }; then
      printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$energy" "${M#motion=}" "$run_dir" "$motion" >> "$(pending_inspections)"
    fi
  done
  run_inspections
  for pid in "${energy_beside[@]}"; do wait "$pid"; done  # cut at the call's deadline if need be; resumed next call
  for i in "${!parallel_pids[@]}"; do
    wait "${parallel_pids[$i]}"
    training_ended "${parallel_names[$i]}"
  done
}

if [ "$lanes" = 1 ]; then
  process_queue "${queue[@]}"
else
  lane_pids=()
  for (( lane = 0; lane < lanes; lane++ )); do
    items=(); for (( i = lane; i < ${#queue[@]}; i += lanes )); do items+=("${queue[$i]}"); done
    echo "lane $lane (GPU $lane): ${items[*]}"
    ( export CUDA_VISIBLE_DEVICES=$lane; process_queue "${items[@]}" ) > "/tmp/queue_lane_$lane.log" 2>&1 &
    lane_pids+=($!)
  done
  for (( lane = 0; lane < lanes; lane++ )); do
    wait "${lane_pids[$lane]}"; echo "--- lane $lane"; cat "/tmp/queue_lane_$lane.log"
  done
fi
# BUNDLE_CUT=0: a run cut at this call's end stays on the device only, so that the reply is small and
# the next call comes soon enough to find the machine warm (2026-12-03: after a reply with a 15 MB
# bundle of a cut run the next call found a fresh machine, and the run restarted from zero)
# A cut run comes back with its last step's train item (optimiser, discriminator, RNG, counters), so
# that a later call, on a fresh machine or in another session, can carry it back and resume it
# (this script's header).
keep=(); export BUNDLE_RESUMABLE=
for d in $(sort -u "$touched_file"); do
  if [ "${d#energy_}" != "$d" ] || finished "$R/$d"; then keep+=("$d")
  elif [ "${BUNDLE_CUT:-1}" = 1 ]; then keep+=("$d"); BUNDLE_RESUMABLE="$BUNDLE_RESUMABLE $d"
  else echo "$d: cut, left on the device (BUNDLE_CUT=0)"; fi
done
# a call returns at most 8 files: with two lanes the logs alone can pass that, so past 4 files the logs,
# inspections and figures travel as one archive (tar xzf extras.tgz)
if [ "$(ls "$OUT" | wc -l)" -gt 4 ] && [ "${DRY_RUN:-0}" != 1 ]; then
  (cd "$OUT" && tar czf /tmp/extras.tgz --exclude='*.tgz.part*' --exclude=extras.tgz . && find . -maxdepth 1 -type f \
      ! -name '*.tgz.part*' -delete && mv /tmp/extras.tgz .) && echo "logs, inspections and figures in extras.tgz"
fi
[ ${#keep[@]} -gt 0 ] && bundle "${BUNDLE:-queue}" "${keep[@]}"
# energy weights an earlier reply had no room for (BUNDLE_ENERGY=1) come back now if this reply has room
[ "${DRY_RUN:-0}" = 1 ] || bundle_pending_weights
# the compiled programs come back too (XLA_CACHE_BACK=0: not) when they fit what a call returns (8
# files, 16 MiB each, 64 MiB in all); carry them as .xla_cache/xla_cache.tgz in the next session's calls
if [ "${XLA_CACHE_BACK:-1}" = 1 ] && [ "${DRY_RUN:-0}" != 1 ] && [ -d "$NEAR_XLA_CACHE" ]; then
  tar czf /tmp/xla_cache.tgz -C "$NEAR_XLA_CACHE" .
  size=$(stat -c %s /tmp/xla_cache.tgz)
  if [ "$size" -le $(( 16 * 1048576 )) ] && reply_has_room 1 "$size"; then
    cp /tmp/xla_cache.tgz "$OUT/"; echo "xla cache: $(ls "$NEAR_XLA_CACHE" | wc -l) programs, $size bytes, in xla_cache.tgz"
  else echo "xla cache: $size bytes, not brought back (over what a call returns)"; fi
fi
ls -la "$OUT"; echo "total $(( $(date +%s) - start )) s"

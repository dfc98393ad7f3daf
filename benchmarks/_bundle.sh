# Sourced by _device_setup.sh: what a device call brings back from the run folders in $R into $OUT.
# A reply holds at most 8 files of 16 MiB, 64 MiB in all (REPLY_FILES and REPLY_BYTES change the caps, for tests).
#
# bundle NAME DIR...: the folders (run folders without optimiser state or TensorBoard files, energy
# models without checkpoints; with BUNDLE_ENERGY=1 an energy model keeps its last checkpoint's weights,
# ~40 MB each, so that it can be inspected on the CPU here) as
# $OUT/NAME.tgz.partNN, 15 MiB each (files coming back from a device call are capped at 16 MiB);
# join them here with: cat NAME.tgz.part* | tar xz
# Weights that do not fit the reply wait in $R/.weights_pending; bundle_pending_weights brings them with a
# later call whose reply has room (gpu_queue.sh calls it last): weights_DIR.tgz.partNN, joined the same way.
REPLY_FILES=${REPLY_FILES:-8}; REPLY_BYTES=${REPLY_BYTES:-$(( 63 * 1048576 ))}
last_step() { ls "$R/$1/checkpoints" | grep -E '^[0-9]+$' | sort -n | tail -n 1; }  # of run or energy folder $1
reply_has_room() {  # reply_has_room FILES BYTES: would $OUT stay within a reply's caps with these added?
  local files bytes
  files=$(ls "$OUT" | wc -l); bytes=$(du -cb "$OUT" | tail -n 1 | cut -f1)
  [ $(( files + $1 )) -le "$REPLY_FILES" ] && [ $(( bytes + $2 )) -le "$REPLY_BYTES" ]
}
older_steps() {  # older_steps DIR: --exclude for every checkpoint of $R/DIR but its last
  local last step
  last=$(last_step "$1")
  for step in $(ls "$R/$1/checkpoints"); do [ "$step" = "$last" ] || echo "--exclude=$1/checkpoints/$step"; done
}
bundle() {
  local name=$1; shift
  local keep=(--exclude='energy_*/checkpoints') d step last
  if [ "${BUNDLE_ENERGY:-0}" = 1 ]; then
    keep=()
    for d in "$@"; do
      [ -d "$R/$d/checkpoints" ] && [ "${d#energy_}" != "$d" ] || continue
      mapfile -t -O ${#keep[@]} keep < <(older_steps "$d")
    done
  fi
  # */rollout: the environments' state and AMP's replay buffer (hundreds of MB); */train: optimiser
  # state, of policies and of energy checkpoints alike, except in the last step of the runs named in
  # $BUNDLE_RESUMABLE (cut runs: with it they resume on another machine, `near train ... resume=True`)
  for d in "$@"; do
    [ -d "$R/$d/checkpoints" ] || continue
    last=$(last_step "$d")
    for step in $(ls "$R/$d/checkpoints" | grep -E '^[0-9]+$'); do
      [ "$step" = "$last" ] && [[ " ${BUNDLE_RESUMABLE:-} " == *" $d "* ]] || keep+=(--exclude="$d/checkpoints/$step/train")
    done
  done
  _pack() { rm -f "$OUT/$name".tgz.part*
            tar czf - -C "$R" --exclude='*/rollout' --exclude='tb' "${keep[@]}" "$@" | split -b 15m -d - "$OUT/$name.tgz.part"; }
  _pack "$@"
  # a bundle over a reply's caps would come back cut (a truncated archive), so drop the energy weights, which
  # the device can retrain, and leave them for a later call's reply
  if ! reply_has_room 0 0; then
    echo "bundle: $(ls "$OUT" | wc -l) files, $(du -cb "$OUT" | tail -n 1 | cut -f1) bytes in $OUT: over what a call returns ($REPLY_FILES files, $REPLY_BYTES bytes)"
    if [ "${BUNDLE_ENERGY:-0}" = 1 ]; then
      echo "bundle: again without the energy models' weights; they wait for a later call's reply"
      for d in "$@"; do [ "${d#energy_}" != "$d" ] && [ -d "$R/$d/checkpoints" ] && echo "$d" >> "$R/.weights_pending"; done
      keep=(--exclude='energy_*/checkpoints' "${keep[@]}"); _pack "$@"
    fi
  fi
}
bundle_pending_weights() {  # the energy weights earlier replies had no room for, one model at a time
  local pending=$R/.weights_pending d size still=()
  [ -f "$pending" ] || return 0
  for d in $(sort -u "$pending"); do
    [ -d "$R/$d/checkpoints" ] || continue
    tar czf /tmp/weights.tgz -C "$R" --exclude='*/train' $(older_steps "$d") "$d"
    size=$(stat -c %s /tmp/weights.tgz)
    if reply_has_room $(( size / (15 * 1048576) + 1 )) "$size"; then
      split -b 15m -d /tmp/weights.tgz "$OUT/weights_$d.tgz.part"
      echo "$d: its weights in weights_$d.tgz.part* ($size bytes; cat them | tar xz)"
    else
      still+=("$d"); echo "$d: its weights ($size bytes) wait for a later call's reply"
    fi
  done
  rm -f /tmp/weights.tgz
  if [ ${#still[@]} -gt 0 ]; then printf '%s\n' "${still[@]}" > "$pending"; else rm -f "$pending"; fi
}

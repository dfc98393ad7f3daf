#!/usr/bin/env bash
# What a device call would carry, against its 64 MiB limit (tracked files, untracked files git does
# not ignore, and the carry paths), so that a call is not refused for size:
#   bash benchmarks/device_carry.sh .whl .motion
# With TRIM=1 it first moves the wheels the humanoid does not need on the device out of .whl/ into
# .whl_spare/ (rendering: PyOpenGL, glfw; push-T's store: zarr, numcodecs, donfig, crc32c; 13 MB):
# MJX needs trimesh. 2026-12-03: tracked files 29 MB + .whl 47 MB + .motion 2.8 MB was refused.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
if [ "${TRIM:-0}" = 1 ] && [ -d .whl ]; then
  mkdir -p .whl_spare
  for w in .whl/pyopengl* .whl/PyOpenGL* .whl/glfw* .whl/zarr* .whl/numcodecs* .whl/donfig* .whl/google_crc32c*; do
    [ -f "$w" ] && mv "$w" .whl_spare/ && echo "moved ${w#.whl/} to .whl_spare/"
  done
  grep -qx '/.whl_spare/' .git/info/exclude 2>/dev/null || echo '/.whl_spare/' >> .git/info/exclude
fi
bytes() { du -sb "$@" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
tree=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | xargs -0 -r du -cb 2>/dev/null | tail -n 1 | cut -f1)
total=$tree
printf '%-28s %8.1f MiB\n' "working tree (git's view)" "$(echo "$tree / 1048576" | bc -l)"
for path in "$@"; do
  b=$(bytes "$path"); total=$(( total + b ))
  printf '%-28s %8.1f MiB\n' "$path" "$(echo "$b / 1048576" | bc -l)"
done
printf '%-28s %8.1f MiB of 64\n' "total" "$(echo "$total / 1048576" | bc -l)"
[ "$total" -le $(( 64 * 1048576 )) ] || { echo "over the limit: TRIM=1, or a .motion with only the queued motions (their yaml and folder)"; exit 1; }

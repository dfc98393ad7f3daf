#!/usr/bin/env bash
# Everything a device call carries besides the working tree, made in one go on a fresh checkout (ignored
# folders do not survive from one session to the next). Skips what is already there.
#   .whl           the device's missing wheels (../shared/tools/gpu-wheels.sh, ~47 MB)
#   .whl_slim      the same unpacked and slimmed to one archive (benchmarks/slim_site.sh, ~14 MiB)
#   .whl_pusht     push-T's wheels only: no MuJoCo, MJX, trimesh or OpenGL (~11 MB)
#   .motion        every humanoid motion set (yaml + clip folder)
#   .motion_light  the same without the walk set (9 MB): room for a run folder in the same call
#   .pusht         the push-T replay store without its images (3 MB)
#
#   bash benchmarks/device_prep.sh [DATA_DIR]      # DATA_DIR: default ../shared/data
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
data=${1:-../shared/data}
[ -d "$data/humanoid" ] || { echo "no humanoid motion sets in $data/humanoid"; exit 1; }
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for d in .whl .whl_slim .whl_pusht .motion .motion_light .pusht .xla_cache runs; do
  grep -qx "/$d/" "$exclude" 2>/dev/null || echo "/$d/" >> "$exclude"
done

[ -n "$(ls .whl/mujoco-*.whl 2>/dev/null)" ] || bash ../shared/tools/gpu-wheels.sh > /dev/null
[ -f .whl_slim/site.tar.xz ] || bash benchmarks/slim_site.sh
if [ ! -d .whl_pusht ]; then
  mkdir -p .whl_pusht
  for w in .whl/*.whl .whl_spare/*.whl; do  # .whl_spare: what device_carry.sh TRIM=1 moved out of .whl
    [ -f "$w" ] || continue
    case "${w##*/}" in mujoco-*|mujoco_*|trimesh-*|glfw-*|PyOpenGL-*|pyopengl-*) ;; *) cp "$w" .whl_pusht/ ;; esac
  done
fi
if [ ! -d .motion ]; then mkdir -p .motion && cp -r "$data"/humanoid/* .motion/; fi
if [ ! -d .motion_light ]; then
  mkdir -p .motion_light && cp -r "$data"/humanoid/* .motion_light/
  rm -rf .motion_light/amp_cmu_walk_task .motion_light/amp_humanoid_walk.yaml
fi
if [ ! -d .pusht ] && [ -d "$data/pusht/pusht_cchi_v7_replay.zarr" ]; then
  mkdir -p .pusht && cp -r "$data/pusht/pusht_cchi_v7_replay.zarr" .pusht/
  rm -rf .pusht/pusht_cchi_v7_replay.zarr/data/img
fi
du -sh .whl .whl_slim .whl_pusht .motion .motion_light .pusht 2>/dev/null

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
#   .warp          (WARP=1) part 0 of warp-lang for the device (benchmarks/gpu_warp_parts.sh stage 0, 21 MiB parts)
#   .warp_kernels  (WARP=1) Warp's CUDA kernels built here in the background (benchmarks/warp_kernel_cache.py;
#                  needs `pip install -e ".[warp]"`; 7-14 min on 2 cores, log /tmp/warp_kernels.log)
#
#   bash benchmarks/device_prep.sh [DATA_DIR]      # DATA_DIR: default ../shared/data
#   WARP=1 bash benchmarks/device_prep.sh          # also the MuJoCo Warp lease's first part and kernel pack
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
if [ "${WARP:-0}" = 1 ]; then  # the lease recipe in benchmarks/gpu_warp_parts.sh stages parts 1-3 between calls
  export WARP_PART_MIB=${WARP_PART_MIB:-21} WARP_SPLIT_DIR=${WARP_SPLIT_DIR:-$HOME/.cache/near/warp_split21}
  bash benchmarks/gpu_warp_parts.sh stage 0
  if [ ! -f .warp_kernels/kernels.tar.xz ]; then
    nohup python benchmarks/warp_kernel_cache.py --motion .motion_light/amp_humanoid_mummy_walk.yaml \
      --out .warp_kernels > /tmp/warp_kernels.log 2>&1 &
    echo "building the Warp kernel pack in the background (pid $!, log /tmp/warp_kernels.log)"
  fi
fi
du -sh .whl .whl_slim .whl_pusht .motion .motion_light .pusht .warp .warp_kernels 2>/dev/null

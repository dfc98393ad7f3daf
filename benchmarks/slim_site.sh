#!/usr/bin/env bash
# The device's Python packages as one slim archive, so that a cut run folder travels in the same call:
# unpacks every wheel of .whl/ (a wheel is a zip of its installed files), drops what training never
# imports (MuJoCo's studio, viewers, renderers and headers, tests and their data: the mujoco and
# mujoco-mjx wheels are 33 MiB, mostly these) and writes .whl_slim/site.tar.xz. benchmarks/_device_setup.sh
# unpacks it into /tmp/site instead of installing .whl/ when the call carries .whl_slim:
#
#   bash benchmarks/slim_site.sh                 # here, once (after benchmarks/../shared/tools/gpu-wheels.sh)
#   carry [".whl_slim", ".motion", "runs/device/NAME"] in place of [".whl", ".motion"]
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
ls .whl/*.whl > /dev/null
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for w in .whl/*.whl; do python3 -m zipfile -e "$w" "$work/site"; done
cd "$work/site"
rm -rf mujoco/experimental mujoco/include mujoco/testdata mujoco/usd mujoco/_render_filament.* mujoco/_simulate.* \
       mujoco/viewer.py mujoco/*_test.py mujoco/mjx/test_data mujoco/mjx/integration_test mujoco/mjx/viewer.py \
       mujoco/mjx/testspeed.py trimesh/resources/templates
find . -name '*_test.py' -delete
cd - > /dev/null
mkdir -p .whl_slim
tar cf - -C "$work/site" . | xz -T0 -6 > .whl_slim/site.tar.xz
grep -qx '/.whl_slim/' .git/info/exclude 2>/dev/null || echo '/.whl_slim/' >> .git/info/exclude
echo "wrote .whl_slim/site.tar.xz ($(du -h .whl_slim/site.tar.xz | cut -f1); .whl: $(du -sh .whl | cut -f1))"

"""MuJoCo Warp's CUDA kernels for the humanoid, compiled here on a machine without a GPU (issue #20).

A fresh GPU machine spends ~58 s compiling Warp's kernels before the first humanoid step (37 modules on one
H200, 2026-12-06). Warp compiles CUDA code with its own NVRTC, so a CPU machine can build the same cubins
ahead of time: this steps the humanoid once on the CPU under Warp (which defines every kernel module the
shipped physics uses), then compiles each module for the GPU architectures asked for into a Warp kernel
cache folder. Carried to the device and named by WARP_CACHE_PATH (benchmarks/_device_setup.sh does it when
.warp_kernels/ is carried), Warp loads them instead of compiling.

    python benchmarks/warp_kernel_cache.py --motion .motion/amp_humanoid_walk.yaml [--arch 90] [--out .warp_kernels]
        [--compare DEVICE_LOG]   # which of the modules a device log compiled are in the cache (hash for hash)
    python benchmarks/warp_kernel_cache.py --loads DEVICE_LOG ... [--name warp_kernel_loads]
        # what the pack saved: per log, the GPU modules Warp loaded from its cache and those it compiled, and their seconds

writes OUT/kernels.tar.xz (cubins, PTX and their .meta files, 3.4-4.1 MiB; carry OUT). A module's hash covers its
kernels' code and options, not the machine, so the cache serves any sm_90 GPU with this warp-lang and MuJoCo;
another version of either, or other physics settings, miss it and Warp compiles as before.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import sys
import tarfile
import tempfile
import time

# A GPU whose driver is at least Warp's CUDA toolkit (13.4 for warp-lang 1.19) loads PTX (.sm90.ptx), an older
# driver a cubin (.sm90.cubin): build both, so the cache serves either machine.
FORMATS = (False, True)


# Warp's line per module it loads: name, 7-digit hash, device, milliseconds, and whether it was cached or compiled
LOAD_LINE = re.compile(r"Module (\S+) ([0-9a-f]{7}) load on device 'cuda:\d+' took ([\d.]+) ms\s+\((\w+)\)")


def gpu_loads(log: str) -> list[tuple[str, str, str, str]]:
    """(name, hash, ms, cached | compiled) of every module a device log shows Warp loading on a GPU."""
    return LOAD_LINE.findall(pathlib.Path(log).read_text())


def device_modules(log: str) -> dict[str, str]:
    """{module name: 7-digit hash} of the modules a device log shows Warp loading on a GPU."""
    return {name: digest for name, digest, _, _ in gpu_loads(log)}


def module_loads(log: str) -> dict:
    """Warp's GPU module loads in a device log: how many came from its kernel cache and how many it compiled, with
    their seconds (Warp prints each load's time and which of the two it was)."""
    loads = gpu_loads(log)
    row = {"log": pathlib.Path(log).name}
    for kind in ("cached", "compiled"):
        took = [float(ms) for _, _, ms, how in loads if how == kind]
        row[f"modules_{kind}"] = len(took)
        row[f"seconds_{kind}"] = round(sum(took) / 1000, 2)
    return row


def cached_modules(folder: str) -> dict[str, set[str]]:
    """{module name: hash} of the module folders of a Warp kernel cache (wp_NAME_HASH7)."""
    root = pathlib.Path(folder)
    versions = [d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"[0-9.]+", d.name)]
    out = {}
    for entry in (root / versions[0].name if len(versions) == 1 else root).iterdir():  # Warp keeps one per version
        name, _, digest = entry.name.removeprefix("wp_").rpartition("_")
        if entry.is_dir() and re.fullmatch(r"[0-9a-f]{7}", digest) and any(entry.glob("*.sm*")):
            out.setdefault(name, set()).add(digest)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--motion", help="a motion set or clip (the kernels do not depend on it); needed to build")
    parser.add_argument("--arch", type=int, nargs="+", default=[90], help="SM architectures (H100 and H200: 90)")
    parser.add_argument("--out", default=".warp_kernels")
    parser.add_argument("--compare", default="", help="a device call's log with Warp's module lines: compiles the "
                        "block_dim variants it names and reports which of its modules the cache holds")
    parser.add_argument("--block-dims", type=int, nargs="*", default=[32, 128],
                        help="block_dim variants of every module besides its own (the humanoid's tile kernels launch "
                             "with 32 and 128 on an H200); with --compare, those of them the log names")
    parser.add_argument("--loads", nargs="+", default=[], help="device logs: summarise their modules' loads, build nothing")
    parser.add_argument("--name", default="warp_kernel_loads", help="with --loads: benchmarks/results/NAME.json")
    parser.add_argument("--device", default="", help="with --loads: the machine the logs came from")
    args = parser.parse_args()
    if args.loads:
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        from _report import write_result

        rows = [dict(module_loads(log), device=args.device) for log in args.loads]
        print("| log | modules from the cache | their load, s | modules compiled | their compile, s |\n|---|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['log']} | {r['modules_cached']} | {r['seconds_cached']} | {r['modules_compiled']} | {r['seconds_compiled']} |")
        print(write_result(args.name, "Warp kernel module loads in device logs (benchmarks/warp_kernel_cache.py --loads)", rows))
        return 0
    if not args.motion:
        parser.error("--motion is needed to build the kernels (or --loads to read device logs)")

    import warp

    from near.envs.humanoid.model import quiet_warp

    quiet_warp()
    import jax
    import jax.numpy as jnp

    from near.config import compose_config
    from near.factories import make_humanoid_env

    t0 = time.perf_counter()
    cfg = compose_config(["task=HumanoidNEAR", f"motion={args.motion}", "task.physics.impl=warp",
                          "task.dist_at_clip_speed=false", "task.physics.warp_envs=2"])
    env = make_humanoid_env(cfg)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    state, _ = jax.jit(jax.vmap(env.reset))(keys)
    out = jax.jit(jax.vmap(env.step))(state, jnp.zeros((2, env.action_dim)))
    jax.block_until_ready(out)
    stepped = time.perf_counter() - t0

    from warp._src.build import init_kernel_cache
    from warp._src.context import user_modules

    build = pathlib.Path(tempfile.mkdtemp(prefix="warp_kernels_"))
    init_kernel_cache(str(build))  # the CUDA binaries go to a folder of their own; the CPU's stay in Warp's cache

    # tile kernels launch with their own block_dim on a GPU, a variant of the module with its own hash: compile
    # those of --block-dims (with --compare, only the ones the device log names)
    want = device_modules(args.compare) if args.compare else {}
    compiled, skipped = [], []
    t1 = time.perf_counter()
    for name, module in list(user_modules.items()):
        if not module.kernels:
            continue
        try:
            for use_ptx in FORMATS:
                warp.compile_aot_module(module, arch=args.arch, use_ptx=use_ptx)
            compiled.append(name)
            for block_dim in args.block_dims:
                identifier = module.get_module_identifier(block_dim=block_dim)
                if want and identifier.removeprefix("wp_").rpartition("_")[2] != want.get(name):
                    continue
                options = module.resolve_options(warp.config, block_dim=block_dim)
                for arch in args.arch:
                    for use_ptx in FORMATS:
                        module._compile(None, None, output_arch=arch, options=options, use_ptx=use_ptx)
                compiled.append(f"{name} (block_dim {block_dim})")
        except RuntimeError as exc:  # a module of generic kernels never instantiated
            skipped.append(f"{name}: {str(exc).splitlines()[0][:120]}")
    report = {"modules_compiled": len(compiled), "skipped": skipped, "arch": args.arch, "out": args.out,
              "block_dim_variants": [c for c in compiled if "block_dim" in c],
              "cpu_step_seconds": round(stepped, 1), "compile_seconds": round(time.perf_counter() - t1, 1)}
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    binaries = sorted(f for f in build.rglob("*") if f.is_file() and f.suffix in (".cubin", ".ptx", ".meta"))
    with tarfile.open(out / "kernels.tar.xz", "w:xz") as tar:  # what a load needs: binaries and their .meta
        for f in binaries:
            tar.add(f, arcname=str(f.relative_to(build)))
    report["pack"] = f"{out / 'kernels.tar.xz'} ({(out / 'kernels.tar.xz').stat().st_size / 2**20:.1f} MiB)"
    if args.compare:
        have = cached_modules(str(build))
        misses = sorted(f"{name} {digest}" for name, digest in want.items() if digest not in have.get(name, ()))
        report.update(device_modules=len(want), cache_hits=len(want) - len(misses), misses=misses)
    shutil.rmtree(build, ignore_errors=True)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

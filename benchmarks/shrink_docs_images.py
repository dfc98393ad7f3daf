"""Shrink the PNGs under docs/ to 256-colour palettes (Floyd-Steinberg dithered), in place.

Every device call carries the whole working tree within its 64 MiB, and the docs' frame strips and
plots were most of it (PNG 17.9 MB of the tree's 36 MB on 2026-12-06): with the wheels (13.5 MiB),
the clips (2.7 MiB) and a humanoid run's last checkpoint (21 MiB) a resume no longer fit in one call.
A palette keeps renders and plots as they look at README size and takes about a third of the bytes.

    python benchmarks/shrink_docs_images.py [--min-kb 60] [--dry-run] [PATH ...]   (default: docs/)

Images already in palette mode, and those the palette would not make at least 10 % smaller, are left
as they are, so running it again changes nothing.
"""

from __future__ import annotations

import argparse
import io
import os

from PIL import Image

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def palette_png(path: str) -> bytes | None:
    """The image as a 256-colour PNG, or None where it is a palette already or would not shrink by 10 %."""
    with Image.open(path) as image:
        if image.format != "PNG" or image.mode in ("P", "L", "1"):
            return None
        rgb = image.convert("RGBA") if "A" in image.getbands() else image.convert("RGB")
        # RGBA: fast octree keeps the transparency; RGB: median cut, the better palette for renders
        method = Image.Quantize.FASTOCTREE if rgb.mode == "RGBA" else Image.Quantize.MEDIANCUT
        quantized = rgb.quantize(colors=256, method=method, dither=Image.Dither.FLOYDSTEINBERG)
    buffer = io.BytesIO()
    quantized.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    return data if len(data) < 0.9 * os.path.getsize(path) else None


def shrink(paths: list[str], min_bytes: int, dry_run: bool = False) -> list[tuple[str, int, int]]:
    """(path, bytes before, bytes after) for each PNG rewritten (or, with dry_run, that would be)."""
    done = []
    for path in paths:
        if not path.lower().endswith(".png") or os.path.getsize(path) < min_bytes:
            continue
        data = palette_png(path)
        if data is None:
            continue
        done.append((path, os.path.getsize(path), len(data)))
        if not dry_run:
            tmp = path + ".tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # a killed run leaves the old image, never half of a new one
    return done


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs="*", help="PNG files or folders (default: docs/)")
    parser.add_argument("--min-kb", type=float, default=60.0, help="leave smaller images as they are")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    files = []
    for path in args.paths or [DOCS]:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, name) for name in os.listdir(path))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise SystemExit(f"{path}: no such file or folder")
    done = shrink(files, int(args.min_kb * 1024), args.dry_run)
    before, after = sum(d[1] for d in done), sum(d[2] for d in done)
    for path, b, a in done:
        print(f"{os.path.relpath(path)}: {b / 1e3:.0f} -> {a / 1e3:.0f} kB")
    print(f"{len(done)} images{' (dry run)' if args.dry_run else ''}: {before / 1e6:.1f} -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

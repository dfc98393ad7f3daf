"""benchmarks/shrink_docs_images.py: the docs' PNGs as 256-colour palettes, in place and idempotent."""

import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
import shrink_docs_images as S


def render() -> np.ndarray:
    """A render's kind of image: smooth gradients (many colours) with a little noise."""
    y, x = np.mgrid[0:120, 0:300]
    rgb = np.stack([x * 255 / 300, y * 255 / 120, (x + y) % 256], -1)
    return np.clip(rgb + np.random.default_rng(0).normal(0, 2, (120, 300, 3)), 0, 255).astype(np.uint8)


def test_a_render_becomes_a_smaller_palette_that_looks_the_same_and_a_second_pass_changes_nothing(tmp_path):
    image = render()
    path = tmp_path / "strip.png"
    Image.fromarray(image).save(path)
    (tmp_path / "notes.txt").write_text("not an image")
    before = os.path.getsize(path)

    done = S.shrink([str(path), str(tmp_path / "notes.txt")], min_bytes=0)
    assert [d[0] for d in done] == [str(path)] and done[0][1] == before
    assert os.path.getsize(path) == done[0][2] < 0.9 * before
    with Image.open(path) as shrunk:
        assert shrunk.mode == "P" and shrunk.size == (300, 120)
        # dithered to 256 colours, each pixel stays near its colour (a mean error of a few levels of 255)
        assert np.abs(np.asarray(shrunk.convert("RGB"), np.float64) - image).mean() < 8.0
    assert S.shrink([str(path)], min_bytes=0) == []  # a palette already: left alone
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_a_dry_run_writes_nothing_and_small_images_are_skipped(tmp_path):
    path = tmp_path / "plot.png"
    Image.fromarray(render()).save(path)
    data = path.read_bytes()
    assert S.shrink([str(path)], min_bytes=10**9) == []  # under --min-kb
    assert len(S.shrink([str(path)], min_bytes=0, dry_run=True)) == 1  # it would shrink, and does not
    assert path.read_bytes() == data

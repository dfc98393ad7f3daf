"""Motion sets: the original's yaml lists of clips with sampling weights, and one loader for any input.

A motion-set yaml (spec near-environments.md §6.3)::

    motions:
    - file: amp_cmu_walk_task/amp_cmu_02_01.npy    # relative to the yaml's folder; may contain spaces
      weight: 1.0                                  # >= 0; normalised over clips (not over time)

A file may be listed more than once (it is then drawn more often). Entries may also name DeepMimic
``.txt`` clips. :func:`load_motions` takes a yaml, a single poselib ``.npy`` or a DeepMimic ``.txt``.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np
import yaml

from near.motion.skeleton import SkeletonMotion, fail, short

__all__ = ["MotionEntry", "load_motion_file", "load_motions", "motion_name", "read_motion_set"]

_YAML = (".yaml", ".yml")


def motion_name(path) -> str:
    """The lower-case stem of a motion file or set (``amp_humanoid_spin_kick.yaml`` ->
    ``amp_humanoid_spin_kick``): what the original's per-motion settings and expert values key on."""
    return os.path.splitext(os.path.basename(str(path)))[0].lower()


class MotionEntry(NamedTuple):
    path: str  # absolute or relative to the working directory, ready to open
    weight: float


_MAX_NESTING = 64  # flow brackets deeper than this are refused before parsing


def _nesting(text: str) -> int:
    """The deepest [ / { nesting of the text (quotes ignored: an over-estimate at worst)."""
    b = np.frombuffer(text.encode("utf-8", "surrogatepass"), np.uint8)
    step = np.isin(b, (ord("["), ord("{"))).astype(np.int64) - np.isin(b, (ord("]"), ord("}")))
    return int(np.cumsum(step).max(initial=0))


def read_yaml(source: str, what: str):
    """The parsed yaml file, or one MotionDataError naming the file and what it should have been."""
    try:
        with open(source, encoding="utf-8") as f:
            text = f.read()
        if _nesting(text) > _MAX_NESTING:  # PyYAML takes seconds on a few kB of nested brackets, then fails
            raise fail(source, f"not valid yaml: brackets nested more than {_MAX_NESTING} deep")
        try:
            return yaml.safe_load(text)  # not libyaml's CSafeLoader: deep nesting overflows its C stack (a crash)
        except yaml.YAMLError:
            raise
        except RecursionError:
            raise fail(source, "not valid yaml: nested too deeply") from None
        except Exception as e:  # noqa: BLE001 - a tagged scalar PyYAML cannot build (!!timestamp x: AttributeError)
            raise fail(source, f"not valid yaml ({type(e).__name__}: {short(str(e))})") from None
    except OSError as e:
        raise fail(source, f"cannot read {what} ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise fail(source, f"not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except yaml.YAMLError as e:
        raise fail(source, f"not valid yaml ({short(str(e))})") from None



def _finite(x) -> bool:
    try:
        return math.isfinite(x)
    except OverflowError:  # an int of 400 digits
        return False


def read_motion_set(path) -> list[MotionEntry]:
    """Parse and check a motion-set yaml; the files are checked to exist but not read."""
    source = os.fspath(path)
    doc = read_yaml(source, "the motion set")
    if not isinstance(doc, dict) or not isinstance(doc.get("motions"), list):
        raise fail(source, "a motion set must be a mapping with a list under 'motions'")
    if not doc["motions"]:
        raise fail(source, "'motions' is empty")
    folder = os.path.dirname(os.path.abspath(source))
    entries = []
    for i, item in enumerate(doc["motions"]):
        if not isinstance(item, dict) or not isinstance(item.get("file"), str) or not item["file"].strip():
            raise fail(source, f"motions[{i}] must be a mapping with a 'file' string, got {short(item)}")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not _finite(weight) or weight < 0:
            raise fail(source, f"motions[{i}] ({short(item['file'])}): weight must be a finite number >= 0, got {short(weight)}")
        file = os.path.join(folder, item["file"])  # names may contain spaces: never split them
        if "\0" in file or not os.path.isfile(file):
            raise fail(source, f"motions[{i}]: file {short(item['file'])} not found (looked for {short(file)})")
        entries.append(MotionEntry(file, float(weight)))
    total = sum(e.weight for e in entries)
    if not total > 0:
        raise fail(source, "the weights sum to 0: at least one clip needs a positive weight")
    if not math.isfinite(total):
        raise fail(source, f"the weights sum to {total}: use weights of a sensible size")
    return entries


def load_motion_file(path) -> SkeletonMotion:
    """One clip from a poselib ``.npy`` (a SkeletonMotion) or a DeepMimic ``.txt``."""
    from near.motion.deepmimic import load_deepmimic
    from near.motion.poselib import load_poselib

    source = os.fspath(path)
    ext = os.path.splitext(source)[1].lower()
    if ext == ".txt":
        return load_deepmimic(source)
    if ext != ".npy":
        raise fail(source, f"unknown motion file type {ext!r} (expected .npy, .txt or a .yaml motion set)")
    clip = load_poselib(source)
    if not isinstance(clip, SkeletonMotion):
        raise fail(source, f"holds a {type(clip).__name__} (a single pose), not a SkeletonMotion clip")
    return clip


def load_motions(path) -> tuple[list[SkeletonMotion], np.ndarray]:
    """Clips and their sampling probabilities (summing to 1) from a yaml, ``.npy`` or ``.txt``."""
    source = os.fspath(path)
    if os.path.splitext(source)[1].lower() in _YAML:
        entries = read_motion_set(source)
    else:
        entries = [MotionEntry(source, 1.0)]
    clips = [load_motion_file(e.path) for e in entries]
    weights = np.array([e.weight for e in entries], np.float64)
    return clips, weights / weights.sum()

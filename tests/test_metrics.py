"""Evaluation metrics: DTW against hand examples and dtaidistance, SPARC against an independent slow
version and a known value, root motion, episode helpers, the humanoid hook's shapes."""

import math

import numpy as np
import pytest

from near.eval import gait as G
from near.eval import metrics as M

dtaidistance = pytest.importorskip("dtaidistance")
import itertools

from dtaidistance import dtw as dtai_dtw
from dtaidistance import dtw_ndim


@pytest.mark.parametrize("x, y, expected", [
    ([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0], 0.0),               # identical
    ([1.0, 2.0, 3.0], [1.0, 1.0, 2.0, 2.0, 3.0, 3.0], 0.0),          # a pure time warp costs nothing
    ([0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 3.0, 3.0], 1.0),          # only 2 has no partner: (2-1)^2 or (2-3)^2
    ([0.0, 2.0], [1.0], math.sqrt(2.0)),                             # both frames match the one: 1 + 1
    ([[0.0, 0.0]], [[3.0, 4.0]], 5.0),                               # squared Euclidean cost, sqrt at the end
    ([[0.0, 0.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.0], [3.0, 1.0]], math.sqrt(1 + 0 + 4)),
])
def test_dtw_hand_examples(x, y, expected):
    assert float(M.dtw(np.asarray(x), np.asarray(y))) == pytest.approx(expected, abs=1e-6)


def test_dtw_matches_dtaidistance():
    rng = np.random.default_rng(0)
    for n, m, d in [(1, 1, 1), (1, 9, 3), (13, 4, 2), (40, 57, 45), (120, 90, 6)]:
        x, y = rng.normal(size=(n, d)), rng.normal(size=(m, d))
        assert float(M.dtw(x, y)) == pytest.approx(dtw_ndim.distance(x, y), rel=1e-5)
    a, b = rng.normal(size=30), rng.normal(size=45)  # 1-D: dtaidistance's dtw.distance, same semantics
    assert float(M.dtw(a, b)) == pytest.approx(dtai_dtw.distance(a, b), rel=1e-5)
    assert float(M.dtw(a, b)) == pytest.approx(float(M.dtw(b, a)), rel=1e-6)  # symmetric


def test_dtw_matrix_on_padded_series_equals_one_by_one():
    rng = np.random.default_rng(1)
    xs = [rng.normal(size=(L, 4)) for L in (5, 17, 11)]
    ys = [rng.normal(size=(L, 4)) for L in (9, 3)]
    (px, lx), (py, ly) = M.pad_series(xs), M.pad_series(ys)
    got = np.asarray(M.dtw_matrix(px, py, lx, ly))
    want = np.array([[dtw_ndim.distance(x, y) for y in ys] for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_dtw_300_by_300_is_fast():
    import time

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 45)).astype(np.float32), rng.normal(size=(300, 45)).astype(np.float32)
    M.dtw(x, y).block_until_ready()
    start = time.perf_counter()
    value = M.dtw(x, y).block_until_ready()
    assert time.perf_counter() - start < 0.5  # ~3 ms on 2 CPU cores
    assert float(value) == pytest.approx(dtw_ndim.distance(x.astype(float), y.astype(float)), rel=1e-5)


def test_pose_error_is_root_relative_and_per_joint():
    rng = np.random.default_rng(3)
    pose = rng.normal(size=(2, 3))  # two bodies, root first
    demo = np.broadcast_to(pose, (6, 2, 3)).copy()
    agent = np.broadcast_to(pose, (4, 1, 2, 3)).copy()  # (T+1, k, bodies, 3)
    agent += np.array([5.0, -2.0, 1.0])  # a translated copy: no error
    assert M.pose_error(agent, [demo]) == pytest.approx(0.0, abs=1e-5)
    agent[:, :, 1, 0] += 0.3  # body 1 off by 0.3 in x on every frame of a static pose
    # a warping path has at least max(6, 4) = 6 cells, each 0.3^2: DTW = sqrt(6 * 0.09), / 2 bodies
    expected = math.sqrt(6 * 0.09) / 2
    assert M.pose_error(agent, [demo]) == pytest.approx(expected, rel=1e-5)
    # mean over clips: a second clip that matches exactly halves it
    shifted = demo.copy()
    shifted[:, 1, 0] += 0.3
    assert M.pose_error(agent, [demo, shifted]) == pytest.approx(expected / 2, rel=1e-5)


def test_humanoid_metrics_scores_the_top_k_envs():
    rng = np.random.default_rng(4)
    T, n_envs, bodies = 30, 6, 15
    body_pos = rng.normal(size=(T + 1, n_envs, bodies, 3)).cumsum(0) * 0.01
    learnt = np.array([0.0, 5.0, 1.0, 4.0, -1.0, 3.0])
    demos = [rng.normal(size=(25, bodies, 3)), rng.normal(size=(31, bodies, 3))]
    out = M.humanoid_metrics(body_pos, learnt, demos, k=3)
    np.testing.assert_array_equal(M.top_k(learnt, 3), [1, 3, 5])
    assert out["scored"] == 3
    assert out["pose_error"] == pytest.approx(M.pose_error(body_pos[:, [1, 3, 5]], demos), rel=1e-6)
    roots = [body_pos[:, i, 0] for i in (1, 3, 5)]
    assert out["sparc"] == pytest.approx(np.mean([M.smoothness(r, M.HUMANOID_DT)["sparc"] for r in roots]))
    assert set(out) >= {"root_velocity", "root_acceleration", "root_jerk"}


def test_sample_clip_uses_floor_of_phase():
    frames = np.arange(11)  # 11 frames, 0.1 s apart: 1 s
    np.testing.assert_array_equal(M.sample_clip(frames, 0.1, 0.25), [0, 2, 5, 7, 10])


def _slow_sparc(v, fs, fc=10.0, amp_th=0.05, pad=4):
    """The reference algorithm, written independently: a direct DFT (no FFT) of the half spectrum, loops."""
    n = len(v)
    nfft = 2 ** (math.ceil(math.log2(n)) + pad)
    spectrum = []
    for k in range(nfft // 2 + 1):
        re = sum(v[t] * math.cos(2 * math.pi * k * t / nfft) for t in range(n))
        im = sum(v[t] * math.sin(2 * math.pi * k * t / nfft) for t in range(n))
        spectrum.append((k * fs / nfft, math.hypot(re, im)))
    peak = max(m for _, m in spectrum)
    sel = [(f, m / peak) for f, m in spectrum if f <= fc]
    above = [i for i, (_, m) in enumerate(sel) if m >= amp_th]
    sel = sel[above[0]: above[-1] + 1]
    width = sel[-1][0] - sel[0][0]
    return -sum(math.sqrt(((f1 - f0) / width) ** 2 + (m1 - m0) ** 2) for (f0, m0), (f1, m1) in itertools.pairwise(sel))


def _min_jerk_speed(t):
    return 30 * t**2 - 60 * t**3 + 30 * t**4  # speed of a unit minimum-jerk reach over 1 s


def test_sparc_known_value_of_a_minimum_jerk_profile():
    t = np.linspace(0.0, 1.0, 101)  # 100 Hz
    v = _min_jerk_speed(t)
    # -1.4058 for a minimum-jerk speed profile at 100 Hz (the value usually quoted for a single smooth
    # reach is about -1.41); the slow direct-DFT version gives the same number
    assert M.sparc(v, 100.0) == pytest.approx(-1.40583, abs=1e-4)
    assert M.sparc(v, 100.0) == pytest.approx(_slow_sparc(list(v), 100.0), abs=1e-9)
    gauss = np.exp(-0.5 * ((t - 0.5) / 0.1) ** 2)
    assert M.sparc(gauss, 100.0) == pytest.approx(_slow_sparc(list(gauss), 100.0), abs=1e-9)


def test_sparc_prefers_smooth_over_tremor_and_batches():
    t = np.linspace(0.0, 1.0, 101)
    v = _min_jerk_speed(t)
    tremor = v + 0.1 * np.sin(2 * np.pi * 6 * t)
    smooth_value, tremor_value = M.sparc(np.stack([v, tremor]), 100.0)
    assert smooth_value > tremor_value
    assert tremor_value == pytest.approx(_slow_sparc(list(tremor), 100.0), abs=1e-9)
    # on positions, per axis, through smoothness(): the same ordering
    p = np.cumsum(np.stack([v, 0.5 * v, 0 * v], -1), 0) * 0.01
    p_tremor = np.cumsum(np.stack([tremor, 0.5 * tremor, 0 * v], -1), 0) * 0.01
    assert M.smoothness(p, 0.01)["sparc"] > M.smoothness(p_tremor, 0.01)["sparc"]


def test_sparc_clamps_cutoff_to_nyquist_and_zero_signal_is_nan():
    t = np.linspace(0.0, 1.0, 31)
    v = _min_jerk_speed(t) + 0.05 * np.cos(2 * np.pi * 3 * t)
    fs = 1 / 0.3  # the maze's step rate: fc = 10 Hz is above Nyquist
    assert M.sparc(v, fs) == pytest.approx(_slow_sparc(list(v), fs, fc=fs / 2), abs=1e-9)
    assert np.isnan(M.sparc(np.zeros(20), 10.0))


def test_root_motion_and_episode_helpers():
    t = np.arange(11)[:, None] * 0.1
    p = t * np.array([1.0, 2.0, 2.0]) + 0.5 * t**2 * np.array([0.0, 0.0, 4.0])  # v0 = (1, 2, 2), a = (0, 0, 4)
    out = M.smoothness(p, 0.1)
    vel, acc, jerk = M.finite_differences(p, 0.1)
    assert vel.shape == (10, 3) and acc.shape == (9, 3) and jerk.shape == (8, 3)
    assert out["root_acceleration"] == pytest.approx(4.0)
    assert out["root_jerk"] == pytest.approx(0.0, abs=1e-9)
    assert out["root_velocity"] == pytest.approx(np.linalg.norm(vel, axis=1).mean())
    stats = M.episode_stats([1.0, 3.0], [10, 20], success=[True, False])
    assert stats == {"task_return": 2.0, "task_return_std": 1.0, "episode_length": 15.0,
                     "episode_length_std": 5.0, "success_rate": 0.5}
    assert M.fall_rate([300, 120, 45, 300], 300) == 0.5
    assert M.fall_rate([300, 120, 45], 300, success=[False, True, False]) == pytest.approx(1 / 3)
    path = M.path_metrics([p[:, :2], p[:1, :2]], 0.1)  # one-frame episodes are skipped
    assert path["path_speed"] == pytest.approx(np.linalg.norm(vel[:, :2], axis=1).mean())
    assert np.isfinite(path["path_sparc"])


def _gait_clip(seconds: float = 4.0, dt: float = 1 / 30, speed: float = 1.3, seed: int = 0):
    """A hand-made walking clip: root forward at `speed` m/s at 0.9 m with a bounce, 28 DOFs swinging."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, dt)
    root = np.stack([speed * t, 0.02 * np.sin(2 * np.pi * t), 0.9 + 0.02 * np.sin(4 * np.pi * t)], -1)
    dof = 0.4 * np.sin(2 * np.pi * t[:, None] + rng.uniform(0, 2 * np.pi, 28)) + rng.uniform(-0.3, 0.3, 28)
    return root, dof


def test_posture_metrics_catch_a_crouch_a_freeze_and_a_wrong_arm():
    dt = 1 / 30
    clips = [_gait_clip(seed=s) for s in (0, 1)]
    roots, dofs = [c[0] for c in clips], [c[1] for c in clips]
    same = G.posture_metrics(roots, dofs, roots, dofs, dt)
    assert same["root_height_ratio"] == pytest.approx(1.0)
    assert same["root_speed_ratio"] == pytest.approx(1.0)
    assert same["joint_angle_distance"] == 0.0

    crouch = G.posture_metrics([r - [0, 0, 0.15] for r in roots], dofs, roots, dofs, dt)
    assert crouch["root_height_ratio"] == pytest.approx(0.75 / 0.9, abs=0.01)

    frozen = G.posture_metrics([np.repeat(r[:1], len(r), 0) for r in roots], [np.repeat(d[:1], len(d), 0) for d in dofs],
                               roots, dofs, dt)
    assert frozen["root_speed_ratio"] == 0.0
    assert frozen["joint_angle_distance"] > 0.1

    arms = [d.copy() for d in dofs]
    for d in arms:
        d[:, 6:14] += 0.8  # shoulders and elbows held 0.8 rad off
    wrong = G.posture_metrics(roots, arms, roots, dofs, dt)
    assert wrong["joint_angle_distance"] == pytest.approx(0.8 * 8 / 28, rel=1e-6)  # 8 of 28 DOFs moved by 0.8
    assert wrong["root_height_ratio"] == pytest.approx(1.0)

    with pytest.raises(ValueError, match="same D"):
        G.joint_angle_distance(dofs[0], dofs[0][:, :10])


def test_joint_angle_distance_by_body_part_names_the_limb_that_is_off():
    from near.motion.humanoid import BODY_PARTS
    dt = 1 / 30
    clips = [_gait_clip(seed=s) for s in (0, 1)]
    roots, dofs = [c[0] for c in clips], [c[1] for c in clips]
    knee_down = [d.copy() for d in dofs]
    for d in knee_down:
        d[:, BODY_PARTS["right_leg"][3]] -= 0.7  # the right knee never bends as far as the clips'
    out = G.posture_metrics(roots, knee_down, roots, dofs, dt, parts=BODY_PARTS)
    assert out["joint_angle_distance_right_leg"] == pytest.approx(0.7 / 7, rel=1e-6)
    for part in ("trunk", "right_arm", "left_arm", "left_leg"):
        assert out[f"joint_angle_distance_{part}"] == 0.0
    assert out["joint_angle_distance"] == pytest.approx(0.7 / 28, rel=1e-6)
    # without parts, only the whole-body number
    assert not any(k.startswith("joint_angle_distance_") for k in G.posture_metrics(roots, dofs, roots, dofs, dt))


def _wandering_gait(seconds: float, seed: int, dt: float = 1 / 30) -> np.ndarray:
    """Root positions of a gait whose stride frequency wanders, as real strides do (T, 3)."""
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * np.cumsum(1.0 + np.cumsum(rng.normal(0, 0.02, int(seconds / dt)))) * dt
    vel = np.stack([1.3 + 0.3 * np.sin(2 * phase), 0.3 * np.sin(phase), 0.2 * np.sin(2 * phase + 0.5)], -1)
    return np.concatenate([np.zeros((1, 3)), np.cumsum(vel, 0) * dt])


def test_window_sparc_compares_policy_and_clips_at_one_length():
    dt = 1 / 30
    clips = [_wandering_gait(3.0, s) for s in range(8)]
    episodes = [_wandering_gait(10.0, s) for s in range(10, 14)]  # the same gait, recorded 10 s long
    whole_clips, whole_episodes = M.mean_smoothness(clips, dt)["sparc"], M.mean_smoothness(episodes, dt)["sparc"]
    assert whole_episodes < whole_clips - 0.5  # the length alone reads as jerk
    same = G.window_sparc(episodes, clips, dt)
    assert same["window_sparc_steps"] == 91
    assert same["window_sparc_clips"] == pytest.approx(whole_clips)
    assert abs(same["window_sparc"] - same["window_sparc_clips"]) < 0.3  # at one length: alike
    t = np.arange(len(episodes[0])) * dt
    jittery = [e + 0.01 * np.sin(2 * np.pi * 6 * t)[:, None] * [1, 1, 0] for e in episodes]
    assert G.window_sparc(jittery, clips, dt)["window_sparc"] < same["window_sparc_clips"] - 0.8
    assert np.isnan(G.window_sparc([episodes[0][:50]], clips, dt)["window_sparc"])  # no full window
    with pytest.raises(ValueError, match="at least one clip"):
        G.window_sparc(episodes, [], dt)


def test_cadence_ratio_shows_short_quick_steps():
    dt = 1 / 30
    clips = [_wandering_gait(3.0, s) for s in range(8)]  # the pelvis bobs twice per stride: ~2 steps/s
    same = G.cadence_ratio([_wandering_gait(10.0, s) for s in range(10, 14)], clips, dt)
    assert same["step_frequency"] == pytest.approx(2.0, abs=0.25)  # the stride frequency wanders
    assert same["cadence_ratio"] == pytest.approx(1.0, abs=0.15)
    t = np.arange(0.0, 10.0, dt)
    shuffle = np.stack([1.3 * t, 0.01 * np.sin(2 * np.pi * 2.2 * t), 0.9 + 0.01 * np.sin(2 * np.pi * 4.4 * t)], -1)
    quick = G.cadence_ratio([shuffle], clips, dt)  # the clips' speed in steps of half their length
    assert quick["step_frequency"] == pytest.approx(4.4, abs=0.1)
    assert quick["cadence_ratio"] > 2.0
    assert np.isnan(G.step_frequency(shuffle[:5], dt))


def _walking_feet(seconds: float, stride: float, stride_hz: float, lift: float = 0.1, dt: float = 1 / 30) -> np.ndarray:
    """Feet positions (T, 2, 3) of a gait: each foot stands half a stride period, then swings ``stride``
    metres forward in an arc ``lift`` high; the feet half a period apart, 8 cm above the floor at rest."""
    t = np.arange(0.0, seconds, dt)
    feet = []
    for offset in (0.0, 0.5):
        phase = t * stride_hz + offset
        cycle, within = np.floor(phase), phase % 1.0
        swing = np.clip(2 * within - 1, 0, 1)  # 0 while standing, 0 -> 1 through the swing
        x = stride * (cycle + swing)
        z = 0.08 + lift * np.sin(np.pi * swing)
        feet.append(np.stack([x, np.full_like(x, 0.2 * offset), z], -1))
    return np.stack(feet, 1)


def test_stride_ratio_measures_short_steps_at_the_feet():
    dt = 1 / 30
    clips = [_walking_feet(3.0, 1.4, 0.9)]
    same = G.stride_ratio([_walking_feet(10.0, 1.4, 0.9)], clips, dt)
    assert same["stride_length"] == pytest.approx(1.4, abs=0.05)
    assert same["stride_length_ratio"] == pytest.approx(1.0, abs=0.05)
    assert same["landing_rate"] == pytest.approx(1.8, abs=0.1) and same["landing_rate_clips"] == pytest.approx(1.8, abs=0.4)
    shuffle = G.stride_ratio([_walking_feet(10.0, 0.7, 2.0)], clips, dt)  # about the speed, half the stride
    assert shuffle["stride_length_ratio"] == pytest.approx(0.5, abs=0.05)
    assert shuffle["landing_rate"] == pytest.approx(4.0, abs=0.2)  # both feet, twice a second each
    assert len(G.touchdowns(_walking_feet(10.0, 0.7, 2.0)[:, 0, 2])) == pytest.approx(20, abs=1)  # 2 landings/s
    shuffle = _walking_feet(10.0, 0.7, 2.0, lift=0.04)  # feet that barely leave the floor still land
    shuffle[:, 1, 2] += 0.02 * (np.arange(len(shuffle)) % 30 < 15)  # one foot's landings 2 cm higher at times
    assert len(G.touchdowns(shuffle[:, 1, 2])) == pytest.approx(20, abs=1)
    standing = np.broadcast_to([0.0, 0.0, 0.08], (300, 2, 3))  # never lifts a foot: no stride at all
    standing_out = G.stride_ratio([standing], clips, dt)
    assert np.isnan(standing_out["stride_length"]) and standing_out["landing_rate"] < 0.2


def test_foot_slide_tells_planted_feet_from_skating_ones():
    dt = 1 / 30
    walking = _walking_feet(10.0, 1.4, 0.9)  # each foot still while it stands
    skating = walking.copy()
    skating[..., 2] = 0.08  # the feet never lift...
    skating[..., 0] = 1.26 * np.arange(len(skating))[:, None] * dt  # ...and glide along at the walk's speed
    out = G.foot_slide_ratio([skating], [walking], dt)
    assert out["foot_slide_clips"] < 0.05
    assert out["foot_slide"] == pytest.approx(1.26, abs=0.01)
    assert np.isnan(G.foot_slide_ratio([], [walking], dt)["foot_slide"])


def test_clip_postures_sample_each_clip_at_the_control_step():
    root = np.arange(20 * 3, dtype=float).reshape(20, 3)
    dof = np.arange(20 * 28, dtype=float).reshape(20, 28)
    roots, dofs = G.clip_postures(root, dof, clip_start=[0, 10], clip_frames=[10, 10], clip_fps=[60, 60], dt=1 / 30)
    assert [len(r) for r in roots] == [5, 5]  # 9 frames of 1/60 s at 1/30 s steps: t = 0, 1/30, ..., 4/30
    np.testing.assert_array_equal(roots[1][:, 0], root[10:20:2, 0])
    np.testing.assert_array_equal(dofs[0][:, 0], dof[0:10:2, 0])


def test_metrics_of_nothing_measurable_are_nan_without_numpy_warnings():
    """All-NaN inputs (an episode too short for SPARC, clips without a step) give NaN quietly: numpy's
    'Mean of empty slice' used to reach every `near eval` of such a run."""
    import warnings

    from near.eval.gait import cadence_ratio
    from near.eval.metrics import mean_smoothness, nan_mean, nan_median

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(mean_smoothness([np.zeros((1, 3)), np.zeros((2, 3))], 1 / 30)["sparc"])
        assert np.isnan(nan_mean([np.nan, np.nan])) and np.isnan(nan_median([]))
        assert np.isnan(cadence_ratio([], [], 1 / 30)["step_frequency"])
    assert nan_mean([1.0, np.nan, 3.0]) == 2.0 and nan_median([1.0, 2.0, np.nan]) == 1.5


def test_key_height_distance_names_the_foot_that_is_never_lifted():
    dt = 1 / 30
    t = np.arange(0.0, 8.0, dt)
    names = ["right_hand", "left_hand", "right_foot", "left_foot"]
    # a crane clip: hands at 1.3 m, the left foot down, the right lifted to 0.5 m for the middle half
    clip = np.zeros((len(t), 4, 3))
    clip[:, :2, 2] = 1.3
    clip[:, 2:, 2] = 0.05
    clip[(t > 2) & (t < 6), 2, 2] = 0.5
    same = G.key_height_distance([clip], [clip], names)
    assert same["key_height_distance"] == 0.0
    feet_down = clip.copy()
    feet_down[:, 2, 2] = 0.05  # the right foot never leaves the floor
    out = G.key_height_distance([feet_down, feet_down[:100]], [clip], names)
    assert out["key_height_distance_right_foot"] == pytest.approx(0.45 * 0.5, abs=0.01)  # half the clip, 0.45 m off
    for name in ("right_hand", "left_hand", "left_foot"):
        assert out[f"key_height_distance_{name}"] == 0.0
    assert out["key_height_distance"] == pytest.approx(out["key_height_distance_right_foot"] / 4)
    with pytest.raises(ValueError, match="4 key bodies against 3 names"):
        G.key_height_distance([clip], [clip], names[:3])


def test_pose_reach_finds_the_move_a_policy_never_makes_whatever_its_timing():
    """pose_reach: 0 for the clip against itself and for its frames in another order (the poses are all
    there); a policy that holds the guard and never punches is far from the punch's frames, in the arm
    that punches and nowhere else, where the angle histograms barely notice a punch of 8 frames in 100."""
    rng = np.random.default_rng(0)
    frames = 100
    clip = np.zeros((frames, 6))  # DOFs 0-2: the left arm; 3-5: the legs, which sway the same in both
    clip[:, 3:] = 0.2 * np.sin(np.linspace(0, 6 * np.pi, frames))[:, None]
    clip[40:48, :3] = [1.2, 0.4, -0.8]  # the punch: 8 frames with the arm stretched out
    parts = {"left_arm": [0, 1, 2], "legs": [3, 4, 5]}
    same = G.pose_reach(clip, clip, parts)
    assert set(same) == {"pose_reach", "pose_reach_left_arm", "pose_reach_legs"} and max(same.values()) < 1e-6
    shuffled = G.pose_reach(clip[rng.permutation(frames)], clip, parts)
    assert max(shuffled.values()) < 1e-3
    guard = clip.copy()
    guard[:, :3] = 0.0  # the same legs, the arm never leaves the guard
    out = G.pose_reach(np.concatenate([guard, guard]), clip, parts)
    arm_off = np.sqrt((1.2 ** 2 + 0.4 ** 2 + 0.8 ** 2) / 3)  # RMS over the arm's DOFs, in 8 of 100 frames
    assert out["pose_reach_left_arm"] == pytest.approx(arm_off * 8 / frames, rel=1e-3)
    assert out["pose_reach_legs"] < 1e-3 and 0 < out["pose_reach"] < out["pose_reach_left_arm"]
    # the nearest-pose search over at most `most` frames, evenly spaced, gives the same here
    assert G.pose_reach(guard, clip, parts, most=50)["pose_reach_left_arm"] == pytest.approx(arm_off * 8 / frames, rel=0.05)
    with pytest.raises(ValueError, match="same D"):
        G.pose_reach(guard[:, :5], clip)


def test_imitation_flags_name_the_glide_the_patter_and_the_statue_that_the_limits_pass():
    """imitation_flags: feet sliding while down (NEAR's run of seed 8125 shuffled at 1.81 m/s against the clips'
    0.37), strides far shorter than the clips' on a gait, and a pose reach no nearer than a statue's each show;
    a run like its clips shows nothing; a motion that stays put is not held to strides; the table prints them."""
    from near.eval.report import metrics_table

    runner = {"foot_slide": 0.40, "foot_slide_clips": 0.37, "stride_length_ratio": 0.9, "pose_reach": 0.10,
              "statue_pose_reach": 0.22, "clips_root_speed": 3.4}
    assert G.imitation_flags(runner) == []
    shuffle = dict(runner, foot_slide=1.81, stride_length_ratio=0.34, pose_reach=0.224, statue_pose_reach=0.225)
    flags = G.imitation_flags(shuffle)
    assert [f.split(" ")[0] for f in flags] == ["feet", "strides", "poses"] and "(4.9 x the clips')" in flags[0]
    crane = dict(runner, stride_length_ratio=0.1, clips_root_speed=0.03)  # the clips stand: strides say nothing
    assert G.imitation_flags(crane) == [] and G.imitation_flags(crane, travels=True) != []
    assert G.imitation_flags(dict(runner, foot_slide=0.05, foot_slide_clips=0.02)) == []  # barely moving feet
    assert G.imitation_flags({"success_rate": 1.0}) == []  # not a humanoid evaluation
    text = metrics_table(dict(shuffle, episodes=8), "eval")
    assert "unlike the clips: feet slide 1.81 m/s while down" in text and "statue in the clips' mean pose" in text
    assert "unlike the clips" not in metrics_table(dict(runner, episodes=8), "eval")


def test_statue_pose_reach_is_the_reach_of_the_clips_mean_pose_held():
    clip = np.zeros((20, 2))
    clip[:, 1] = np.where(np.arange(20) < 10, -0.5, 0.5)  # one DOF still, one swinging between -0.5 and 0.5
    out = G.statue_pose_reach([clip[:10], clip[10:]], {"still": [0], "swing": [1]})
    assert out["pose_reach_still"] == pytest.approx(0.0, abs=1e-9)
    assert out["pose_reach_swing"] == pytest.approx(0.5, abs=1e-9)  # every frame 0.5 from the mean, 0
    assert out["pose_reach"] == pytest.approx(np.sqrt(0.25 / 2), abs=1e-9)  # RMS over both DOFs
    # a policy that takes the clips' poses is nearer than the statue
    assert G.pose_reach(clip, clip)["pose_reach"] < out["pose_reach"]


def test_inspect_launches_finds_the_episode_that_leaves_the_floor():
    import os
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
    from inspect_launches import per_episode

    dt, steps = 1 / 30, 40
    root_z = np.full((steps, 3), 0.9)
    root_z[10:14, 1] = [1.0, 1.1, 1.0, 0.9]  # a jump: at most 3 m/s up
    root_z[20:, 2] = 0.8 + 0.5 * np.arange(steps - 20)  # launched: 15 m/s up from step 20
    qpos = np.zeros((steps, 3, 43))
    qpos[:, :, 2] = root_z
    feet_z = np.zeros((steps, 3, 2))
    feet_z[5:9, 0, 1] = 0.9  # a kick with the left foot in episode 0
    eps = per_episode(qpos, feet_z, np.array([steps, steps, 30]), dt)
    assert [e["max_up_speed"] > 5.0 for e in eps] == [False, False, True]
    assert eps[1]["max_up_speed"] == pytest.approx(3.0)
    assert eps[2]["max_height"] == pytest.approx(0.8 + 0.5 * 9)  # cut at its episode's 30 steps
    assert (eps[0]["feet_z"] > 0.7).sum() == 4 and eps[2]["length"] == 30


def test_the_eval_table_names_each_humanoid_measure_it_has():
    """near eval's terminal table: a humanoid evaluation's pose reach and its parts get their rows; a maze's has none."""
    from near.eval.report import metrics_table

    text = metrics_table({"pose_reach": 0.396, "pose_reach_left_arm": 0.467, "fall_rate": 0.0, "episodes": 2}, "eval")
    assert "pose reach" in text and "0.396" in text and "of the left arm" in text and "0.467" in text
    assert "pose reach" not in metrics_table({"success_rate": 1.0, "episodes": 4}, "maze")

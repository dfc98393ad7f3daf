"""The run configuration: structured dataclasses, composed by Hydra from conf/task and conf/train.

Users write the original's ``key=value`` overrides: ``task=mazeNEAR``, ``train=mazeCEM``,
``reward.sigma_level=5``, ``energy.iterations=20000``, ``out=runs/x``, ``smoke=True``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from dataclasses import field
from typing import Any

from hydra import compose, initialize_config_module
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from near.energy.network import OUTPUT_ACTIVATIONS
from near.energy.reward import RewardConfig
from near.energy.train import STD_FLOORS, EnergyConfig
from near.rl.amp import AMPConfig
from near.rl.cem import CEMConfig
from near.rl.ppo import COMPILE_EVAL_AHEAD, PPOConfig
from near.utils.jax_setup import NETWORK_PRECISIONS

ALGOS = ("NEAR", "AMP", "CEM", "PPO")


@dataclasses.dataclass
class PhysicsOptions:
    """Humanoid simulation settings (near.envs.humanoid.model.PhysicsConfig)."""

    timestep: float = 0.00555
    substeps: int = 6
    solver: str = "Newton"
    iterations: int = 3
    ls_iterations: int = 6
    floor_contacts: str = "auto"  # auto | feet | all: which bodies collide with the floor (see near.envs.humanoid.model)
    torque_limit: str = "none"  # none | gear: PD torques unclipped (Isaac Gym) or clipped at the motor gears
    cone: str = "pyramidal"  # pyramidal | elliptic: MuJoCo's friction cone
    impratio: float = 1.0  # MuJoCo's friction-to-normal impedance ratio: above 1, feet slip less under load
    # auto | jax | warp: MuJoCo Warp through MJX on a GPU where warp-lang is installed (pip install "near[warp]"),
    # else MJX on XLA; a run records what auto chose (since 2026-12-06; runs before trained on jax)
    impl: str = "auto"
    warp_envs: int = 0  # impl=warp: most envs one program steps (sizes Warp's contact buffer); 0: the run's largest batch
    # corners | box: spheres at each foot box's 8 corners meet the floor (as MuJoCo C's box would), or the
    # box itself through MJX's plane-box collision, which drops corners (every run before 2026-12-04)
    foot_contact: str = "corners"


@dataclasses.dataclass
class TaskConfig:
    """What is learnt: the environment, the algorithm, the demonstrations."""

    name: str = "mazeNEAR"
    env: str = "maze"
    algo: str = "NEAR"  # NEAR | AMP | CEM | PPO
    data: str = ""  # demonstrations (a zarr store); "" = generate them with the scripted expert
    num_demo_episodes: int = 300  # generated demos
    demo_drop_repeated: bool = False  # drop recorded idle frames (identical consecutive states)
    demo_upsample: int = 1  # k-1 interpolated states between recorded frames (slow-rate recordings)
    max_episode_steps: int = 650
    # where training episodes start. humanoid (spec near-environments.md §5): random | start |
    # weighted_random | default | hybrid. push-T: random (the original's), demo (a recorded
    # demonstration state) or hybrid (demo with probability hybrid_init_prob); evaluation always
    # starts from the original's random states
    state_init: str = "random"
    hybrid_init_prob: float = 0.5
    # push-T: what reaching the goal pays. "none" (the original's): the episode ends, nothing more;
    # "remaining": the most the remaining steps could have paid, so finishing beats parking near the goal
    success_bonus: str = "none"
    # the bonus per remaining step with success_bonus=remaining, in task-reward units. 1 is the task
    # reward's most per step; NEAR and AMP also pay a style reward (at most 1 a step, weighted), and
    # parking then earns more than finishing unless the bonus covers it: their push-T tasks set
    # (task_weight + style_weight) / task_weight (issue #19)
    success_bonus_per_step: float = 1.0
    # humanoid (env: humanoid; spec near-environments.md §5)
    reward_types: list[str] = field(default_factory=list)  # time / dist / height; [] = inferred from the motion name
    # the forward root speed (m/s) at which "dist" pays its full 1; 0 = the original's 0.5 m per control step
    # (15 m/s), where walking at 1.3 m/s earns 0.09 of it (docs/humanoid_moving_like_the_clips.md, item 68)
    dist_full_speed: float = 0.0
    # true: "dist" pays its full 1 at the clips' own mean root speed (near.motion.library.clip_speed), so a
    # policy is paid fully for moving as fast as its clips, whatever the motion (item 72); not the original's
    dist_at_clip_speed: bool = False
    # the root's upward speed (m/s) above which a step counts as an exploded simulation and ends the episode
    # (MJX's 3-iteration contact solve can launch a landing character; item 69); 0 = no check, as before 2026-12-06
    max_root_up_speed: float = 5.0
    local_root_obs: bool = False
    # steps between the two states of a pair, [s(t), s(t - pair_span * dt)], for the expert pairs and
    # the policy's alike; 1 is the original's. Longer spans let one pair show a stride (issue #16)
    pair_span: int = 1
    tracking: bool = False  # HumanoidTrack: follow the reset's clip (DeepMimic-style check, issue #16)
    termination_height: float = 0.3
    early_termination: bool = True
    num_demo_pairs: int = 200_000  # expert pairs drawn from the motion library for the energy model / AMP
    drop_tpose_frame: bool = True  # motion library options, see near.motion.library
    dedupe_frames: bool = True
    ground_floating_clips: bool = True  # drop end frames that jump, lower a clip that floats (run: amp_cmu_09_10)
    physics: PhysicsOptions = field(default_factory=lambda: PhysicsOptions())


@dataclasses.dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    train: PPOConfig = field(default_factory=PPOConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    cem: CEMConfig = field(default_factory=CEMConfig)  # task.algo=CEM (model-predictive planning)
    amp: AMPConfig = field(default_factory=AMPConfig)
    motion: str = ""  # humanoid: a motion-set yaml, a poselib .npy clip or a DeepMimic .txt clip
    seed: int = 42
    out: str = ""  # run folder; default runs/<task>-<command>-<time>
    smoke: bool = False  # the same code at tiny sizes (under a minute on CPU)
    resume: bool = False  # continue the run in `out` from its last checkpoint
    checkpoint: str = ""  # a trained policy or energy model (play, viz, eval)
    policy: str = ""  # viz energy of a humanoid energy model: a policy run whose episode is scored beside the clips
    progress: bool = True  # progress bars
    episodes: int = 16  # play / eval episodes
    # play / eval: act with the policy's own noise (actions drawn at its std), not its mean. The default,
    # the mean, is the original's; a policy that trained with a floored std can depend on its noise
    # (push-T, issue #19: 16 % success with the mean, 99 % sampled)
    sample_actions: bool = False
    video: bool = True  # play: write a video
    gif: bool = False  # play: also an animated GIF of the first episode (small, for READMEs and web pages)
    video_clip: int = 0  # play, humanoid: the video's episode starts from this clip of the motion set
    video_start: float = 0.0  # ... at this time into it (s): e.g. where a crane clip holds its lifted knee


ConfigStore.instance().store(name="near_schema", node=Config)

# Tiny sizes for smoke=True: same code paths, seconds instead of minutes.
SMOKE = {
    "energy.iterations": 300,
    "energy.log_every": 100,
    "energy.checkpoint_every": 300,
    "train.num_envs": 8,
    "train.horizon": 16,
    "train.minibatch_size": 64,
    "train.total_env_steps": 8 * 16 * 4,
    "train.iterations_per_log": 2,
    "train.checkpoint_every": 2,
    "train.eval_episodes": 4,
    "train.actor_hidden": [32, 32],
    "train.critic_hidden": [32, 32],
    "task.num_demo_episodes": 20,
    "amp.hidden": [32, 32],
    "amp.minibatch_size": 32,
    "cem.episodes": 2,
    "cem.num_envs": 2,
    "cem.max_steps": 5,
    "episodes": 2,
}


# and for the humanoid, whose original networks are large
SMOKE_HUMANOID = {
    "energy.encoder_hidden": [64, 64],
    "energy.latent_dim": 64,
    "energy.decoder_hidden": [64, 32],
    "task.num_demo_pairs": 4096,
    "task.max_episode_steps": 40,
    "amp.replay_buffer_size": 2048,
    "train.eval_episodes": 4,
}


class ConfigError(ValueError):
    pass


def available(group: str) -> list[str]:
    import importlib.resources

    folder = importlib.resources.files("near.conf") / group
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def compose_config(overrides: list[str]) -> Config:
    """Compose task/train yamls and user overrides into a validated Config."""
    overrides = list(overrides)
    names = [o.split("=", 1)[0].lstrip("+~") for o in overrides]
    for raw in overrides:
        if "=" not in raw:
            raise ConfigError(f"expected key=value, got {raw!r}")
    task_choice = next((o.split("=", 1)[1] for o in overrides if o.startswith("task=")), "mazeNEAR")
    if task_choice not in available("task"):
        raise ConfigError(f"unknown task {task_choice!r}; available tasks: {', '.join(available('task'))}")
    train_choice = next((o.split("=", 1)[1] for o in overrides if o.startswith("train=")), None)
    if train_choice is not None and train_choice not in available("train"):
        raise ConfigError(f"unknown train config {train_choice!r}; available: {', '.join(available('train'))}")
    try:
        with initialize_config_module(config_module="near.conf", version_base=None):
            cfg = compose(config_name="config", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        cause = str(exc.__cause__).splitlines()[0] if exc.__cause__ and str(exc.__cause__) else ""
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        if first.startswith("Could not override") and ("not in" in cause or not cause):
            key = first.split("'")[1]
            raise ConfigError(f"unknown key {key!r}; `near --help` lists commands, a run's config.yaml lists every key") from None
        raise ConfigError(f"bad configuration: {first[:500]} {cause[:500]}".strip()) from None
    except (OSError, ValueError, TypeError, KeyError, RecursionError) as exc:  # Hydra looking up a group named by a key
        raise ConfigError(f"bad overrides {_short(overrides)}: {type(exc).__name__}: {str(exc)[:300]}") from None
    try:
        if cfg.task.env == "humanoid" and cfg.motion:
            from near.envs.humanoid.env import task_settings_for

            for key, value in task_settings_for(cfg.motion).items():  # the original's per-motion settings
                if "task." + key not in names:
                    OmegaConf.update(cfg, "task." + key, value, merge=False)
        smoke = bool(cfg.smoke)
        if smoke:
            user = set(names)
            extra = SMOKE_HUMANOID if cfg.task.env == "humanoid" else {}
            for key, value in {**SMOKE, **extra}.items():
                if key not in user:
                    OmegaConf.update(cfg, key, value, merge=False)
        obj: Config = OmegaConf.to_object(cfg)
    except OmegaConfBaseException as exc:  # an interpolation that resolves to nothing or to a wrong type
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"bad configuration: {first[:500]}") from None
    validate(obj)
    if obj.task.env == "humanoid" and obj.task.physics.impl == "auto":  # a run records the physics it got
        from near.envs.humanoid.model import resolve_impl

        obj.task.physics.impl = resolve_impl("auto")
    return obj


def _short(overrides) -> str:
    text = " ".join(overrides)
    return repr(text if len(text) < 300 else text[:300] + "...")


# The least usable value of integer settings (0 where 0 means "off" or "default"); floats must be finite.
INT_MIN = {
    "seed": 0, "episodes": 1, "task.num_demo_episodes": 0, "task.demo_upsample": 1, "task.max_episode_steps": 1,
    "task.num_demo_pairs": 2, "task.pair_span": 1, "task.physics.substeps": 1, "task.physics.iterations": 1,
    "task.physics.ls_iterations": 0, "task.physics.warp_envs": 0, "train.num_envs": 1, "train.horizon": 1,
    "train.minibatch_size": 1, "train.update_epochs": 1, "train.total_env_steps": 1, "train.iterations_per_log": 1,
    "train.checkpoint_every": 1, "train.eval_episodes": 1, "train.video_every": 0, "train.eval_every": 0,
    "energy.latent_dim": 1, "energy.num_levels": 1, "energy.batch_size": 1, "energy.iterations": 1,
    "energy.log_every": 1, "energy.checkpoint_every": 1, "amp.minibatch_size": 1, "amp.replay_buffer_size": 1,
    "amp.updates_per_iteration": 0, "reward.moving_average": 1, "reward.centre_every": 1, "reward.centre_window": 1,
    "cem.horizon": 1, "cem.num_batches": 1, "cem.batch_size": 1, "cem.elites_per_batch": 1, "cem.refits": 0,
    "cem.episodes": 1, "cem.num_envs": 1, "cem.max_steps": 0,
}
INT_MAX = 2**31 - 1  # sizes and counts beyond this overflow the int32 arrays they become
INT_MAXES = {"seed": 2**32 - 1, "energy.num_levels": 100_000,  # num_levels: sigmas are allocated before anything else
             "task.pair_span": 64}


def check_numbers(obj, prefix: str = "") -> None:
    """Every value of the dataclass's own type, every float finite, every int within its usable
    range, every layer width >= 1 (ConfigError otherwise). Also for configs read back from a
    checkpoint's metadata, which no schema checked."""
    for f in dataclasses.fields(obj):
        value, key = getattr(obj, f.name), prefix + f.name
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default) != dataclasses.is_dataclass(value) or (
                isinstance(default, (bool, str, list)) and not isinstance(value, type(default))) or (
                isinstance(default, (int, float)) and not isinstance(default, bool) and (
                    isinstance(value, bool) or not isinstance(value, (int, float)))):
            raise ConfigError(f"{key} must be a {type(default).__name__}, got {type(value).__name__}")
        if dataclasses.is_dataclass(value):
            check_numbers(value, key + ".")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value}")
        elif isinstance(value, int) and not isinstance(value, bool):
            high = INT_MAXES.get(key, INT_MAX)
            if not INT_MIN.get(key, -INT_MAX) <= value <= high:
                raise ConfigError(f"{key} must be in [{INT_MIN.get(key, -INT_MAX)}, {high}], got {value}")
        elif key.endswith("_hidden") or key == "amp.hidden":
            if any(isinstance(w, bool) or not isinstance(w, int) or not 1 <= w <= INT_MAX for w in value):
                raise ConfigError(f"{key} must list layer widths >= 1, got {value}")


def validate(cfg: Config) -> None:
    check_numbers(cfg)
    t, p, e, r = cfg.task, cfg.train, cfg.energy, cfg.reward
    checks = [
        (t.algo in ALGOS, f"task.algo must be one of {ALGOS}, got {t.algo!r}"),
        (p.num_envs >= 1 and p.horizon >= 1, "train.num_envs and train.horizon must be >= 1"),
        (p.minibatch_size >= 1 and p.batch_size % p.minibatch_size == 0,
         f"train.num_envs*train.horizon ({p.batch_size}) must be a multiple of train.minibatch_size ({p.minibatch_size})"),
        (p.learning_rate > 0, f"train.learning_rate must be > 0, got {p.learning_rate}"),
        (p.actor_output_scale > 0, f"train.actor_output_scale must be above 0, got {p.actor_output_scale}"),
        (p.min_log_std <= p.log_std_init,
         f"train.min_log_std ({p.min_log_std}) is above train.log_std_init ({p.log_std_init}): the floor must be at or below the start"),
        (p.explore_env_steps == 0 or not p.learn_std,
         "train.explore_env_steps schedules a frozen std: set train.learn_std=false (or train.explore_env_steps=0)"),
        (p.explore_env_steps >= 0, f"train.explore_env_steps must be >= 0 (0: off), got {p.explore_env_steps}"),
        (not p.keep_best or p.eval_every > 0, "train.keep_best keeps the best periodic evaluation's policy: set train.eval_every too"),
        (p.kl_threshold >= 0, f"train.kl_threshold must be >= 0 (0: a constant rate), got {p.kl_threshold}"),
        (not (p.kl_threshold > 0 and p.anneal_lr),
         "train.anneal_lr and train.kl_threshold are two learning-rate schedules: set one (train.anneal_lr=false)"),
        (0 < p.gamma <= 1 and 0 <= p.gae_lambda <= 1, "train.gamma must be in (0,1] and train.gae_lambda in [0,1]"),
        (p.total_env_steps >= p.batch_size,
         f"train.total_env_steps ({p.total_env_steps}) is smaller than one iteration ({p.batch_size} steps)"),
        (-1 <= r.sigma_level < e.num_levels, f"reward.sigma_level must be -1 (anneal) or in [0, {e.num_levels - 1}], got {r.sigma_level}"),
        (r.anneal_rule in ("multiplicative", "additive"), f"reward.anneal_rule must be 'multiplicative' or 'additive', got {r.anneal_rule!r}"),
        (r.tanh_scale > 0, "reward.tanh_scale must be > 0"),
        (p.network_precision in NETWORK_PRECISIONS,
         f"train.network_precision must be one of {NETWORK_PRECISIONS}, got {p.network_precision!r}"),
        (p.compile_eval_ahead in COMPILE_EVAL_AHEAD,
         f"train.compile_eval_ahead must be one of {COMPILE_EVAL_AHEAD}, got {p.compile_eval_ahead!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    validate_energy(e)
    if t.data and not os.path.exists(os.path.expanduser(t.data)):
        raise ConfigError(f"task.data: no such file or folder: {t.data}")
    if t.env == "humanoid" and cfg.motion and not os.path.exists(os.path.expanduser(cfg.motion)):
        raise ConfigError(f"motion: no such file: {cfg.motion}")
    if t.env == "humanoid":
        _validate_physics(t.physics)
    if t.pair_span != 1 and t.env != "humanoid":
        raise ConfigError(f"task.pair_span must be 1 for env {t.env!r} (only the humanoid keeps past states), "
                          f"got {t.pair_span}")
    if t.env == "pusht":
        from near.envs.pusht import SUCCESS_BONUSES

        if t.success_bonus not in SUCCESS_BONUSES:
            raise ConfigError(f"task.success_bonus must be one of {SUCCESS_BONUSES}, got {t.success_bonus!r}")
        if not t.success_bonus_per_step > 0:
            raise ConfigError(f"task.success_bonus_per_step must be > 0, got {t.success_bonus_per_step}")
    if p.num_envs % _device_count():
        raise ConfigError(f"train.num_envs ({p.num_envs}) must be a multiple of the number of devices "
                          f"({_device_count()}): environments are split evenly across devices")


def _validate_physics(physics: PhysicsOptions) -> None:
    from near.envs.humanoid.model import check_physics  # one check, also run by the env

    try:
        check_physics(physics)
    except ValueError as exc:
        raise ConfigError(f"task.{exc}") from None


def validate_energy(e) -> None:
    """The energy model's settings (also those read back from an energy checkpoint)."""
    checks = [
        (e.iterations >= 1 and e.batch_size >= 1, "energy.iterations and energy.batch_size must be >= 1"),
        (e.sigma_begin > e.sigma_end > 0, f"need energy.sigma_begin > energy.sigma_end > 0, got {e.sigma_begin}, {e.sigma_end}"),
        (e.num_levels >= 1, "energy.num_levels must be >= 1"),
        (e.conditioning in ("sigma", "embedding"), f"energy.conditioning must be 'sigma' or 'embedding', got {e.conditioning!r}"),
        (e.output_activation in OUTPUT_ACTIVATIONS,
         f"energy.output_activation must be one of {OUTPUT_ACTIVATIONS}, got {e.output_activation!r}"),
        (e.schedule in ("geometric", "linear"), f"energy.schedule must be 'geometric' or 'linear', got {e.schedule!r}"),
        (e.normalization in ("diagonal", "whiten"), f"energy.normalization must be 'diagonal' or 'whiten', got {e.normalization!r}"),
        (0 <= e.ema_rate < 1, f"energy.ema_rate must be in [0, 1), got {e.ema_rate}"),
        *[(getattr(e, key) >= 0, f"energy.{key} must be >= 0, got {getattr(e, key)}") for key in STD_FLOORS],
        *[(getattr(e, key) == 0 or (e.normalize_input and e.normalization == "diagonal"),
           f"energy.{key} needs energy.normalize_input=true and energy.normalization=diagonal") for key in STD_FLOORS],
        (e.input_clip >= 0, f"energy.input_clip must be >= 0 (0: no clip), got {e.input_clip}"),
        (e.network_precision in NETWORK_PRECISIONS,
         f"energy.network_precision must be one of {NETWORK_PRECISIONS}, got {e.network_precision!r}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def _device_count() -> int:
    import jax

    return jax.device_count()


def to_yaml(cfg: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def physics_overrides(now: PhysicsOptions, then: PhysicsOptions) -> str:
    """The overrides ``task.physics.KEY=VALUE ...`` that give ``now`` (a command line's humanoid physics) the
    settings of ``then`` (a run's); "" when they match. warp_envs, a buffer size, is not physics."""
    now_d, then_d = dataclasses.asdict(now), dataclasses.asdict(then)
    return " ".join(f"task.physics.{k}={v}" for k, v in then_d.items() if k != "warp_envs" and now_d[k] != v)


# defaults that changed after runs were saved without the key: such a run keeps what it trained with
FORMER_DEFAULTS = {("task", "physics", "foot_contact"): "box",  # "corners" since 2026-12-04
                   ("task", "max_root_up_speed"): 0.0,  # 5.0 since 2026-12-06
                   ("task", "physics", "impl"): "jax"}  # the key since 2026-12-02; auto since 2026-12-06


def from_dict(data: dict) -> Config:
    """Rebuild a Config from a saved dict (a checkpoint's meta), ignoring unknown keys; a key saved before it
    existed takes its former default (FORMER_DEFAULTS), not today's."""
    base = OmegaConf.structured(Config)
    data = copy.deepcopy(data)
    for keys, value in FORMER_DEFAULTS.items():
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(keys[-1], value)
    known = OmegaConf.merge(base, OmegaConf.masked_copy(OmegaConf.create(data), [k for k in data if k in base]))
    return OmegaConf.to_object(known)



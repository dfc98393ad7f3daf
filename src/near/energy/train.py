"""Stage 1 of NEAR: train the noise-conditioned energy model by annealed denoising score matching.

Spec near-algorithm.md §2-5. Per step: draw a minibatch of expert pairs, merge it into the running
input statistics and normalise it with them, perturb it with Gaussian noise at a random level
sigma_c per sample, and regress the score -- the input-gradient of the scalar output -- onto
-(x~ - x)/sigma^2 with weight sigma^2. Adam, global-norm clipping, EMA of the weights.

``make_trainer`` returns jitted pure functions and the periodic evaluation; ``fit`` is the host loop
(logging, checkpoints).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from near.energy.network import CONDITIONING, OUTPUT_ACTIVATIONS, EnergyNet
from near.energy.schedule import noise_levels
from near.utils import running_stats
from near.utils.jax_setup import check_network_precision, network_matmul_precision


@dataclasses.dataclass
class EnergyConfig:
    """Energy model and its DSM training. Defaults: the original's maze values."""

    encoder_hidden: list[int] = field(default_factory=lambda: [32, 64])
    latent_dim: int = 128
    decoder_hidden: list[int] = field(default_factory=lambda: [64, 32, 8])
    conditioning: str = "sigma"  # "sigma": E = g(x)/sigma (ncsnv2, default); "embedding": level embedding
    # the network's last activation: "elu" (the original's, g > -1) or "none" (energies below zero: NEAR
    # training then needs reward.anneal_rule=additive); see network.OUTPUT_ACTIVATIONS
    output_activation: str = "elu"
    schedule: str = "geometric"  # or "linear"
    sigma_begin: float = 20.0  # level 0 (largest)
    sigma_end: float = 0.01  # level L-1
    num_levels: int = 50
    batch_size: int = 128
    iterations: int = 50_000
    learning_rate: float = 1e-4
    grad_clip_norm: float = 1.0  # global L2 norm; 0 disables
    use_ema: bool = True
    ema_rate: float = 0.999
    normalize_input: bool = True
    normalization: str = "diagonal"  # "diagonal": the original's per-dimension RunningMeanStd; "whiten": full covariance
    # a floor on the std that normalises each velocity feature of a pair (the humanoid's root and joint
    # velocities; m/s, rad/s); 0: none, the original's. Clips that hold a pose still (crane) have velocity
    # stds of 0.02-0.3, so a policy's balancing motions reach the clip at 5 std and swamp its pose (item 45)
    velocity_std_floor: float = 0.0
    # the same for each joint-angle feature (the humanoid's 52 DOF numbers: hinge angles, ball joints'
    # tan-norms); 0: none. Joints the clips hold still (the punch's guard arm: std 0.038) put a policy's arm
    # 0.35 off at 9 std, past the input clip, where the reward for bringing it closer is flat (items 47, 48)
    angle_std_floor: float = 0.0
    # the normalised input is clipped to [-input_clip, input_clip] (the original's RunningMeanStd: 5); 0: no
    # clip. Past the clip the energy is flat: a feature the clips hold nearly still (the punch's guard arm)
    # is clipped over most of the way from a policy's pose to the clips', so that way pays nothing (item 47)
    input_clip: float = 5.0
    anneal_power: float = 2.0  # DSM weight lambda(sigma) = sigma^anneal_power
    test_fraction: float = 0.2
    log_every: int = 500  # steps per compiled chunk (one log record each)
    checkpoint_every: int = 5_000
    checkpoint: str = ""  # a trained energy model (run folder) for policy training
    # matrix products of the DSM training step (issue #20): "tensorfloat32" (GPU tensor cores; bit for bit
    # float32 on the CPU), "bfloat16" (bfloat16 inputs, float32 sums; not measured yet) or "float32". The
    # held-out evaluation, the ranking and the reward stay float32.
    # TF32 since 2026-12-05: the walk's 150 k iterations 85 s from launch on an H100 (float32 on an H200:
    # 116 s), ranking 1.0 (docs/humanoid_speed.md)
    network_precision: str = "tensorfloat32"


# energy.* std floors -> (the env attribute naming the pair features each acts on, what those are)
STD_FLOORS = {"velocity_std_floor": ("pair_velocity_dims", "velocity"), "angle_std_floor": ("pair_angle_dims", "joint-angle")}


@struct.dataclass
class EnergyState:
    params: Any
    ema_params: Any
    opt_state: Any
    stats: Any  # RunningStats or RunningCovariance
    step: jax.Array
    key: jax.Array


def make_network(cfg: EnergyConfig) -> EnergyNet:
    if cfg.conditioning not in CONDITIONING:
        raise ValueError(f"energy.conditioning must be one of {CONDITIONING}, got {cfg.conditioning!r}")
    if cfg.output_activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"energy.output_activation must be one of {OUTPUT_ACTIVATIONS}, got {cfg.output_activation!r}")
    return EnergyNet(tuple(cfg.encoder_hidden), cfg.latent_dim, tuple(cfg.decoder_hidden), cfg.conditioning,
                     cfg.output_activation)


def make_optimizer(cfg: EnergyConfig, flat: bool = False) -> optax.GradientTransformation:
    adam = optax.adam(cfg.learning_rate, b1=0.9, b2=0.999, eps=1e-8)
    opt = optax.chain(optax.clip_by_global_norm(cfg.grad_clip_norm), adam) if cfg.grad_clip_norm > 0 else adam
    return optax.flatten(opt) if flat else opt


def dsm_terms(apply_fn: Callable, params: Any, x: jax.Array, levels: jax.Array, noise: jax.Array,
              sigmas: jax.Array, anneal_power: float = 2.0) -> jax.Array:
    """Each sample's annealed DSM loss (B,) on normalised clean pairs x (B, D), its level index and unit noise."""
    sigma = sigmas[levels]
    x_noisy = x + sigma[:, None] * noise

    def total_energy(z):
        return apply_fn(params, z, levels, sigma).sum()

    score = jax.grad(total_energy)(x_noisy)  # score = +grad of the output
    target = -noise / sigma[:, None]  # = -(x~ - x) / sigma^2
    return 0.5 * jnp.sum((score - target) ** 2, axis=-1) * sigma**anneal_power


def dsm_loss(apply_fn: Callable, params: Any, x: jax.Array, levels: jax.Array, noise: jax.Array,
             sigmas: jax.Array, anneal_power: float = 2.0) -> jax.Array:
    """Annealed DSM loss on normalised clean pairs x (B, D), per-sample level indices and unit noise."""
    return dsm_terms(apply_fn, params, x, levels, noise, sigmas, anneal_power).mean()


# Pairs per held-out evaluation and per call of the evaluation program, which the held-out evaluation
# and the ranking share: one shape for any amount of data, so one compile (issue #20: each distinct
# program, on a GPU each batch size of the network, is a compile and tuning of its own on a cold start).
EVAL_ROWS = 1024


def logged_levels(num_levels: int) -> list[int]:
    """The levels whose mean held-out demo energy training logs: every fifth of the range, and the last."""
    return sorted({c for c in range(num_levels) if c % max(1, int(0.2 * num_levels)) == 0} | {num_levels - 1})


def clip_value(input_clip: float) -> float:
    """energy.input_clip as the bound of the normalised input (0: none)."""
    return float(input_clip) if input_clip > 0 else float("inf")


@functools.partial(jax.jit, static_argnames=("net", "normalize_input", "anneal_power", "input_clip"))
def _eval_program(net: EnergyNet, params: Any, stats: Any, sigmas: jax.Array, pairs: jax.Array, levels: jax.Array,
                  noise: jax.Array, energy_levels: jax.Array, *, normalize_input: bool, anneal_power: float,
                  input_clip: float = 5.0):
    """EVAL_ROWS raw pairs: each one's DSM loss term at its level and unit noise (EVAL_ROWS,), and its
    clean energy at each of energy_levels (K, EVAL_ROWS), K = len(logged_levels(num_levels))."""
    x = running_stats.normalize(stats, pairs, clip_value(input_clip)) if normalize_input else pairs
    terms = dsm_terms(net.apply, params, x, levels, noise, sigmas, anneal_power)

    def energy(c):
        lv = jnp.full(x.shape[:1], c, jnp.int32)
        return net.apply(params, x, lv, sigmas[lv])

    # vmapped, not unrolled per level: one network in the program, a quarter less to compile
    return terms, jax.vmap(energy)(energy_levels)


def _eval_chunk(net: EnergyNet, params: Any, stats: Any, sigmas: jax.Array, pairs: Any, levels: Any, noise: Any,
                energy_levels: Any, normalize_input: bool, anneal_power: float,
                input_clip: float = 5.0) -> tuple[jax.Array, jax.Array]:
    """_eval_program with every array placed as the weights are: a fresh run's arrays are uncommitted, a
    restored model's committed, and jit compiles the two apart (placing them copies nothing)."""
    placed = jax.device_put((params, stats, sigmas, pairs, levels, noise, energy_levels),
                            jax.tree.leaves(params)[0].sharding)
    return _eval_program(net, *placed, normalize_input=normalize_input, anneal_power=anneal_power,
                         input_clip=float(input_clip))


def make_trainer(cfg: EnergyConfig, pair_dim: int, *, unroll: int = 1, flat_optimizer: bool = False,
                 min_std: np.ndarray | None = None):
    """Return (init, train_chunk, evaluate, net, sigmas): init and train_chunk are jitted pure functions
    over EnergyState; evaluate runs the evaluation program that the ranking shares (_eval_program).

    unroll: iterations per loop trip of the compiled chunk; flat_optimizer: Adam on one flat vector.
    Both change speed only (benchmarks/bench_energy_dsm.py --variants measures them). min_std (pair_dim,):
    the normalisation's std floor per input (cfg.velocity_std_floor and cfg.angle_std_floor on the env's
    velocity and joint-angle features); with a floor set and none given, zeros: the template a checkpoint's
    own floor is restored into."""
    check_network_precision(cfg.network_precision, "energy.network_precision")  # before anything is built
    net = make_network(cfg)
    sigmas = jnp.asarray(noise_levels(cfg.sigma_begin, cfg.sigma_end, cfg.num_levels, cfg.schedule))
    optimizer = make_optimizer(cfg, flat_optimizer)
    num_levels = cfg.num_levels
    if any(getattr(cfg, key) > 0 for key in STD_FLOORS) and min_std is None:
        min_std = np.zeros(pair_dim, np.float32)

    def init(key: jax.Array) -> EnergyState:
        key, sub = jax.random.split(key)
        dummy = jnp.zeros((1, pair_dim), jnp.float32)
        params = net.init(sub, dummy, jnp.zeros((1,), jnp.int32), sigmas[:1])
        return EnergyState(params, params, optimizer.init(params), running_stats.create(pair_dim, cfg.normalization, min_std),
                           jnp.zeros((), jnp.int32), key)

    def normalise(stats, x):
        return running_stats.normalize(stats, x, clip_value(cfg.input_clip)) if cfg.normalize_input else x

    def train_step(state: EnergyState, pairs: jax.Array):
        key, k_idx, k_lvl, k_noise = jax.random.split(state.key, 4)
        batch = pairs[jax.random.randint(k_idx, (cfg.batch_size,), 0, pairs.shape[0])]
        stats = running_stats.update(state.stats, batch) if cfg.normalize_input else state.stats
        x = normalise(stats, batch)  # normalised with the statistics that include this batch
        levels = jax.random.randint(k_lvl, (cfg.batch_size,), 0, num_levels)
        noise = jax.random.normal(k_noise, x.shape)
        # traced inside: the step's products only
        with network_matmul_precision(cfg.network_precision, "energy.network_precision"):
            loss, grads = jax.value_and_grad(lambda p: dsm_loss(net.apply, p, x, levels, noise, sigmas, cfg.anneal_power))(
                state.params
            )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        rate = cfg.ema_rate if cfg.use_ema else 0.0
        ema = jax.tree.map(lambda e, p: rate * e + (1.0 - rate) * p, state.ema_params, params)
        return EnergyState(params, ema, opt_state, stats, state.step + 1, key), loss

    def train_chunk(state: EnergyState, pairs: jax.Array, num_steps: int):
        state, losses = jax.lax.scan(lambda s, _: train_step(s, pairs), state, None, length=num_steps,
                                     unroll=min(unroll, num_steps))
        return state, losses

    logged = logged_levels(num_levels)

    @jax.jit
    def draw(test_pairs: jax.Array, key: jax.Array, step: jax.Array):
        """The held-out batch, its levels and noise, zero-padded to the evaluation program's EVAL_ROWS
        (a small program of its own: the ranking runs the evaluation program on pairs it is given)."""
        k_idx, k_lvl, k_noise = jax.random.split(jax.random.fold_in(key, step), 3)
        n = min(EVAL_ROWS, test_pairs.shape[0])
        batch = test_pairs[jax.random.randint(k_idx, (n,), 0, test_pairs.shape[0])]
        levels = jax.random.randint(k_lvl, (n,), 0, num_levels)
        noise = jax.random.normal(k_noise, batch.shape)
        pad = EVAL_ROWS - n
        return jnp.pad(batch, ((0, pad), (0, 0))), jnp.pad(levels, (0, pad)), jnp.pad(noise, ((0, pad), (0, 0)))

    def evaluate(state: EnergyState, test_pairs: jax.Array, key: jax.Array) -> dict:
        """Held-out DSM loss and mean clean-demo energy at the logged levels (EMA weights, frozen stats).
        The key is folded with the step: a resumed run evaluates like an uninterrupted one."""
        n = min(EVAL_ROWS, test_pairs.shape[0])
        terms, energies = _eval_chunk(net, state.ema_params, state.stats, sigmas, *draw(test_pairs, key, state.step),
                                      np.asarray(logged, np.int32), cfg.normalize_input, cfg.anneal_power, cfg.input_clip)
        terms, energies = np.asarray(terms)[:n], np.asarray(energies)[:, :n]  # padding dropped
        return {"test_loss": terms.mean(), **{f"demo_energy/level_{c:02d}": e.mean() for c, e in zip(logged, energies)}}

    # init jitted: run eagerly, each layer's initialiser and op compiled as its own program
    return jax.jit(init), jax.jit(train_chunk, static_argnums=2), evaluate, net, sigmas


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """A trained, frozen energy model: EMA weights + frozen input statistics."""

    net: EnergyNet
    params: Any
    stats: Any
    sigmas: jax.Array
    normalize_input: bool = True
    anneal_power: float = 2.0  # as trained: the ranking then runs the training's evaluation program
    input_clip: float = 5.0  # energy.input_clip (0: none)

    def energy(self, pairs: jax.Array, level: jax.Array) -> jax.Array:
        """Raw energy E(RMS(x), sigma_level) of raw pairs (..., D) at one integer level."""
        x = running_stats.normalize(self.stats, pairs, clip_value(self.input_clip)) if self.normalize_input else pairs
        lv = jnp.broadcast_to(jnp.asarray(level, jnp.int32), x.shape[:-1])
        return self.net.apply(self.params, x, lv, self.sigmas[lv])

    def at_clip(self, pairs: jax.Array) -> jax.Array:
        """Which of the pairs' normalised inputs (..., D) sit at the input clip: the energy reads them as "far off"
        without a distance, so where many do, the reward is flat for the policy (notebook items 47, 79)."""
        if not self.normalize_input or self.input_clip <= 0:
            return jnp.zeros(pairs.shape, bool)
        return jnp.abs(running_stats.normalize(self.stats, pairs, jnp.inf)) >= self.input_clip


def model_from_state(cfg: EnergyConfig, state: EnergyState) -> EnergyModel:
    sigmas = jnp.asarray(noise_levels(cfg.sigma_begin, cfg.sigma_end, cfg.num_levels, cfg.schedule))
    params = state.ema_params if cfg.use_ema else state.params
    return EnergyModel(make_network(cfg), params, state.stats, sigmas, cfg.normalize_input, cfg.anneal_power,
                       cfg.input_clip)


def energies_at(model: EnergyModel, pairs: np.ndarray, levels: list[int]) -> np.ndarray:
    """Energies (len(levels), N) of raw pairs (N, D), through the program of the held-out evaluation:
    EVAL_ROWS pairs (the last chunk zero-padded) at its K levels a call, so no N or level list compiles
    anything new after training (the program's DSM part, on zero noise, is computed and dropped)."""
    n = len(pairs)
    k = len(logged_levels(len(model.sigmas)))
    pairs = np.pad(np.asarray(pairs, np.float32), ((0, -n % EVAL_ROWS), (0, 0)))
    no_levels, no_noise = np.zeros(EVAL_ROWS, np.int32), np.zeros((EVAL_ROWS, pairs.shape[1]), np.float32)
    out = []
    for i in range(0, len(levels), k):
        group = list(levels[i:i + k])
        slots = np.resize(np.asarray(group, np.int32), k)  # spare slots repeat the group's levels
        chunks = [_eval_chunk(model.net, model.params, model.stats, model.sigmas, pairs[j:j + EVAL_ROWS], no_levels,
                              no_noise, slots, model.normalize_input, model.anneal_power, model.input_clip)[1]
                  for j in range(0, len(pairs), EVAL_ROWS)]
        out.append(np.concatenate([np.asarray(c) for c in chunks], axis=1)[:len(group), :n])
    return np.concatenate(out)


def ranking_accuracies(model: EnergyModel, demo_pairs: np.ndarray, other_pairs: np.ndarray,
                       levels: list[int]) -> dict[int, float]:
    """Per level: the fraction of (demo, other) pairs where the demo pair has the higher energy."""
    n = min(len(demo_pairs), len(other_pairs))
    both = np.concatenate([np.asarray(demo_pairs[:n]), np.asarray(other_pairs[:n])])
    energy = energies_at(model, both, list(levels))  # all levels in one pass over the pairs
    return {c: float(np.mean(e[:n] > e[n:])) for c, e in zip(levels, energy)}


def ranking_accuracy(model: EnergyModel, demo_pairs: np.ndarray, other_pairs: np.ndarray, level: int) -> float:
    """Fraction of (demo, other) pairs where the demo pair has the higher energy."""
    return ranking_accuracies(model, demo_pairs, other_pairs, [level])[level]


def energy_meta(cfg: EnergyConfig, pair_dim: int, extra: dict) -> dict:
    return {"kind": "energy", "pair_dim": pair_dim, "energy": dataclasses.asdict(cfg), **extra}


def fit(cfg: EnergyConfig, pairs: np.ndarray, run_dir: str, *, seed: int = 0, meta: dict | None = None,
        resume: bool = False, show_progress: bool = True, min_std: np.ndarray | None = None) -> tuple[EnergyState, dict]:
    """Train on expert pairs (M, D); log, checkpoint; return the final state and last metrics. min_std: the
    normalisation's std floor per input (see make_trainer)."""
    import os

    from near.utils.checkpoint import Checkpointer
    from near.utils.interrupt import RunInterrupted, interrupted_message, stop_on_signals
    from near.utils.logging import MetricLogger, NonFiniteError, progress_bar, truncate_metrics

    pairs = np.asarray(pairs, np.float32)
    if pairs.ndim != 2 or len(pairs) < 2:
        raise ValueError(f"expert pairs must have shape (M, D) with M >= 2, got {pairs.shape}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pairs))  # shuffled 80/20 split (the original splits the unshuffled list)
    n_test = max(1, int(round(cfg.test_fraction * len(pairs)))) if cfg.test_fraction > 0 else 0
    test_pairs = jnp.asarray(pairs[order[:n_test]] if n_test else pairs[order[:1]])
    train_pairs = jnp.asarray(pairs[order[n_test:]])

    pair_dim = pairs.shape[1]
    init, train_chunk, evaluate, _, _ = make_trainer(cfg, pair_dim, min_std=min_std)
    meta = energy_meta(cfg, pair_dim, meta or {})
    ckpt = Checkpointer(os.path.join(run_dir, "checkpoints"))
    state = init(jax.random.PRNGKey(seed))
    if resume and ckpt.latest_step() is not None:
        from near.utils.checkpoint import load

        restored = load(run_dir, model_target={"params": state.params, "ema_params": state.ema_params,
                                               "stats": state.stats},
                        train_target={"opt_state": state.opt_state, "step": state.step, "key": state.key},
                        items=("model", "train"))
        m, t = restored["model"], restored["train"]
        state = EnergyState(m["params"], m["ema_params"], t["opt_state"], m["stats"], t["step"], t["key"])
    if resume:  # records logged after the last checkpoint (or before the first) are logged again below
        truncate_metrics(run_dir, int(state.step))

    def save(s: EnergyState):
        ckpt.save(int(s.step), {"params": s.params, "ema_params": s.ema_params, "stats": s.stats},
                  {"opt_state": s.opt_state, "step": s.step, "key": s.key}, meta)

    logger = MetricLogger(run_dir)
    chunk = max(1, min(cfg.log_every, cfg.iterations))
    last: dict = {}
    progress, desc, total = progress_bar("energy (DSM)", cfg.iterations, disable=not show_progress)
    with progress, stop_on_signals() as stop:
        task = progress.add_task(desc, total=total, completed=int(state.step), info="")
        eval_key = jax.random.PRNGKey(seed + 1)  # evaluate folds it with the step
        while int(state.step) < cfg.iterations:
            if stop.requested:
                if ckpt.latest_step() != int(state.step):
                    save(state)
                logger.close()
                ckpt.close()
                raise RunInterrupted(interrupted_message("energy training", f"step {int(state.step)} of {cfg.iterations}",
                                                         run_dir, stop))
            steps = min(chunk, cfg.iterations - int(state.step))
            new_state, losses = train_chunk(state, train_pairs, steps)
            losses = np.asarray(losses)
            if not np.all(np.isfinite(losses)):
                bad = int(state.step) + int(np.argmax(~np.isfinite(losses))) + 1
                logger.close()
                raise NonFiniteError(
                    f"energy training produced a non-finite DSM loss at step {bad} (run {run_dir}); "
                    f"the last good checkpoint is kept. Try a lower energy.learning_rate or check the demos for outliers."
                )
            state = new_state
            scalars = {"loss": losses.mean(), **evaluate(state, test_pairs, eval_key)}
            last = logger.log(int(state.step), scalars)
            progress.update(task, completed=int(state.step), info=f"loss {last['loss']:.3f}")
            step = int(state.step)
            if step % cfg.checkpoint_every < steps or step == cfg.iterations:
                save(state)
    logger.close()
    ckpt.close()
    if not last:  # resumed after its last step (killed while finishing): report what was logged
        from near.utils.logging import last_record

        last = last_record(run_dir, "loss")
    return state, last


def trained_pair_span(meta: dict) -> int:
    """The task.pair_span an energy checkpoint's pairs were drawn with (1 for models older than the key)."""
    return ((meta.get("config") or {}).get("task") or {}).get("pair_span", 1)


def load_energy_model(path: str, *, expect_pair_dim: int | None = None, expect_env: str | None = None) -> tuple[EnergyModel, dict]:
    """Load a trained energy model from a run folder, checking that it fits the task."""
    from near.utils.checkpoint import CheckpointError, load, load_meta

    meta = load_meta(path)
    said = lambda key: repr(str(meta.get(key))[:40])  # noqa: E731 - metadata values may be anything, of any size
    if meta.get("kind") != "energy":
        raise CheckpointError(f"{path} is not an energy-model checkpoint (kind={said('kind')})")
    if expect_pair_dim is not None and meta.get("pair_dim") != expect_pair_dim:
        raise CheckpointError(
            f"energy checkpoint {path} was trained on {said('pair_dim')}-number pairs of env "
            f"{said('env')}, but this task uses {expect_pair_dim}-number pairs"
        )
    if expect_env is not None and meta.get("env") not in (None, expect_env):
        raise CheckpointError(f"energy checkpoint {path} was trained for env {said('env')}, not {expect_env!r}")
    cfg, pair_dim = _config_from_meta(path, meta)
    init, *_ = make_trainer(cfg, pair_dim)
    template = jax.eval_shape(init, jax.random.PRNGKey(0))  # shapes only: checked against the stored arrays first
    model = load(path, model_target={"params": template.params, "ema_params": template.ema_params,
                                     "stats": template.stats}, items=("model",))["model"]
    state = template.replace(params=model["params"], ema_params=model["ema_params"], stats=model["stats"])
    return model_from_state(cfg, state), meta


def _config_from_meta(path: str, meta: dict) -> tuple[EnergyConfig, int]:
    """The energy config and pair size a checkpoint's metadata records, checked like a user's config
    (an edited or corrupt record would otherwise size arrays at will)."""
    from near.config import ConfigError, check_numbers, validate_energy
    from near.utils.checkpoint import CheckpointError

    record, pair_dim = meta.get("energy"), meta.get("pair_dim")
    if not isinstance(record, dict) or isinstance(pair_dim, bool) or not isinstance(pair_dim, int) or not 1 <= pair_dim <= 1 << 20:
        raise CheckpointError(f"energy checkpoint {path}: its metadata lacks a valid 'energy' record or 'pair_dim' "
                              f"(pair_dim={str(pair_dim)[:40]})")
    fields = {f.name for f in dataclasses.fields(EnergyConfig)}
    try:
        cfg = EnergyConfig(**{k: v for k, v in record.items() if k in fields})
        check_numbers(cfg, "energy.")
        validate_energy(cfg)
    except (ConfigError, TypeError) as exc:
        raise CheckpointError(f"energy checkpoint {path}: metadata field {exc}") from None
    return cfg, pair_dim

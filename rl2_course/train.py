"""Train an RL² agent: PPO with GAE over whole trials (the "slow" reinforcement learner).

    python -m rl2_course train bandit --arms 5 --episodes 10 --seed 0 --out runs/k5n10 --minutes 1

RL² (Duan et al. 2016) trains a recurrent policy on *trials*: n episodes in one freshly drawn
task, the GRU state carried across the episode boundaries. The paper's slow learner is TRPO
with GAE; we use PPO (Schulman et al. 2017), the same trust-region idea with a first-order
clipped objective: simpler to read, and the standard choice today. Unlike plain recurrent PPO
(CleanRL's ``ppo_atari_lstm``), the unit of data is a trial: episode ends reach the policy only
as the done flag in x_t; GAE bootstraps through them and stops only where the trial ends (the
return maximised is the trial's); minibatches hold whole trials (or truncated-BPTT segments of
them), never random steps.

One update: `collect_trials` (B new tasks, a trial in each) → `compute_gae` → `ppo_update`
(epochs over minibatches of trials: clipped surrogate + value loss − entropy bonus). Extra
training signals plug in through `rl2_course.signals`, task families come from
`rl2_course.families`, files, resuming and determinism from `rl2_course.runs`. All randomness
comes from ``config.seed``; ``--resume`` continues bit for bit (CPU, fixed thread count).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.envs import TrialEnv
from rl2_course.errors import UsageError, writable_directory
from rl2_course.families import family
from rl2_course.runs import (CHECKPOINT_NAME, LOG_COLUMNS, LOG_NAME, GracefulStop, RunConfig,
                             RunState, TrainingLog, read_log, restore_run, run_lock, save_run,
                             warm_start)
from rl2_course.threads import deterministic_torch
from rl2_course.signals import TrainingSignal

#: mixed into every training seed so training tasks never coincide with evaluation tasks
_TRAIN_TAG = 0x524C32


#: the "kl" lr schedule's factor and the range it keeps the learning rate in (the top is
#: `TrainConfig.lr_max`'s default)
KL_LR_FACTOR, KL_LR_BOUNDS = 1.5, (1e-6, 1e-2)


@dataclass
class TrainConfig(RunConfig):
    """Every knob of a training run. `for_task` (`for_bandit`, `for_mdp`, `for_maze`) fills in
    the setting's defaults (settings.py); `runs.RunConfig` holds the methods."""

    # what to learn: a task family of `families.FAMILIES` and its setting, e.g. {"arms": 5,
    # "episodes": 10} (k, n) for "bandit"
    env: str = "bandit"
    task: dict[str, Any] = field(default_factory=lambda: {"arms": 5, "episodes": 10})
    seed: int = 0
    trials_per_update: int = 1000      # B
    # the memory (`agents.cells`): GRU units, the core ("gru" or "lngru", layer-normalised with
    # a ReLU candidate), the update gates' starting bias (> 0: hold), the value's own core
    hidden_size: int = 128
    cell: str = "gru"
    update_gate_bias: float = 0.0
    value_network: str = "shared"
    # cell="attention" (`agents.attention`): a causal transformer over the trial's steps,
    # with hidden_size numbers per step, these layers and heads, and positions for the
    # longest trial (None: the setting's trial length); episode_clock > 0: also an embedding of
    # the step within its episode, for that many steps (e.g. a maze's time limit; 0: none)
    attention_layers: int = 2
    attention_heads: int = 4
    context: int | None = None
    episode_clock: int = 0
    # PPO and GAE
    learning_rate: float = 2e-3
    lr_final_fraction: float = 0.1     # lr decays linearly to this fraction of learning_rate
    # "linear": the decay above; "kl": a trust region's step size instead (the first author's
    # adaptive learning rate): lr starts at learning_rate and after each update is divided by
    # KL_LR_FACTOR if the approx-KL stop ended it, multiplied by it if its last epoch stayed
    # under target_kl / KL_LR_FACTOR (within KL_LR_BOUNDS), so every update moves the policy
    # by about target_kl however large the batch (`adapt_learning_rate`)
    lr_schedule: str = "linear"
    lr_max: float = KL_LR_BOUNDS[1]    # the "kl" schedule's ceiling (the first author's: 1e-3)
    gamma: float = 1.0                 # discount inside a trial
    gae_lambda: float = 0.3
    clip_coef: float = 0.2             # ε of the clipped surrogate
    value_coef: float = 0.5
    entropy_coef: float = 0.01         # held for entropy_hold of the schedule, then decays
    entropy_coef_final: float = 0.0    # linearly to entropy_coef_final
    entropy_hold: float = 0.0
    max_grad_norm: float = 0.5
    # optimiser steps per update: ppo_epochs passes, each over minibatches of minibatch_size
    # trials (or BPTT segments), or over `minibatches` equal parts when that is None; an epoch
    # stops early once a minibatch's approx-KL passes 1.5 × target_kl (None: never)
    ppo_epochs: int = 4
    minibatches: int = 4
    minibatch_size: int | None = None
    target_kl: float | None = None
    bptt_length: int | None = None     # None: backprop through whole trials
    reward_scale: float = 1.0
    schedule_updates: int = 200        # length of the lr and entropy schedules (in updates)
    # extra training signals beside the return (`signals.SignalSettings`); empty = plain RL²
    signals: dict[str, Any] = field(default_factory=dict)
    num_threads: int = 1               # torch CPU threads (fixed, so runs are reproducible)
    device: str = "cpu"                # "cuda" trains on a GPU: faster, not bit-reproducible
    # warm start from another run's weights (same actions and memory size; an attention
    # context may grow, `runs.warm_start`): a curriculum; init_parts="encoder" copies only
    # the observation encoder φ, for a new memory over eyes another run already trained
    init_from: str | None = None
    init_parts: str = "all"
    # budget (may differ between a run and its --resume)
    updates: int | None = None         # train until this many updates in total ...
    minutes: float | None = None       # ... or for this many minutes of training in total
    checkpoint_every: int = 20         # save out/checkpoint.pt every this many updates


#: ``--set FIELD=VALUE`` items -> field values (`runs.RunConfig.parse_overrides`)
parse_overrides = TrainConfig.parse_overrides


# --------------------------------------------------------------------------------------------
# 1. Rollout: B whole trials with the current policy
# --------------------------------------------------------------------------------------------

@dataclass
class TrialBatch:
    """One update's data, time-major: arrays of shape (T, B, ...) with T = steps per trial."""

    x: torch.Tensor            # (T, B, D) RL² inputs x_t = [obs | a_{t-1} | r_{t-1} | d_{t-1}]
    actions: torch.Tensor      # (T, B) long
    logprobs: torch.Tensor     # (T, B) log π_old(a_t | x_{≤t})
    values: torch.Tensor       # (T, B) V_old(x_{≤t})
    rewards: torch.Tensor      # (T, B) raw rewards
    dones: torch.Tensor        # (T, B) 1.0 where step t ended the *trial* (not an episode)
    entropy: torch.Tensor      # (T, B) entropy of π_old at each step (for the log)
    segment_h0: torch.Tensor   # (S, B, H) hidden state at the start of each BPTT segment
    valid: torch.Tensor        # (T, B) 1.0 on a trial's own steps, 0.0 after it ended (the maze's
                               # trials differ in length; a finished row waits for the others)
    episodes: torch.Tensor | None = None  # (T, B) long: which episode of its trial step t is in
    signal_data: list[dict[str, torch.Tensor]] = field(default_factory=list)  # per signal


def collect_trials(model: RecurrentActorCritic, env: TrialEnv, env_seed: int,
                   generator: torch.Generator, segment_length: int | None = None,
                   signals: Sequence[TrainingSignal] = ()) -> TrialBatch:
    """Play one trial in each of the env's B freshly drawn tasks, sampling a ~ π.

    The GRU state starts at zero (a new task: forget everything) and is then carried through
    every step of the trial, across episode boundaries. With ``segment_length`` L the hidden
    state is also recorded every L steps, where truncated-BPTT segments will start. Each of
    ``signals`` sees every step (`signals.TrainingSignal`). Trials may end at different steps
    (the maze's): a finished row is stepped on with the others and masked out by ``valid``.
    """
    x_np, _ = env.reset(seed=env_seed)
    for signal in signals:
        signal.start(env)
    device = model.device
    h = model.initial_hidden(env.num_envs)
    steps: dict[str, list[torch.Tensor]] = {k: [] for k in ("x", "a", "logp", "v", "r", "done",
                                                             "ent", "h0", "valid", "episode")}
    terminated = np.zeros(env.num_envs, dtype=bool)
    with torch.no_grad():
        while not terminated.all():
            t = len(steps["x"])
            if segment_length is not None and t % segment_length == 0:
                steps["h0"].append(h.clone())   # the step below writes into h in place
            x = torch.from_numpy(x_np).to(device)
            logits, value, h = model.step(x, h, in_place=True)
            log_probs = torch.log_softmax(logits, dim=-1)
            # Sampled on the CPU with the run's generator, whatever the device: one random stream.
            action_cpu = torch.multinomial(log_probs.exp().cpu(), 1, generator=generator).squeeze(-1)
            action = action_cpu.to(device)
            steps["valid"].append(torch.from_numpy((~terminated).astype(np.float32)).to(device))
            steps["episode"].append(torch.from_numpy(env.episode_index.copy()).to(device))
            for signal in signals:
                signal.before_step(env, ~terminated)
            actions_np = action_cpu.numpy()
            x_np, reward, terminated, truncated, info = env.step(actions_np)
            for signal in signals:
                signal.after_step(env, actions_np, info)
            steps["x"].append(x)
            steps["a"].append(action)
            steps["logp"].append(log_probs.gather(-1, action[:, None]).squeeze(-1))
            steps["v"].append(value)
            steps["r"].append(torch.from_numpy(np.asarray(reward, dtype=np.float32)).to(device))
            steps["done"].append(torch.from_numpy(terminated.astype(np.float32)).to(device))
            steps["ent"].append(-(log_probs.exp() * log_probs).sum(-1))
    if segment_length is None:
        steps["h0"].append(model.initial_hidden(env.num_envs))
    return TrialBatch(*(torch.stack(steps[k]) for k in
                        ("x", "a", "logp", "v", "r", "done", "ent", "h0", "valid", "episode")),
                      signal_data=[signal.recorded(device) for signal in signals])


class Rollout(Protocol):
    """What `train` calls to play one update's trials (``rollout=``); `collect_trials` is one.

    Positional arguments, as `collect_trials` takes them: the model, the `TrialEnv`, the
    update's environment seed, the run's sampling generator, the BPTT segment length (None:
    whole trials) and the run's training signals. A replacement (a course exercise, an
    experiment) must return the same `TrialBatch`; `ppo_update` replays its ``x`` from
    ``segment_h0``, so the recorded log-probabilities must be those of that replay.
    """

    def __call__(self, model: RecurrentActorCritic, env: TrialEnv, env_seed: int,
                 generator: torch.Generator, segment_length: int | None = None,
                 signals: Sequence[TrainingSignal] = ()) -> TrialBatch: ...


# --------------------------------------------------------------------------------------------
# 2. Generalized advantage estimation
# --------------------------------------------------------------------------------------------

def compute_gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor,
                last_value: torch.Tensor, gamma: float, lam: float
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(γ, λ) (Schulman et al. 2016) over time-major arrays of shape (T, B).

        δ_t = r_t + γ (1 − d_t) V_{t+1} − V_t                  (TD error; V_T = last_value)
        A_t = δ_t + γ λ (1 − d_t) A_{t+1}                       (A_T = 0)
        R_t = A_t + V_t                                          (the value target)

    ``dones[t] = 1`` means step t ended the *trial*: nothing is bootstrapped past it. In RL²
    an episode boundary inside a trial is NOT a done here, because the return being maximised
    is the whole trial's. ``last_value`` (B,) is V of the state after the last step (ignored
    where that step was terminal). Returns ``(advantages, returns)``.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(values)
    next_advantage = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(steps)):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * not_done * next_value - values[t]
        next_advantage = delta + gamma * lam * not_done * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages, advantages + values


# --------------------------------------------------------------------------------------------
# 3. The PPO update
# --------------------------------------------------------------------------------------------

def to_segments(t: torch.Tensor, length: int) -> torch.Tensor:
    """(T, B, ...) -> (L, S·B, ...): cut each trial into S segments of L steps (zero-padded),
    laid side by side so the GRU runs L sequential steps over a batch S times wider.
    Column s·B + b is segment s of trial b."""
    steps, batch = t.shape[:2]
    segments = math.ceil(steps / length)
    pad = segments * length - steps
    if pad:
        t = torch.cat([t, t.new_zeros((pad, *t.shape[1:]))])
    t = t.reshape(segments, length, batch, *t.shape[2:]).transpose(0, 1)
    return t.reshape(length, segments * batch, *t.shape[3:])


class PPOLoss(NamedTuple):
    """The terms of PPO's loss on one minibatch (scalars); the optimiser minimises ``total``."""

    total: torch.Tensor      # policy + value_coef · value − entropy_coef · entropy
    policy: torch.Tensor     # −L^CLIP: the clipped surrogate, negated
    value: torch.Tensor      # ½ · mean (V_θ − R)²
    entropy: torch.Tensor    # mean entropy of π_θ (a bonus: it enters ``total`` negated)


def ppo_loss(*, new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
             values: torch.Tensor, returns: torch.Tensor, entropy: torch.Tensor,
             mask: torch.Tensor, clip_coef: float, value_coef: float,
             entropy_coef: float) -> PPOLoss:
    """PPO's loss (Schulman et al. 2017) over a minibatch of steps, all arrays of one shape.

        r_t(θ) = π_θ(a_t|·) / π_old(a_t|·) = exp(new_logp − old_logp)
        L^CLIP = mean_t min(r_t A_t, clip(r_t, 1 − ε, 1 + ε) A_t)
        total  = −L^CLIP + value_coef · ½ mean_t (V_θ − R_t)² − entropy_coef · mean_t H_t

    Means are over the steps where ``mask`` is 1 (a trial's own steps). ``advantages`` and
    ``returns`` are GAE's, fixed during the update; ``values`` and ``entropy`` are the network's
    now, with gradients.
    """
    def masked_mean(t: torch.Tensor) -> torch.Tensor:
        return (t * mask).sum() / mask.sum()

    ratio = (new_logp - old_logp).exp()
    policy_loss = masked_mean(torch.max(-advantages * ratio,
                                        -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)))
    value_loss = 0.5 * masked_mean((values - returns) ** 2)
    mean_entropy = masked_mean(entropy)
    return PPOLoss(policy_loss + value_coef * value_loss - entropy_coef * mean_entropy,
                   policy_loss, value_loss, mean_entropy)


class LossFunction(Protocol):
    """What `ppo_update` calls for each minibatch's loss (``loss=``); `ppo_loss` is one.

    It is called with `ppo_loss`'s keyword arguments and returns its four terms in that order
    (a `PPOLoss` or a plain tuple); the update minimises the first and logs the third.
    """

    def __call__(self, *, new_logp: torch.Tensor, old_logp: torch.Tensor,
                 advantages: torch.Tensor, values: torch.Tensor, returns: torch.Tensor,
                 entropy: torch.Tensor, mask: torch.Tensor, clip_coef: float,
                 value_coef: float, entropy_coef: float) -> Sequence[torch.Tensor]: ...


def ppo_update(model: RecurrentActorCritic, optimizer: torch.optim.Optimizer, batch: TrialBatch,
               config: TrainConfig, entropy_coef: float, rng: np.random.Generator,
               signals: Sequence[TrainingSignal] = (), progress: float = 0.0,
               loss: LossFunction = ppo_loss) -> dict[str, float]:
    """Clipped-surrogate PPO on one batch of trials; returns the statistics for the log.

    ``signals`` add their reward terms and losses (``progress`` in [0, 1]: the schedule's);
    ``loss`` computes each minibatch's loss (`ppo_loss`, or a replacement with its interface).
    """
    rewards = batch.rewards
    for signal, data in zip(signals, batch.signal_data):
        bonus = signal.reward_bonus(data, progress)
        rewards = rewards if bonus is None else rewards + bonus
    rewards = rewards * config.reward_scale
    # Every trial ended at step T-1, so nothing is bootstrapped from last_value.
    advantages, returns = compute_gae(rewards, batch.values, batch.dones,
                                      torch.zeros_like(batch.values[0]),
                                      config.gamma, config.gae_lambda)
    # Normalised once over the whole batch, over the trials' own steps only.
    own = advantages[batch.valid > 0]
    advantages = (advantages - own.mean()) / (own.std() + 1e-8)

    length = config.bptt_length or batch.x.shape[0]
    # Lay trials (or their truncated-BPTT segments) out as columns of a (L, columns) batch.
    x, actions, old_logp, adv, ret, mask = (to_segments(t, length) for t in (
        batch.x, batch.actions, batch.logprobs, advantages, returns, batch.valid))
    signal_data = [{k: to_segments(t, length) for k, t in data.items()} for data in batch.signal_data]
    h0 = batch.segment_h0.reshape(-1, model.state_size)          # (S·B, H), same column order
    # A segment wholly after its trial's end adds nothing to any loss (the maze's trials
    # differ in length, so these are often over half the columns): skip them.
    own_columns = mask.sum(0) > 0
    if not bool(own_columns.all()):
        x, actions, old_logp, adv, ret, mask = (t[:, own_columns] for t in
                                                (x, actions, old_logp, adv, ret, mask))
        h0 = h0[own_columns]
        signal_data = [{k: t[:, own_columns] for k, t in data.items()} for data in signal_data]
    columns = x.shape[1]

    parts = (config.minibatches if config.minibatch_size is None
             else math.ceil(columns / config.minibatch_size))
    stats = {"value_loss": 0.0, "approx_kl": 0.0, "clip_frac": 0.0}
    count, within_trust_region = 0, True
    model.train()
    for _ in range(config.ppo_epochs):
        epoch_kls: list[float] = []     # approx-KL of this epoch's minibatches (the last one's
        order = rng.permutation(columns)   # mean tells `adapt_learning_rate` how far it went)
        for cols in np.array_split(order, min(parts, columns)):
            cols = torch.from_numpy(cols).to(x.device)
            hidden, _ = model.hidden_sequence(x[:, cols], h0[cols])
            logits, values = model.heads(hidden)
            log_probs = torch.log_softmax(logits, dim=-1)
            new_logp = log_probs.gather(-1, actions[:, cols, None]).squeeze(-1)
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            m = mask[:, cols]
            masked_mean = lambda t: (t * m).sum() / m.sum()  # noqa: E731

            # r_t(θ) = π_θ(a_t|·) / π_old(a_t|·); L^CLIP = E[min(r_t A_t, clip(r_t, 1±ε) A_t)]
            terms = loss(new_logp=new_logp, old_logp=old_logp[:, cols], advantages=adv[:, cols],
                         values=values, returns=ret[:, cols], entropy=entropy, mask=m,
                         clip_coef=config.clip_coef, value_coef=config.value_coef,
                         entropy_coef=entropy_coef)
            total, value_loss = terms[0], terms[2]
            for signal, data in zip(signals, signal_data):
                term = signal.loss({k: t[:, cols] for k, t in data.items()}, hidden, log_probs,
                                   m, model, progress)
                if term is not None:
                    total = total + term[0]
                    for name, value in term[1].items():
                        stats[name] = stats.get(name, 0.0) + value

            with torch.no_grad():   # KL(old‖new) ≈ E[(r − 1) − log r], before this step
                log_ratio = new_logp - old_logp[:, cols]
                ratio = log_ratio.exp()
                approx_kl = masked_mean((ratio - 1) - log_ratio).item()
            epoch_kls.append(approx_kl)
            if config.target_kl is not None and count and approx_kl > 1.5 * config.target_kl:
                within_trust_region = False     # the policy moved far enough: stop the update
                break
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()

            with torch.no_grad():
                stats["approx_kl"] += approx_kl
                stats["clip_frac"] += masked_mean(
                    ((ratio - 1).abs() > config.clip_coef).float()).item()
                stats["value_loss"] += float(value_loss)
            count += 1
        if not within_trust_region:
            break
    model.eval()
    return {**{k: v / max(count, 1) for k, v in stats.items()}, "adam_steps": count,
            "kl_stopped": float(not within_trust_region),
            "last_epoch_kl": float(np.mean(epoch_kls)) if epoch_kls else 0.0}


def adapt_learning_rate(lr: float, stats: dict[str, float], target_kl: float,
                        lr_max: float = KL_LR_BOUNDS[1]) -> float:
    """The "kl" schedule's next learning rate after an update with ``stats`` (`ppo_update`'s):
    smaller if the approx-KL stop ended the update (the step was too long), larger if its
    last epoch stayed well inside the trust region, else unchanged; kept within
    [KL_LR_BOUNDS[0], lr_max]. A ceiling matters: one Adam step moves every weight by about
    the learning rate, so at 1e-2 a single step can leave the trust region before the stop
    (which looks only before each step) can act."""
    if stats["kl_stopped"]:
        lr /= KL_LR_FACTOR
    elif stats["last_epoch_kl"] < target_kl / KL_LR_FACTOR:
        lr *= KL_LR_FACTOR
    return min(max(lr, KL_LR_BOUNDS[0]), lr_max)


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------

def episode_returns(batch: TrialBatch) -> tuple[float, float]:
    """Mean return of the trials' first and of their last episodes: a learner that uses its
    memory earns more in the last (the diagnostic that the total hides)."""
    own, episodes = batch.rewards * batch.valid, batch.episodes
    last = (episodes * batch.valid.long()).amax(0, keepdim=True)
    return float((own * (episodes == 0)).sum(0).mean()), float((own * (episodes == last)).sum(0).mean())


def env_seed(seed: int, update: int) -> int:
    """The environment seed of update ``update``: resuming needs nothing but the counter."""
    return int(np.random.SeedSequence([_TRAIN_TAG, seed, update]).generate_state(1)[0])


def schedule(config: TrainConfig, update: int, elapsed: float) -> tuple[float, float, float]:
    """(learning rate, entropy coefficient, progress in [0, 1]) for this update: linear decays.

    With an update budget the schedule runs over ``schedule_updates`` updates; with
    ``--minutes`` it runs over the wall-clock budget, so a short run still ends on a sharp,
    low-entropy policy (and a minutes run is therefore not bit-reproducible).
    """
    if config.minutes is not None:
        progress = min(1.0, elapsed / (60.0 * config.minutes))
    else:
        progress = min(1.0, update / config.schedule_updates)
    lr = config.learning_rate * (1.0 - progress * (1.0 - config.lr_final_fraction))
    hold = config.entropy_hold       # the bonus stays put for this share of the schedule
    decay = progress if hold == 0 else max(0.0, progress - hold) / (1.0 - hold)
    entropy = config.entropy_coef + decay * (config.entropy_coef_final - config.entropy_coef)
    return lr, entropy, progress


def fresh_state(config: TrainConfig, warm: bool = True) -> RunState:
    """A new run: seeded initial weights (optionally warm-started), Adam, both random streams."""
    fam, signals = family(config.env), config.make_signals()
    with torch.random.fork_rng(devices=[]):     # seed the initial weights, leave global RNG be
        torch.manual_seed(config.seed)
        # φ, the recurrent core, then the heads (a signal may ask for one more), in this order
        model = RecurrentActorCritic(*fam.layout(config.task),
                                     config.hidden_size, fam.make_encoder(config.task),
                                     sum(s.head_size for s in signals), cell=config.cell,
                                     update_gate_bias=config.update_gate_bias,
                                     value_network=config.value_network,
                                     **config.attention_shape())
    model.to(config.device)    # initialised on the CPU: the same first weights on any device
    if warm and config.init_from is not None:
        warm_start(model, Path(config.init_from), parts=config.init_parts)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    sampler = torch.Generator().manual_seed(
        int(np.random.SeedSequence([_TRAIN_TAG, config.seed, 1]).generate_state(1)[0]))
    shuffler = np.random.default_rng([_TRAIN_TAG, config.seed, 2])
    return RunState(model.eval(), optimizer, 0, 0, 0.0, sampler, shuffler)


@dataclass
class TrainResult:
    """What `train` returns (the files it wrote are the durable result)."""

    model: RecurrentActorCritic
    config: TrainConfig
    updates: int                       # updates done in total (this run and earlier ones)
    trials_seen: int
    wall_seconds: float                # training time in total, across resumes
    mean_return: float | None          # mean trial return of the last update's rollout
    checkpoint_path: Path
    log_path: Path


def train(config: TrainConfig, out_dir: str | os.PathLike, resume: bool = False,
          progress: bool = True, *, rollout: Rollout = collect_trials,
          loss: LossFunction = ppo_loss) -> TrainResult:
    """Train RL² with PPO; writes ``out_dir/checkpoint.pt`` and ``out_dir/log.csv``.

    Runs until ``config.updates`` updates in total (or ``config.minutes`` of training in
    total; with neither, the setting's default budget). With ``resume=True`` it continues the
    run saved in ``out_dir`` and ends with exactly the parameters of an uninterrupted run.
    ``rollout`` and ``loss`` replace the two pieces a course exercise rewrites (or breaks on
    purpose): the rollout of each update (`Rollout`, default `collect_trials`) and each
    minibatch's loss (`LossFunction`, default `ppo_loss`). Neither is saved with the run.
    """
    config.validate()
    if resume and not (Path(out_dir) / CHECKPOINT_NAME).is_file():
        raise UsageError(f"--resume: no checkpoint at {Path(out_dir) / CHECKPOINT_NAME} "
                         f"to resume from")
    out = writable_directory(out_dir, "--out")
    with run_lock(out), deterministic_torch(config.num_threads, config.device):
        state = _train(config, out, resume, progress, rollout, loss)
    return TrainResult(state.model, config, state.update, state.trials_seen, state.wall_seconds,
                       state.last_return, out / CHECKPOINT_NAME, out / LOG_NAME)


def _train(config: TrainConfig, out: Path, resume: bool, progress: bool,
           rollout: Rollout = collect_trials, loss: LossFunction = ppo_loss) -> RunState:
    """The training loop of `train`, in its locked ``out`` directory."""
    ckpt_path, log_path = out / CHECKPOINT_NAME, out / LOG_NAME
    if not resume and ckpt_path.exists():
        raise UsageError(f"{ckpt_path} already exists; pass --resume to continue that run, "
                         f"or choose another --out")
    target, signals = config.budget_updates(), config.make_signals()
    state = (restore_run(ckpt_path, config, config.env_spec(), TrainConfig.BUDGET_FIELDS,
                         lambda: fresh_state(config, warm=False))
             if resume else fresh_state(config))
    log = TrainingLog(log_path, resume_after=state.update if resume else None,
                      columns=config.log_columns)
    env = config.make_env()
    started, wall_before = time.perf_counter(), state.wall_seconds
    saved_at = state.update if resume else -1

    def elapsed() -> float:
        return wall_before + time.perf_counter() - started

    bar = tqdm(total=target, initial=state.update, disable=not progress, unit="update",
               desc=f"RL² {family(config.env).describe(config.task)}", dynamic_ncols=True)
    try:
        with GracefulStop() as stop:
            while not stop.requested:
                if target is not None and state.update >= target:
                    break
                if config.minutes is not None and elapsed() >= 60.0 * config.minutes:
                    break
                lr, entropy_coef, progress_fraction = schedule(config, state.update, elapsed())
                if config.lr_schedule == "linear":   # "kl": the optimiser keeps its own lr
                    for group in state.optimizer.param_groups:
                        group["lr"] = lr

                batch = rollout(state.model, env, env_seed(config.seed, state.update),
                                state.sampler, config.bptt_length, signals)
                stats = ppo_update(state.model, state.optimizer, batch, config, entropy_coef,
                                   state.shuffler, signals, progress_fraction, loss)
                for signal, data in zip(signals, batch.signal_data):
                    stats.update(signal.rollout_stats(data))
                stats["learning_rate"] = state.optimizer.param_groups[0]["lr"]
                if config.lr_schedule == "kl":       # saved with the optimiser: resumes exactly
                    for group in state.optimizer.param_groups:
                        group["lr"] = adapt_learning_rate(group["lr"], stats, config.target_kl,
                                                          config.lr_max)

                state.update += 1
                state.trials_seen += env.num_envs
                state.wall_seconds = elapsed()
                state.last_return = float(batch.rewards.sum(0).mean())
                first, last = episode_returns(batch)
                log.append({"update": state.update, "trials_seen": state.trials_seen,
                            "mean_return": state.last_return, "first_episode_return": first,
                            "last_episode_return": last,
                            "entropy": float(batch.entropy.mean()), **stats,
                            "wall_seconds": state.wall_seconds})
                bar.update(1)
                bar.set_postfix(ret=f"{state.last_return:.3f}",
                                ent=f"{float(batch.entropy.mean()):.3f}")
                if state.update % config.checkpoint_every == 0:
                    save_run(ckpt_path, state, config, config.env_spec())
                    saved_at = state.update
    finally:
        bar.close()
        log.close()
        env.close()                  # the maze's Doom processes end here, even on Ctrl-C
    if saved_at != state.update:
        save_run(ckpt_path, state, config, config.env_spec())
    if stop.requested:
        print(f"saved update {state.update} in {ckpt_path}; --resume continues the run",
              file=sys.stderr)
        raise KeyboardInterrupt
    return state


__all__ = ["KL_LR_BOUNDS", "KL_LR_FACTOR", "LOG_COLUMNS", "LossFunction", "PPOLoss", "Rollout",
           "TrainConfig", "TrainResult", "TrialBatch", "adapt_learning_rate", "collect_trials",
           "compute_gae", "env_seed", "fresh_state", "parse_overrides", "ppo_loss", "ppo_update",
           "read_log", "schedule", "to_segments", "train"]

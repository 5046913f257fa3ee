"""Train an RL² agent: PPO with GAE over whole trials (the "slow" reinforcement learner).

    python -m rl2_course train bandit --arms 5 --episodes 10 --seed 0 --out runs/k5n10 --minutes 1

The paper (Duan et al. 2016, Section 2.3) trains the recurrent policy with TRPO and GAE. We use
PPO (Schulman et al. 2017) instead: it pursues the same idea, improve the policy on fresh
on-policy data while staying in a trust region around the policy that collected it, with a
first-order clipped objective instead of TRPO's conjugate-gradient and line search. It is much
simpler to write and read, and it is the standard choice today.

What makes it RL² rather than plain recurrent PPO (compare CleanRL's ``ppo_atari_lstm``):

* the unit of data is a *trial*: n episodes in one sampled task, with the GRU state carried
  across the episode boundaries (episode ends are only visible as the done flag in x_t);
* the return that is maximised is the return of the whole trial, so GAE bootstraps straight
  through episode boundaries and stops only where the trial ends;
* minibatches are sets of whole trials (or of trial segments with truncated BPTT), never
  random steps, because a step's action depends on everything earlier in its trial.

One update, top to bottom (`train` runs ``updates`` of them):

1. `collect_trials`: draw B new tasks with an environment seed derived from (seed, update),
   play one trial in each with the current policy, record x, a, log π(a|·), V, r, done.
2. `compute_gae`: advantages A_t and value targets R_t = A_t + V_t over each trial.
3. `ppo_update`: a few epochs over minibatches of trials: clipped surrogate + value loss −
   entropy bonus, one Adam step per minibatch.

Not in the paper, off by default: ``aux_coef > 0`` (maze only) adds a supervised auxiliary loss,
aux_coef · ‖ĝ(h_t) − g_t‖², where g_t is where the target lies from the agent's eyes
(`MazeTasks.target_offset`, computed from the position the policy never sees) and ĝ a linear
head on the GRU state. It is the auxiliary-task idea of navigation agents (Jaderberg et al.
2017, Mirowski et al. 2017): a dense gradient that tells the memory what is worth keeping,
where the RL² return alone says it rarely. Acting never reads the head. ``aux_task="map"``
asks for more: g_t also holds where on the maze's map the agent stands and faces and where
the target lies (`MazeTasks.map_coordinates`), i.e. self-localisation.

Not in the paper either, off by default: ``shaping_coef > 0`` (maze only) shapes the reward
the *learner* sees in every episode after a trial's first, with the potential Φ = −coef × cells
to the target along the maze (`MazeTasks.cells_to_target`): F_t = γ Φ(s_{t+1}) − Φ(s_t), about
+coef for each cell the agent comes closer, −coef for each it goes away. Potential-based
shaping (Ng, Harada & Russell 1999) leaves the best policy unchanged (with γ = 1 an episode's
shaping sums to coef × its start's distance, which no action changes), but credits each turn
at a junction at once instead of a hundred steps later. Episode 1 is a search for a target the
agent cannot know, so it is left unshaped. The policy's inputs (the previous reward) and the
logged return stay the environment's own.

Not in the paper either, off by default: ``teacher_coef > 0`` (maze only) adds a cross-entropy
loss, teacher_coef · E[−log π(a*_t | x_{≤t})], on the steps of every episode after a trial's
first, in trials whose first episode found the target. a*_t is what a player who knows the maze
would do there (`MazeTasks.teacher_actions`: steer along the shortest path). The agent still
sees only pixels and its own past; the loss says *what* episode 2 should look like, which the
RL² return says only after a lucky trial, and the policy has to learn from its memory of
episode 1 and what it sees *how* to do it (a privileged teacher, as in learning-by-cheating
agents: Chen et al. 2019). The steps are the policy's own (on-policy, like DAgger), and PPO's
loss stays beside it, so the return still decides everything the teacher does not. With
``teacher_coef_final`` the teacher's weight decays linearly over the schedule, as the
distillation weight does in kickstarting (Schmitt et al. 2018): the teacher shapes what the
memory holds early on, and by the end the return alone decides how far to trust it.

Reproducibility: all randomness comes from ``config.seed``: the model's initial weights, the
per-update environment seeds, and two generators (action sampling, minibatch shuffling) whose
states are saved in every checkpoint together with the optimizer and the update counter, so
``--resume`` continues bit for bit (CPU, fixed thread count, deterministic algorithms).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from rl2_course.agents.checkpoint import (bandit_env_spec, default_file_mode, maze_env_spec,
                                          mdp_env_spec, read_checkpoint, save_checkpoint)
from rl2_course.agents.recurrent import ConvEncoder, ObservationEncoder, RecurrentActorCritic
from rl2_course.envs import TrialEnv, make_bandit_trials, make_maze_trials, make_mdp_trials
from rl2_course.errors import UsageError, writable_directory
from rl2_course.settings import (MAZE_EPISODES, MAZE_SETTINGS, MDP_ACTIONS, MDP_HORIZON,
                                 MDP_STATES, MAZE_AUX_TASKS, WALL_SCHEMES, BanditSetting, bandit_setting,
                                 maze_setting, maze_training_setting, mdp_setting)

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.csv"
LOG_COLUMNS = ("update", "trials_seen", "mean_return", "entropy", "value_loss", "approx_kl",
               "clip_frac", "wall_seconds")
#: mixed into every training seed so training tasks never coincide with evaluation tasks
_TRAIN_TAG = 0x524C32


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    """Every knob of a training run. `for_bandit` fills in the defaults of `settings.py`."""

    # what to learn
    env: str = "bandit"
    arms: int = 5                      # k: actions per step (a bandit's arms; an MDP's 5 actions)
    episodes: int = 10                 # n, episodes (= pulls) per trial
    size: str | None = None            # maze size ("small" or "large"); None for other envs
    time_limit: int | None = None      # maze: decisions per episode; None = the size's own limit
                                       # (settings.MAZE_SETTINGS). Shorter limits make a curriculum.
    walls: str | None = None           # maze: wall scheme, "uniform" or "districts" (envs.maze);
                                       # None = the size's own (settings.MAZE_SETTINGS)
    seed: int = 0
    # network
    hidden_size: int = 128
    # data per update
    trials_per_update: int = 1000      # B
    # PPO and GAE
    learning_rate: float = 2e-3
    lr_final_fraction: float = 0.1     # lr decays linearly to this fraction of learning_rate
    gamma: float = 1.0
    gae_lambda: float = 0.3
    clip_coef: float = 0.2             # ε of the clipped surrogate
    value_coef: float = 0.5
    entropy_coef: float = 0.01         # decays linearly to entropy_coef_final
    entropy_coef_final: float = 0.0
    max_grad_norm: float = 0.5
    ppo_epochs: int = 4
    minibatches: int = 4
    bptt_length: int | None = None     # None: backprop through whole trials
    reward_scale: float = 1.0
    # maze only: weight of an auxiliary loss that asks h_t to predict where the target lies
    # from the agent (`MazeTasks.target_offset`); 0 = plain RL², the paper's method
    aux_coef: float = 0.0
    # ... and what it predicts (`settings.MAZE_AUX_TASKS`): "target" where the target lies from
    # the agent; "map" that, plus where on the maze's map the agent stands, faces and the target lies
    aux_task: str = "target"
    # maze only: potential-based shaping of the learner's reward after a trial's first episode,
    # coef per cell of the maze the agent comes closer to the target; 0 = the paper's reward
    shaping_coef: float = 0.0
    # maze only: weight of a cross-entropy loss towards a teacher that knows the maze
    # (`MazeTasks.teacher_actions`), after a trial's first episode has found the target; 0 = RL² alone
    teacher_coef: float = 0.0
    # ... decayed linearly to this weight over the schedule (None: held at teacher_coef), so the
    # return alone decides what the policy does at the end (kickstarting: Schmitt et al. 2018)
    teacher_coef_final: float | None = None
    schedule_updates: int = 200        # length of the lr and entropy schedules (in updates)
    num_threads: int = 1               # torch CPU threads (fixed, so runs are reproducible)
    device: str = "cpu"                # "cuda" trains on a GPU: faster, not bit-reproducible
    # warm start: begin from the weights of another run's checkpoint (same k and GRU size),
    # e.g. an agent trained on shorter trials: a curriculum over the trial length
    init_from: str | None = None
    # budget: how long to run (these may differ between a run and its --resume)
    updates: int | None = None         # train until this many updates in total ...
    minutes: float | None = None       # ... or for this many minutes of training in total
    checkpoint_every: int = 20         # save out/checkpoint.pt every this many updates

    #: fields that may change on --resume without changing what is being trained
    BUDGET_FIELDS = ("updates", "minutes", "checkpoint_every", "device")

    @classmethod
    def for_bandit(cls, arms: int, episodes: int, **overrides: Any) -> TrainConfig:
        """The `settings.py` defaults for k = ``arms``, n = ``episodes``, with ``overrides``."""
        return cls._from_setting("bandit", bandit_setting(arms, episodes), overrides)

    @classmethod
    def for_mdp(cls, episodes: int, **overrides: Any) -> TrainConfig:
        """The `settings.py` defaults for the paper's MDPs with n = ``episodes``, with ``overrides``."""
        return cls._from_setting("mdp", mdp_setting(episodes), overrides)

    @classmethod
    def for_maze(cls, size: str, **overrides: Any) -> TrainConfig:
        """The `settings.py` defaults for the ViZDoom maze of ``size``, with ``overrides``."""
        return cls._from_setting("maze", maze_training_setting(size), {"size": size, **overrides})

    @classmethod
    def _from_setting(cls, env: str, s: BanditSetting, overrides: dict[str, Any]) -> TrainConfig:
        defaults = dict(
            env=env, arms=s.arms, episodes=s.episodes, hidden_size=s.hidden_size,
            trials_per_update=s.trials_per_update, learning_rate=s.learning_rate,
            gamma=s.gamma, gae_lambda=s.gae_lambda, entropy_coef=s.entropy_coef,
            entropy_coef_final=s.entropy_coef_final, ppo_epochs=s.ppo_epochs,
            minibatches=s.minibatches, bptt_length=s.bptt_length, reward_scale=s.reward_scale,
            schedule_updates=s.updates)
        return cls(**{**defaults, **overrides})

    def budget_updates(self) -> int | None:
        """The update budget: ``updates``, or the schedule length when no budget was given."""
        if self.updates is None and self.minutes is None:
            return self.schedule_updates
        return self.updates

    def validate(self) -> None:
        """Refuse impossible configurations with a one-line `UsageError`."""
        if self.env not in ("bandit", "mdp", "maze"):
            raise UsageError(f"unknown environment {self.env!r}; this trainer knows: bandit, mdp, maze")
        if self.env == "maze" and (self.size not in MAZE_SETTINGS or self.arms != 3
                                   or self.episodes != MAZE_EPISODES):
            raise UsageError(f"a maze run needs --size small or large (got {self.size!r}), 3 "
                             f"actions and {MAZE_EPISODES} episodes per trial")
        if self.env == "mdp" and self.arms != MDP_ACTIONS:
            raise UsageError(f"the paper's MDPs have {MDP_ACTIONS} actions, not {self.arms}")
        if self.arms < 2:
            raise UsageError(f"--arms must be at least 2, got {self.arms}")
        if self.episodes < 1:
            raise UsageError(f"--episodes must be at least 1, got {self.episodes}")
        if self.updates is not None and self.minutes is not None:
            raise UsageError("give either --updates or --minutes, not both")
        if self.updates is not None and self.updates < 1:
            raise UsageError(f"--updates must be at least 1, got {self.updates}")
        if self.minutes is not None and not self.minutes > 0:
            raise UsageError(f"--minutes must be positive, got {self.minutes}")
        positive = ("hidden_size", "trials_per_update", "ppo_epochs", "minibatches",
                    "schedule_updates", "num_threads", "checkpoint_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.time_limit is not None and (self.env != "maze" or self.time_limit < 1):
            raise UsageError(f"time_limit is a maze's decisions per episode (at least 1), "
                             f"got {self.time_limit} for env {self.env!r}")
        if self.walls is not None and (self.env != "maze" or self.walls not in WALL_SCHEMES):
            raise UsageError(f"walls is a maze's wall scheme ({' or '.join(WALL_SCHEMES)}), "
                             f"got {self.walls!r} for env {self.env!r}")
        for name, meaning in (("aux_coef", "the weight of the maze's auxiliary loss"),
                              ("shaping_coef", "the maze's reward shaping per cell"),
                              ("teacher_coef", "the weight of the maze's teacher loss")):
            value = getattr(self, name)
            if value < 0 or (value > 0 and self.env != "maze"):
                raise UsageError(f"{name} ({meaning}) must be 0, or positive for a maze run; "
                                 f"got {value} for env {self.env!r}")
        if self.teacher_coef_final is not None and not 0 <= self.teacher_coef_final <= self.teacher_coef:
            raise UsageError(f"teacher_coef_final (where the teacher's weight decays to) must lie "
                             f"between 0 and teacher_coef={self.teacher_coef}; got {self.teacher_coef_final}")
        if self.aux_task not in MAZE_AUX_TASKS:
            raise UsageError(f"aux_task must be one of {', '.join(MAZE_AUX_TASKS)}, got {self.aux_task!r}")
        if self.bptt_length is not None and self.bptt_length < 1:
            raise UsageError(f"bptt_length must be at least 1 or None, got {self.bptt_length}")
        if not 0.0 <= self.gamma <= 1.0 or not 0.0 <= self.gae_lambda <= 1.0:
            raise UsageError("gamma and gae_lambda must lie in [0, 1]")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise UsageError(f"--device must be cpu or cuda[:N], got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(f"--device {self.device}: this torch sees no CUDA GPU "
                             f"(torch {torch.__version__}); train with --device cpu")

    def env_spec(self) -> dict[str, Any]:
        if self.env == "maze":
            return maze_env_spec(self.size, self.episodes, self.maze_walls)
        if self.env == "mdp":
            return mdp_env_spec(self.episodes, MDP_STATES, MDP_ACTIONS, MDP_HORIZON)
        return bandit_env_spec(self.arms, self.episodes)

    @property
    def maze_walls(self) -> str:
        """The maze's wall scheme: ``walls``, or the size's own when None."""
        return maze_setting(self.size).walls if self.walls is None else self.walls

    @property
    def observation_size(self) -> int:
        """A bandit's observation is the constant [1.0]; an MDP's the one-hot state; a maze's
        the flat 3×30×40 image."""
        if self.env == "maze":
            from rl2_course.envs.maze import OBS_SHAPE

            return int(np.prod(OBS_SHAPE))
        return MDP_STATES if self.env == "mdp" else 1

    def make_encoder(self) -> ObservationEncoder | None:
        """φ: a CNN for the maze's pixels; None (the identity) for vector observations."""
        return ConvEncoder() if self.env == "maze" else None

    @property
    def aux_size(self) -> int:
        """Outputs of the model's auxiliary head (`settings.MAZE_AUX_TASKS`), or none."""
        return MAZE_AUX_TASKS[self.aux_task] if self.aux_coef > 0 else 0

    @property
    def log_columns(self) -> tuple[str, ...]:
        return (LOG_COLUMNS + (("aux_loss",) if self.aux_size else ())
                + (("shaping",) if self.shaping_coef > 0 else ())
                + (("teacher_loss",) if self.teacher_coef > 0 else ()))

    def make_env(self, num_trials: int | None = None) -> TrialEnv:
        size = num_trials or self.trials_per_update
        if self.env == "maze":
            return make_maze_trials(self.size, size, time_limit=self.time_limit, walls=self.maze_walls)
        if self.env == "mdp":
            return make_mdp_trials(self.episodes, size, MDP_STATES, MDP_ACTIONS, MDP_HORIZON)
        return make_bandit_trials(self.arms, self.episodes, size)


#: what ``--set`` may change: the hyperparameters and a maze's training time limit, not what is
#: learned (env, k, n, size) or the run's own flags
_SETTABLE = ("time_limit", "walls", "hidden_size", "trials_per_update", "learning_rate", "lr_final_fraction", "gamma",
             "gae_lambda", "clip_coef", "value_coef", "entropy_coef", "entropy_coef_final",
             "max_grad_norm", "ppo_epochs", "minibatches", "bptt_length", "reward_scale",
             "schedule_updates", "num_threads", "checkpoint_every", "aux_coef", "aux_task",
             "shaping_coef", "teacher_coef", "teacher_coef_final")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["hidden_size=256", "bptt_length=none"]`` -> ``{"hidden_size": 256, "bptt_length": None}``.

    Values take the type of the field's default (int or float; ``none`` where None is allowed);
    an unknown field or a value that does not parse is a one-line `UsageError`.
    """
    types = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in _SETTABLE:
            raise UsageError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of "
                             f"{', '.join(_SETTABLE)}")
        kind = str(types[name])
        if "None" in kind and text.strip().lower() == "none":
            overrides[name] = None
            continue
        if kind.startswith("str"):
            overrides[name] = text.strip()
            continue
        try:
            overrides[name] = int(text) if kind.startswith("int") else float(text)
        except ValueError:
            raise UsageError(f"--set {item!r}: {text!r} is not a valid "
                             f"{'integer' if kind.startswith('int') else 'number'}") from None
    return overrides


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


# --------------------------------------------------------------------------------------------
# 1. Rollout: B whole trials with the current policy
# --------------------------------------------------------------------------------------------

@dataclass
class TrialBatch:
    """One update's data, time-major: arrays of shape (T, B, ...) with T = steps per trial."""

    x: torch.Tensor            # (T, B, D) RL² inputs
    actions: torch.Tensor      # (T, B) long
    logprobs: torch.Tensor     # (T, B) log π_old(a_t | x_{≤t})
    values: torch.Tensor       # (T, B) V_old(x_{≤t})
    rewards: torch.Tensor      # (T, B) raw rewards
    dones: torch.Tensor        # (T, B) 1.0 where step t ended the *trial* (not an episode)
    entropy: torch.Tensor      # (T, B) entropy of π_old at each step (for the log)
    segment_h0: torch.Tensor   # (S, B, H) hidden state at the start of each BPTT segment
    valid: torch.Tensor        # (T, B) 1.0 on a trial's own steps, 0.0 after it ended (the maze's
                               # trials differ in length; a finished row waits for the others)
    aux_targets: torch.Tensor | None = None   # (T, B, K) what the auxiliary head should predict
                                              # at x_t (the maze's target offset), if it has one
    shaping: torch.Tensor | None = None       # (T, B) the learner's reward shaping F_t, if any
    teacher_actions: torch.Tensor | None = None  # (T, B) long: the teacher's a*_t, if asked for
    teacher_mask: torch.Tensor | None = None     # (T, B) 1.0 where the teacher loss applies


def collect_trials(model: RecurrentActorCritic, env: TrialEnv, env_seed: int,
                   generator: torch.Generator, segment_length: int | None = None,
                   aux_task: str = "target", shaping_coef: float = 0.0,
                   gamma: float = 1.0, teacher: bool = False) -> TrialBatch:
    """Play one trial in each of the env's B freshly drawn tasks, sampling a ~ π.

    The GRU state starts at zero (a new task: forget everything) and is then carried through
    every step of the trial, across episode boundaries. With ``segment_length`` L the hidden
    state is also recorded every L steps, where truncated-BPTT segments will start. A model
    with an auxiliary head also gets the env's targets for ``aux_task`` recorded (the maze's
    `auxiliary_targets`, read for the state each x_t shows). With ``shaping_coef`` > 0 the
    maze's potential-based shaping F_t = γ Φ(s_{t+1}) − Φ(s_t) is recorded beside r_t (see the
    module's docstring). With ``teacher`` the maze's `teacher_actions` are recorded too, with a
    mask that holds the steps of later episodes of trials whose first episode found the target.
    Trials may end at different steps (the maze's): a row whose trial has ended is stepped
    on with the others (the env leaves it alone) and masked out by ``valid``.
    """
    x_np, _ = env.reset(seed=env_seed)
    device = model.device
    h = model.initial_hidden(env.num_envs)
    steps: dict[str, list[torch.Tensor]] = {k: [] for k in
                                            ("x", "a", "logp", "v", "r", "done", "ent", "h0",
                                             "valid", "aux", "shaping", "teacher", "taught")}
    terminated = np.zeros(env.num_envs, dtype=bool)
    found_target = np.zeros(env.num_envs, dtype=bool)   # a reward of +1 ended an episode
    with torch.no_grad():
        while not terminated.all():
            t = len(steps["x"])
            if segment_length is not None and t % segment_length == 0:
                steps["h0"].append(h)
            x = torch.from_numpy(x_np).to(device)
            if model.aux_size:
                steps["aux"].append(torch.from_numpy(env.task_env.auxiliary_targets(aux_task)).to(device))
            logits, value, h = model.step(x, h)
            log_probs = torch.log_softmax(logits, dim=-1)
            # Sampled on the CPU with the run's generator, whatever the device: one random stream.
            action_cpu = torch.multinomial(log_probs.exp().cpu(), 1, generator=generator).squeeze(-1)
            action = action_cpu.to(device)
            steps["valid"].append(torch.from_numpy((~terminated).astype(np.float32)).to(device))
            if teacher:
                taught = (env.episode_index >= 1) & found_target & ~terminated
                steps["teacher"].append(torch.from_numpy(env.task_env.teacher_actions()).to(device))
                steps["taught"].append(torch.from_numpy(taught.astype(np.float32)).to(device))
            if shaping_coef:
                later_episode = env.episode_index >= 1
                cells_before = env.task_env.cells_to_target()
            x_np, reward, terminated, truncated, info = env.step(action_cpu.numpy())
            if teacher:
                found_target |= info["reached"]
            if shaping_coef:    # measured where the step ended, before a restart moves the agent
                closer = cells_before - gamma * env.task_env.cells_to_target(info["position"])
                shaping = shaping_coef * closer * later_episode
                steps["shaping"].append(torch.from_numpy(shaping.astype(np.float32)).to(device))
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
                        ("x", "a", "logp", "v", "r", "done", "ent", "h0", "valid")),
                      aux_targets=torch.stack(steps["aux"]) if steps["aux"] else None,
                      shaping=torch.stack(steps["shaping"]) if steps["shaping"] else None,
                      teacher_actions=torch.stack(steps["teacher"]) if teacher else None,
                      teacher_mask=torch.stack(steps["taught"]) if teacher else None)


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

def _to_segments(t: torch.Tensor, length: int) -> torch.Tensor:
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


def ppo_update(model: RecurrentActorCritic, optimizer: torch.optim.Optimizer, batch: TrialBatch,
               config: TrainConfig, entropy_coef: float, rng: np.random.Generator,
               teacher_coef: float | None = None) -> dict[str, float]:
    """Clipped-surrogate PPO on one batch of trials; returns the statistics for the log.

    ``teacher_coef`` is this update's teacher weight (`schedule`); None: ``config.teacher_coef``.
    """
    teacher_coef = config.teacher_coef if teacher_coef is None else teacher_coef
    rewards = batch.rewards if batch.shaping is None else batch.rewards + batch.shaping
    rewards = rewards * config.reward_scale
    # Every trial ended at step T-1, so nothing is bootstrapped from last_value.
    advantages, returns = compute_gae(rewards, batch.values, batch.dones,
                                      torch.zeros_like(batch.values[0]),
                                      config.gamma, config.gae_lambda)
    # Normalised once over the whole batch (scale-free step sizes whatever the rewards),
    # over the trials' own steps only.
    own = advantages[batch.valid > 0]
    advantages = (advantages - own.mean()) / (own.std() + 1e-8)

    steps = batch.x.shape[0]
    length = config.bptt_length or steps
    # Lay trials (or their truncated-BPTT segments) out as columns of a (L, columns) batch.
    x, actions, old_logp, adv, ret = (_to_segments(t, length) for t in
                                      (batch.x, batch.actions, batch.logprobs, advantages, returns))
    mask = _to_segments(batch.valid, length)       # 0 on padding (after a trial, or a segment)
    use_aux = config.aux_coef > 0 and batch.aux_targets is not None
    aux = _to_segments(batch.aux_targets, length) if use_aux else None
    use_teacher = config.teacher_coef > 0 and batch.teacher_actions is not None
    if use_teacher:
        taught_actions, taught = (_to_segments(t, length) for t in
                                  (batch.teacher_actions, batch.teacher_mask))
    h0 = batch.segment_h0.reshape(-1, model.hidden_size)         # (S·B, H), same column order
    # A segment that lies wholly after its trial's end adds nothing to any loss; the maze's
    # trials differ in length, so these are often over half the columns: skip them.
    own_columns = mask.sum(0) > 0
    if not bool(own_columns.all()):
        x, actions, old_logp, adv, ret, mask = (t[:, own_columns] for t in
                                                (x, actions, old_logp, adv, ret, mask))
        h0 = h0[own_columns]
        if use_aux:
            aux = aux[:, own_columns]
        if use_teacher:
            taught_actions, taught = taught_actions[:, own_columns], taught[:, own_columns]
    columns = x.shape[1]

    stats = {"value_loss": 0.0, "approx_kl": 0.0, "clip_frac": 0.0}
    if use_aux:
        stats["aux_loss"] = 0.0
    if use_teacher:
        stats["teacher_loss"] = 0.0
    count = 0
    model.train()
    for _ in range(config.ppo_epochs):
        order = rng.permutation(columns)
        for cols in np.array_split(order, min(config.minibatches, columns)):
            cols = torch.from_numpy(cols).to(x.device)
            hidden, _ = model.hidden_sequence(x[:, cols], h0[cols])
            logits, values = model.policy_head(hidden), model.value_head(hidden).squeeze(-1)
            log_probs = torch.log_softmax(logits, dim=-1)
            new_logp = log_probs.gather(-1, actions[:, cols, None]).squeeze(-1)
            entropy = -(log_probs.exp() * log_probs).sum(-1)
            m = mask[:, cols]
            masked_mean = lambda t: (t * m).sum() / m.sum()  # noqa: E731

            # r_t(θ) = π_θ(a_t|·) / π_old(a_t|·); L^CLIP = E[min(r_t A_t, clip(r_t, 1±ε) A_t)]
            log_ratio = new_logp - old_logp[:, cols]
            ratio = log_ratio.exp()
            a = adv[:, cols]
            policy_loss = masked_mean(torch.max(-a * ratio,
                                                -a * ratio.clamp(1 - config.clip_coef,
                                                                 1 + config.clip_coef)))
            value_loss = 0.5 * masked_mean((values - ret[:, cols]) ** 2)
            loss = (policy_loss + config.value_coef * value_loss
                    - entropy_coef * masked_mean(entropy))
            if use_aux:     # squared error of the auxiliary targets, summed over their components
                aux_loss = masked_mean(((model.aux_head(hidden) - aux[:, cols]) ** 2).sum(-1))
                loss = loss + config.aux_coef * aux_loss
            if use_teacher:  # −log π(a*_t|·) where the teacher applies (none: a zero loss)
                t_mask = taught[:, cols]
                teacher_nll = -log_probs.gather(-1, taught_actions[:, cols, None]).squeeze(-1)
                teacher_loss = (teacher_nll * t_mask).sum() / t_mask.sum().clamp(min=1.0)
                loss = loss + teacher_coef * teacher_loss

            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()

            with torch.no_grad():   # diagnostics: KL(old‖new) ≈ E[(r − 1) − log r]
                stats["approx_kl"] += masked_mean((ratio - 1) - log_ratio).item()
                stats["clip_frac"] += masked_mean(
                    ((ratio - 1).abs() > config.clip_coef).float()).item()
                stats["value_loss"] += value_loss.item()
                if use_aux:
                    stats["aux_loss"] += aux_loss.item()
                if use_teacher:
                    stats["teacher_loss"] += teacher_loss.item()
            count += 1
    model.eval()
    return {k: v / count for k, v in stats.items()}


# --------------------------------------------------------------------------------------------
# The training loop
# --------------------------------------------------------------------------------------------

def env_seed(seed: int, update: int) -> int:
    """The environment seed of update ``update``: resuming needs nothing but the counter."""
    return int(np.random.SeedSequence([_TRAIN_TAG, seed, update]).generate_state(1)[0])


def schedule(config: TrainConfig, update: int, elapsed: float) -> tuple[float, float, float]:
    """(learning rate, entropy coefficient, teacher weight) for this update: linear decays.

    With an update budget the schedule runs over ``schedule_updates`` updates; with
    ``--minutes`` it runs over the wall-clock budget, so a short run still ends on a sharp,
    low-entropy policy (and a minutes run is therefore not bit-reproducible).
    """
    if config.minutes is not None:
        progress = min(1.0, elapsed / (60.0 * config.minutes))
    else:
        progress = min(1.0, update / config.schedule_updates)
    lr = config.learning_rate * (1.0 - progress * (1.0 - config.lr_final_fraction))
    entropy = config.entropy_coef + progress * (config.entropy_coef_final - config.entropy_coef)
    teacher = config.teacher_coef
    if config.teacher_coef_final is not None:
        teacher += progress * (config.teacher_coef_final - config.teacher_coef)
    return lr, entropy, teacher


@dataclass
class _RunState:
    """Everything a checkpoint must hold to continue a run bit for bit."""

    model: RecurrentActorCritic
    optimizer: torch.optim.Optimizer
    update: int
    trials_seen: int
    wall_seconds: float
    sampler: torch.Generator           # action sampling in the rollout
    shuffler: np.random.Generator      # minibatch order
    last_return: float | None = None


def _fresh_state(config: TrainConfig, warm_start: bool = True) -> _RunState:
    with torch.random.fork_rng(devices=[]):     # seed the initial weights, leave global RNG be
        torch.manual_seed(config.seed)
        model = RecurrentActorCritic(config.observation_size, config.arms, config.hidden_size,
                                     encoder=config.make_encoder(), aux_size=config.aux_size)
    model.to(config.device)    # initialised on the CPU: the same first weights on any device
    if warm_start and config.init_from is not None:
        _warm_start(model, Path(config.init_from))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=1e-5)
    sampler = torch.Generator().manual_seed(
        int(np.random.SeedSequence([_TRAIN_TAG, config.seed, 1]).generate_state(1)[0]))
    shuffler = np.random.default_rng([_TRAIN_TAG, config.seed, 2])
    return _RunState(model.eval(), optimizer, 0, 0, 0.0, sampler, shuffler)


def _warm_start(model: RecurrentActorCritic, path: Path) -> None:
    """Copy the weights of checkpoint ``path`` into ``model`` (same architecture required).

    Only the weights travel: the optimizer, the schedules and the random streams start fresh,
    and the checkpoint's task family may differ (that is the point: a shorter trial length).
    The auxiliary head may differ: a new one keeps its fresh weights, an unused one is dropped.
    """
    payload = read_checkpoint(path)
    without_aux = lambda spec: {k: v for k, v in spec.items() if k != "aux_size"}  # noqa: E731
    if without_aux(payload["model_spec"]) != without_aux(model.spec()):
        theirs, ours = payload["model_spec"], model.spec()
        raise UsageError(f"--init-from {path}: its network ({theirs.get('num_actions')} actions, "
                         f"{theirs.get('hidden_size')} GRU units) does not fit this run's "
                         f"({ours['num_actions']} actions, {ours['hidden_size']} GRU units)")
    if payload["model_spec"].get("aux_size", 0) == model.aux_size:
        model.load_state_dict(payload["state_dict"])
    else:
        shared = {k: v for k, v in payload["state_dict"].items() if not k.startswith("aux_head.")}
        model.load_state_dict(shared, strict=False)


def _save(path: Path, state: _RunState, config: TrainConfig) -> None:
    extra = {"update": state.update, "trials_seen": state.trials_seen,
             "wall_seconds": state.wall_seconds, "last_return": state.last_return,
             "optimizer": state.optimizer.state_dict(),
             "rng": {"sampler": state.sampler.get_state(),
                     "shuffler": state.shuffler.bit_generator.state}}
    save_checkpoint(path, state.model, config, config.env_spec(), extra)


def _load_state(path: Path, config: TrainConfig) -> _RunState:
    if not path.exists():
        raise UsageError(f"--resume: no checkpoint at {path} to resume from")
    payload = read_checkpoint(path, expected_env_spec=config.env_spec())
    saved = payload["config"]
    for field in dataclasses.fields(TrainConfig):
        if field.name in TrainConfig.BUDGET_FIELDS or field.name not in saved:
            continue
        if saved[field.name] != getattr(config, field.name):
            raise UsageError(f"{path} was trained with {field.name}={saved[field.name]!r}, not "
                             f"{getattr(config, field.name)!r}; resume with the same settings")
    extra = payload["extra"]
    if "optimizer" not in extra or "rng" not in extra:
        raise UsageError(f"{path} holds no training state (optimizer, RNG); it cannot be resumed")
    state = _fresh_state(config, warm_start=False)      # the checkpoint's weights replace them
    state.model.load_state_dict(payload["state_dict"])
    state.optimizer.load_state_dict(extra["optimizer"])
    state.sampler.set_state(extra["rng"]["sampler"])
    state.shuffler.bit_generator.state = extra["rng"]["shuffler"]
    state.update, state.trials_seen = int(extra["update"]), int(extra["trials_seen"])
    state.wall_seconds, state.last_return = float(extra["wall_seconds"]), extra.get("last_return")
    return state


@contextmanager
def fixed_torch_threads(threads: int) -> Iterator[None]:
    """torch uses ``threads`` CPU threads inside the block (its float sums, and so a run's
    numbers, depend on the count); the previous count is restored afterwards."""
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(old_threads)


@contextmanager
def _deterministic_torch(threads: int, device: str = "cpu") -> Iterator[None]:
    """Fixed thread count + deterministic kernels for the run; restored afterwards.

    Only on the CPU: cuDNN's GRU has no deterministic backward pass, so a GPU run is fast but
    not bit-reproducible (the pretrained assets say which device trained them).
    """
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(device == "cpu")
    try:
        with fixed_torch_threads(threads):
            yield
    finally:
        torch.use_deterministic_algorithms(old_det)


def train(config: TrainConfig, out_dir: str | os.PathLike, resume: bool = False,
          progress: bool = True) -> TrainResult:
    """Train RL² with PPO; writes ``out_dir/checkpoint.pt`` and ``out_dir/log.csv``.

    Runs until ``config.updates`` updates in total (or ``config.minutes`` of training in
    total; with neither, the setting's default budget). With ``resume=True`` it continues the
    run saved in ``out_dir`` and ends with exactly the parameters of an uninterrupted run.
    """
    config.validate()
    if resume and not (Path(out_dir) / CHECKPOINT_NAME).is_file():
        raise UsageError(f"--resume: no checkpoint at {Path(out_dir) / CHECKPOINT_NAME} "
                         f"to resume from")
    out = writable_directory(out_dir, "--out")
    ckpt_path, log_path = out / CHECKPOINT_NAME, out / LOG_NAME
    if not resume and ckpt_path.exists():
        raise UsageError(f"{ckpt_path} already exists; pass --resume to continue that run, "
                         f"or choose another --out")
    target = config.budget_updates()

    with _deterministic_torch(config.num_threads, config.device):
        state = _load_state(ckpt_path, config) if resume else _fresh_state(config)
        log = TrainingLog(log_path, resume_after=state.update if resume else None,
                          columns=config.log_columns)
        env = config.make_env()
        started, wall_before = time.perf_counter(), state.wall_seconds
        saved_at = state.update if resume else -1

        def elapsed() -> float:
            return wall_before + time.perf_counter() - started

        bar = tqdm(total=target, initial=state.update, disable=not progress, unit="update",
                   desc=f"RL² {config.env} " + (f"k={config.arms} " if config.env == "bandit" else "")
                   + f"n={config.episodes}", dynamic_ncols=True)
        try:
            while True:
                if target is not None and state.update >= target:
                    break
                if config.minutes is not None and elapsed() >= 60.0 * config.minutes:
                    break
                lr, entropy_coef, teacher_coef = schedule(config, state.update, elapsed())
                for group in state.optimizer.param_groups:
                    group["lr"] = lr

                batch = collect_trials(state.model, env, env_seed(config.seed, state.update),
                                       state.sampler, config.bptt_length, config.aux_task,
                                       config.shaping_coef, config.gamma, config.teacher_coef > 0)
                stats = ppo_update(state.model, state.optimizer, batch, config, entropy_coef,
                                   state.shuffler, teacher_coef)

                state.update += 1
                state.trials_seen += env.num_envs
                state.wall_seconds = elapsed()
                state.last_return = float(batch.rewards.sum(0).mean())
                if batch.shaping is not None:   # the learner's extra return per trial
                    stats["shaping"] = float(batch.shaping.sum(0).mean())
                log.append({"update": state.update, "trials_seen": state.trials_seen,
                            "mean_return": state.last_return,
                            "entropy": float(batch.entropy.mean()), **stats,
                            "wall_seconds": state.wall_seconds})
                bar.update(1)
                bar.set_postfix(ret=f"{state.last_return:.3f}",
                                ent=f"{float(batch.entropy.mean()):.3f}")
                if state.update % config.checkpoint_every == 0:
                    _save(ckpt_path, state, config)
                    saved_at = state.update
        finally:
            bar.close()
            log.close()
            env.close()                  # the maze's Doom processes end here, even on Ctrl-C
        if saved_at != state.update:
            _save(ckpt_path, state, config)
    return TrainResult(state.model, config, state.update, state.trials_seen, state.wall_seconds,
                       state.last_return, ckpt_path, log_path)


# --------------------------------------------------------------------------------------------
# The CSV log
# --------------------------------------------------------------------------------------------

class TrainingLog:
    """``log.csv``: one row per update, flushed as it is written.

    On resume the rows after the checkpoint's update are dropped (those updates will be redone),
    a truncated last line (a crash mid-write) is dropped with a note, and anything else that
    does not parse is refused rather than silently mixed with new rows.
    """

    def __init__(self, path: Path, resume_after: int | None,
                 columns: tuple[str, ...] = LOG_COLUMNS) -> None:
        self.path, self.columns = path, tuple(columns)
        rows: list[str] = []
        if resume_after is not None and path.exists():
            rows = self._rows_until(resume_after)
        elif resume_after is not None:
            print(f"note: {path} was missing; starting a new log", file=sys.stderr)
        text = ",".join(self.columns) + "\n" + "".join(r + "\n" for r in rows)
        _atomic_write_text(path, text)
        self._file = open(path, "a", newline="")

    def _rows_until(self, update: int) -> list[str]:
        text = self.path.read_text()
        lines = text.split("\n")
        if text and not text.endswith("\n"):
            print(f"note: dropped a truncated last line of {self.path}: {lines[-1]!r}",
                  file=sys.stderr)
        lines = lines[:-1]                      # the part after the last newline
        if not lines or lines[0] != ",".join(self.columns):
            raise UsageError(f"{self.path} is not a training log (expected the header "
                             f"{','.join(self.columns)}); move it away to resume")
        kept = []
        for number, line in enumerate(lines[1:], start=2):
            fields = next(csv.reader([line]), [])
            try:
                if len(fields) != len(self.columns):
                    raise ValueError
                row_update = int(fields[0])
                [float(f) for f in fields[1:]]
            except ValueError:
                raise UsageError(f"{self.path} line {number} is malformed ({line[:60]!r}); fix "
                                 f"or move the log away to resume") from None
            if row_update <= update:
                kept.append(line)
        return kept

    def append(self, row: dict[str, float]) -> None:
        self._file.write(",".join(_fmt(row[c]) for c in self.columns) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_log(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The log as columns of floats (for plots): {"update": array, "mean_return": array, ...};
    a run with the auxiliary loss has an ``aux_loss`` column too."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return {c: np.array([float(r[c]) for r in rows]) for c in reader.fieldnames or LOG_COLUMNS}


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, default_file_mode())
        with io.open(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["LOG_COLUMNS", "fixed_torch_threads", "TrainConfig", "TrainResult", "TrialBatch", "collect_trials",
           "compute_gae", "env_seed", "parse_overrides", "ppo_update", "read_log", "schedule",
           "train"]

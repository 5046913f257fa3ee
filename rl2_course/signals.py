"""Extra training signals beside RL²'s return, kept out of the core trainer.

None of these is in the paper, and all are off by default: a run without them is plain RL²
(`rl2_course.train`). They were built for the ViZDoom maze (chapter 04), where the trial's
return alone says rarely what the memory should keep. CleanRL keeps RND out of its core PPO
the same way: the trainer knows only the small `TrainingSignal` hook, and each signal brings its
own settings, rollout records, reward terms, losses and log columns.

The hook, where the trainer calls it:

* rollout (`train.collect_trials`): ``before_step(env, alive)`` before each env step and
  ``after_step(env, actions, info)`` after it; ``recorded(device)`` then hands over (T, B, ...)
  tensors.
* GAE (`train.ppo_update`): ``reward_bonus(recorded, progress)`` is added to the learner's r_t
  (the policy's inputs and the logged return stay the environment's own).
* each minibatch: ``loss(data, hidden, log_probs, mask, model, progress)`` returns a weighted
  loss term (added to PPO's) and the numbers to log; ``data`` holds the minibatch's columns of
  what was recorded, ``progress`` runs from 0 to 1 over the schedule.

The three maze signals, and their settings (``--set NAME=VALUE``; `SignalSettings`):

* ``aux_coef > 0``: a supervised auxiliary loss, aux_coef · ‖ĝ(h_t) − g_t‖², where g_t is where
  the target lies from the agent's eyes (`MazeTasks.target_offset`, computed from the position
  the policy never sees) and ĝ a linear head on the GRU state. It is the auxiliary-task idea of
  navigation agents (Jaderberg et al. 2017, Mirowski et al. 2017): a dense gradient that tells
  the memory what is worth keeping. Acting never reads the head. ``aux_task="map"`` asks for
  more: where on the maze's map the agent stands and faces and where the target lies
  (`MazeTasks.map_coordinates`), i.e. self-localisation.
* ``shaping_coef > 0``: the learner's reward in every episode after a trial's first gains
  F_t = γ Φ(s_{t+1}) − Φ(s_t) with Φ = −coef × cells to the target along the maze
  (`MazeTasks.cells_to_target`). Potential-based shaping (Ng, Harada & Russell 1999) leaves the
  best policy unchanged but credits each turn at a junction at once. Episode 1 is a search for
  a target the agent cannot know, so it is left unshaped.
* ``teacher_coef > 0``: a cross-entropy loss, teacher_coef · E[−log π(a*_t | x_{≤t})], on the
  steps of every episode after a trial's first, in trials whose first episode found the
  target; a*_t is what a player who knows the maze would do (`MazeTasks.teacher_actions`). A
  privileged teacher (Chen et al. 2019), on the policy's own steps (like DAgger), beside PPO's
  loss. With ``teacher_coef_final`` the weight decays linearly over the schedule, as the
  distillation weight does in kickstarting (Schmitt et al. 2018).

Two signals are for the bandits (chapter 02), where the open question is how much to explore:

* ``teacher_coef > 0`` on a bandit run: the teacher is the finite-horizon Gittins index policy
  (`baselines.gittins`), read on the trial's own pulls so far: the cross-entropy
  −Σ_a q_t(a) log π(a | x_{≤t}), q_t uniform over the arms of largest index, on every pull,
  beside PPO's loss (decayed by ``teacher_coef_final`` as for the maze). Gittins reads the same
  history as the policy and nothing of the task, but it is a hand-made algorithm the slow
  learner is told to copy: what comes out is not RL² learning to explore on its own, so it too
  goes in its own column. It answers whether the network can hold a near-Gittins strategy, and
  whether PPO keeps one it is given.
* ``count_bonus > 0``: the learner's reward for pulling arm a gains count_bonus / √N_a, N_a the
  pulls of a so far in the trial, this one included (the count-based bonus of MBIE-EB, Strehl &
  Littman 2008, and of UCB's confidence width). It is decayed linearly to zero by
  ``count_bonus_until`` of the schedule, so the rest of training, and the agent that comes out,
  optimise the paper's return alone. It reads only the agent's own actions, nothing of the task:
  a help for the slow learner to find exploring, not privileged information.

An agent trained with the teacher used privileged information: report it in its own column.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rl2_course.envs.maze import AUX_TASKS
from rl2_course.envs.trial import TrialEnv
from rl2_course.errors import UsageError


@dataclass
class SignalSettings:
    """The extra signals' settings (all off by default: plain RL²). The families each signal
    needs an environment of are in `SIGNALS`."""

    # weight of an auxiliary loss that asks h_t to predict `aux_task`'s targets; 0 = off
    aux_coef: float = 0.0
    # what it predicts (`envs.maze.AUX_TASKS`): "target" where the target lies from the agent;
    # "map" that, plus where on the maze's map the agent stands, faces and the target lies
    aux_task: str = "target"
    # potential-based shaping of the learner's reward after a trial's first episode, per cell
    # of the maze the agent comes closer to the target; 0 = the paper's reward
    shaping_coef: float = 0.0
    # weight of a cross-entropy loss towards a teacher that knows the maze, after a trial's
    # first episode has found the target; 0 = off
    teacher_coef: float = 0.0
    # ... decayed linearly to this weight over the schedule (None: held at teacher_coef)
    teacher_coef_final: float | None = None
    # a bandit's count bonus, count_bonus / sqrt(pulls of the arm so far in the trial), added to
    # the learner's reward; 0 = off
    count_bonus: float = 0.0
    # ... decayed linearly to zero by this fraction of the schedule (the rest is the paper's return)
    count_bonus_until: float = 0.5

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SignalSettings:
        return cls(**values)

    def changed(self) -> dict[str, Any]:
        """The settings that differ from the defaults (what a config records)."""
        defaults = SignalSettings()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(defaults, f.name)}


#: the names ``--set`` accepts for the signals, with their types (for parsing)
SIGNAL_FIELDS = {f.name: f.type for f in dataclasses.fields(SignalSettings)}


class TrainingSignal:
    """One extra training signal; the base class does nothing (see the module's docstring)."""

    #: outputs of the network's auxiliary head that this signal trains (0: it needs none)
    head_size: int = 0
    #: the columns it adds to the training log
    log_columns: tuple[str, ...] = ()

    def start(self, env: TrialEnv) -> None:
        """A rollout begins (the env was just reset)."""

    def before_step(self, env: TrialEnv, alive: np.ndarray) -> None:
        """Before env.step; ``alive`` (B,) marks the rows whose trial has not ended."""

    def after_step(self, env: TrialEnv, actions: np.ndarray, info: dict[str, Any]) -> None:
        """After env.step(``actions``), with its ``info``."""

    def recorded(self, device: torch.device) -> dict[str, torch.Tensor]:
        """What the rollout recorded, as (T, B, ...) tensors."""
        return {}

    def reward_bonus(self, recorded: dict[str, torch.Tensor], progress: float
                     ) -> torch.Tensor | None:
        """A (T, B) term added to the learner's rewards at ``progress`` of the schedule, or None."""
        return None

    def rollout_stats(self, recorded: dict[str, torch.Tensor]) -> dict[str, float]:
        """Numbers for the log from the rollout."""
        return {}

    def loss(self, data: dict[str, torch.Tensor], hidden: torch.Tensor, log_probs: torch.Tensor,
             mask: torch.Tensor, model: torch.nn.Module, progress: float
             ) -> tuple[torch.Tensor, dict[str, float]] | None:
        """(weighted loss term, numbers for the log) for one minibatch, or None."""
        return None


class _Recorder(TrainingSignal):
    """Keeps per-step numpy arrays under names and stacks them at the end."""

    def start(self, env: TrialEnv) -> None:
        self._steps: dict[str, list[np.ndarray]] = {}

    def _keep(self, name: str, value: np.ndarray) -> None:
        self._steps.setdefault(name, []).append(value)

    def recorded(self, device: torch.device) -> dict[str, torch.Tensor]:
        return {name: torch.stack([torch.from_numpy(v).to(device) for v in values])
                for name, values in self._steps.items()}


class AuxiliaryTask(_Recorder):
    """aux_coef · ‖ĝ(h_t) − g_t‖²: a linear head on h_t learns the maze's auxiliary targets."""

    log_columns = ("aux_loss",)

    def __init__(self, coef: float, task: str) -> None:
        self.coef, self.task, self.head_size = coef, task, AUX_TASKS[task]

    def before_step(self, env: TrialEnv, alive: np.ndarray) -> None:
        # the targets for the state x_t shows (the step has not been taken yet)
        self._keep("targets", env.task_env.auxiliary_targets(self.task))

    def loss(self, data, hidden, log_probs, mask, model, progress):
        # squared error of the auxiliary targets, summed over their components
        error = ((model.aux_head(model.policy_memory(hidden)) - data["targets"]) ** 2).sum(-1)
        aux_loss = (error * mask).sum() / mask.sum()
        return self.coef * aux_loss, {"aux_loss": aux_loss.item()}


class RewardShaping(_Recorder):
    """F_t = γ Φ(s_{t+1}) − Φ(s_t), Φ = −coef × cells to the target, after episode 1."""

    log_columns = ("shaping",)

    def __init__(self, coef: float, gamma: float) -> None:
        self.coef, self.gamma = coef, gamma

    def before_step(self, env: TrialEnv, alive: np.ndarray) -> None:
        self._later_episode = env.episode_index >= 1
        self._cells_before = env.task_env.cells_to_target()

    def after_step(self, env: TrialEnv, actions: np.ndarray, info: dict[str, Any]) -> None:
        # measured where the step ended, before a restart moves the agent
        closer = self._cells_before - self.gamma * env.task_env.cells_to_target(info["position"])
        self._keep("shaping", (self.coef * closer * self._later_episode).astype(np.float32))

    def reward_bonus(self, recorded, progress):
        return recorded["shaping"]

    def rollout_stats(self, recorded):
        return {"shaping": float(recorded["shaping"].sum(0).mean())}   # per trial, for the learner


class Teacher(_Recorder):
    """coef · E[−log π(a*_t | x_{≤t})] on later episodes of trials whose episode 1 found it."""

    log_columns = ("teacher_loss",)

    def __init__(self, coef: float, coef_final: float | None) -> None:
        self.coef, self.coef_final = coef, coef_final

    def start(self, env: TrialEnv) -> None:
        super().start(env)
        self._found_target = np.zeros(env.num_envs, dtype=bool)  # a +1 ended an episode

    def before_step(self, env: TrialEnv, alive: np.ndarray) -> None:
        taught = (env.episode_index >= 1) & self._found_target & alive
        self._keep("actions", env.task_env.teacher_actions())
        self._keep("mask", taught.astype(np.float32))

    def after_step(self, env: TrialEnv, actions: np.ndarray, info: dict[str, Any]) -> None:
        self._found_target |= info["reached"]

    def weight(self, progress: float) -> float:
        """teacher_coef, or its linear decay to teacher_coef_final over the schedule."""
        if self.coef_final is None:
            return self.coef
        return self.coef + progress * (self.coef_final - self.coef)

    def loss(self, data, hidden, log_probs, mask, model, progress):
        # −log π(a*_t|·) where the teacher applies (none: a zero loss)
        taught = data["mask"]
        nll = -log_probs.gather(-1, data["actions"][..., None]).squeeze(-1)
        teacher_loss = (nll * taught).sum() / taught.sum().clamp(min=1.0)
        return self.weight(progress) * teacher_loss, {"teacher_loss": teacher_loss.item()}


class GittinsTeacher(Teacher):
    """coef · E[−Σ_a q_t(a) log π(a | x_{≤t})] on every pull, q_t uniform over the arms of largest
    finite-horizon Gittins index given the trial's pulls so far."""

    def start(self, env: TrialEnv) -> None:
        from rl2_course.baselines.gittins import GittinsIndexPolicy

        _Recorder.start(self, env)
        self._gittins = GittinsIndexPolicy(env.num_actions, env.episodes_per_trial)
        self._belief = self._gittins.initial_state(env.num_envs)

    def before_step(self, env: TrialEnv, alive: np.ndarray) -> None:
        belief, pulls_left = self._belief, self._gittins.episodes - self._belief.step
        index = self._gittins.table.index(belief.successes, belief.failures, pulls_left)
        best = (index == index.max(axis=1, keepdims=True)).astype(np.float32)
        self._keep("targets", best / best.sum(axis=1, keepdims=True))
        self._keep("mask", alive.astype(np.float32))

    def after_step(self, env: TrialEnv, actions: np.ndarray, info: dict[str, Any]) -> None:
        pulled = np.eye(env.num_actions)[actions]
        self._belief.pulls += pulled
        self._belief.successes += pulled * np.asarray(info["reward"])[:, None]
        self._belief.step += 1

    def loss(self, data, hidden, log_probs, mask, model, progress):
        # cross-entropy towards the (tie-shared) Gittins choice on every step of the trial
        taught = data["mask"]
        nll = -(data["targets"] * log_probs).sum(-1)
        teacher_loss = (nll * taught).sum() / taught.sum().clamp(min=1.0)
        return self.weight(progress) * teacher_loss, {"teacher_loss": teacher_loss.item()}


class CountBonus(_Recorder):
    """count_bonus / √N_a for each pull of arm a (N_a: its pulls so far in the trial, this one
    included), decayed linearly to zero by ``until`` of the schedule."""

    log_columns = ("count_bonus",)

    def __init__(self, coef: float, until: float) -> None:
        self.coef, self.until = coef, until

    def start(self, env: TrialEnv) -> None:
        super().start(env)
        self._pulls = np.zeros((env.num_envs, env.num_actions), dtype=np.int64)

    def after_step(self, env: TrialEnv, actions: np.ndarray, info: dict[str, Any]) -> None:
        rows = np.arange(len(actions))
        self._pulls[rows, actions] += 1
        pulls = self._pulls[rows, actions]
        self._keep("inverse_sqrt_pulls", (1.0 / np.sqrt(pulls)).astype(np.float32))

    def weight(self, progress: float) -> float:
        """count_bonus at the start of the schedule, 0 from ``until`` of it on."""
        return self.coef * max(0.0, 1.0 - progress / self.until)

    def reward_bonus(self, recorded, progress):
        return self.weight(progress) * recorded["inverse_sqrt_pulls"]

    def rollout_stats(self, recorded):
        # per trial at full weight (the learner gets weight(progress) times it)
        return {"count_bonus": float(self.coef * recorded["inverse_sqrt_pulls"].sum(0).mean())}


#: signal -> (the setting that switches it on, what it is, the task families whose env has it)
SIGNALS = {
    "aux_coef": ("the weight of the maze's auxiliary loss", ("maze",)),
    "shaping_coef": ("the maze's reward shaping per cell", ("maze",)),
    "teacher_coef": ("the weight of a teacher's loss (the maze's map, a bandit's Gittins index)",
                     ("maze", "bandit")),
    "count_bonus": ("a bandit's count bonus per pull", ("bandit",)),
}


def check_signals(values: dict[str, Any], env: str) -> None:
    """Refuse impossible signal settings for a run on task family ``env`` in one line."""
    unknown = sorted(set(values) - set(SIGNAL_FIELDS))
    if unknown:
        raise UsageError(f"unknown training signal setting {unknown[0]!r}; known: {', '.join(SIGNAL_FIELDS)}")
    settings = SignalSettings.from_dict(values)
    for name, (meaning, families) in SIGNALS.items():
        value = getattr(settings, name)
        if value < 0 or (value > 0 and env not in families):
            raise UsageError(f"{name} ({meaning}) must be 0, or positive for a "
                             f"{' or '.join(families)} run; got {value} for env {env!r}")
    final = settings.teacher_coef_final
    if final is not None and not 0 <= final <= settings.teacher_coef:
        raise UsageError(f"teacher_coef_final (where the teacher's weight decays to) must lie "
                         f"between 0 and teacher_coef={settings.teacher_coef}; got {final}")
    if not 0 < settings.count_bonus_until <= 1:
        raise UsageError(f"count_bonus_until (the fraction of the schedule by which the count bonus "
                         f"has decayed to zero) must lie in (0, 1]; got {settings.count_bonus_until}")
    if settings.aux_task not in AUX_TASKS:
        raise UsageError(f"aux_task must be one of {', '.join(AUX_TASKS)}, got {settings.aux_task!r}")


def make_signals(values: dict[str, Any], gamma: float, env: str = "maze") -> list[TrainingSignal]:
    """The signals a run's settings switch on, in the order their losses are added; ``env`` (the
    task family) picks the teacher: the maze's map, or a bandit's Gittins index."""
    settings = SignalSettings.from_dict(values)
    signals: list[TrainingSignal] = []
    if settings.aux_coef > 0:
        signals.append(AuxiliaryTask(settings.aux_coef, settings.aux_task))
    if settings.shaping_coef > 0:
        signals.append(RewardShaping(settings.shaping_coef, gamma))
    if settings.teacher_coef > 0:
        teacher = GittinsTeacher if env == "bandit" else Teacher
        signals.append(teacher(settings.teacher_coef, settings.teacher_coef_final))
    if settings.count_bonus > 0:
        signals.append(CountBonus(settings.count_bonus, settings.count_bonus_until))
    return signals


def privileged_aids(config: dict[str, Any]) -> tuple[str, ...]:
    """What a saved training config (a checkpoint's ``config``) used besides the return that the
    policy never receives: each maze signal here reads the maze's map or the agent's position
    during training, and a bandit's teacher tells it what a hand-made algorithm (Gittins) would
    pull. An agent trained with one is not plain RL² (tables label it), though it plays
    from the environment's own inputs. Older checkpoints keep the settings at the top level."""
    values = {**{k: config[k] for k in SIGNAL_FIELDS if config.get(k) is not None},
              **(config.get("signals") or {})}
    settings = SignalSettings.from_dict(values)
    aids = []
    if settings.aux_coef > 0:
        aids.append(f"{settings.aux_task} auxiliary task")
    if settings.shaping_coef > 0:
        aids.append("reward shaping")
    if settings.teacher_coef > 0:
        aids.append("a Gittins teacher" if config.get("env") == "bandit" else "a teacher")
    return tuple(aids)


__all__ = ["AuxiliaryTask", "CountBonus", "GittinsTeacher", "RewardShaping", "SIGNAL_FIELDS",
           "SignalSettings", "Teacher", "TrainingSignal", "check_signals", "make_signals",
           "privileged_aids"]

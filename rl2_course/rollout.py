"""Run a policy through whole trials: the one loop that evaluation, widgets and analysis share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from rl2_course.envs.trial import TrialEnv
from rl2_course.limits import MAX_TRIAL_STEPS
from rl2_course.policy import Policy


@dataclass
class TrialRecord:
    """What happened in a batch of trials, step by step (arrays of shape (B, T))."""

    actions: np.ndarray
    rewards: np.ndarray
    episode_done: np.ndarray
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def total_reward(self) -> np.ndarray:
        """Return of each trial, shape (B,): the quantity Table 1 and Table 2 report."""
        return self.rewards.sum(axis=1)


class TrialStep(NamedTuple):
    """What one call of `TrialStepper.step` did, for each of the B tasks (arrays of shape (B,))."""

    action: np.ndarray
    reward: np.ndarray
    episode_done: np.ndarray
    terminated: np.ndarray


class TrialStepper:
    """One batch of trials played one step at a time: the loop body `run_trials` repeats.

    Widgets step this same object (a click = one `step`), so what a learner watches is exactly
    what evaluation computes. ``reset()`` draws the tasks and the policy's initial state;
    ``step()`` asks the policy for actions and steps the env. After a step, ``policy_state`` is
    the state the policy returned with the action it just took (an RL² agent keeps its action
    probabilities and value estimate there) and ``x`` is the input it will see next.
    """

    def __init__(self, env: TrialEnv, policy: Policy, *, seed: int | np.random.SeedSequence,
                 policy_seed: int | np.random.SeedSequence | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.env = env
        self.policy = policy
        self.seed = seed
        self.policy_seed = policy_seed
        self.options = options
        self.reset()

    def reset(self) -> np.ndarray:
        """Begin the trials again from the same seeds (so the same tasks and the same luck)."""
        self.x, _ = self.env.reset(seed=_as_int_seed(self.seed), options=self.options)
        self.policy_state = self.policy.initial_state(
            self.env.num_envs, policy_stream(self.seed if self.policy_seed is None else self.policy_seed))
        self.terminated = np.zeros(self.env.num_envs, dtype=bool)
        self.actions: list[np.ndarray] = []
        self.rewards: list[np.ndarray] = []
        self.episode_dones: list[np.ndarray] = []
        return self.x

    @property
    def t(self) -> int:
        """Steps taken since the last reset."""
        return len(self.actions)

    @property
    def done(self) -> bool:
        """True once every trial of the batch has ended."""
        return bool(self.terminated.all())

    def step(self) -> TrialStep:
        """One step of every trial; calling it after the trials ended is an error."""
        if self.done:
            raise RuntimeError("the trials have ended: call reset() to play them again")
        action, self.policy_state = self.policy.act(self.x, self.policy_state)
        self.x, reward, self.terminated, _, info = self.env.step(action)
        self.actions.append(action)
        self.rewards.append(reward)
        self.episode_dones.append(info["episode_done"])
        return TrialStep(action, reward, info["episode_done"], self.terminated)

    def record(self) -> TrialRecord:
        """The steps taken so far as a `TrialRecord` (arrays of shape (B, t))."""
        if not self.actions:
            empty = np.zeros((self.env.num_envs, 0))
            return TrialRecord(empty.astype(np.int64), empty, empty.astype(bool))
        return TrialRecord(np.stack(self.actions, 1), np.stack(self.rewards, 1),
                           np.stack(self.episode_dones, 1))


def run_trials(env: TrialEnv, policy: Policy, *, seed: int | np.random.SeedSequence,
               policy_seed: int | np.random.SeedSequence | None = None,
               options: dict[str, Any] | None = None, progress: bool | str = False,
               max_steps: int = MAX_TRIAL_STEPS) -> TrialRecord:
    """Play one trial in each of the env's B tasks with ``policy``.

    ``seed`` fixes the tasks *and* the environment's randomness, so two policies run with the
    same seed face identical tasks and luck (common random numbers); ``policy_seed`` drives the
    policy's own randomness (Thompson draws, ε coin flips). The loop is a `TrialStepper`
    stepped to the end.
    """
    stepper = TrialStepper(env, policy, seed=seed, policy_seed=policy_seed, options=options)
    bar = tqdm(desc=progress if isinstance(progress, str) else policy.name, disable=not progress,
               unit="step", leave=False)
    while not stepper.done:
        if stepper.t >= max_steps:
            raise RuntimeError(f"trial did not end within {max_steps} steps")
        stepper.step()
        bar.update(1)
    bar.close()
    return stepper.record()


#: spawn key that separates a policy's random stream from the environment's
_POLICY_STREAM = (0x9011C7,)


def policy_stream(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """The policy's own random stream for ``seed``, never equal to the environment's stream.

    Were both seeded with the same integer, a policy's first random draws would *be* the draws
    that made the task (e.g. a tie-break that secretly follows the true arm means).
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(int(seed), spawn_key=_POLICY_STREAM)


def _as_int_seed(seed: int | np.random.SeedSequence) -> int:
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1)[0])
    return int(seed)

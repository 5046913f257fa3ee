"""Run a policy through whole trials: the one loop that evaluation, widgets and analysis share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rl2_course.envs.trial import TrialEnv
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


def run_trials(env: TrialEnv, policy: Policy, *, seed: int | np.random.SeedSequence,
               policy_seed: int | np.random.SeedSequence | None = None,
               options: dict[str, Any] | None = None, progress: bool | str = False,
               max_steps: int = 1_000_000) -> TrialRecord:
    """Play one trial in each of the env's B tasks with ``policy``.

    ``seed`` fixes the tasks *and* the environment's randomness, so two policies run with the
    same seed face identical tasks and luck (common random numbers); ``policy_seed`` drives the
    policy's own randomness (Thompson draws, ε coin flips).
    """
    x, _ = env.reset(seed=_as_int_seed(seed), options=options)
    state = policy.initial_state(env.num_envs, policy_stream(seed if policy_seed is None else policy_seed))
    actions, rewards, dones = [], [], []
    bar = tqdm(desc=progress if isinstance(progress, str) else policy.name, disable=not progress,
               unit="step", leave=False)
    terminated = np.zeros(env.num_envs, dtype=bool)
    while not terminated.all():
        if len(actions) >= max_steps:
            raise RuntimeError(f"trial did not end within {max_steps} steps")
        action, state = policy.act(x, state)
        x, reward, terminated, _, info = env.step(action)
        actions.append(action)
        rewards.append(reward)
        dones.append(info["episode_done"])
        bar.update(1)
    bar.close()
    return TrialRecord(np.stack(actions, 1), np.stack(rewards, 1), np.stack(dones, 1))


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

"""Batched task families and the RL² trial wrapper."""

from rl2_course.envs.bandit import BernoulliBandits
from rl2_course.envs.base import TaskVectorEnv
from rl2_course.envs.trial import (SingleTaskEnv, TrialEnv, TrialInput, TrialInputLayout,
                                   encode_trial_input)


def make_bandit_trials(arms: int, episodes: int, num_tasks: int = 1) -> TrialEnv:
    """B trials of ``episodes`` pulls on fresh ``arms``-armed Bernoulli bandits."""
    return TrialEnv(BernoulliBandits(num_tasks, arms), episodes)


__all__ = ["BernoulliBandits", "SingleTaskEnv", "TaskVectorEnv", "TrialEnv", "TrialInput",
           "TrialInputLayout", "encode_trial_input", "make_bandit_trials"]

"""Batched task families and the RL² trial wrapper."""

from rl2_course.envs.bandit import BernoulliBandits
from rl2_course.envs.base import TaskVectorEnv
from rl2_course.envs.mdp import RandomTabularMDPs, finite_horizon_q
from rl2_course.envs.trial import (SingleTaskEnv, TrialEnv, TrialInput, TrialInputLayout,
                                   encode_trial_input)


def make_bandit_trials(arms: int, episodes: int, num_tasks: int = 1) -> TrialEnv:
    """B trials of ``episodes`` pulls on fresh ``arms``-armed Bernoulli bandits."""
    return TrialEnv(BernoulliBandits(num_tasks, arms), episodes)


def make_mdp_trials(episodes: int, num_tasks: int = 1, states: int = 10, actions: int = 5,
                    horizon: int = 10) -> TrialEnv:
    """B trials of ``episodes`` episodes (``horizon`` steps each) in fresh random tabular MDPs."""
    return TrialEnv(RandomTabularMDPs(num_tasks, states, actions, horizon), episodes)


__all__ = ["BernoulliBandits", "SingleTaskEnv", "TaskVectorEnv", "TrialEnv", "TrialInput",
           "TrialInputLayout", "encode_trial_input", "make_bandit_trials"]
__all__ += ["RandomTabularMDPs", "finite_horizon_q", "make_mdp_trials"]

"""Batched task families and the RL² trial wrapper."""

from rl2_course.envs.bandit import UNIFORM_PRIOR, ArmPrior, BernoulliBandits
from rl2_course.envs.base import TaskVectorEnv
from rl2_course.envs.mdp import RandomTabularMDPs, finite_horizon_q
from rl2_course.envs.trial import (SingleTaskEnv, TrialEnv, TrialInput, TrialInputLayout,
                                   encode_trial_input)


def make_bandit_trials(arms: int, episodes: int, num_tasks: int = 1,
                       prior: ArmPrior = UNIFORM_PRIOR) -> TrialEnv:
    """B trials of ``episodes`` pulls on fresh ``arms``-armed Bernoulli bandits (arm means from
    ``prior``: the paper's U[0, 1] unless told otherwise, see `BernoulliBandits`)."""
    return TrialEnv(BernoulliBandits(num_tasks, arms, prior), episodes)


def make_mdp_trials(episodes: int, num_tasks: int = 1, states: int = 10, actions: int = 5,
                    horizon: int = 10) -> TrialEnv:
    """B trials of ``episodes`` episodes (``horizon`` steps each) in fresh random tabular MDPs."""
    return TrialEnv(RandomTabularMDPs(num_tasks, states, actions, horizon), episodes)


def make_maze_trials(size: str = "small", num_tasks: int = 1, *, time_limit: int | None = None,
                     walls: str | None = None, **kwargs) -> TrialEnv:
    """B trials of 2 episodes in fresh random ViZDoom mazes of ``size`` "small" (5×5 cells) or
    "large" (9×9), with ``time_limit`` decisions per episode and wall scheme ``walls`` (None:
    that size's own, `settings.maze_setting`); ``kwargs`` go to `MazeTasks`. Close it
    (``env.task_env.close()``) to end its Doom processes."""
    from rl2_course.envs.maze import MazeTasks
    from rl2_course.settings import MAZE_EPISODES, maze_setting

    setting = maze_setting(size)
    limit = setting.time_limit if time_limit is None else time_limit
    return TrialEnv(MazeTasks(num_tasks, setting.cells, time_limit=limit,
                              walls=setting.walls if walls is None else walls, **kwargs), MAZE_EPISODES)


__all__ = ["ArmPrior", "BernoulliBandits", "SingleTaskEnv", "TaskVectorEnv", "TrialEnv", "TrialInput",
           "TrialInputLayout", "UNIFORM_PRIOR", "encode_trial_input", "make_bandit_trials"]
__all__ += ["RandomTabularMDPs", "finite_horizon_q", "make_mdp_trials"]
__all__ += ["make_maze_trials"]

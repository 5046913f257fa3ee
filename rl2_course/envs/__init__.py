"""Batched task families and the RL² trial wrapper.

Each environment module also says how a checkpoint records its task family (``task_spec``)
and how messages name one (``describe_task``); `describe_task` here reads any of them.
"""

from typing import Any

from rl2_course.envs import bandit as _bandit, mdp as _mdp
from rl2_course.envs.bandit import UNIFORM_PRIOR, ArmPrior, BernoulliBandits
from rl2_course.envs.base import TaskVectorEnv
from rl2_course.envs.mdp import (MDP_ACTIONS, MDP_HORIZON, MDP_STATES, RandomTabularMDPs,
                                 finite_horizon_q)
from rl2_course.envs.trial import (SingleTaskEnv, TrialEnv, TrialInput, TrialInputLayout,
                                   encode_trial_input)


def make_bandit_trials(arms: int, episodes: int, num_tasks: int = 1,
                       prior: ArmPrior = UNIFORM_PRIOR) -> TrialEnv:
    """B trials of ``episodes`` pulls on fresh ``arms``-armed Bernoulli bandits (arm means from
    ``prior``: the paper's U[0, 1] unless told otherwise, see `BernoulliBandits`)."""
    return TrialEnv(BernoulliBandits(num_tasks, arms, prior), episodes)


def make_mdp_trials(episodes: int, num_tasks: int = 1, states: int = MDP_STATES,
                    actions: int = MDP_ACTIONS, horizon: int = MDP_HORIZON) -> TrialEnv:
    """B trials of ``episodes`` episodes (``horizon`` steps each) in fresh random tabular MDPs."""
    return TrialEnv(RandomTabularMDPs(num_tasks, states, actions, horizon), episodes)


def make_maze_trials(size: str = "small", num_tasks: int = 1, *, time_limit: int | None = None,
                     walls: str | None = None, starts: str | None = None,
                     episodes: int | None = None, **kwargs) -> TrialEnv:
    """B trials of ``episodes`` (default 2, the paper's) episodes in fresh random ViZDoom mazes
    of ``size`` (`envs.maze.MAZE_SIZES`: "small" 5×5 cells, "large" 9×9, the paper's
    "paper-small" 3×3 and "paper-large" 5×5), with ``time_limit`` decisions per episode, wall
    scheme ``walls`` and start protocol ``starts`` (None: that size's own), and the size's
    step penalty; ``kwargs`` go to `MazeTasks`. Close it (``env.task_env.close()``) to end its
    Doom processes."""
    from rl2_course.envs.maze import MAZE_EPISODES, MazeTasks, maze_size

    setting = maze_size(size)
    limit = setting.time_limit if time_limit is None else time_limit
    kwargs.setdefault("step_penalty", setting.step_penalty)
    return TrialEnv(MazeTasks(num_tasks, setting.cells, time_limit=limit,
                              walls=setting.walls if walls is None else walls,
                              starts=setting.starts if starts is None else starts, **kwargs),
                    MAZE_EPISODES if episodes is None else int(episodes))


def _describe_maze(spec: dict[str, Any]) -> str:
    from rl2_course.envs.maze import describe_task as describe_maze    # Doom only when asked

    return describe_maze(spec)


def _maze_layout(spec: dict[str, Any]) -> tuple[int, int]:
    from rl2_course.envs.maze import task_layout as maze_layout

    return maze_layout(spec)


_DESCRIBE = {"bandit": _bandit.describe_task, "mdp": _mdp.describe_task, "maze": _describe_maze}
_LAYOUT = {"bandit": _bandit.task_layout, "mdp": _mdp.task_layout, "maze": _maze_layout}


def describe_task(spec: dict[str, Any]) -> str:
    """'bandit k=5, n=10', 'mdp n=10 (...)', 'maze small, ...': how messages name a task family."""
    describe = _DESCRIBE.get(spec.get("env"))
    return describe(spec) if describe else ", ".join(f"{k}={v}" for k, v in spec.items())


def task_layout(spec: dict[str, Any]) -> tuple[int, int] | None:
    """(observation size, actions) an RL² network needs for the task family of ``spec``, or
    None for a family this package does not know."""
    layout = _LAYOUT.get(spec.get("env"))
    return layout(spec) if layout else None


__all__ = ["ArmPrior", "BernoulliBandits", "SingleTaskEnv", "TaskVectorEnv", "TrialEnv", "TrialInput",
           "TrialInputLayout", "UNIFORM_PRIOR", "encode_trial_input", "make_bandit_trials"]
__all__ += ["MDP_ACTIONS", "MDP_HORIZON", "MDP_STATES", "RandomTabularMDPs", "finite_horizon_q",
            "make_mdp_trials"]
__all__ += ["describe_task", "make_maze_trials", "task_layout"]

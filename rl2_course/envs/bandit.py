"""Batched Bernoulli bandits, the first experiment of the RL² paper (Section 3.1).

A task is a k-armed bandit whose arm means are drawn i.i.d. from U[0, 1] (the paper's prior,
which is Beta(1, 1)). An episode is a single pull, so a trial of n episodes is n pulls of one
bandit. All B tasks are numpy arrays and are stepped with one call.

Other task distributions exist for one reason: to test agents *out of distribution* (chapter 05,
`rl2_course.analysis.ood`). ``prior=(a, b)`` draws every arm mean from Beta(a, b) instead, and
``prior=f`` calls ``f(rng, (B, k))`` for the whole (B, k) array of means, so any distribution
(one good arm among bad ones, arms close together, ...) can be tried. The default, (1, 1), draws
exactly the numbers it always drew (``rng.random``), so every result of the paper's setting is
unchanged. A training run may also draw its tasks from a Beta prior (``--set prior=A:B``, the
family's option): a curriculum over the task distribution, which the paper does not use; the
agent it makes still plays, and is judged on, the paper's U[0, 1].

Common random numbers: each step draws one uniform number per task, and arm ``a`` pays 1 when
that number is below ``p[a]``. The uniforms do not depend on the actions, so two agents run
with the same seed meet the same bandits *and* the same luck, which makes their difference far
less noisy than two independent samples would (the evaluator relies on this).
"""

from __future__ import annotations

from typing import Any, Callable, Union

import gymnasium
import numpy as np

from rl2_course.envs.base import TaskVectorEnv

#: a distribution of arm means: Beta(a, b) as ``(a, b)``, or ``f(rng, (B, k)) -> means in [0, 1]``
ArmPrior = Union[tuple[float, float], Callable[[np.random.Generator, tuple[int, int]], np.ndarray]]
#: the paper's prior, U[0, 1] = Beta(1, 1)
UNIFORM_PRIOR = (1.0, 1.0)


def parse_prior(text: str) -> tuple[float, float]:
    """'1:3' -> (1.0, 3.0), the Beta(a, b) prior of the arm means; a `ValueError` in one line
    for anything else (two positive finite numbers are needed)."""
    try:
        a, b = (float(v) for v in str(text).split(":"))
    except ValueError:
        raise ValueError(f"a prior is A:B (Beta(A, B)), got {text!r}") from None
    if not all(np.isfinite(v) and v > 0 for v in (a, b)):
        raise ValueError(f"a Beta prior needs two positive numbers A:B, got {text!r}")
    return a, b


def task_prior(option: str | None) -> tuple[float, float]:
    """A bandit task's ``prior`` option ('A:B', or None for the paper's U[0, 1]) as (a, b)."""
    return UNIFORM_PRIOR if option is None else parse_prior(option)


def describe_prior(prior: ArmPrior) -> str:
    """'U[0,1]' for the paper's prior, 'Beta(a,b)' for another, the function's name otherwise."""
    if callable(prior):
        return getattr(prior, "__name__", "custom prior")
    if tuple(float(v) for v in prior) == UNIFORM_PRIOR:
        return "U[0,1]"
    return f"Beta({prior[0]:g},{prior[1]:g})"


class BernoulliBandits(TaskVectorEnv):
    """B Bernoulli bandits with ``arms`` arms each; one pull is one episode.

    The observation is the one-hot code of the bandit's single state (always ``[1.0]``), so a
    bandit is literally a one-state MDP whose episodes last one step.

    ``reset(options={"arm_means": p})`` sets the tasks instead of sampling them (``p`` of shape
    ``(arms,)`` or ``(num_tasks, arms)``), which the widgets use to replay a chosen bandit.
    ``prior`` (see the module docstring) changes the distribution the tasks are drawn from.
    """

    metadata = {"render_modes": [], "autoreset_mode": None}
    reward_bounds = (0.0, 1.0)

    def __init__(self, num_tasks: int, arms: int, prior: ArmPrior = UNIFORM_PRIOR) -> None:
        if int(arms) < 2:
            raise ValueError(f"a bandit needs at least 2 arms, got {arms}")
        if not callable(prior):
            prior = tuple(float(v) for v in prior)
            if len(prior) != 2 or not all(np.isfinite(v) and v > 0 for v in prior):
                raise ValueError(f"a Beta prior needs two positive numbers (a, b), got {prior}")
        self.prior = prior
        super().__init__(num_tasks, gymnasium.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
                         num_actions=int(arms))
        self.arms = int(arms)
        self.arm_means = np.zeros((self.num_envs, self.arms))
        self._obs = np.ones((self.num_envs, 1), dtype=np.float32)

    def sample_tasks(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        if "arm_means" in options:
            means = np.broadcast_to(np.asarray(options["arm_means"], dtype=float),
                                    (self.num_envs, self.arms)).copy()
            if not np.all((means >= 0) & (means <= 1)):
                raise ValueError("arm_means must lie in [0, 1]")
            self.arm_means = means
        elif callable(self.prior):
            means = np.asarray(self.prior(rng, (self.num_envs, self.arms)), dtype=float)
            if means.shape != (self.num_envs, self.arms) or not np.all((means >= 0) & (means <= 1)):
                raise ValueError(f"the prior must return arm means in [0, 1] of shape "
                                 f"{(self.num_envs, self.arms)}, got shape {means.shape}")
            self.arm_means = means
        elif self.prior == UNIFORM_PRIOR:
            self.arm_means = rng.random((self.num_envs, self.arms))   # the paper's draws, as ever
        else:
            self.arm_means = rng.beta(*self.prior, size=(self.num_envs, self.arms))

    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        return self._obs.copy()

    def step(self, actions: np.ndarray):
        actions = self.check_actions(actions)
        luck = self.np_random.random(self.num_envs)
        reward = (luck < self.arm_means[np.arange(self.num_envs), actions]).astype(np.float64)
        done = np.ones(self.num_envs, dtype=bool)  # every pull ends its one-step episode
        return self._obs.copy(), reward, done, np.zeros(self.num_envs, dtype=bool), {}

    @property
    def best_arm_mean(self) -> np.ndarray:
        """Expected reward per pull of an oracle that knows the arm means, shape (B,)."""
        return self.arm_means.max(axis=1)


# -- the task family, as checkpoints record it --------------------------------------------------

def task_spec(arms: int, episodes: int) -> dict[str, Any]:
    """The task family a bandit checkpoint was trained on: k = ``arms``, n = ``episodes``."""
    return {"env": "bandit", "arms": int(arms), "episodes": int(episodes)}


def describe_task(spec: dict[str, Any]) -> str:
    """How messages name a bandit task family: 'bandit k=5, n=10'."""
    return f"bandit k={spec.get('arms')}, n={spec.get('episodes')}"


def task_layout(spec: dict[str, Any]) -> tuple[int, int]:
    """(observation size, actions) of an RL² network for this task family: [1.0] and k arms."""
    return 1, int(spec["arms"])

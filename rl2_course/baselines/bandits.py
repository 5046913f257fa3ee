"""Bandit baselines of the RL² paper's Table 1, as batched policies over trial inputs.

Every baseline reads the same inputs as the RL² policy (previous action, previous reward) and
keeps the Beta-Bernoulli sufficient statistics of each arm in its state: pulls N_a and
successes S_a. With the paper's prior p_a ~ U[0, 1] = Beta(1, 1) the posterior of arm a is
Beta(1 + S_a, 1 + N_a - S_a), with mean (1 + S_a) / (2 + N_a).

The index policies that need a table (Gittins, Bayes-optimal) live in `gittins.py` and
`bayes_optimal.py`; the parameters of ε-greedy, UCB1 and optimistic Thompson sampling come
from `tuned.py`, which records the command that tuned them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl2_course.envs.trial import TrialInputLayout
from rl2_course.policy import argmax_random_ties


@dataclass
class BanditBelief:
    """Per-task, per-arm counts, rebuilt from the trial inputs as the trial goes on."""

    pulls: np.ndarray        # (B, k) N_a
    successes: np.ndarray    # (B, k) S_a
    step: int                # pulls made so far in this trial (t)
    rng: np.random.Generator

    @property
    def failures(self) -> np.ndarray:
        return self.pulls - self.successes

    @property
    def posterior_mean(self) -> np.ndarray:
        return (1.0 + self.successes) / (2.0 + self.pulls)


class BanditPolicy:
    """Base class: keeps the counts up to date; subclasses choose an arm from them."""

    name = "bandit-policy"

    def __init__(self, arms: int, episodes: int) -> None:
        self.arms = int(arms)
        self.episodes = int(episodes)
        self.layout = TrialInputLayout(observation_size=1, num_actions=self.arms)

    def initial_state(self, num_tasks: int, seed=None) -> BanditBelief:
        zeros = np.zeros((num_tasks, self.arms))
        return BanditBelief(zeros, zeros.copy(), 0, np.random.default_rng(seed))

    def observe(self, x: np.ndarray, belief: BanditBelief) -> BanditBelief:
        """Add the previous pull (one-hot action, reward) carried by the input ``x``."""
        inp = self.layout.split(x)
        if inp.prev_action.any():
            belief.pulls += inp.prev_action
            belief.successes += inp.prev_action * inp.prev_reward[:, None]
            belief.step += 1
        return belief

    def act(self, x: np.ndarray, belief: BanditBelief) -> tuple[np.ndarray, BanditBelief]:
        belief = self.observe(x, belief)
        return self.choose(belief), belief

    def choose(self, belief: BanditBelief) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if k not in ("layout",)}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in params.items())})"


class RandomPolicy(BanditPolicy):
    """Pulls an arm uniformly at random: the floor every learner must beat (n/2 in expectation)."""

    name = "random"

    def choose(self, belief: BanditBelief) -> np.ndarray:
        return belief.rng.integers(0, self.arms, size=belief.pulls.shape[0])


class GreedyPolicy(BanditPolicy):
    """Pulls the arm with the highest posterior mean; never explores on purpose."""

    name = "greedy"

    def choose(self, belief: BanditBelief) -> np.ndarray:
        return argmax_random_ties(belief.posterior_mean, belief.rng)


class EpsilonGreedyPolicy(BanditPolicy):
    """With probability ε a uniformly random arm, otherwise the greedy arm."""

    name = "epsilon-greedy"

    def __init__(self, arms: int, episodes: int, epsilon: float = 0.1) -> None:
        super().__init__(arms, episodes)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def choose(self, belief: BanditBelief) -> np.ndarray:
        greedy = argmax_random_ties(belief.posterior_mean, belief.rng)
        explore = belief.rng.random(greedy.shape[0]) < self.epsilon
        random_arm = belief.rng.integers(0, self.arms, size=greedy.shape[0])
        return np.where(explore, random_arm, greedy)


class UCB1Policy(BanditPolicy):
    """UCB1 (Auer et al. 2002) as the RL² paper runs it: argmax_a  μ̂_a + c·sqrt(2 ln t / N_a).

    Like the paper, the statistics start with one success and one failure (a Beta(1, 1) prior),
    so μ̂_a = (1 + S_a) / (2 + N_a) and the count is 2 + N_a; that way no arm has to be pulled
    once before the index is defined (which would spend all of a k = 10, n = 10 trial on
    exploration). ``t`` is the 1-based number of the current pull. ``c = 1`` is the textbook
    constant; the course tunes c per setting like the paper did (see `rl2_course.tuning`).
    """

    name = "ucb1"

    def __init__(self, arms: int, episodes: int, c: float = 1.0) -> None:
        super().__init__(arms, episodes)
        if c < 0:
            raise ValueError(f"the exploration constant c must be >= 0, got {c}")
        self.c = float(c)

    def choose(self, belief: BanditBelief) -> np.ndarray:
        bonus = self.c * np.sqrt(2.0 * np.log(belief.step + 1) / (2.0 + belief.pulls))
        return argmax_random_ties(belief.posterior_mean + bonus, belief.rng)


class ThompsonSamplingPolicy(BanditPolicy):
    """Thompson sampling (Thompson 1933): draw p̃_a from each posterior, pull argmax p̃_a."""

    name = "thompson"

    def choose(self, belief: BanditBelief) -> np.ndarray:
        sample = belief.rng.beta(1.0 + belief.successes, 1.0 + belief.failures)
        return argmax_random_ties(sample, belief.rng)


class OptimisticThompsonPolicy(BanditPolicy):
    """Optimistic Thompson sampling as defined in the RL² paper: draw ``samples`` (N) joint
    samples of all arm means from the posterior, keep the one with the highest posterior
    density, and pull its best arm.

    N = 1 is plain Thompson sampling; as N grows the kept sample moves towards the posterior
    mode, so N trades Thompson's randomised exploration against greedier play. The paper
    tuned N ∈ {1, …, 20} per setting; so does `rl2_course.tuning`.
    """

    name = "optimistic-thompson"

    def __init__(self, arms: int, episodes: int, samples: int = 1) -> None:
        super().__init__(arms, episodes)
        if int(samples) < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.samples = int(samples)

    def choose(self, belief: BanditBelief) -> np.ndarray:
        a, b = 1.0 + belief.successes, 1.0 + belief.failures
        draws = belief.rng.beta(a, b, size=(self.samples, *a.shape))        # (N, B, k)
        if self.samples > 1:
            # log Beta density up to a per-arm constant (which is the same for every draw)
            eps = 1e-12
            log_density = ((a - 1) * np.log(draws + eps) + (b - 1) * np.log1p(-draws + eps)).sum(-1)
            best = log_density.argmax(axis=0)                               # (B,)
            draws = draws[best, np.arange(draws.shape[1])]
        else:
            draws = draws[0]
        return argmax_random_ties(draws, belief.rng)

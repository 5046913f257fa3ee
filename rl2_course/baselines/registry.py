"""Agent names -> baseline constructors, with each setting's tuned parameters filled in."""

from __future__ import annotations

from rl2_course.baselines.bandits import (BanditPolicy, EpsilonGreedyPolicy, GreedyPolicy,
                                          OptimisticThompsonPolicy, RandomPolicy,
                                          ThompsonSamplingPolicy, UCB1Policy)
from rl2_course.baselines.bayes_optimal import BayesOptimalPolicy
from rl2_course.baselines.gittins import GittinsIndexPolicy
from rl2_course.baselines.tuned import tuned_parameters

#: CLI name -> class, in the column order of the paper's Table 1
BANDIT_AGENTS: dict[str, type[BanditPolicy]] = {
    "random": RandomPolicy,
    "gittins": GittinsIndexPolicy,
    "thompson": ThompsonSamplingPolicy,
    "optimistic-thompson": OptimisticThompsonPolicy,
    "ucb1": UCB1Policy,
    "epsilon-greedy": EpsilonGreedyPolicy,
    "greedy": GreedyPolicy,
    "bayes-optimal": BayesOptimalPolicy,
}


def make_bandit_baseline(name: str, arms: int, episodes: int, **overrides) -> BanditPolicy:
    """Build baseline ``name`` for k = ``arms``, n = ``episodes`` with its tuned parameters.

    Keyword ``overrides`` replace tuned values (the tuner uses them to try a grid).
    """
    if name not in BANDIT_AGENTS:
        raise KeyError(f"unknown bandit agent {name!r}; choose from {', '.join(BANDIT_AGENTS)}")
    params = {**tuned_parameters(name, arms, episodes), **overrides}
    return BANDIT_AGENTS[name](arms, episodes, **params)

"""Agent names -> baseline constructors, with each setting's tuned parameters filled in."""

from __future__ import annotations

from rl2_course.baselines.bandits import (BanditPolicy, EpsilonGreedyPolicy, GreedyPolicy,
                                          OptimisticThompsonPolicy, RandomPolicy,
                                          ThompsonSamplingPolicy, UCB1Policy)
from rl2_course.baselines.bayes_optimal import BayesOptimalPolicy
from rl2_course.baselines.gittins import GittinsIndexPolicy
from rl2_course.baselines.mdps import (BEBPolicy, MDPEpsilonGreedyPolicy, MDPGreedyPolicy,
                                       MDPPolicy, MDPRandomPolicy, OPSRLPolicy, PSRLPolicy,
                                       UCRL2Policy)
from rl2_course.baselines.tuned import tuned_mdp_parameters, tuned_parameters
from rl2_course.errors import UsageError

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


#: CLI name -> class, in the column order of the paper's Table 2 (random tabular MDPs)
MDP_AGENTS: dict[str, type[MDPPolicy]] = {
    "random": MDPRandomPolicy,
    "psrl": PSRLPolicy,
    "opsrl": OPSRLPolicy,
    "ucrl2": UCRL2Policy,
    "beb": BEBPolicy,
    "epsilon-greedy": MDPEpsilonGreedyPolicy,
    "greedy": MDPGreedyPolicy,
}


def make_mdp_baseline(name: str, episodes: int, *, states: int = 10, actions: int = 5,
                      horizon: int = 10, **overrides) -> MDPPolicy:
    """Build MDP baseline ``name`` for trials of n = ``episodes`` episodes, with its tuned
    parameters (tuned for the paper's 10 states, 5 actions, 10 steps).

    Keyword ``overrides`` replace tuned values (the tuner uses them to try a grid). An unknown
    name is a `UsageError` (a ValueError) that lists the known ones.
    """
    if name not in MDP_AGENTS:
        raise UsageError(f"unknown MDP agent {name!r}; choose from {', '.join(MDP_AGENTS)}")
    params = {**tuned_mdp_parameters(name, episodes), **overrides}
    return MDP_AGENTS[name](episodes, states, actions, horizon, **params)

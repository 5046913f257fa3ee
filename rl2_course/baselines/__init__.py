"""Hand-designed learners the RL² agents are compared with."""

from rl2_course.baselines.bandits import (BanditBelief, BanditPolicy, EpsilonGreedyPolicy,
                                          GreedyPolicy, OptimisticThompsonPolicy, RandomPolicy,
                                          ThompsonSamplingPolicy, UCB1Policy)
from rl2_course.baselines.bayes_optimal import BayesOptimalPolicy, BayesOptimalTooLarge
from rl2_course.baselines.gittins import GittinsIndexPolicy
from rl2_course.baselines.mdps import (BEBPolicy, MDPBelief, MDPEpsilonGreedyPolicy,
                                       MDPGreedyPolicy, MDPPolicy, MDPRandomPolicy, OPSRLPolicy,
                                       PSRLPolicy, UCRL2Policy)
from rl2_course.baselines.registry import (BANDIT_AGENTS, MDP_AGENTS, make_bandit_baseline,
                                           make_mdp_baseline)

__all__ = ["BANDIT_AGENTS", "BanditBelief", "BanditPolicy", "BayesOptimalPolicy",
           "BayesOptimalTooLarge", "EpsilonGreedyPolicy", "GittinsIndexPolicy", "GreedyPolicy",
           "OptimisticThompsonPolicy", "RandomPolicy", "ThompsonSamplingPolicy", "UCB1Policy",
           "make_bandit_baseline"]
__all__ += ["BEBPolicy", "MDP_AGENTS", "MDPBelief", "MDPEpsilonGreedyPolicy", "MDPGreedyPolicy",
            "MDPPolicy", "MDPRandomPolicy", "OPSRLPolicy", "PSRLPolicy", "UCRL2Policy",
            "make_mdp_baseline"]

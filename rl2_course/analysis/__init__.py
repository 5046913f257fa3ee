"""Inside the fast learner (chapter 05): what RL²'s hidden state knows, and where it breaks.

The paper shows that RL² works; these modules ask what it learned.

* `recording` — play bandit trials and line up, at every decision, the Bayesian counts with
  the GRU state and π the network had (the data every analysis below reads);
* `probes` — closed-form ridge probes from the GRU state to each arm's posterior mean and pull
  count and to the planner's action, scored on held-out trials, against a random network;
* `behaviour` — every decision judged against the exact Bayes-optimal policy: agreement and
  expected regret to it;
* `ood` — trained agents on longer trials, other arm priors, other MDP episode lengths, beside
  baselines that need no retraining;
* `memory` — is the memory used at all: the return of each episode of a trial, what wiping
  the memory at episode starts costs, and how long the update gates let a unit hold.

Command line: ``python -m rl2_course analyse {probes,behaviour,ood,memory} ... [--json]``.
"""

from rl2_course.analysis.behaviour import (AgentBehaviour, BehaviourReport,
                                           bayes_optimal_is_solvable, compare_with_bayes_optimal,
                                           optimal_arms)
from rl2_course.analysis.memory import MemoryReport, episode_returns, gate_retention, memory_report
from rl2_course.analysis.ood import (BanditCondition, MDPCondition, OODReport, bandit_conditions,
                                     bandit_ood, mdp_conditions, mdp_ood)
from rl2_course.analysis.probes import (LinearProbe, ProbeReport, RidgeFit, fit_ridge,
                                        probe_bandit_agent, r2_score, split_trials)
from rl2_course.analysis.recording import (BanditTrace, counts_before_each_pull,
                                           random_network_like, record_bandit_trials, replay)

__all__ = ["AgentBehaviour", "BanditCondition", "BanditTrace", "BehaviourReport", "LinearProbe",
           "MemoryReport", "episode_returns", "gate_retention", "memory_report",
           "MDPCondition", "OODReport", "ProbeReport", "RidgeFit", "bandit_ood",
           "bayes_optimal_is_solvable", "compare_with_bayes_optimal", "counts_before_each_pull",
           "bandit_conditions", "mdp_conditions", "fit_ridge", "mdp_ood",
           "optimal_arms", "probe_bandit_agent", "r2_score", "random_network_like",
           "record_bandit_trials", "replay", "split_trials"]

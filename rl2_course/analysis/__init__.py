"""Inside the fast learner (chapters 05, 06): what RL²'s memory knows, and where it breaks.

The paper shows that RL² works; these modules ask what it learned.

* `recording` — play bandit or MDP trials and line up, at every decision, the Bayesian
  statistics with the memory state and π the network had (the data every analysis reads);
* `probes` — closed-form ridge probes from the GRU state to each arm's posterior mean and pull
  count and to the planner's action, scored on held-out trials, against a random network;
* `behaviour` — every decision judged against the exact Bayes-optimal policy: agreement and
  expected regret to it;
* `ood` — trained agents on longer trials, other arm priors, other MDP episode lengths, beside
  baselines that need no retraining;
* `memory` — is the memory used at all: the return of each episode of a trial, what wiping
  the memory at episode starts costs, and how long the update gates let a unit hold;
* `attention` (chapter 06) — an attention memory's weights over MDP trials: does it read the
  outcomes of earlier visits of the current state, as an associative memory would?

Command line: ``python -m rl2_course analyse {probes,behaviour,ood,memory} ... [--json]``.
"""

from rl2_course.analysis.attention import (AttentionReadout, attention_to_earlier_visits,
                                           attention_weights, earlier_visits, outcome_mask,
                                           outcome_steps, queries_keys_values)
from rl2_course.analysis.behaviour import (AgentBehaviour, BehaviourReport,
                                           bayes_optimal_is_solvable, compare_with_bayes_optimal,
                                           optimal_arms)
from rl2_course.analysis.memory import MemoryReport, episode_returns, gate_retention, memory_report
from rl2_course.analysis.ood import (BanditCondition, MDPCondition, OODReport, bandit_conditions,
                                     bandit_ood, mdp_conditions, mdp_ood)
from rl2_course.analysis.probes import (LinearProbe, ProbeReport, RidgeFit, fit_ridge,
                                        held_out_r2, probe_bandit_agent, r2_score, split_trials)
from rl2_course.analysis.recording import (BanditTrace, MDPTrace, counts_before_each_pull,
                                           random_network_like, record_bandit_trials,
                                           record_mdp_trials, replay)

__all__ = ["AttentionReadout", "MDPTrace", "attention_to_earlier_visits", "attention_weights",
           "earlier_visits", "held_out_r2", "outcome_mask", "outcome_steps",
           "queries_keys_values", "record_mdp_trials",
           "AgentBehaviour", "BanditCondition", "BanditTrace", "BehaviourReport", "LinearProbe",
           "MemoryReport", "episode_returns", "gate_retention", "memory_report",
           "MDPCondition", "OODReport", "ProbeReport", "RidgeFit", "bandit_ood",
           "bayes_optimal_is_solvable", "compare_with_bayes_optimal", "counts_before_each_pull",
           "bandit_conditions", "mdp_conditions", "fit_ridge", "mdp_ood",
           "optimal_arms", "probe_bandit_agent", "r2_score", "random_network_like",
           "record_bandit_trials", "replay", "split_trials"]

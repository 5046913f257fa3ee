"""RL²'s decisions judged one by one against the Bayes-optimal policy.

The mean return of an agent says how much it earns; it does not say whether it *decides* like
the Bayes-optimal agent, which is the best policy RL²'s objective admits (chapter 02). On
bandits small enough for the exact dynamic programme (`bayes_optimal.py`: every n = 10
setting of Table 1) each decision can be judged exactly. At a decision with counts (S, F):

* the Bayes-optimal arms are those whose Q*(S, F; a) attains V*(S, F) (ties allowed);
* an RL² agent's **greedy** action is argmax_a π(a | x_{≤t}), its **pulled** action the one it
  sampled (RL² is evaluated sampling from π, as in the paper);
* the pulled arm gave up V*(S, F) − Q*(S, F; a_t) of expected reward. Summed over the trial,
  this is exactly the expected regret of the agent *to the Bayes-optimal agent*,
  V*(start) − E[return] (the performance-difference identity), measured with far less noise
  than the difference of two sampled means.

Where the programme is too large (n = 100, 500) the finite-horizon Gittins index stands in for
the Bayes-optimal *action* (`optimal_arms`), without values, so no regret to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rl2_course.agents.rl2_agent import RL2Agent
from rl2_course.analysis.recording import BanditTrace, check_recording_fits, record_bandit_trials
from rl2_course.baselines.bayes_optimal import (MAX_STATES, count_posterior_states,
                                                solve_bayes_optimal)
from rl2_course.baselines.gittins import gittins_table
from rl2_course.errors import UsageError
from rl2_course.evaluate import check_bandit_setting, make_bandit_agent
from rl2_course.limits import check_seed
from rl2_course.policy import Policy

#: Q-values this close to the best are ties (the DP's own tolerance)
TIE_TOLERANCE = 1e-9

#: the CLI name of an RL² agent that takes argmax π instead of sampling
RL2_GREEDY = "rl2-greedy"


def bayes_optimal_is_solvable(arms: int, episodes: int) -> bool:
    """Whether the exact dynamic programme for (k, n) fits `MAX_STATES` (all n = 10 settings)."""
    return count_posterior_states(arms, episodes) <= MAX_STATES


def optimal_arms(trace: BanditTrace) -> tuple[np.ndarray, str]:
    """The arms a planner would pull at every decision of ``trace``: (B, n, k) bool, and which
    planner: ``"bayes-optimal"`` when the DP is solvable, else ``"gittins"`` (largest index)."""
    s, f = trace.successes, trace.failures
    if bayes_optimal_is_solvable(trace.arms, trace.episodes):
        q = solve_bayes_optimal(trace.arms, trace.episodes).q_values(s, f)
        return q >= q.max(axis=-1, keepdims=True) - TIE_TOLERANCE, "bayes-optimal"
    remaining = (trace.episodes - trace.step)[..., None]
    index = gittins_table(trace.episodes).index(s, f, remaining)
    return index >= index.max(axis=-1, keepdims=True), "gittins"


@dataclass
class AgentBehaviour:
    """One agent's decisions against the Bayes-optimal ones (per-step arrays have shape (n,))."""

    name: str
    pulled_optimal: np.ndarray            # (B, n) bool: the pulled arm was Bayes-optimal
    regret: np.ndarray                    # (B, n) V* − Q*(a_t): expected reward given up
    returns: np.ndarray                   # (B,) sampled total reward
    greedy_optimal: np.ndarray | None = None   # (B, n) bool: argmax π was Bayes-optimal (RL²)

    @property
    def regret_per_trial(self) -> np.ndarray:
        return self.regret.sum(axis=1)

    def summary(self) -> dict:
        per_trial = self.regret_per_trial
        n = len(per_trial)
        return {"pulled_agreement": float(self.pulled_optimal.mean()),
                "greedy_agreement": (None if self.greedy_optimal is None
                                     else float(self.greedy_optimal.mean())),
                "regret": float(per_trial.mean()),
                "regret_stderr": float(per_trial.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan"),
                "mean": float(self.returns.mean())}


@dataclass
class BehaviourReport:
    """Every agent's agreement with, and expected regret to, the Bayes-optimal policy."""

    arms: int
    episodes: int
    trials: int
    seed: int
    value: float                                   # V* at the start: the ceiling
    agents: dict[str, AgentBehaviour] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"analysis": "behaviour", "env": "bandit", "arms": self.arms,
                "episodes": self.episodes, "trials": self.trials, "seed": self.seed,
                "bayes_optimal_value": self.value,
                "results": {name: a.summary() for name, a in self.agents.items()}}

    def table(self) -> str:
        width = max(len(n) for n in self.agents) + 2
        lines = [f"{'agent':<{width}}{'argmax π optimal':>17}{'pulled optimal':>16}"
                 f"{'regret to Bayes-opt.':>24}{'mean return':>13}"]
        for name, a in self.agents.items():
            s = a.summary()
            greedy = "—" if s["greedy_agreement"] is None else f"{s['greedy_agreement']:.1%}"
            lines.append(f"{name:<{width}}{greedy:>17}{s['pulled_agreement']:>16.1%}"
                         f"{s['regret']:>15.3f} ± {s['regret_stderr']:.3f}{s['mean']:>13.3f}")
        return "\n".join(lines)


def resolve_agents(names: Sequence[str | Policy], arms: int, episodes: int,
                   checkpoint: Path | None = None) -> list[Policy]:
    """CLI names (plus ``rl2-greedy``: the RL² network taking argmax π) to policies."""
    policies: list[Policy] = []
    network = None
    for name in names:
        if not isinstance(name, str):
            policies.append(name)
        elif name in ("rl2", RL2_GREEDY):
            if network is None:
                network = make_bandit_agent("rl2", arms, episodes, checkpoint=checkpoint)
            policies.append(network if name == "rl2" else
                            RL2Agent(network.model, greedy=True, name=RL2_GREEDY))
        else:
            policies.append(make_bandit_agent(name, arms, episodes))
    return policies


def compare_with_bayes_optimal(agents: Sequence[str | Policy], arms: int, episodes: int,
                               trials: int, seed: int, *,
                               checkpoint: Path | None = None) -> BehaviourReport:
    """Judge every decision of every agent against the exact Bayes-optimal policy.

    All agents meet the same ``trials`` bandits and luck (as ``evaluate bandit --seed``);
    ``checkpoint`` is the network behind ``rl2``/``rl2-greedy`` (default: the pretrained one).
    Refuses (k, n) whose dynamic programme is too large.
    """
    check_bandit_setting(arms, episodes, trials)
    if not agents:
        raise UsageError("no agents to compare")
    if not bayes_optimal_is_solvable(arms, episodes):
        raise UsageError(f"the Bayes-optimal programme for k={arms}, n={episodes} has "
                         f"{count_posterior_states(arms, episodes):,} states, over "
                         f"{MAX_STATES:,}; compare at a smaller n (every n = 10 setting fits)")
    check_seed(seed)
    policies = resolve_agents(agents, arms, episodes, checkpoint)
    check_recording_fits(policies, arms, episodes, trials)    # before the programme is solved
    solution = solve_bayes_optimal(arms, episodes)
    traces = record_bandit_trials(policies, arms, episodes, trials, seed)
    report = BehaviourReport(arms, episodes, trials, seed, solution.value)
    for name, trace in traces.items():
        q = solution.q_values(trace.successes, trace.failures)            # (B, n, k)
        v = q.max(axis=-1)
        optimal = q >= v[..., None] - TIE_TOLERANCE
        pulled = trace.actions[..., None]
        greedy = None
        if trace.logits is not None:
            greedy = np.take_along_axis(optimal, trace.logits.argmax(-1)[..., None], -1)[..., 0]
        report.agents[name] = AgentBehaviour(
            name, np.take_along_axis(optimal, pulled, -1)[..., 0],
            v - np.take_along_axis(q, pulled, -1)[..., 0], trace.rewards.sum(axis=1), greedy)
    return report

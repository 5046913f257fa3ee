"""Out of distribution: a trained RL² agent on tasks it was not trained for.

RL² learns a learning algorithm *for one task distribution*: k arms, n pulls, arm means from
U[0, 1] (or the paper's random MDPs with n episodes of 10 steps). What happens outside it?

* **Longer or shorter trials.** The network sees no clock; whatever it knows about the horizon
  it had to build into h. An n = 10 agent asked for 50 pulls has never been past pull 10.
* **Other task priors.** Beta(0.5, 0.5) puts arms near 0 and 1 (easy to tell apart), Beta(2, 5)
  makes most arms poor and close together. The prior RL² absorbed is the wrong one now.
* **More arms.** Not a test that can be run: the input carries a one-hot previous action and
  the policy head has one output per arm, so a network trained for k arms can play only k-armed
  bandits. Every k needs its own trained agent (Table 1 trains three).

The hand-designed agents need no retraining: UCB1 and Thompson sampling run unchanged at any n,
prior and k. Here they keep the parameters they were tuned to at the agent's *training*
setting, as deployed; the Gittins index is recomputed for the evaluated horizon (it is derived
from the prior and n, not fitted), but still assumes U[0, 1]. Where the course has a pretrained
RL² agent trained *for* an evaluated setting, it runs too (``rl2-retrained``): what retraining
buys.

The evaluators refuse to run a checkpoint on a task family it was not trained for (the
env-spec check of `rl2_course.agents.checkpoint`). This module does exactly that, on purpose:
it loads the agent against its *own* training spec (so a wrong file is still refused) and then
runs it on the other conditions, keeping only what the network's input layout fixes (k for a
bandit; states and actions for an MDP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from rl2_course.agents.rl2_agent import RL2Agent
from rl2_course.baselines import make_bandit_baseline, make_mdp_baseline
from rl2_course.baselines.tuned import tuned_mdp_parameters, tuned_parameters
from rl2_course.envs import UNIFORM_PRIOR, ArmPrior, make_bandit_trials, make_mdp_trials
from rl2_course.envs.bandit import describe_prior, task_prior
from rl2_course.errors import UsageError
from rl2_course.evaluate import (Evaluation, check_bandit_evaluation_fits, check_bandit_setting,
                                 evaluate_policies, make_bandit_agent)
from rl2_course.evaluate_mdp import (ACTIONS, CHUNK_TRIALS as MDP_CHUNK_TRIALS, HORIZON, STATES,
                                     check_mdp_evaluation_fits, check_mdp_setting, make_mdp_agent)
from rl2_course.limits import check_seed
from rl2_course.policy import Policy
from rl2_course.settings import pretrained_checkpoint

#: the bandit baselines of the OOD table by default: no retraining, one planner, the floor
BANDIT_OOD_AGENTS = ("ucb1", "thompson", "gittins", "random")
#: the MDP baselines of the OOD table by default
MDP_OOD_AGENTS = ("beb", "psrl", "greedy", "random")
#: name of the pretrained agent trained *for* an evaluated setting, when there is one
RETRAINED = "rl2-retrained"
#: agents not counted as "the best baseline" RL² is compared with
_NOT_BASELINES = ("rl2", RETRAINED, "random")


@dataclass(frozen=True)
class BanditCondition:
    """One out-of-distribution test for a bandit agent: trial length n and the arms' prior."""

    episodes: int
    prior: ArmPrior = UNIFORM_PRIOR
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or f"n={self.episodes}, {describe_prior(self.prior)}"

    def to_json(self) -> dict[str, Any]:
        prior = describe_prior(self.prior) if callable(self.prior) else [float(v) for v in self.prior]
        return {"episodes": int(self.episodes), "prior": prior}


@dataclass(frozen=True)
class MDPCondition:
    """One out-of-distribution test for an MDP agent: episodes per trial and steps per episode."""

    episodes: int
    horizon: int = HORIZON
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or f"n={self.episodes}, {self.horizon} steps"

    def to_json(self) -> dict[str, Any]:
        return {"episodes": int(self.episodes), "horizon": int(self.horizon)}


@dataclass
class OODRow:
    """One condition: every agent's returns on the same tasks, and RL² against the best baseline."""

    condition: BanditCondition | MDPCondition
    in_distribution: bool
    evaluation: Evaluation

    @property
    def best_baseline(self) -> str | None:
        names = [n for n in self.evaluation.results if n not in _NOT_BASELINES]
        return max(names, key=lambda n: self.evaluation.results[n].mean) if names else None

    def gap(self) -> tuple[float, float] | None:
        """RL² − best baseline, paired over the same tasks: (mean, stderr)."""
        best = self.best_baseline
        if best is None:
            return None
        diff = self.evaluation.results["rl2"].returns - self.evaluation.results[best].returns
        return float(diff.mean()), float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")

    def to_json(self) -> dict[str, Any]:
        gap = self.gap()
        return {"condition": self.condition.name, **self.condition.to_json(),
                "in_distribution": self.in_distribution,
                "results": {n: {"mean": r.mean, "stderr": r.stderr}
                            for n, r in self.evaluation.results.items()},
                "rl2_minus_best_baseline": None if gap is None else
                {"baseline": self.best_baseline, "mean": gap[0], "stderr": gap[1]}}


@dataclass
class OODReport:
    """An RL² agent and the baselines under several conditions; ``table()`` prints it."""

    env: str
    trained: dict[str, Any]                 # the agent's training env spec
    trials: int
    seed: int
    rows: list[OODRow] = field(default_factory=list)

    def agents(self) -> list[str]:
        """Every agent of any row: RL², its retrained sibling where one ran, the baselines."""
        names: list[str] = []
        for row in self.rows:
            names += [n for n in row.evaluation.results if n not in names]
        return sorted(names, key=lambda n: (n != "rl2", n != RETRAINED))     # stable otherwise

    def to_json(self) -> dict[str, Any]:
        return {"analysis": "ood", "env": self.env, "trained": self.trained, "trials": self.trials,
                "seed": self.seed, "rows": [row.to_json() for row in self.rows]}

    def table(self) -> str:
        """Mean total reward ± stderr per agent and condition, and the paired RL² gap."""
        agents = self.agents()
        width = max(len(r.condition.name) for r in self.rows) + 13
        lines = [f"{'condition':<{width}}" + "".join(f"{a:>17}" for a in agents)
                 + "   rl2 − best baseline (paired)"]
        for row in self.rows:
            name = row.condition.name + ("  (training)" if row.in_distribution else "")
            cells = []
            for a in agents:
                r = row.evaluation.results.get(a)
                cells.append(f"{'—':>17}" if r is None else f"{r.mean:>9.2f} ± {r.stderr:<5.2f}")
            gap = row.gap()
            gap_text = "—" if gap is None else f"{gap[0]:+.2f} ± {gap[1]:.2f} vs {row.best_baseline}"
            lines.append(f"{name:<{width}}" + "".join(cells) + f"   {gap_text}")
        return "\n".join(lines)


#: the chapter's prior shifts: arms near 0 and 1 (easy to tell apart); most arms poor and close
DEFAULT_PRIORS = ((0.5, 0.5), (2.0, 5.0))


def bandit_conditions(episodes: int, lengths: Sequence[int] | None = None,
                      priors: Sequence[ArmPrior] | None = None) -> list[BanditCondition]:
    """Tests for an agent trained at n pulls: each of ``lengths`` at U[0, 1] (default n, 2n,
    5n), then each of ``priors`` at n (default Beta(0.5, 0.5) and Beta(2, 5))."""
    n = int(episodes)
    lengths = [n, 2 * n, 5 * n] if lengths is None else lengths
    priors = DEFAULT_PRIORS if priors is None else priors
    return [BanditCondition(int(m)) for m in lengths] + [BanditCondition(n, p) for p in priors]


def bandit_ood(arms: int, episodes: int, conditions: Sequence[BanditCondition] | None = None, *,
               trials: int, seed: int, agents: Sequence[str] = BANDIT_OOD_AGENTS,
               checkpoint: Path | None = None, retrained: bool = True,
               keep_records: bool = False) -> OODReport:
    """The RL² agent trained for k = ``arms``, n = ``episodes`` (pretrained, or ``checkpoint``)
    and the ``agents`` baselines under each condition, all on the same ``trials`` bandits per
    condition (common random numbers, seed ``seed``).

    The number of arms stays k: the network's input and output layout fix it. With
    ``retrained``, the course's pretrained agent for (k, condition's n) joins a U[0, 1]
    condition at another n when it exists.
    """
    check_bandit_setting(arms, episodes, trials)
    conditions = list(bandit_conditions(episodes) if conditions is None else conditions)
    if not conditions:
        raise UsageError("no conditions to evaluate")
    for condition in conditions:
        if condition.episodes < 1:
            raise UsageError(f"trial lengths (--lengths) must be at least 1, got {condition.episodes}")
        if not callable(condition.prior) and not (
                len(condition.prior) == 2 and all(np.isfinite(v) and v > 0 for v in condition.prior)):
            raise UsageError(f"a Beta prior (--priors A:B) needs A, B > 0, got {condition.prior}")
    unknown = [a for a in agents if a in ("rl2", RETRAINED)]
    if unknown:
        raise UsageError(f"the RL² agent is always evaluated; list only baselines, not {unknown[0]}")
    check_seed(seed)
    for condition in conditions:      # every condition is refused before the first one runs
        check_bandit_evaluation_fits(arms, condition.episodes, trials, ["rl2", RETRAINED, *agents],
                                     keep_records=keep_records)
    rl2 = make_bandit_agent("rl2", arms, episodes, checkpoint=checkpoint)   # its own spec: checked
    trained_on = (getattr(rl2, "training_config", None) or {}).get("task", {}).get("prior")
    trained_prior = task_prior(trained_on)
    report = OODReport("bandit", {"env": "bandit", "arms": arms, "episodes": episodes,
                                  **({"prior": trained_on} if trained_on else {})}, trials, seed)
    for condition in conditions:
        n = condition.episodes
        # baselines as deployed at the training setting; only the horizon follows the condition
        policies: list[Policy] = [rl2] + [
            _bandit_baseline(name, arms, n, tuned_parameters(name, arms, episodes)) for name in agents]
        prior = None if callable(condition.prior) else tuple(float(v) for v in condition.prior)
        uniform = prior == UNIFORM_PRIOR
        if retrained and uniform and n != episodes and pretrained_checkpoint(arms, n).exists():
            policies.insert(1, RL2Agent(make_bandit_agent("rl2", arms, n).model, name=RETRAINED))
        evaluation = evaluate_policies(
            "bandit", {"arms": arms, "episodes": n},
            lambda size, c=condition: make_bandit_trials(arms, c.episodes, size, c.prior),
            policies, trials, seed, keep_records=keep_records, progress=False, work=trials * n,
            task_arrays=lambda env: env.task_env.arm_means.copy())
        report.rows.append(OODRow(condition, prior == trained_prior and n == episodes, evaluation))
    return report


def _bandit_baseline(name: str, arms: int, episodes: int, params: dict[str, float]) -> Policy:
    try:
        return make_bandit_baseline(name, arms, episodes, **params)
    except KeyError:
        raise UsageError(f"unknown baseline {name!r} for the OOD table; known: "
                         f"{', '.join(BANDIT_OOD_AGENTS)}, greedy, epsilon-greedy, "
                         f"optimistic-thompson, bayes-optimal") from None
    except ValueError as err:            # e.g. bayes-optimal too large for the evaluated n
        raise UsageError(str(err)) from None


def mdp_conditions(episodes: int, horizons: Sequence[int] | None = None,
                   lengths: Sequence[int] | None = None) -> list[MDPCondition]:
    """Tests for an agent trained at n episodes of 10 steps: each of ``horizons`` steps per
    episode at n (default 10, 5, 20), then each of ``lengths`` episodes at 10 steps (default 2n)."""
    n = int(episodes)
    horizons = [HORIZON, HORIZON // 2, 2 * HORIZON] if horizons is None else horizons
    lengths = [2 * n] if lengths is None else lengths
    return [MDPCondition(n, int(h)) for h in horizons] + [MDPCondition(int(m)) for m in lengths]


def mdp_ood(episodes: int, conditions: Sequence[MDPCondition] | None = None, *, trials: int,
            seed: int, agents: Sequence[str] = MDP_OOD_AGENTS,
            checkpoint: str | Path | None = None) -> OODReport:
    """The RL² agent trained on the paper's MDPs with n = ``episodes`` (the pretrained
    ``mdp-n{N}.pt``, or ``checkpoint``: any MDP checkpoint trained for that n) and the
    ``agents`` baselines, under each condition (episodes per trial, steps per episode), on the
    same ``trials`` MDPs per condition. States and actions stay 10 and 5: the network's layout.

    MDP baselines keep their parameters tuned at the training n and plan for the evaluated
    horizon.
    """
    check_mdp_setting(episodes, trials)
    conditions = list(mdp_conditions(episodes) if conditions is None else conditions)
    if not conditions:
        raise UsageError("no conditions to evaluate")
    for condition in conditions:
        if condition.episodes < 1:
            raise UsageError(f"trial lengths (--lengths) must be at least 1, got {condition.episodes}")
        if condition.horizon < 1:
            raise UsageError(f"episode lengths (--horizons) must be at least 1, got {condition.horizon}")
    if any(a in ("rl2", RETRAINED) for a in agents):
        raise UsageError("the RL² agent is always evaluated; list only baselines")
    check_seed(seed)
    for condition in conditions:      # every condition is refused before the first one runs
        check_mdp_evaluation_fits(condition.episodes, trials, ["rl2", *agents],
                                  horizon=condition.horizon)
    rl2 = make_mdp_agent("rl2", episodes, checkpoint=checkpoint)           # its own spec: checked
    report = OODReport("mdp", {"env": "mdp", "states": STATES, "actions": ACTIONS,
                               "horizon": HORIZON, "episodes": episodes}, trials, seed)
    for condition in conditions:
        n, T = condition.episodes, condition.horizon
        policies: list[Policy] = [rl2] + [_mdp_baseline(name, n, T, episodes) for name in agents]
        evaluation = evaluate_policies(
            "mdp", {"episodes": n, "horizon": T},
            lambda size, n=n, T=T: make_mdp_trials(n, size, STATES, ACTIONS, T),
            policies, trials, seed, progress=False, work=trials * n * T,
            chunk_trials=MDP_CHUNK_TRIALS)
        report.rows.append(OODRow(condition, n == episodes and T == HORIZON, evaluation))
    return report


def _mdp_baseline(name: str, episodes: int, horizon: int, tuned_at: int) -> Policy:
    """MDP baseline ``name`` for n = ``episodes`` episodes of ``horizon`` steps, with the
    parameters tuned at n = ``tuned_at`` (the agent's training setting), as deployed."""
    return make_mdp_baseline(name, episodes, states=STATES, actions=ACTIONS, horizon=horizon,
                             **tuned_mdp_parameters(name, tuned_at))

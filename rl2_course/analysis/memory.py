"""Is the fast learner using its memory? Three measurements that the total return hides.

* **The per-episode profile**: the mean return of episode 1, 2, …, n of a trial. A learner
  earns more in later episodes than in the first (greedy on tabular MDPs: 10.3 → 17.7); a
  memoryless policy earns the same in each.
* **The memory wipe**: ``rl2-forgetful``, the same network with its state zeroed at every
  episode start, on the same tasks and dice. The difference per trial is what the memory of
  earlier episodes earns.
* **Gate retention**: a GRU unit keeps the product of its update gates, ∏ z, of what it held
  k steps ago (along the path that never rewrites it). Along real trials, the median unit's
  and the best unit's retention over k steps say how long the memory *can* hold anything.

    python -m rl2_course analyse memory mdp --episodes 10 --trials 1000
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl2_course.agents.rl2_agent import RL2Agent
from rl2_course.errors import UsageError
from rl2_course.families import FAMILIES, Task
from rl2_course.rollout import TrialRecord, TrialStepper

#: steps over which gate retention is reported
RETENTION_STEPS = (1, 10, 50, 100)


def episode_returns(record: TrialRecord, episodes: int) -> np.ndarray:
    """(B, n): each trial's return in each of its ``episodes`` episodes."""
    index = np.cumsum(record.episode_done, axis=1) - record.episode_done   # episode of each step
    out = np.zeros((record.rewards.shape[0], episodes))
    for e in range(episodes):
        out[:, e] = (record.rewards * (index == e)).sum(axis=1)
    return out


def gate_retention(z: np.ndarray, steps: int) -> np.ndarray:
    """Per unit, the median over (t, trial) of ∏_{s=t+1}^{t+steps} z_s: (H,). ``z`` is (T, B, H)."""
    if steps >= z.shape[0]:
        return np.full(z.shape[2], np.nan)
    log_z = np.log(np.clip(z, 1e-12, 1.0))
    cumulative = np.concatenate([np.zeros((1, *z.shape[1:])), np.cumsum(log_z, axis=0)])
    kept = np.exp(cumulative[steps + 1:] - cumulative[1:-steps])      # windows t+1 .. t+steps
    return np.median(kept.reshape(-1, z.shape[2]), axis=0)


@dataclass
class MemoryReport:
    """The three measurements for one trained agent (see the module's docstring)."""

    setting: str
    trials: int
    seed: int
    profile: dict[str, np.ndarray]             # agent -> (n,) mean return of each episode
    profile_stderr: dict[str, np.ndarray]
    wipe_cost: tuple[float, float]             # rl2 − rl2-forgetful per trial: mean, stderr
    retention: dict[int, dict[str, float]] = field(default_factory=dict)  # k -> median/best unit

    def table(self) -> str:
        n = len(next(iter(self.profile.values())))
        shown = sorted({0, 1, 2, n // 2, n - 1} & set(range(n)))
        lines = [f"{'agent':<15}" + "".join(f"{'ep ' + str(e + 1):>10}" for e in shown)
                 + f"{'last − first':>14}"]
        for name, p in self.profile.items():
            lines.append(f"{name:<15}" + "".join(f"{p[e]:>10.3f}" for e in shown)
                         + f"{p[-1] - p[0]:>14.3f}")
        mean, se = self.wipe_cost
        lines.append(f"memory wipe costs {mean:.3f} ± {se:.3f} per trial (rl2 − rl2-forgetful)")
        for k, r in self.retention.items():
            lines.append(f"gate retention over {k:>3} steps: median unit {r['median_unit']:.3f}, "
                         f"best unit {r['best_unit']:.3f}, units keeping half: {r['share_half']:.0%}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, "trials": self.trials, "seed": self.seed,
                "profile": {k: v.tolist() for k, v in self.profile.items()},
                "profile_stderr": {k: v.tolist() for k, v in self.profile_stderr.items()},
                "wipe_cost": {"mean": self.wipe_cost[0], "stderr": self.wipe_cost[1]},
                "retention": {str(k): v for k, v in self.retention.items()}}


def memory_report(env: str, task: Task, trials: int, seed: int, *,
                  checkpoint: str | Path | None = None, agents: tuple[str, ...] = ("greedy",),
                  gate_trials: int = 200) -> MemoryReport:
    """Profile, wipe cost and gate retention of the RL² agent of ``checkpoint`` (default: the
    pretrained one) on family ``env``'s ``task``, beside the baselines ``agents``."""
    fam = FAMILIES[env]
    if "episodes" not in task:        # the maze: two long episodes, Table 3 has the ablation
        raise UsageError("analyse memory is for bandits and MDPs; the maze's wipe ablation is "
                         "`evaluate maze --agents rl2,rl2-forgetful`")
    if trials < 2:
        raise UsageError(f"--trials must be at least 2, got {trials}")
    names = ["rl2", "rl2-forgetful", *agents]
    evaluation = fam.evaluate(task, names, trials, seed, checkpoint=checkpoint, keep_records=True,
                              progress=False)
    episodes = task["episodes"]
    profiles = {name: np.concatenate([episode_returns(r, episodes) for r in result.records])
                for name, result in evaluation.results.items()}
    difference = profiles["rl2"].sum(1) - profiles["rl2-forgetful"].sum(1)
    report = MemoryReport(fam.describe(task), trials, seed,
                          {k: v.mean(0) for k, v in profiles.items()},
                          {k: v.std(0, ddof=1) / np.sqrt(len(v)) for k, v in profiles.items()},
                          (float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(trials))))
    report.retention = _retention(env, task, checkpoint, min(gate_trials, trials), seed)
    return report


def _retention(env: str, task: Task, checkpoint: str | Path | None, trials: int, seed: int
               ) -> dict[int, dict[str, float]]:
    """Gate retention of the policy's memory along ``trials`` real trials of the agent."""
    fam = FAMILIES[env]
    from rl2_course.evaluate import load_rl2_agent

    agent: RL2Agent = load_rl2_agent(checkpoint, fam.pretrained(task), fam.env_spec(task),
                                     fam.describe(task), f"train {env}")
    if agent.model.cell == "attention":     # no update gates: its memory is the trial itself
        return {}
    env_batch = fam.make_env(task, trials)
    stepper, inputs = TrialStepper(env_batch, agent, seed=seed), []
    while not stepper.done:
        inputs.append(stepper.x.copy())
        stepper.step()
    x = torch.from_numpy(np.stack(inputs))
    with torch.no_grad():
        z = agent.model.update_gates(x, agent.model.initial_hidden(trials)).numpy()
    out = {}
    for k in RETENTION_STEPS:
        kept = gate_retention(z, k)
        if not np.isnan(kept).all():
            out[k] = {"median_unit": float(np.median(kept)), "best_unit": float(kept.max()),
                      "share_half": float((kept >= 0.5).mean())}
    return out


__all__ = ["MemoryReport", "RETENTION_STEPS", "episode_returns", "gate_retention", "memory_report"]

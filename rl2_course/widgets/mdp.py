"""Step an agent through one trial on a random tabular MDP, beside PSRL on the same task.

`MDPTrialStepper` is an ipywidgets ``VBox`` like the bandit stepper (same buttons, same rollout
code, same common random numbers). It draws, after every step,

* the MDP as a graph: the 10 states on a circle, coloured by the best reward mean μ(s, ·) there,
  and from each state an arrow to its most likely next state (under the action that makes that
  transition most likely; thicker = likelier); the agent's path in the current episode in red;
* the state-visit counts, accumulating over the episodes of the trial;
* the agent's action probabilities π(·|x≤t) and value estimate (RL² exposes them);
* the return of every episode so far, the agent's beside each comparison agent's (PSRL by
  default) on the *same* MDP with the same luck: does the agent get better episode by episode?

State in traitlets: ``t``, ``episode``, ``state``, ``visit_counts``, ``episode_returns``,
``comparison_episode_returns`` (and the common ones of `TrialStepperWidget`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import traitlets

from rl2_course.envs import make_mdp_trials
from rl2_course.policy import Policy
from rl2_course.rollout import TrialRecord, TrialStepper
from rl2_course.settings import MDP_ACTIONS, MDP_HORIZON, MDP_STATES
from rl2_course.widgets.stepper import TrialStepperWidget

#: comparison agents stepped beside the agent by default
DEFAULT_COMPARE = ("psrl",)


def episode_returns(rewards: np.ndarray, horizon: int) -> np.ndarray:
    """Per-episode returns of one trial's reward sequence (the last episode may be partial)."""
    rewards = np.asarray(rewards, dtype=float)
    episodes = -(-len(rewards) // horizon)
    padded = np.zeros(episodes * horizon)
    padded[:len(rewards)] = rewards
    return padded.reshape(episodes, horizon).sum(axis=1)


def most_likely_transitions(transitions: np.ndarray) -> list[tuple[int, int, int, float]]:
    """For each state s: (s, a, s', P(s'|s, a)) of its likeliest transition over all actions."""
    states = transitions.shape[0]
    edges = []
    for s in range(states):
        a, s_next = np.unravel_index(int(transitions[s].argmax()), transitions[s].shape)
        edges.append((s, int(a), int(s_next), float(transitions[s, a, s_next])))
    return edges


class MDPTrialStepper(TrialStepperWidget):
    """Step ``policy`` through one trial of ``episodes`` episodes on one random tabular MDP.

    The MDP and all the luck come from ``seed``; ``compare`` names MDP baselines (or gives
    ready policies) stepped on the same task. ``auto_draw=False``: draw only on `redraw`.
    """

    episodes = traitlets.Int(help="episodes in a trial (n)")
    episode = traitlets.Int(0, help="index of the current episode (0-based; n once the trial is over)")
    state = traitlets.Int(0, help="the state the agent is in now")
    visit_counts = traitlets.List(traitlets.Int(), help="steps taken in each state so far")
    episode_returns = traitlets.List(traitlets.Float(), help="the agent's return per episode so far")
    comparison_episode_returns = traitlets.Dict(help="comparison agent -> its returns per episode")

    def __init__(self, policy: Policy, episodes: int, *, seed: int = 0,
                 compare: Sequence[str | Policy] = DEFAULT_COMPARE, interval: int = 200,
                 auto_draw: bool = True, **kwargs: Any) -> None:
        from rl2_course.evaluate_mdp import check_mdp_setting

        episodes = int(episodes)
        check_mdp_setting(episodes)
        self.states, self.actions, self.horizon = MDP_STATES, MDP_ACTIONS, MDP_HORIZON
        self.episodes = episodes
        self._check_policy(policy)
        self._states_seen: list[int] = []
        super().__init__(policy, episodes * self.horizon, seed=seed, compare=compare,
                         interval=interval, auto_draw=auto_draw, **kwargs)
        self.reset()

    @property
    def policy_actions(self) -> int:
        return self.actions

    @property
    def transitions(self) -> np.ndarray:
        """P(s'|s, a) of the current MDP, shape (S, A, S)."""
        return self.agent_stepper.env.task_env.transitions[0]

    @property
    def reward_means(self) -> np.ndarray:
        """μ(s, a) of the current MDP, shape (S, A)."""
        return self.agent_stepper.env.task_env.reward_means[0]

    @property
    def current_path(self) -> list[int]:
        """States the agent has acted in during the current episode, then the state it is in."""
        start = min(self.episode, self.episodes - 1) * self.horizon
        return self._states_seen[start:self.t if self.done else self.t + 1]

    # -- the hooks of TrialStepperWidget -----------------------------------------------------

    def _make_env(self):
        return make_mdp_trials(self.episodes, 1, self.states, self.actions, self.horizon)

    def _make_comparison(self, name: str) -> Policy:
        from rl2_course.evaluate_mdp import make_mdp_agent

        return make_mdp_agent(name, self.episodes)

    def _check_policy(self, policy: Policy) -> None:
        model = getattr(policy, "model", None)
        actions = getattr(model, "num_actions", None)
        if actions is not None and actions != self.actions:
            raise ValueError(f"{policy.name!r} chooses among {actions} actions; "
                             f"these MDPs have {self.actions}")
        episodes = getattr(policy, "episodes", None)
        if episodes is not None and episodes != self.episodes:
            raise ValueError(f"{policy.name!r} was built for n={episodes} episodes, "
                             f"not {self.episodes}")

    def _publish_task(self, stepper: TrialStepper, record: TrialRecord) -> None:
        if stepper.t == 0:
            self._states_seen = []
        state = int(np.asarray(stepper.x)[0, :self.states].argmax())
        if len(self._states_seen) == stepper.t:
            self._states_seen.append(state)
        seen = np.asarray(self._states_seen[:stepper.t], dtype=np.int64)
        self.state = state
        self.visit_counts = [int(v) for v in np.bincount(seen, minlength=self.states)]
        self.episode = self.episodes if stepper.done else stepper.t // self.horizon
        self.episode_returns = [float(r) for r in episode_returns(record.rewards[0], self.horizon)]
        self.comparison_episode_returns = {
            name: [float(r) for r in episode_returns(s.record().rewards[0], self.horizon)]
            for name, s in self._steppers.items() if name != "agent"}

    def _task_line(self) -> str:
        return (f"{html.escape(self.policy.name)} on a random MDP ({self.states} states, "
                f"{self.actions} actions, {self.horizon} steps per episode, n={self.episodes}), "
                f"drawn from seed {self.seed}; episode {min(self.episode + 1, self.episodes)} "
                f"of {self.episodes}")

    def _draw(self, fig) -> None:
        grid = fig.add_gridspec(3, 2, left=0.01, right=0.985, bottom=0.08, top=0.91,
                                wspace=0.12, hspace=0.62, width_ratios=[1.05, 1])
        ax_graph = fig.add_subplot(grid[:, 0])
        ax_returns, ax_visits, ax_pi = (fig.add_subplot(grid[row, 1]) for row in range(3))
        self._draw_graph(ax_graph)

        ax_visits.bar(np.arange(self.states), self.visit_counts, color="tab:blue")
        ax_visits.bar([self.state], [self.visit_counts[self.state]], fill=False,
                      edgecolor="tab:red", linewidth=2, label=f"now in state {self.state}")
        ax_visits.set_xticks(np.arange(self.states))
        ax_visits.set_xlabel("state", labelpad=1)
        ax_visits.set_ylabel("steps there")
        ax_visits.set_ylim(0, max(1, max(self.visit_counts)) * 1.3)
        ax_visits.set_title("state visits, all episodes so far", fontsize="medium")
        ax_visits.legend(fontsize="small", loc="upper right")

        self._draw_policy(ax_pi, "action")
        ax_pi.set_xticks(np.arange(self.actions))

        self._draw_returns(ax_returns)
        fig.suptitle(f"{self.policy.name}, step {self.t} of {self.trial_steps} "
                     f"(episode {min(self.episode + 1, self.episodes)} of {self.episodes})"
                     + ("  (trial over)" if self.done else ""), fontsize="large")

    # -- drawing -----------------------------------------------------------------------------

    def _draw_graph(self, ax) -> None:
        from matplotlib import colormaps
        from matplotlib.colors import Normalize
        from matplotlib.patches import FancyArrowPatch

        S = self.states
        angle = np.pi / 2 - 2 * np.pi * np.arange(S) / S        # state 0 at the top, clockwise
        pos = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        best = self.reward_means.max(axis=1)
        norm = Normalize(vmin=min(-1.0, best.min()), vmax=max(3.0, best.max()))
        cmap = colormaps["viridis"]

        def arrow(a, b, **style):
            if a == b:                                            # a self-loop: a small circle
                centre = pos[a] * 1.17
                ax.add_patch(FancyArrowPatch(centre + [0.05, 0.0], centre - [0.05, 0.0],
                                             connectionstyle="arc3,rad=1.6", **style))
                return
            ax.add_patch(FancyArrowPatch(pos[a], pos[b], connectionstyle="arc3,rad=0.15",
                                         shrinkA=13, shrinkB=13, **style))

        for s, a, s_next, p in most_likely_transitions(self.transitions):
            arrow(s, s_next, arrowstyle="-|>", mutation_scale=12, color="0.55",
                  linewidth=0.6 + 4 * p, alpha=0.8)
        path = self.current_path
        for s, s_next in zip(path[:-1], path[1:]):
            arrow(s, s_next, arrowstyle="-|>", mutation_scale=14, color="tab:red", linewidth=2.0)
        ax.scatter(pos[:, 0], pos[:, 1], s=620, c=cmap(norm(best)), edgecolors="k", zorder=3)
        ax.scatter([pos[self.state, 0]], [pos[self.state, 1]], s=900, facecolors="none",
                   edgecolors="tab:red", linewidths=2.5, zorder=4)
        for s in range(S):
            ax.text(pos[s, 0], pos[s, 1], str(s), ha="center", va="center", zorder=5,
                    color="white" if norm(best[s]) < 0.6 else "black", fontweight="bold")
            ax.text(pos[s, 0] * 1.33, pos[s, 1] * 1.33, f"μ*={best[s]:.1f}", ha="center",
                    va="center", fontsize=7, color="0.25")
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title("the MDP: colour = best reward mean μ*(s) = maxₐ μ(s,a); grey = likeliest\n"
                     "transition from each state; red = this episode's path (starts in 0)",
                     fontsize="small")

    def _draw_returns(self, ax) -> None:
        series = {self.policy.name: self.episode_returns, **self.comparison_episode_returns}
        colors = ["tab:red", "tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:olive"]
        width = 0.8 / max(1, len(series))
        top = 1.0
        for i, (name, returns) in enumerate(series.items()):
            x = np.arange(1, len(returns) + 1) + (i - (len(series) - 1) / 2) * width
            ax.bar(x, returns, width=width, color=colors[i % len(colors)],
                   label=f"{name}: {sum(returns):.1f}")
            top = max([top, *returns])
        ax.axhline(self.horizon * 1.0, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlim(0.4, self.episodes + 0.6)
        ax.set_ylim(min(0.0, *[min(r, default=0.0) for r in series.values()]), top * 1.45)
        ax.set_xlabel("episode (dotted: a random agent's 10 per episode)", labelpad=1)
        ax.set_ylabel("return")
        ax.set_title("return per episode, same MDP and luck (total so far)", fontsize="medium")
        ax.legend(fontsize="small", loc="upper left", ncol=len(series))


def show_mdp_trial(agent_or_name: str | Policy, episodes: int, *, seed: int = 0,
                   checkpoint: str | Path | None = None,
                   compare: Sequence[str | Policy] = DEFAULT_COMPARE,
                   **kwargs: Any) -> MDPTrialStepper:
    """An `MDPTrialStepper` for an agent name (as the CLI spells it) or a ready policy.

    ``"rl2"`` loads ``checkpoint`` or, without one, the pretrained agent for this n.
    """
    from rl2_course.evaluate_mdp import make_mdp_agent

    if isinstance(agent_or_name, str):
        policy = make_mdp_agent(agent_or_name, episodes, checkpoint=checkpoint)
    else:
        if checkpoint is not None:
            raise ValueError("checkpoint is for an agent given by name ('rl2'), not a ready policy")
        policy = agent_or_name
    return MDPTrialStepper(policy, episodes, seed=seed, compare=compare, **kwargs)


__all__ = ["DEFAULT_COMPARE", "MDPTrialStepper", "episode_returns", "most_likely_transitions",
           "show_mdp_trial"]

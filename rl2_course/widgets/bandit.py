"""Step an agent through one bandit trial, pull by pull, beside Gittins and Bayes-optimal.

`BanditTrialStepper` is an ipywidgets ``VBox``: put it last in a cell (or ``display`` it) and
press *Step*, or *Play*. It plays one trial of ``episodes`` pulls on one k-armed Bernoulli
bandit, chosen by a seed or by typing the arm means, and shows after every pull

* the pulls N_a and successes S_a of each arm (what every Bayesian baseline keeps);
* the posterior Beta(1 + S_a, 1 + F_a) of each arm, with the true p_a marked;
* the agent's action probabilities π(·|x_{≤t}) and value estimate V, when the policy exposes
  them in its state (`RL2Agent` does; a baseline shows "n/a");
* the agent's cumulative reward against Gittins and Bayes-optimal on the *same* bandit with the
  *same* reward luck (common random numbers: same env seed and arm means).

Nothing here re-implements a rollout: the agent and the comparison policies are each a
`rl2_course.rollout.TrialStepper`, the object `run_trials` (and so the evaluator) loops over,
and the agent's own dice are seeded from the task seed through `policy_stream`, exactly as
``run_trials(env, policy, seed=seed, options=...)`` does. Stepping the widget to the end
therefore reproduces that call's actions and rewards.

Its state lives in traitlets (``t``, ``total_reward``, ``pulls``, ``successes``,
``last_action``, ``action_probabilities``, ``value``, ``done``, ...), so it can be driven and
checked without a browser: ``stepper.step()``, ``stepper.reset(seed=3)``, ``stepper.play_to_end()``.
"""

from __future__ import annotations

import html
import itertools
import re
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import traitlets

from rl2_course.envs import make_bandit_trials
from rl2_course.policy import Policy
from rl2_course.rollout import TrialRecord, TrialStepper
from rl2_course.widgets.stepper import TaskInputError, TrialStepperWidget

#: comparison agents drawn beside the stepped one by default
DEFAULT_COMPARE = ("gittins", "bayes-optimal")

#: below this many arms each posterior is a curve; above, one row of a heat map per arm
_MAX_CURVES = 10


class ArmMeansError(TaskInputError):
    """The typed arm means cannot be used (not numbers, wrong count, outside [0, 1])."""


def parse_arm_means(text: str | Sequence[float] | np.ndarray | None, arms: int) -> np.ndarray | None:
    """Arm means from ``"0.2, 0.7, 0.5"`` (commas and/or spaces) or a sequence of numbers.

    Returns None for a blank text (the task is then drawn from the seed). Raises
    `ArmMeansError` with a message meant for a learner when the input is unusable.
    """
    if text is None:
        return None
    if isinstance(text, str):
        parts = [p for p in re.split(r"[,;\s]+", text.strip().strip("[]()")) if p]
        if not parts:
            return None
        values = []
        for part in parts:
            try:
                values.append(float(part))
            except ValueError:
                raise ArmMeansError(f"{part!r} is not a number; type the arm means as numbers "
                                    f"separated by commas, e.g. {_example(arms)}") from None
    else:
        try:
            values = [float(v) for v in np.asarray(text, dtype=float).ravel()]
        except (TypeError, ValueError):
            raise ArmMeansError(f"arm means must be numbers, got {text!r}") from None
    if len(values) != arms:
        raise ArmMeansError(f"this bandit has {arms} arms, so it needs {arms} arm means; "
                            f"got {len(values)}")
    means = np.asarray(values, dtype=float)
    bad = [v for v in values if not (0.0 <= v <= 1.0)]   # also catches nan
    if bad:
        raise ArmMeansError(f"arm means are probabilities and must lie in [0, 1]; "
                            f"got {', '.join(f'{v:g}' for v in bad)}")
    return means


def _example(arms: int) -> str:
    return ", ".join(f"{v:.1f}" for v in np.linspace(0.2, 0.8, min(arms, 4))) + (", ..." if arms > 4 else "")


def _means_text(values: str | Sequence[float] | np.ndarray | None) -> str:
    """The arm-means text field's content for ``values`` (numbers keep their exact value)."""
    if values is None:
        return ""
    if isinstance(values, str):
        return values
    return ", ".join(repr(float(v)) if isinstance(v, (int, float, np.number)) else str(v)
                     for v in np.ravel(np.asarray(values, dtype=object)))


def _policy_size(policy: Any) -> tuple[int | None, int | None]:
    """(arms, episodes) a policy was built for, where it says so (baselines, RL² models)."""
    arms = getattr(policy, "arms", None)
    model = getattr(policy, "model", None)
    if arms is None and model is not None:
        arms = getattr(model, "num_actions", None)
    return arms, getattr(policy, "episodes", None)


class BanditTrialStepper(TrialStepperWidget):
    """Step ``policy`` through one trial of ``episodes`` pulls on a k = ``arms`` armed bandit.

    The task is drawn from ``seed`` unless ``arm_means`` are given (a text like "0.2, 0.7" or a
    sequence); the reward luck always comes from ``seed``. ``compare`` lists the agents run on
    the same task and luck (baseline names, or ready `Policy` objects); one that cannot be built
    for this (k, n), like bayes-optimal for large n, is left out with a note. With
    ``auto_draw=False`` the figure is only drawn by `redraw` (tests, batch use).
    """

    episodes = traitlets.Int(help="pulls in a trial (n)")
    pulls = traitlets.List(traitlets.Int(), help="N_a: pulls of each arm so far")
    successes = traitlets.List(traitlets.Int(), help="S_a: rewarded pulls of each arm so far")
    arm_means = traitlets.List(traitlets.Float(), help="the true p_a of the current task")

    def __init__(self, policy: Policy, arms: int, episodes: int, *, seed: int = 0,
                 arm_means: str | Sequence[float] | None = None,
                 compare: Sequence[str | Policy] = DEFAULT_COMPARE, interval: int = 400,
                 auto_draw: bool = True, **kwargs: Any) -> None:
        from rl2_course.evaluate import check_bandit_setting

        arms, episodes = int(arms), int(episodes)
        check_bandit_setting(arms, episodes)
        self.arms = arms
        self.episodes = episodes
        self._check_policy(policy)
        self.means_input = widgets.Text(
            value=_means_text(arm_means),
            description="arm means", placeholder=f"blank: drawn from the seed; or {_example(arms)}",
            layout=widgets.Layout(width="420px"))
        super().__init__(policy, episodes, seed=seed, compare=compare, interval=interval,
                         auto_draw=auto_draw, task_inputs=[self.means_input], **kwargs)
        if not self.reset():               # the constructor refuses bad input outright
            raise ArmMeansError(self.message)

    def reset(self, seed: int | None = None,
              arm_means: str | Sequence[float] | None = None) -> bool:
        """Start the trial again, on the task the seed and arm-means fields describe.

        ``seed`` / ``arm_means`` first overwrite those fields (``arm_means=""`` clears the
        means: the task is then drawn from the seed). Unusable arm means leave the current trial
        as it was, set ``message`` and return False; no exception reaches the notebook.
        """
        if arm_means is not None:
            self.means_input.value = _means_text(arm_means)
        return super().reset(seed)

    @property
    def policy_actions(self) -> int:
        return self.arms

    # -- the hooks of TrialStepperWidget -----------------------------------------------------

    def _make_env(self):
        return make_bandit_trials(self.arms, self.episodes)

    def _task_options(self) -> dict[str, Any] | None:
        means = parse_arm_means(self.means_input.value, self.arms)
        return None if means is None else {"arm_means": means}

    def _make_comparison(self, name: str) -> Policy:
        return _make_baseline(name, self.arms, self.episodes)

    def _check_policy(self, policy: Policy) -> None:
        policy_arms, policy_episodes = _policy_size(policy)
        if policy_arms is not None and policy_arms != self.arms:
            raise ValueError(f"{policy.name!r} was built for {policy_arms} arms, not {self.arms}")
        if policy_episodes is not None and policy_episodes != self.episodes:
            raise ValueError(f"{policy.name!r} was built for n={policy_episodes} pulls, "
                             f"not {self.episodes}")

    def _publish_task(self, stepper: TrialStepper, record: TrialRecord) -> None:
        actions, rewards = record.actions[0], record.rewards[0]
        self.pulls = [int(v) for v in np.bincount(actions, minlength=self.arms)]
        self.successes = [int(round(v)) for v in
                          np.bincount(actions, weights=rewards, minlength=self.arms)]
        self.arm_means = stepper.env.task_env.arm_means[0].tolist()

    def _task_line(self) -> str:
        origin = ("set by hand" if getattr(self, "_task_from_inputs", False)
                  else f"drawn from seed {self.seed}")
        means = " ".join(f"{m:.2f}" for m in self.arm_means)
        return (f"{html.escape(self.policy.name)} on a {self.arms}-armed bandit, arm means "
                f"[{means}] ({origin}; reward luck from seed {self.seed})")

    def _draw(self, fig) -> None:
        from rl2_course.plots import AGENT_COLORS

        k, n = self.arms, self.episodes
        means = np.asarray(self.arm_means)
        pulls, successes = np.asarray(self.pulls), np.asarray(self.successes)
        best = int(means.argmax())
        (ax_counts, ax_post), (ax_pi, ax_cum) = fig.subplots(2, 2, gridspec_kw=dict(
            left=0.06, right=0.985, bottom=0.09, top=0.9, wspace=0.16, hspace=0.42))
        arm_x = np.arange(k)
        if k <= 6:
            labels, tick_fs = [f"{a}{'★' if a == best else ''}\np={m:.2f}" for a, m in enumerate(means)], "small"
        else:
            labels, tick_fs = [f"{a}{'★' if a == best else ''}\n{m:.2f}" for a, m in enumerate(means)], 7

        # (a) pulls and successes
        ax_counts.bar(arm_x, pulls, color="lightsteelblue", label="pulls $N_a$")
        ax_counts.bar(arm_x, successes, color="tab:blue", width=0.5, label="successes $S_a$")
        if self.last_action is not None:
            a = self.last_action
            ax_counts.bar([a], [pulls[a]], fill=False, edgecolor="tab:red", linewidth=2,
                          label=f"last pull: reward {self.last_reward:g}")
        top = max(1, pulls.max(initial=0)) * 1.15
        if k <= _MAX_CURVES:
            ax_counts.set_xticks(arm_x, labels, fontsize=tick_fs)
            ax_counts.set_title("pulls and successes per arm (★ = best arm, p = true mean)",
                                fontsize="medium")
        else:
            _arm_ticks(ax_counts, k)
            ax_counts.plot([best], [top * 0.95], marker="*", color="gold", markersize=12,
                           markeredgecolor="k", linestyle="none")
            ax_counts.set_xlabel("arm")
            ax_counts.set_title(f"pulls and successes per arm (★ = best arm {best}, p={means[best]:.2f})",
                                fontsize="medium")
        ax_counts.set_ylim(0, top)
        ax_counts.legend(fontsize="small", loc="upper left")

        # (b) posteriors Beta(1 + S, 1 + F)
        self._draw_posteriors(ax_post, means, pulls, successes)

        # (c) the agent's action probabilities and value
        self._draw_policy(ax_pi, "arm")
        _arm_ticks(ax_pi, k)

        # (d) cumulative reward, same task and luck
        steps = np.arange(n + 1)
        ax_cum.plot(steps, means.max() * steps, ":", color="0.6", label="best arm, in expectation")
        styles = itertools.cycle(["--", "-.", ":", (0, (5, 1, 1, 1))])
        for name, curve in self.comparison_curves.items():
            label = self.policy.name if name == "agent" else name
            color = AGENT_COLORS.get(label, "tab:red" if name == "agent" else "tab:pink")
            ax_cum.plot(np.arange(len(curve)), curve, color=color,
                        linewidth=2.4 if name == "agent" else 1.5,
                        linestyle="-" if name == "agent" else next(styles),
                        label=f"{label}: {curve[-1]:g}", zorder=3 if name == "agent" else 2)
        ax_cum.set_xlim(0, n)
        ax_cum.set_ylim(0, max(1.0, n * means.max() * 1.1, self.total_reward + 1))
        ax_cum.set_xlabel("pulls t")
        ax_cum.set_ylabel("cumulative reward")
        ax_cum.set_title("same bandit, same reward luck", fontsize="medium")
        ax_cum.legend(fontsize="small", loc="upper left",
                      title=("; ".join(f"{name}: n/a here" for name in self.comparison_notes) or None),
                      title_fontsize="small")
        fig.suptitle(f"{self.policy.name}, step {self.t} of {n}"
                     + ("  (trial over)" if self.done else ""), fontsize="large")

    def _draw_posteriors(self, ax, means, pulls, successes) -> None:
        from scipy.stats import beta

        failures = pulls - successes
        a_post, b_post = 1.0 + successes, 1.0 + failures
        if self.arms <= _MAX_CURVES:
            grid = np.linspace(0.0, 1.0, 201)
            density = beta.pdf(grid[None, :], a_post[:, None], b_post[:, None])
            for a in range(self.arms):
                color = f"C{a}"
                ax.plot(grid, density[a], color=color,
                        label=f"arm {a}: Beta({1 + successes[a]}, {1 + failures[a]})")
                ax.axvline(means[a], color=color, linestyle=":", linewidth=1.2)
                ax.plot([means[a]], [0], marker="v", color=color, markersize=7, clip_on=False)
            ax.set_ylim(bottom=0)
            ax.set_ylabel("posterior density")
            ax.legend(fontsize="x-small", loc="best", ncol=1 if self.arms <= 5 else 2)
            title = "posterior Beta(1+S, 1+F) per arm (dotted / ▼ = true p)"
        else:   # too many curves to read: posterior mean and 90% credible interval per arm
            arm_y = np.arange(self.arms)
            mean = a_post / (a_post + b_post)
            low, high = beta.ppf(0.05, a_post, b_post), beta.ppf(0.95, a_post, b_post)
            ax.errorbar(mean, arm_y, xerr=[mean - low, high - mean], fmt="o", markersize=3,
                        color="tab:blue", ecolor="lightsteelblue", label="posterior mean, 90% interval")
            ax.plot(means, arm_y, "|", color="tab:red", markersize=8, label="true p")
            ax.set_ylim(-1, self.arms)
            ax.set_ylabel("arm")
            ax.legend(fontsize="x-small", loc="upper left")
            title = "posterior Beta(1+S, 1+F) per arm"
        ax.set_xlim(0, 1)
        ax.set_xlabel("arm mean p")
        ax.set_title(title, fontsize="medium")


def _arm_ticks(ax, arms: int) -> None:
    """Integer arm ticks: every arm up to 10 arms, a readable subset beyond."""
    from matplotlib.ticker import MaxNLocator

    if arms <= _MAX_CURVES:
        ax.set_xticks(np.arange(arms))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_xlim(-0.6, arms - 0.4)


def _make_baseline(name: str, arms: int, episodes: int) -> Policy:
    from rl2_course.baselines import make_bandit_baseline

    try:
        return make_bandit_baseline(name, arms, episodes)
    except KeyError as err:
        raise ValueError(str(err.args[0])) from None


def show_bandit_trial(agent_or_name: str | Policy, arms: int, episodes: int, *, seed: int = 0,
                      arm_means: str | Sequence[float] | None = None,
                      checkpoint: str | Path | None = None,
                      compare: Sequence[str | Policy] = DEFAULT_COMPARE,
                      **kwargs: Any) -> BanditTrialStepper:
    """A `BanditTrialStepper` for an agent name (as the CLI spells it) or a ready policy.

    ``"rl2"`` loads ``checkpoint`` (a file or a training ``--out`` directory), or without one the
    pretrained checkpoint of this (k, n). Returns the widget: make it the last expression of a
    cell (or ``display`` it) to see it.
    """
    from rl2_course.evaluate import make_bandit_agent

    if isinstance(agent_or_name, str):
        policy = make_bandit_agent(agent_or_name, arms, episodes,
                                   checkpoint=None if checkpoint is None else Path(checkpoint))
    else:
        if checkpoint is not None:
            raise ValueError("checkpoint is for an agent given by name ('rl2'), not a ready policy")
        policy = agent_or_name
    return BanditTrialStepper(policy, arms, episodes, seed=seed, arm_means=arm_means,
                              compare=compare, **kwargs)

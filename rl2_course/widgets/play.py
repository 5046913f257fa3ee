"""Play a bandit trial yourself, then see every decision judged against the Bayes-optimal one.

`PlayBanditWidget` is an ipywidgets ``VBox``: put it last in a cell and click the arm buttons.
The learner plays one trial of ``episodes`` pulls on a k-armed Bernoulli bandit whose arm means
stay hidden until the trial is over (the buttons show only the counts S_a / N_a a Bayesian would
keep). Then the widget reveals the arm means and scores **each decision**: with the counts
(S, F) before pull t, the exact dynamic programme (`baselines.bayes_optimal`) gives Q*(S, F; a)
for every arm, the expected reward still to come when arm a is pulled now and the Bayes-optimal
policy plays on. The pull a_t gave up

    V*(S, F) − Q*(S, F; a_t) ≥ 0,          V*(S, F) = max_a Q*(S, F; a),

of expected reward; summed over the trial this is the expected regret to the Bayes-optimal
agent (the performance-difference identity; `analysis.behaviour` measures the same over many
trials). Beside the learner's decisions the widget shows, scored the same way, those of an agent
(by default the course's pretrained RL² agent for this k and n) and of the Bayes-optimal policy
itself, on the *same* bandit with the *same* reward luck: every player is a
`rl2_course.rollout.TrialStepper` on an env reset with the widget's seed, and the bandit draws
one uniform number per step whatever arm is pulled (common random numbers), so the agent plays
exactly what ``run_trials(env, agent, seed=seed)`` and `BanditTrialStepper` on that seed play.

Everything is reachable without a browser: ``w.pull(arm)``, ``w.play([0, 1, ...])``,
``w.reset(seed=3)``, ``w.scores`` (per player, per decision), ``w.score_table()`` (the HTML shown),
and the traitlets ``t``, ``total_reward``, ``pulls``, ``successes``, ``done``, ``message``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import traitlets

from rl2_course.argtypes import SEED_LIMIT
from rl2_course.baselines.bayes_optimal import (MAX_STATES, count_posterior_states,
                                                solve_bayes_optimal)
from rl2_course.envs import make_bandit_trials
from rl2_course.policy import Policy
from rl2_course.rollout import TrialStepper
from rl2_course.widgets.bandit import ArmMeansError, _means_text, _policy_size, parse_arm_means
from rl2_course.widgets.stepper import FigureImage

#: Q-values this close to the best are ties (the dynamic programme's own tolerance)
TIE_TOLERANCE = 1e-9

#: the name the score table gives the learner
YOU = "you"


@dataclass(frozen=True)
class DecisionScore:
    """One pull judged against the Bayes-optimal policy, from the counts before it."""

    step: int                     # 1-based: the t-th pull of the trial
    arm: int                      # the arm pulled
    reward: float                 # what it paid
    successes: tuple[int, ...]    # S_a before the pull
    failures: tuple[int, ...]     # F_a before the pull
    q: tuple[float, ...]          # Q*(S, F; a) for every arm a

    @property
    def value(self) -> float:
        """V*(S, F): the Bayes-optimal expected reward still to come."""
        return max(self.q)

    @property
    def value_lost(self) -> float:
        """V*(S, F) − Q*(S, F; a_t): expected reward this pull gave up (0 when optimal)."""
        lost = self.value - self.q[self.arm]
        return 0.0 if lost <= TIE_TOLERANCE else float(lost)

    @property
    def best_arms(self) -> tuple[int, ...]:
        """The Bayes-optimal arms at this decision (ties included)."""
        return tuple(a for a, q in enumerate(self.q) if q >= self.value - TIE_TOLERANCE)

    @property
    def optimal(self) -> bool:
        return self.arm in self.best_arms


@dataclass(frozen=True)
class PlayerScore:
    """Every decision of one player in the trial."""

    name: str
    decisions: tuple[DecisionScore, ...]

    @property
    def total_reward(self) -> float:
        return float(sum(d.reward for d in self.decisions))

    @property
    def value_lost(self) -> float:
        """Σ_t V* − Q*(a_t): the expected regret of these decisions to the Bayes-optimal agent."""
        return float(sum(d.value_lost for d in self.decisions))

    @property
    def optimal_decisions(self) -> int:
        return sum(d.optimal for d in self.decisions)


def score_decisions(name: str, actions: Sequence[int], rewards: Sequence[float], arms: int,
                    episodes: int) -> PlayerScore:
    """Judge the pulls ``actions`` (with their ``rewards``) of one k = ``arms``, n = ``episodes``
    trial against the exact Bayes-optimal policy (counts start at zero: the Beta(1, 1) prior)."""
    actions = np.asarray(actions, dtype=np.int64)
    rewards = np.asarray(rewards, dtype=float)
    if actions.size == 0:
        return PlayerScore(name, ())
    successes, failures = np.zeros(arms, np.int64), np.zeros(arms, np.int64)
    before_s, before_f = [], []
    for arm, reward in zip(actions, rewards):
        before_s.append(successes.copy())
        before_f.append(failures.copy())
        if reward > 0:
            successes[arm] += 1
        else:
            failures[arm] += 1
    q = solve_bayes_optimal(arms, episodes).q_values(np.stack(before_s), np.stack(before_f))
    return PlayerScore(name, tuple(
        DecisionScore(t + 1, int(a), float(r), tuple(int(v) for v in s), tuple(int(v) for v in f),
                      tuple(float(v) for v in row))
        for t, (a, r, s, f, row) in enumerate(zip(actions, rewards, before_s, before_f, q))))


class _Clicks:
    """The learner as a `Policy`: pulls whatever arm was clicked last."""

    name = YOU

    def __init__(self) -> None:
        self.next_arm = 0

    def initial_state(self, num_tasks: int, seed: Any = None) -> None:
        return None

    def act(self, x: np.ndarray, state: None) -> tuple[np.ndarray, None]:
        return np.full(np.shape(x)[0], self.next_arm, dtype=np.int64), None


class PlayBanditWidget(FigureImage, widgets.VBox):
    """The learner plays one k = ``arms``, n = ``episodes`` bandit trial against ``agent``.

    ``agent`` is a ready `Policy` or a name as the CLI spells it (``"rl2"``: the pretrained
    agent of this (k, n)); ``None`` shows only the Bayes-optimal policy beside the learner. The
    bandit comes from ``seed`` unless ``arm_means`` are given; the reward luck always comes from
    ``seed``. (k, n) must be small enough for the exact dynamic programme (every n = 10 setting
    of Table 1 is). With ``auto_draw=False`` the figure is drawn only by `redraw`.
    """

    t = traitlets.Int(0, help="pulls made so far")
    total_reward = traitlets.Float(0.0, help="the learner's reward so far")
    pulls = traitlets.List(traitlets.Int(), help="N_a: the learner's pulls of each arm so far")
    successes = traitlets.List(traitlets.Int(), help="S_a: rewarded pulls of each arm so far")
    done = traitlets.Bool(False, help="all n pulls made: the scores are shown")
    seed = traitlets.Int(0, help="seed of the bandit and of the reward luck")
    message = traitlets.Unicode("", help="the last warning shown to the learner")

    def __init__(self, agent: str | Policy | None = "rl2", arms: int = 5, episodes: int = 10, *,
                 seed: int = 0, arm_means: str | Sequence[float] | None = None,
                 checkpoint: str | Path | None = None, auto_draw: bool = True,
                 **kwargs: Any) -> None:
        from rl2_course.evaluate import check_bandit_setting, make_bandit_agent

        arms, episodes = int(arms), int(episodes)
        check_bandit_setting(arms, episodes)
        states = count_posterior_states(arms, episodes)
        if states > MAX_STATES:
            raise ValueError(f"the Bayes-optimal programme for k={arms}, n={episodes} has "
                             f"{states:,} states (MAX_STATES is {MAX_STATES:,}): play a smaller "
                             f"n (every n = 10 setting fits)")
        if not 0 <= int(seed) < SEED_LIMIT:
            raise ValueError(f"the seed must be a whole number in [0, 2**32), got {seed}")
        self.arms, self.episodes, self.auto_draw = arms, episodes, bool(auto_draw)
        if isinstance(agent, str):
            agent = make_bandit_agent(agent, arms, episodes,
                                      checkpoint=None if checkpoint is None else Path(checkpoint))
        elif checkpoint is not None:
            raise ValueError("checkpoint is for an agent given by name ('rl2'), not a ready policy")
        if agent is not None:
            policy_arms, policy_episodes = _policy_size(agent)
            if policy_arms not in (None, arms) or policy_episodes not in (None, episodes):
                raise ValueError(f"{agent.name!r} was built for k={policy_arms}, "
                                 f"n={policy_episodes}, not k={arms}, n={episodes}")
        self.agent = agent
        self._you = _Clicks()
        self._players: dict[str, TrialStepper] = {}
        solve_bayes_optimal(arms, episodes)          # solve now: the first click is instant

        self.seed_input = widgets.IntText(value=int(seed), description="seed",
                                          layout=widgets.Layout(width="160px"))
        self.means_input = widgets.Text(value=_means_text(arm_means), description="arm means",
                                        placeholder="blank: drawn from the seed (hidden)",
                                        layout=widgets.Layout(width="360px"))
        self.reset_button = widgets.Button(description="New trial", icon="refresh",
                                           tooltip="start again on the bandit the seed names")
        self.arm_buttons = [widgets.Button(layout=widgets.Layout(width="110px"),
                                           tooltip=f"pull arm {a}") for a in range(arms)]
        for a, button in enumerate(self.arm_buttons):
            button.on_click(lambda _, a=a: self.pull(a))
        self.reset_button.on_click(lambda _: self.reset())
        self.status = widgets.HTML()
        self.table = widgets.HTML()
        self.image = widgets.Image(format="png",
                                   layout=widgets.Layout(width="100%", max_width="1000px"))
        super().__init__(children=[
            widgets.HBox([self.seed_input, self.means_input, self.reset_button]),
            widgets.HBox(self.arm_buttons, layout=widgets.Layout(flex_flow="row wrap")),
            self.status, self.table, self.image], **kwargs)
        if not self.reset():
            raise ArmMeansError(self.message)

    # -- public API --------------------------------------------------------------------------

    def reset(self, seed: int | None = None, arm_means: str | Sequence[float] | None = None) -> bool:
        """Start again on the bandit the seed (and arm-means field) names, with the same luck.

        Unusable input leaves the current trial as it was, sets ``message`` and returns False.
        """
        if seed is not None:
            self.seed_input.value = int(seed)
        if arm_means is not None:
            self.means_input.value = _means_text(arm_means)
        try:
            means = parse_arm_means(self.means_input.value, self.arms)
        except ArmMeansError as err:
            return self._warn(str(err))
        task_seed = int(self.seed_input.value)
        if not 0 <= task_seed < SEED_LIMIT:
            return self._warn(f"the seed must be a whole number in [0, 2**32), got {task_seed}")
        options = None if means is None else {"arm_means": means}
        self._players = {YOU: TrialStepper(self._env(), self._you, seed=task_seed, options=options)}
        # the other players play their whole trial now; it is shown once the learner's is over
        others = {"bayes-optimal": None} if self.agent is None else {self.agent.name: self.agent,
                                                                     "bayes-optimal": None}
        for name, policy in others.items():
            if policy is None:
                from rl2_course.baselines import make_bandit_baseline
                policy = make_bandit_baseline("bayes-optimal", self.arms, self.episodes)
            stepper = TrialStepper(self._env(), policy, seed=task_seed, options=options)
            while not stepper.done:
                stepper.step()
            self._players[name] = stepper
        self._task_from_inputs = means is not None
        with self.hold_trait_notifications():
            self.seed, self.message = task_seed, ""
            self._publish()
        self._refresh()
        return True

    def pull(self, arm: int) -> bool:
        """Pull ``arm`` (one click). After the trial, or for an arm that does not exist: a
        message and False, nothing else changes."""
        if self.done:
            return self._warn("trial over: press New trial to play again")
        if not (isinstance(arm, (int, np.integer)) and 0 <= int(arm) < self.arms):
            return self._warn(f"there is no arm {arm!r}: the arms are 0 to {self.arms - 1}")
        self._you.next_arm = int(arm)
        self._players[YOU].step()
        with self.hold_trait_notifications():
            self.message = ""
            self._publish()
        self._refresh()
        return True

    def play(self, arms: Sequence[int]) -> None:
        """Pull each arm of ``arms`` in turn (stops at the end of the trial)."""
        auto, self.auto_draw = self.auto_draw, False
        try:
            for arm in arms:
                if not self.pull(arm):
                    break
        finally:
            self.auto_draw = auto
        self._refresh()

    @property
    def arm_means(self) -> list[float]:
        """The true p_a of the current bandit (shown to the learner only after the trial)."""
        return self._players[YOU].env.task_env.arm_means[0].tolist()

    @property
    def bayes_optimal_value(self) -> float:
        """V* at the start of a trial: what the Bayes-optimal policy earns on average."""
        return solve_bayes_optimal(self.arms, self.episodes).value

    @property
    def scores(self) -> dict[str, PlayerScore]:
        """Every player's decisions so far, scored: the learner first, then the agent and
        Bayes-optimal (their whole trial: they played it at reset)."""
        out = {}
        for name, stepper in self._players.items():
            record = stepper.record()
            out[name] = score_decisions(name, record.actions[0], record.rewards[0], self.arms,
                                        self.episodes)
        return out

    def score_table(self) -> str:
        """The HTML of the decision-by-decision comparison (what the widget shows at the end)."""
        scores = self.scores
        names = list(scores)
        esc = html.escape
        head = "".join(f"<th colspan=3>{esc(n)}</th>" for n in names)
        sub = "<th>arm (S/N)</th><th>best</th><th>lost</th>" * len(names)
        rows = []
        for t in range(self.episodes):
            cells = []
            for name in names:
                if t >= len(scores[name].decisions):
                    cells.append("<td></td><td></td><td></td>")
                    continue
                d = scores[name].decisions[t]
                n_pulled = d.successes[d.arm] + d.failures[d.arm]
                mark = "✓" if d.optimal else "✗"
                colour = "#1b7f3b" if d.optimal else "#b00020"
                cells.append(f"<td>{d.arm} ({d.successes[d.arm]}/{n_pulled}) → {d.reward:g}</td>"
                             f"<td>{','.join(map(str, d.best_arms))}</td>"
                             f"<td style='color:{colour}'>{mark} {d.value_lost:.3f}</td>")
            rows.append(f"<tr><td>{t + 1}</td>{''.join(cells)}</tr>")
        total = "".join(f"<td colspan=3><b>reward {s.total_reward:g} · lost {s.value_lost:.3f} · "
                        f"{s.optimal_decisions}/{len(s.decisions)} optimal</b></td>"
                        for s in scores.values())
        return ("<table style='border-collapse:collapse;font-size:90%'>"
                f"<tr><th>t</th>{head}</tr><tr><th></th>{sub}</tr>{''.join(rows)}"
                f"<tr><td></td>{total}</tr></table>"
                "<p style='font-size:85%;color:#555'>arm (S/N): the arm pulled and its successes / "
                "pulls <i>before</i> the pull → its reward; best: the Bayes-optimal arms given "
                "every arm's counts; lost: V* − Q*(arm), the expected reward the pull gave up "
                f"(0 for an optimal pull). Same bandit and luck for all; V* at the start = "
                f"{self.bayes_optimal_value:.3f}.</p>")

    def figure(self):
        """A fresh matplotlib figure: value lost per decision and cumulative, every player."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4), dpi=80)
        ax_step, ax_cum = fig.subplots(1, 2, gridspec_kw=dict(left=0.07, right=0.985, bottom=0.14,
                                                              top=0.86, wspace=0.2))
        scores = self.scores if self.done else {YOU: self.scores[YOU]}
        width = 0.8 / len(scores)
        for i, (name, score) in enumerate(scores.items()):
            lost = np.array([d.value_lost for d in score.decisions])
            steps = np.arange(1, len(lost) + 1)
            ax_step.bar(steps + (i - (len(scores) - 1) / 2) * width, lost, width=width,
                        label=f"{name}: {score.optimal_decisions}/{len(lost)} optimal")
            ax_cum.plot(np.arange(len(lost) + 1), np.concatenate([[0.0], np.cumsum(lost)]),
                        marker="o", markersize=3, label=f"{name}: {lost.sum():.3f}")
        for ax in (ax_step, ax_cum):
            ax.set_xlim(0.3, self.episodes + 0.7)
            ax.set_xlabel("pull t")
            ax.legend(fontsize="small", loc="upper left")
        ax_cum.set_xlim(0, self.episodes)
        ax_step.set_ylabel("V* − Q*(a_t)")
        ax_step.set_title("expected reward each pull gave up", fontsize="medium")
        ax_cum.set_ylabel("cumulative")
        ax_cum.set_title("expected regret to the Bayes-optimal agent", fontsize="medium")
        fig.suptitle("your decisions" + (" beside the agents' (same bandit, same luck)"
                                         if self.done else ", so far"), fontsize="large")
        return fig

    # -- internals ---------------------------------------------------------------------------

    def _env(self):
        return make_bandit_trials(self.arms, self.episodes)

    def _publish(self) -> None:
        record = self._players[YOU].record()
        actions, rewards = record.actions[0], record.rewards[0]
        self.t = int(actions.size)
        self.total_reward = float(rewards.sum())
        self.pulls = [int(v) for v in np.bincount(actions, minlength=self.arms)]
        self.successes = [int(round(v)) for v in np.bincount(actions, weights=rewards,
                                                             minlength=self.arms)]
        self.done = self._players[YOU].done

    def _warn(self, text: str) -> bool:
        self.message = text
        self._refresh(draw=False)
        return False

    def _refresh(self, draw: bool = True) -> None:
        note = (f"<span style='color:#b00020'><b>⚠ {html.escape(self.message)}</b></span><br>"
                if self.message else "")
        if not self._players:                # the constructor's first reset was refused
            self.status.value = note
            return
        for a, button in enumerate(self.arm_buttons):
            button.description = f"arm {a}: {self.successes[a]}/{self.pulls[a]}"
            button.disabled = self.done
        origin = "set by hand" if self._task_from_inputs else f"drawn from seed {self.seed}"
        if self.done:
            means = ", ".join(f"{m:.2f}" for m in self.arm_means)
            line = (f"<b>trial over</b>: you earned {self.total_reward:g} in {self.episodes} pulls. "
                    f"The arm means were [{means}] ({origin}).")
            self.table.value = self.score_table()
        else:
            line = (f"<b>pull {self.t + 1} of {self.episodes}</b> · reward so far "
                    f"{self.total_reward:g} · a {self.arms}-armed bandit {origin}, means hidden "
                    f"until the end; each button shows successes/pulls of its arm")
            self.table.value = ""
        self.status.value = note + line
        if draw and self.auto_draw and self.done:
            self.redraw()
        elif draw and not self.done:
            self.image.value = b""


__all__ = ["DecisionScore", "PlayBanditWidget", "PlayerScore", "score_decisions"]

"""What every trial-stepping widget shares: the controls, the stepping, the comparison agents.

A chapter's widget (bandits, MDPs) subclasses `TrialStepperWidget` and supplies four things:
how to build its environment (`_make_env`), which task to play (`_task_options`), what to
publish after each step (`_publish_task`) and how to draw it (`_draw`). The loop itself is the
evaluator's: the agent and each comparison agent are one `rl2_course.rollout.TrialStepper`
each, seeded from the widget's task seed (common random numbers: the same task and the same
luck for all), so stepping a widget to the end reproduces ``run_trials`` on that seed.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import traitlets

from rl2_course.argtypes import SEED_LIMIT
from rl2_course.envs import TrialEnv
from rl2_course.policy import Policy
from rl2_course.rollout import TrialRecord, TrialStepper


class TaskInputError(ValueError):
    """The task typed into a widget cannot be used (shown to the learner, never raised out)."""


class FigureImage:
    """For a widget that draws itself with ``figure()`` into an ``image`` (ipywidgets.Image):
    rendering into the widget and writing a PNG, shared by the course's widgets."""

    image: widgets.Image

    def figure(self):   # pragma: no cover - every widget defines its own
        raise NotImplementedError

    def redraw(self) -> None:
        """Render the figure into the widget's image."""
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png")
        self.image.value = buf.getvalue()

    def save_png(self, path: str | Path) -> Path:
        """Write the current figure to ``path`` (PNG)."""
        path = Path(path)
        self.figure().savefig(path, format="png")
        return path


class TrialStepperWidget(FigureImage, widgets.VBox):
    """Step ``policy`` through one trial of ``trial_steps`` steps, beside ``compare`` agents.

    Subclasses call ``super().__init__(..., task_inputs=[...])`` with their own input widgets
    (shown beside the seed) and implement the hooks named in the module docstring.
    """

    # -- state, as traitlets (read them; the buttons and methods write them) -----------------
    t = traitlets.Int(0, help="steps taken so far in this trial")
    total_reward = traitlets.Float(0.0, help="the agent's reward so far")
    last_action = traitlets.Int(None, allow_none=True, help="action taken at the last step")
    last_reward = traitlets.Float(None, allow_none=True, help="reward of the last step")
    action_probabilities = traitlets.List(traitlets.Float(), default_value=None, allow_none=True,
                                          help="π(·|x≤t) that chose the last action (None: n/a)")
    value = traitlets.Float(None, allow_none=True, help="the agent's V(x≤t) at the last step")
    done = traitlets.Bool(False, help="the trial is over")
    seed = traitlets.Int(0, help="seed of the task and of all the randomness")
    comparison_reward = traitlets.Dict(help="comparison agent -> its reward after t steps")
    comparison_notes = traitlets.Dict(help="comparison agent -> why it is not shown")
    message = traitlets.Unicode("", help="the last warning or error shown to the learner")

    def __init__(self, policy: Policy, trial_steps: int, *, seed: int = 0,
                 compare: Sequence[str | Policy] = (), interval: int = 400,
                 auto_draw: bool = True, task_inputs: Sequence[widgets.Widget] = (),
                 **kwargs: Any) -> None:
        if not 0 <= int(seed) < SEED_LIMIT:     # a notebook user hears what the CLI would say
            raise ValueError(f"the seed must be a whole number in [0, 2**32), got {seed}")
        self.policy = policy
        self.trial_steps = int(trial_steps)
        self.auto_draw = bool(auto_draw)
        self._syncing = False
        self._steppers: dict[str, TrialStepper] = {}
        self._history: dict[str, list[float]] = {}      # name -> cumulative reward per step

        self.seed_input = widgets.IntText(value=int(seed), description="seed",
                                          layout=widgets.Layout(width="160px"))
        self.reset_button = widgets.Button(description="Reset", icon="refresh",
                                           tooltip="start the trial again (new seed / task)")
        self.step_button = widgets.Button(description="Step", icon="step-forward",
                                          button_style="primary", tooltip="one step")
        self.play = widgets.Play(value=0, min=0, max=self.trial_steps, step=1,
                                 interval=int(interval), repeat=False, show_repeat=False,
                                 description="play")
        self.speed = widgets.IntSlider(value=int(interval), min=50, max=2000, step=50,
                                       description="ms/step", readout=True,
                                       layout=widgets.Layout(width="300px"))
        widgets.link((self.speed, "value"), (self.play, "interval"))
        self.counter = widgets.HTML()
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png",
                                   layout=widgets.Layout(width="100%", max_width="1000px"))
        super().__init__(children=[
            widgets.HBox([self.seed_input, *task_inputs, self.reset_button]),
            widgets.HBox([self.step_button, self.play, self.speed, self.counter]),
            self.status, self.image], **kwargs)

        self._compare_policies: dict[str, Policy] = {}
        notes = {}
        for entry in compare:
            name = entry if isinstance(entry, str) else entry.name
            if name == policy.name:
                continue                     # the stepped agent itself: same policy, same dice
            try:
                other = self._make_comparison(entry) if isinstance(entry, str) else entry
                self._check_policy(other)
            except ValueError as err:    # UsageError (unknown name, no checkpoint), a DP too
                                         # large to solve, a policy built for another size
                notes[name] = str(err)
                continue
            self._compare_policies[name] = other
        self.comparison_notes = notes

        self.step_button.on_click(lambda _: self.step())
        self.reset_button.on_click(lambda _: self.reset())
        self.play.observe(self._on_play, "value")

    # -- hooks for the subclasses ------------------------------------------------------------

    def _make_env(self) -> TrialEnv:
        """A fresh one-task trial env of the widget's kind."""
        raise NotImplementedError

    def _task_options(self) -> dict[str, Any] | None:
        """``reset`` options that fix the task from the widget's inputs (None: from the seed);
        raise `TaskInputError` with a learner-facing message when the inputs are unusable."""
        return None

    def _make_comparison(self, name: str) -> Policy:
        """The comparison agent called ``name`` (a ValueError, `UsageError` included, means not
        available here: the widget then shows the message instead of the agent)."""
        raise NotImplementedError

    def _check_policy(self, policy: Policy) -> None:
        """Raise ValueError when ``policy`` was built for another task family than this one."""

    def _publish_task(self, stepper: TrialStepper, record: TrialRecord) -> None:
        """Copy the task-specific state of the agent's stepper into traitlets (``record`` is
        ``stepper.record()``, already built for the common traitlets)."""

    def _task_line(self) -> str:
        """One line of HTML that says which agent plays which task."""
        return html.escape(self.policy.name)

    def _draw(self, fig) -> None:
        raise NotImplementedError

    # -- public API --------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> bool:
        """Start the trial again, on the task the seed (and task inputs) describe.

        Unusable inputs leave the current trial as it was, set ``message`` and return False;
        no exception reaches the notebook.
        """
        if seed is not None:
            self.seed_input.value = int(seed)
        try:
            options = self._task_options()
        except TaskInputError as err:
            self._show_message(str(err), error=True)
            return False
        task_seed = int(self.seed_input.value)
        if not 0 <= task_seed < SEED_LIMIT:
            self._show_message(f"the seed must be a whole number in [0, 2**32), got {task_seed}",
                               error=True)
            return False
        self._steppers = {"agent": TrialStepper(self._make_env(), self.policy, seed=task_seed,
                                                options=options)}
        for name, policy in self._compare_policies.items():
            self._steppers[name] = TrialStepper(self._make_env(), policy, seed=task_seed,
                                                options=options)
        self._history = {name: [0.0] for name in self._steppers}
        self._task_from_inputs = options is not None
        with self.hold_trait_notifications():
            self.seed = task_seed
            self.message = ""
            self._publish()
        self._sync_controls()
        self._refresh()
        return True

    def step(self) -> bool:
        """One step by the agent (and by each comparison agent). After the trial: no-op, False."""
        if self.done:
            self._show_message("trial over: press Reset to play it again")
            self._sync_controls()
            return False
        self._advance()
        self._sync_controls()
        self._refresh()
        return True

    def play_to_end(self) -> None:
        """Step until the trial is over (drawing the figure once, at the end)."""
        while not self.done:
            self._advance()
        self._sync_controls()
        self._refresh()

    @property
    def agent_stepper(self) -> TrialStepper:
        """The `TrialStepper` of the stepped agent (its ``record()`` is a `TrialRecord`)."""
        return self._steppers["agent"]

    @property
    def comparison_curves(self) -> dict[str, np.ndarray]:
        """Cumulative reward after 0..t steps, for the agent and each comparison agent."""
        return {name: np.asarray(h) for name, h in self._history.items()}

    def figure(self):
        """A fresh matplotlib figure of the current state (not managed by pyplot)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 6.6), dpi=80)   # fixed margins: constrained layout doubles the cost
        self._draw(fig)
        return fig

    # -- internals ---------------------------------------------------------------------------

    def _advance(self) -> None:
        """One step of every stepper, then publish the agent's state to the traitlets."""
        for name, stepper in self._steppers.items():
            if not stepper.done:
                result = stepper.step()
                self._history[name].append(self._history[name][-1] + float(result.reward[0]))
        with self.hold_trait_notifications():
            if self.message.startswith("trial over"):
                self.message = ""
            self._publish()

    def _publish(self) -> None:
        agent = self._steppers["agent"]
        record = agent.record()
        actions, rewards = record.actions[0], record.rewards[0]
        self.t = agent.t
        self.total_reward = float(rewards.sum())
        self.last_action = int(actions[-1]) if agent.t else None
        self.last_reward = float(rewards[-1]) if agent.t else None
        probs = getattr(agent.policy_state, "probs", None) if agent.t else None
        value = getattr(agent.policy_state, "value", None) if agent.t else None
        self.action_probabilities = (None if probs is None
                                     else [float(p) for p in np.asarray(probs)[0]])
        self.value = None if value is None else float(np.asarray(value).ravel()[0])
        self.comparison_reward = {name: h[-1] for name, h in self._history.items()
                                  if name != "agent"}
        self.done = agent.done
        self._publish_task(agent, record)

    def _on_play(self, change: dict) -> None:
        if self._syncing:
            return
        target = int(change["new"])
        if target <= self.t:                 # the Play widget rewound (e.g. pressed again)
            self._sync_controls()
            return
        while self.t < target and not self.done:
            self._advance()
        self._sync_controls()
        self._refresh()

    def _sync_controls(self) -> None:
        self._syncing = True
        try:
            self.play.value = self.t
            if self.done:
                self.play.playing = False
        finally:
            self._syncing = False
        self.step_button.disabled = self.done
        self.play.disabled = self.done

    def _show_message(self, text: str, error: bool = False) -> None:
        self.message = text
        self._refresh(draw=False)
        if error:
            self.status.value = (f"<span style='color:#b00020'><b>⚠ {html.escape(text)}</b></span>"
                                 f"<br>{self._task_line()}")

    def _refresh(self, draw: bool = True) -> None:
        others = "".join(f" · {html.escape(n)} {r:.5g}" for n, r in self.comparison_reward.items())
        self.counter.value = (f"<b>step {self.t} / {self.trial_steps}</b> · reward "
                              f"{self.total_reward:.5g}<span style='color:#666'>{others}</span>"
                              + (" · <b>trial over</b>" if self.done else ""))
        note = f"<b>{html.escape(self.message)}</b><br>" if self.message else ""
        self.status.value = note + self._task_line()
        if draw and self.auto_draw:
            self.redraw()

    def _draw_policy(self, ax, action_label: str = "action") -> None:
        """The agent's π(a | x≤t) and V as a bar chart (n/a for policies that hide them)."""
        probs = self.action_probabilities
        actions = np.arange(self.policy_actions)
        if probs is None:
            why = "press Step" if self.t == 0 else f"{self.policy.name} does not expose them"
            ax.text(0.5, 0.5, f"action probabilities: n/a\n({why})\nvalue estimate: n/a",
                    ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_yticks([])
            ax.set_title(f"{self.policy.name}: π(a | x≤t)", fontsize="medium")
        else:
            colors = ["tab:red" if a == self.last_action else "salmon" for a in actions]
            ax.bar(actions, probs, color=colors)
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("probability")
            value = "n/a" if self.value is None else f"{self.value:.2f}"
            ax.set_title(f"{self.policy.name}: π(a | x≤t) that chose {action_label} "
                         f"{self.last_action} at step {self.t}\nvalue estimate V = {value}",
                         fontsize="medium")
        ax.set_xlabel(action_label)

    @property
    def policy_actions(self) -> int:
        """How many actions the agent chooses from (bars of the policy plot)."""
        raise NotImplementedError


__all__ = ["TaskInputError", "TrialStepperWidget"]

"""Step an agent through one trial in a ViZDoom maze: what it sees, and where it really goes.

`MazeTrialStepper` is an ipywidgets ``VBox`` like the bandit and MDP steppers (same buttons,
same rollout code, same seeds: stepping it to the end reproduces ``run_trials`` on that seed).
One trial is 2 episodes in one random maze with one target. After every decision it draws

* the first-person view: Doom's 160×120 render and the 40×30 image the agent actually gets;
* a top-down map of the maze (walls from the generator's block grid), the target, and the
  agent's path in episode 1 and in episode 2 in two colours. The agent never sees this map:
  its position comes from the environment's ``info``, which the policy is not given;
* the decisions each episode took (Table 3 in one trial: is episode 2 shorter?);
* the agent's action probabilities π(·|x≤t) and value estimate (RL² exposes them).

A *save as GIF* button (and `save_gif`) writes the trial so far as an animation of the view
beside the map. Each agent plays in its own Doom process; `reset` reuses them, `close_envs`
ends them and keeps the widget (*Reset* then starts new ones), `close` ends them and the widget
(so does the interpreter's exit, see `rl2_course.envs.maze`). A comparison agent is stepped
as long as the agent is: its trial may end earlier or be cut short.

State in traitlets: ``episode``, ``position``, ``angle``, ``cell``, ``target``, ``starts``,
``paths``, ``episode_lengths``, ``episode_success``, ``comparison_episode_lengths`` (and the
common ones of `TrialStepperWidget`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

import ipywidgets as widgets
import numpy as np
import traitlets

from rl2_course.envs import TrialEnv, make_maze_trials
from rl2_course.envs.maze import (ACTION_NAMES, OBS_SHAPE, block_edges, cell_center,
                                  observation_image, position_to_cell)
from rl2_course.envs.maze_generator import Maze
from rl2_course.policy import Policy
from rl2_course.rollout import TrialRecord, TrialStepper
from rl2_course.settings import MAZE_EPISODES
from rl2_course.widgets.stepper import TrialStepperWidget

#: one colour per episode of the trial (paths on the map, bars of the lengths)
EPISODE_COLORS = ("tab:blue", "tab:orange")
#: at most this many frames in a GIF by default (longer trials: every k-th step)
GIF_MAX_FRAMES = 200


class MazeTrialRecorder(TrialEnv):
    """One maze trial that also keeps what the widget draws and the agent is never given.

    `TrialStepper` keeps actions and rewards only, and when episode 1 ends the env moves the
    agent to episode 2's start *within the same step*; so the end of each episode's path exists
    only in that step's ``info["position"]``. This wrapper catches it, step by step:

    * ``paths``: per episode, the points ``(step, x, y)`` (map units) the agent stood on: its
      start, then where each decision left it;
    * ``frames``, ``angles``: the 160×120 render and the heading after each step (index 0:
      the start), i.e. what the agent sees before its next decision;
    * ``lengths``, ``success``: decisions taken and target reached, per finished episode.
    """

    def __init__(self, size: str, time_limit: int | None = None, walls: str | None = None,
                 starts: str | None = None) -> None:
        trials = make_maze_trials(size, 1, time_limit=time_limit, walls=walls, starts=starts)
        super().__init__(trials.task_env, trials.episodes_per_trial)
        self.paths: list[list[tuple[int, float, float]]] = []
        self.frames: list[np.ndarray] = []
        self.angles: list[float] = []
        self.lengths: list[int] = []
        self.success: list[bool] = []
        self._t = 0

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """`TrialEnv.reset`, and forget the last trial's paths and frames."""
        out = super().reset(seed=seed, options=options)
        self.paths, self.frames, self.angles, self.lengths, self.success = [], [], [], [], []
        self._t = 0
        self._begin_episode()
        self._see()
        return out

    def step(self, actions: np.ndarray):
        """`TrialEnv.step`, and keep where it left the agent (before any restart)."""
        x, reward, terminated, truncated, info = super().step(actions)
        self._t += 1
        self.paths[-1].append((self._t, *map(float, info["position"][0])))
        if info["episode_done"][0]:
            self.lengths.append(self._t - self.paths[-1][0][0])
            self.success.append(bool(info["reached"][0]))
            if not terminated[0]:
                self._begin_episode()          # the restart already placed the agent there
        self._see()
        return x, reward, terminated, truncated, info

    def _begin_episode(self) -> None:
        self.paths.append([(self._t, *map(float, self.task_env.position[0]))])

    def _see(self) -> None:
        self.frames.append(self.task_env.frame(0))
        self.angles.append(float(self.task_env.angle[0]))


class MazeTrialStepper(TrialStepperWidget):
    """Step ``policy`` through one trial (2 episodes) in a random maze of ``size``.

    The maze, the target, both starts and all the luck come from ``seed``. ``time_limit``
    caps each episode (default: the size's, `envs.maze.MAZE_SIZES`; a small one makes short
    trials for tests). ``walls`` is the wall scheme (default: the size's own; "districts" for an
    agent trained on district walls). ``starts`` is the start protocol (default: the size's own,
    the paper's "same": episode 2 starts where episode 1 did; "random" for the course's first
    agents, `maze-small.pt` and `maze-large.pt`, which learned a fresh start per episode); the
    attribute ``start_protocol`` keeps it, since the traitlet ``starts`` holds the start cells.
    ``compare`` names maze agents (or gives ready policies) played on the same maze, each in
    its own Doom process; none by default. Call `close` to end the processes.
    """

    size = traitlets.Unicode(help="maze size (envs.maze.MAZE_SIZES): 'small' (5×5 cells), "
                                  "'large' (9×9), 'paper-small' (3×3), 'paper-large' (5×5)")
    episodes = traitlets.Int(MAZE_EPISODES, help="episodes in a trial (2)")
    episode = traitlets.Int(0, help="index of the current episode (0-based; 2 once the trial is over)")
    position = traitlets.List(traitlets.Float(), help="the agent's (x, y) in map units, now")
    angle = traitlets.Float(0.0, help="the agent's heading in degrees (0 = east, counter-clockwise)")
    cell = traitlets.List(traitlets.Int(), help="the (row, column) cell the agent is in now")
    target = traitlets.List(traitlets.Int(), help="the target's (row, column) cell")
    starts = traitlets.List(traitlets.List(traitlets.Int()), help="start cell of each episode so far")
    paths = traitlets.List(traitlets.List(traitlets.List(traitlets.Float())),
                           help="per episode: the (x, y) points the agent stood on, start first")
    episode_lengths = traitlets.List(traitlets.Int(), help="decisions of each finished episode")
    episode_success = traitlets.List(traitlets.Bool(),
                                     help="whether each finished episode reached the target")
    comparison_episode_lengths = traitlets.Dict(
        help="comparison agent -> its finished episodes' lengths")

    def __init__(self, policy: Policy, size: str = "small", *, seed: int = 0,
                 time_limit: int | None = None, walls: str | None = None,
                 starts: str | None = None, compare: Sequence[str | Policy] = (),
                 interval: int = 150, auto_draw: bool = True,
                 gif_path: str | Path = "maze-trial.gif", **kwargs: Any) -> None:
        from rl2_course.evaluate_maze import check_maze_setting

        setting = check_maze_setting(size, walls=walls, starts=starts)
        self.size = size
        self.walls = setting.walls if walls is None else walls
        self.start_protocol = setting.starts if starts is None else starts
        self.rows = self.cols = setting.cells
        self.time_limit = setting.time_limit if time_limit is None else int(time_limit)
        if self.time_limit < 1:
            raise ValueError(f"time_limit must be at least 1 decision, got {time_limit}")
        self._check_policy(policy)
        self._spare_envs: list[TrialEnv] = []
        self.gif_input = widgets.Text(value=str(gif_path), description="GIF file",
                                      layout=widgets.Layout(width="320px"))
        self.gif_button = widgets.Button(description="save as GIF", icon="film",
                                         tooltip="write the trial so far as an animated GIF")
        super().__init__(policy, MAZE_EPISODES * self.time_limit, seed=seed, compare=compare,
                         interval=interval, auto_draw=auto_draw, **kwargs)
        controls, play, status, image = self.children
        self.children = (controls, play, widgets.HBox([self.gif_input, self.gif_button]),
                         status, image)
        self.gif_button.on_click(lambda _: self._save_gif_clicked())
        self.reset()

    @property
    def policy_actions(self) -> int:
        return len(ACTION_NAMES)

    @property
    def recorder(self) -> MazeTrialRecorder:
        """The agent's trial env, with the positions and frames of the trial so far."""
        return self.agent_stepper.env

    @property
    def maze(self) -> Maze:
        """The current maze (its block grid ``open`` is what the map draws)."""
        return self.recorder.task_env.mazes[0]

    # -- processes ---------------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> bool:
        """Start the trial again (a new maze for a new seed), reusing the Doom processes.

        Envs no trial needs any more (e.g. a refused reset's) are closed, never left behind.
        """
        self._spare_envs = [s.env for s in self._steppers.values()]
        try:
            return super().reset(seed)
        finally:
            in_use = {id(s.env) for s in self._steppers.values()}
            for env in self._spare_envs:
                if id(env) not in in_use:
                    env.close()
            self._spare_envs = []

    def close_envs(self) -> None:
        """End the Doom processes now, but keep the widget and its last picture: *Reset*
        starts fresh ones. (A notebook can free the processes without losing the view.)"""
        for stepper in self._steppers.values():
            stepper.env.close()
        self._envs_closed()

    def close(self) -> None:
        """End every Doom process of this widget, then close its views in the notebook."""
        for stepper in getattr(self, "_steppers", {}).values():
            stepper.env.close()
        super().close()

    def step(self) -> bool:
        """One decision (see `TrialStepperWidget.step`); after `close_envs`: a message, False."""
        return not self._envs_closed() and super().step()

    def play_to_end(self) -> None:
        """Step until the trial is over; after `close_envs`: a message instead."""
        if not self._envs_closed():
            super().play_to_end()

    def _on_play(self, change: dict) -> None:
        if not self._envs_closed():
            super()._on_play(change)

    def _envs_closed(self) -> bool:
        """True (and say so, with Step and Play disabled) once the Doom processes have ended."""
        if not any(s.env.closed for s in self._steppers.values()):
            return False
        self.step_button.disabled = self.play.disabled = True
        self._show_message("the Doom processes have ended (close_envs): press Reset to play again")
        return True

    # -- the hooks of TrialStepperWidget -----------------------------------------------------

    def _make_env(self) -> TrialEnv:
        while self._spare_envs:
            env = self._spare_envs.pop(0)
            if not env.closed:                 # reuse the Doom process of the last trial
                return env
        return MazeTrialRecorder(self.size, self.time_limit, self.walls, self.start_protocol)

    def _make_comparison(self, name: str) -> Policy:
        from rl2_course.evaluate_maze import make_maze_agent

        return make_maze_agent(name, self.size, walls=self.walls, starts=self.start_protocol)

    def _check_policy(self, policy: Policy) -> None:
        model = getattr(policy, "model", None)
        layout = getattr(model, "layout", None)
        if layout is not None and (layout.num_actions != len(ACTION_NAMES)
                                   or layout.observation_size != int(np.prod(OBS_SHAPE))):
            raise ValueError(f"{policy.name!r} reads {layout.observation_size} numbers and chooses "
                             f"among {layout.num_actions} actions; the maze gives a "
                             f"{'×'.join(map(str, OBS_SHAPE))} image and has "
                             f"{len(ACTION_NAMES)} actions")
        actions = getattr(policy, "num_actions", None)
        if actions is not None and actions != len(ACTION_NAMES):
            raise ValueError(f"{policy.name!r} chooses among {actions} actions; the maze has "
                             f"{len(ACTION_NAMES)}")

    def _publish_task(self, stepper: TrialStepper, record: TrialRecord) -> None:
        env: MazeTrialRecorder = stepper.env
        tasks = env.task_env
        x, y = env.paths[-1][-1][1:]
        self.episode = len(env.lengths) if stepper.done else len(env.paths) - 1
        self.position = [x, y]
        self.angle = env.angles[-1]
        self.cell = list(position_to_cell(x, y))
        self.target = [int(v) for v in tasks.targets[0]]
        self.starts = [list(position_to_cell(*path[0][1:])) for path in env.paths]
        self.paths = [[[px, py] for _, px, py in path] for path in env.paths]
        self.episode_lengths = list(env.lengths)
        self.episode_success = list(env.success)
        self.comparison_episode_lengths = {name: list(s.env.lengths)
                                           for name, s in self._steppers.items() if name != "agent"}

    def _task_line(self) -> str:
        return (f"{html.escape(self.policy.name)} in a random {self.rows}×{self.cols} maze "
                f"({self.size}) drawn from seed {self.seed}, target in cell {tuple(self.target)}; "
                f"episode {min(self.episode + 1, self.episodes)} of {self.episodes}, at most "
                f"{self.time_limit} decisions each")

    def _draw(self, fig) -> None:
        grid = fig.add_gridspec(2, 3, left=0.01, right=0.975, bottom=0.09, top=0.9, wspace=0.24,
                                hspace=0.38, width_ratios=[1.0, 1.15, 1.0])
        ax_render, ax_obs = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
        ax_map = fig.add_subplot(grid[:, 1])
        ax_lengths, ax_pi = fig.add_subplot(grid[0, 2]), fig.add_subplot(grid[1, 2])
        self._draw_view(ax_render, ax_obs)
        self._draw_map(ax_map, self.t)
        self._draw_lengths(ax_lengths)
        self._draw_policy(ax_pi, "action")
        ax_pi.set_xticks(np.arange(len(ACTION_NAMES)), ACTION_NAMES, fontsize="small")
        fig.suptitle(f"{self.policy.name}, decision {self.t} (episode "
                     f"{min(self.episode + 1, self.episodes)} of {self.episodes})"
                     + ("  (trial over)" if self.done else ""), fontsize="large")

    # -- drawing -----------------------------------------------------------------------------

    def _draw_view(self, ax_render, ax_obs) -> None:
        obs = np.asarray(self.agent_stepper.x)[0, :int(np.prod(OBS_SHAPE))]
        ax_render.imshow(self.recorder.frames[-1])
        ax_render.set_title("Doom's 160×120 render (for us)", fontsize="medium")
        ax_obs.imshow(observation_image(obs), interpolation="nearest")
        ax_obs.set_title("what the agent sees: 40×30 RGB", fontsize="medium")
        for ax in (ax_render, ax_obs):
            ax.set_xticks([])
            ax.set_yticks([])

    def _draw_map(self, ax, upto: int) -> None:
        """The maze from above (map units, north up), with the paths up to decision ``upto``."""
        grid = self.maze.open
        xs, ys = block_edges(grid.shape[1]), -block_edges(grid.shape[0])
        ax.pcolormesh(xs, ys, grid, cmap="gray", vmin=-0.6, vmax=1.15)
        tx, ty = cell_center(tuple(self.recorder.task_env.targets[0]))
        ax.plot([tx], [ty], marker="*", markersize=18, color="red", markeredgecolor="k",
                linestyle="none", label="target (red torch)", zorder=5)
        for k, path in enumerate(self.recorder.paths):
            points = np.array([p[1:] for p in path if p[0] <= upto]).reshape(-1, 2)
            color = EPISODE_COLORS[k % len(EPISODE_COLORS)]
            ax.plot(points[:, 0], points[:, 1], color=color, linewidth=2, alpha=0.85,
                    label=f"episode {k + 1}", zorder=3)
            ax.plot(points[:1, 0], points[:1, 1], marker="o", markersize=8, color=color,
                    markeredgecolor="k", linestyle="none", zorder=4)
        x, y = self._position_at(upto)
        heading = np.deg2rad(self.recorder.angles[upto])
        ax.annotate("", xy=(x + 40 * np.cos(heading), y + 40 * np.sin(heading)), xytext=(x, y),
                    arrowprops=dict(arrowstyle="-|>", color="k", linewidth=2), zorder=6)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[-1], ys[0])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3,
                  frameon=False)
        ax.set_title("top-down map (never shown to the agent):\npaths from ○ start; arrow = "
                     "where it faces now", fontsize="medium")

    def _position_at(self, step: int) -> tuple[float, float]:
        """Where the agent stood after ``step`` decisions (at a restart: the new start)."""
        last = (0.0, 0.0)
        for path in self.recorder.paths:
            for s, x, y in path:
                if s <= step:
                    last = (x, y)
        return last

    def _draw_lengths(self, ax) -> None:
        """Decisions per episode: the agent's in the episode colours (the episode under way
        faint), each comparison agent's in grey beside it; hatched where time ran out."""
        envs = {self.policy.name: self.recorder,
                **{name: s.env for name, s in self._steppers.items() if name != "agent"}}
        width = 0.8 / len(envs)
        for i, (name, env) in enumerate(envs.items()):
            lengths, reached = list(env.lengths), list(env.success)
            if i == 0 and not self.done:
                lengths.append(self.t - sum(lengths))
            offset = (i - (len(envs) - 1) / 2) * width
            for k, decisions in enumerate(lengths):
                finished = k < len(reached)
                ax.bar([k + 1 + offset], [decisions], width=width, edgecolor="k",
                       color=EPISODE_COLORS[k % len(EPISODE_COLORS)] if i == 0 else "0.65",
                       hatch="//" if finished and not reached[k] else "",
                       alpha=1.0 if finished else 0.4,
                       label=name if k == 0 and len(envs) > 1 else None)
        ax.axhline(self.time_limit, color="0.4", linestyle=":", linewidth=1)
        ax.set_xlim(0.4, self.episodes + 0.6)
        ax.set_ylim(0, self.time_limit * 1.15)
        ax.set_xticks(np.arange(1, self.episodes + 1))
        ax.set_xlabel("episode (hatched: time ran out; dotted: the limit)", labelpad=1,
                      fontsize="small")
        ax.set_ylabel("decisions", labelpad=1)
        ax.set_title("decisions per episode: is episode 2 shorter?", fontsize="medium")
        if len(envs) > 1:
            ax.legend(fontsize="small", loc="upper right")

    # -- the GIF -----------------------------------------------------------------------------

    def save_gif(self, path: str | Path | None = None, *, fps: int = 8, dpi: int = 64,
                 max_frames: int = GIF_MAX_FRAMES) -> Path:
        """Write the trial so far (decisions 0..t) as an animated GIF of the view and the map.

        Play to the end first for the whole trial. Past ``max_frames`` decisions only every
        k-th one is drawn (always the last); each frame is a full matplotlib figure, so this
        takes a second or so per 30 frames. Uses matplotlib's animation with Pillow (pinned).
        """
        from matplotlib.animation import FuncAnimation, PillowWriter
        from matplotlib.figure import Figure

        path = Path(self.gif_input.value if path is None else path)
        every = max(1, -(-(self.t + 1) // int(max_frames)))
        steps = list(range(0, self.t + 1, every))
        if steps[-1] != self.t:
            steps.append(self.t)
        fig = Figure(figsize=(7.2, 3.4), dpi=dpi)
        ax_view, ax_map = fig.subplots(1, 2, gridspec_kw=dict(left=0.01, right=0.99, bottom=0.02,
                                                              top=0.86, wspace=0.05))

        def draw(step: int) -> None:
            ax_view.clear()
            ax_map.clear()
            ax_view.imshow(self.recorder.frames[step])
            ax_view.set_xticks([])
            ax_view.set_yticks([])
            ax_view.set_title("its view (Doom's render)", fontsize="medium")
            self._draw_map(ax_map, step)
            ax_map.get_legend().remove()
            ax_map.set_title("the map (hidden from it)", fontsize="medium")
            episode = sum(1 for p in self.recorder.paths if p[0][0] <= step)
            fig.suptitle(f"{self.policy.name}, seed {self.seed}: decision {step}, episode {episode}",
                         fontsize="medium")

        animation = FuncAnimation(fig, draw, frames=steps, repeat=False, cache_frame_data=False)
        animation.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
        return path

    def _save_gif_clicked(self) -> None:
        try:
            path = self.save_gif()
        except (OSError, ValueError) as err:
            self._show_message(f"could not write the GIF: {err}", error=True)
            return
        self._show_message(f"wrote {path} (decisions 0 to {self.t})")


__all__ = ["EPISODE_COLORS", "GIF_MAX_FRAMES", "MazeTrialRecorder", "MazeTrialStepper"]

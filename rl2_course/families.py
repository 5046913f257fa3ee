"""The task families RL² learns on, in one table: `FAMILIES`.

An entry says everything the trainer, the command line and the loaders need to know about a
family, so none of them branches on its name:

* what names one setting of it (``arguments``: a bandit's k and n, an MDP's n, a maze's size)
  and which extra options a training run may set (``options``: the maze's time limit and walls);
* its environment (``make_env``), the RL² input layout (observation size and actions) and the
  observation encoder φ (the identity for vectors, a CNN for the maze's pixels);
* its per-setting training defaults (`rl2_course.settings`) and its pretrained checkpoint;
* what a checkpoint records of it (``env_spec``: the env module's ``task_spec``) and how
  messages name it;
* its evaluation (the agents it knows, the evaluator, the heading of the printed table).

A *task* is a plain dict of the family's argument and option values, e.g. ``{"arms": 5,
"episodes": 10}`` or ``{"size": "small", "time_limit": None, "walls": None}``; it is stored as
is in a checkpoint's config. Adding a fourth family means one entry here and its env module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from rl2_course.agents.recurrent import ConvEncoder, ObservationEncoder
from rl2_course.envs import (TrialEnv, make_bandit_trials, make_maze_trials, make_mdp_trials,
                             task_layout)
from rl2_course.envs import bandit as bandit_env, mdp as mdp_env
from rl2_course.envs import maze as maze_env
from rl2_course.errors import UsageError
from rl2_course.settings import (TrainingSetting, bandit_setting, maze_training_setting,
                                 mdp_setting, pretrained_checkpoint, pretrained_maze_checkpoint,
                                 pretrained_mdp_checkpoint)

Task = dict[str, Any]


@dataclass(frozen=True)
class Argument:
    """One command-line argument that names a setting of a family (``--NAME``)."""

    name: str
    type: Callable[[str], Any]
    help: str
    choices: tuple[str, ...] | None = None
    default: Any = None             # for an evaluation option (the task's arguments are required)
    aliases: tuple[str, ...] = ()   # other spellings of the flag, e.g. "--start" for "--starts"
    # type bool: a flag without a value (off unless given)


@dataclass(frozen=True)
class TaskFamily:
    """One task family: see the module's docstring for what each field is for."""

    name: str                                    # the CLI's and the checkpoints' word for it
    title: str                                   # one line for --help
    arguments: tuple[Argument, ...]              # what names one setting, in order
    check: Callable[[Task], None]                # refuse an impossible setting, in one line
    training_defaults: Callable[[Task], TrainingSetting]
    make_env: Callable[[Task, int], TrialEnv]    # (task, number of trials in the batch)
    env_spec: Callable[[Task], dict[str, Any]]
    describe: Callable[[Task], str]              # "bandit k=5, n=10"
    pretrained: Callable[[Task], Path]
    agents_help: str                             # the agents `evaluate` knows
    evaluate: Callable[..., Any]                 # (task, agents, trials, seed, checkpoint=...)
    evaluation_heading: Callable[[Task, Any], str]
    trial_steps: Callable[[Task], int]           # the longest trial, in steps: what a
                                                 # rollout's memory and an attention
                                                 # memory's context grow with
    default_trials: int = 1000                   # `evaluate --trials` default
    # `evaluate`'s own options beyond the task's (the maze's --walls, --starts, ...): those
    # that are task options travel in the task, the others as keywords of ``evaluate``
    evaluation_options: tuple[Argument, ...] = ()
    make_encoder: Callable[[Task], ObservationEncoder | None] = lambda task: None   # None: φ = id
    options: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (default, type)

    def task(self, *values: Any, **options: Any) -> Task:
        """The task named by ``values`` (in ``arguments`` order) with ``options``."""
        if len(values) != len(self.arguments):
            names = ", ".join(a.name for a in self.arguments)
            raise TypeError(f"a {self.name} task takes {names}; got {values!r}")
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise UsageError(f"--set {unknown[0]}: not a setting of {self.name} runs "
                             f"(it belongs to another task family)")
        task = {a.name: v for a, v in zip(self.arguments, values)}
        return {**task, **{k: options.get(k, d) for k, (d, _) in self.options.items()}}

    def layout(self, task: Task) -> tuple[int, int]:
        """(observation size, actions) of the RL² network for ``task``: what its env module
        says a checkpoint of this family needs (`envs.task_layout`)."""
        return task_layout(self.env_spec(task))

    def task_from_args(self, args: Any) -> Task:
        """The task of parsed command-line ``args`` (the family's arguments, options if given)."""
        options = {k: getattr(args, k) for k in self.options if getattr(args, k, None) is not None}
        return self.task(*(getattr(args, a.name) for a in self.arguments), **options)


# -- bandits (Table 1) ---------------------------------------------------------------------------

def _bandit_check(task: Task) -> None:
    from rl2_course.evaluate import check_bandit_setting

    check_bandit_setting(task["arms"], task["episodes"])
    try:
        bandit_env.task_prior(task.get("prior"))
    except ValueError as error:
        raise UsageError(f"--set prior: {error}") from None


def _bandit_describe(task: Task) -> str:
    setting, prior = f"bandit k={task['arms']}, n={task['episodes']}", task.get("prior")
    if prior is None:
        return setting
    return f"{setting}, arm means from {bandit_env.describe_prior(bandit_env.task_prior(prior))}"


def _bandit_evaluate(task: Task, agents, trials: int, seed: int, **options: Any):
    from rl2_course.evaluate import evaluate_bandit

    return evaluate_bandit(task["arms"], task["episodes"], agents, trials, seed, **options)


BANDIT = TaskFamily(
    name="bandit", title="Bernoulli bandits (Table 1)",
    arguments=(Argument("arms", int, "k, arms per bandit"),
               Argument("episodes", int, "n, pulls per trial")),
    check=_bandit_check,
    training_defaults=lambda t: bandit_setting(t["arms"], t["episodes"]),
    make_env=lambda t, n: make_bandit_trials(t["arms"], t["episodes"], n,
                                                  bandit_env.task_prior(t.get("prior"))),
    env_spec=lambda t: bandit_env.task_spec(t["arms"], t["episodes"]),
    describe=_bandit_describe,
    pretrained=lambda t: pretrained_checkpoint(t["arms"], t["episodes"]),
    agents_help="random,greedy,epsilon-greedy,ucb1,thompson,optimistic-thompson,gittins,"
                "bayes-optimal,rl2,rl2-forgetful (rl2 with its memory wiped at every episode start),"
                "rl2-attention,rl2-attention-forgetful (RL² with an attention memory)",
    evaluate=_bandit_evaluate,
    trial_steps=lambda t: int(t["episodes"]),
    evaluation_heading=lambda t, r: (f"Bernoulli bandits: k={t['arms']} arms, n={t['episodes']} "
                                     f"pulls, {r.trials} trials, seed {r.seed} (every agent meets "
                                     f"the same tasks)"),
    # prior: "A:B", training bandits drawn from Beta(A, B) instead of the paper's U[0, 1] (None):
    # a curriculum over the task distribution; the network and its evaluation are unchanged
    options={"prior": (None, "str | None")})


# -- tabular MDPs (Table 2) ----------------------------------------------------------------------

def _mdp_check(task: Task) -> None:
    from rl2_course.evaluate_mdp import check_mdp_setting

    check_mdp_setting(task["episodes"])


def _mdp_evaluate(task: Task, agents, trials: int, seed: int, **options: Any):
    from rl2_course.evaluate_mdp import evaluate_mdp

    return evaluate_mdp(task["episodes"], agents, trials, seed, **options)


MDP = TaskFamily(
    name="mdp", title="random tabular MDPs: 10 states, 5 actions, 10 steps (Table 2)",
    arguments=(Argument("episodes", int, "n, episodes per trial"),),
    check=_mdp_check,
    training_defaults=lambda t: mdp_setting(t["episodes"]),
    make_env=lambda t, n: make_mdp_trials(t["episodes"], n),
    env_spec=lambda t: mdp_env.task_spec(t["episodes"]),
    describe=lambda t: f"mdp n={t['episodes']}",
    pretrained=lambda t: pretrained_mdp_checkpoint(t["episodes"]),
    agents_help="random,greedy,epsilon-greedy,psrl,opsrl,ucrl2,beb,rl2,rl2-forgetful (rl2 with its "
                "memory wiped at every episode start),rl2-attention,rl2-attention-forgetful (RL² "
                "with an attention memory)",
    evaluate=_mdp_evaluate,
    trial_steps=lambda t: int(t["episodes"]) * mdp_env.MDP_HORIZON,
    evaluation_heading=lambda t, r: (
        f"random tabular MDPs: {mdp_env.MDP_STATES} states, {mdp_env.MDP_ACTIONS} actions, "
        f"{mdp_env.MDP_HORIZON} steps per episode, n={t['episodes']} episodes, {r.trials} trials, "
        f"seed {r.seed} (every agent meets the same tasks)"))


# -- ViZDoom mazes (Table 3) ---------------------------------------------------------------------

def _maze_walls(task: Task) -> str:
    """The wall scheme: the task's, or the size's own when None."""
    walls = task.get("walls")
    return maze_env.maze_size(task["size"]).walls if walls is None else walls


def _maze_starts(task: Task) -> str:
    """The start protocol: the task's, or the size's own when None."""
    starts = task.get("starts")
    return maze_env.maze_size(task["size"]).starts if starts is None else starts


def _maze_check(task: Task) -> None:
    from rl2_course.evaluate_maze import check_maze_setting

    check_maze_setting(task["size"], walls=task.get("walls"), starts=task.get("starts"))
    limit = task.get("time_limit")
    if limit is not None and limit < 1:
        raise UsageError(f"time_limit is a maze's decisions per episode (at least 1), got {limit}")
    episodes = task.get("episodes")
    if episodes is not None and not 2 <= episodes <= maze_env.MAX_MAZE_EPISODES:
        raise UsageError(f"episodes is a maze trial's episodes, in [2, {maze_env.MAX_MAZE_EPISODES}] "
                         f"(RL² remembers across them), got {episodes}")


def _maze_episodes(task: Task) -> int:
    """Episodes per training trial: the paper's 2 unless the task's ``episodes`` asks more."""
    return int(task.get("episodes") or maze_env.MAZE_EPISODES)


def _maze_evaluate(task: Task, agents, trials: int, seed: int, **options: Any):
    from rl2_course.evaluate_maze import evaluate_maze

    return evaluate_maze(task["size"], agents, trials, seed, walls=task.get("walls"),
                         starts=task.get("starts"), **options)


MAZE = TaskFamily(
    name="maze", title="random ViZDoom mazes, 2 episodes per trial (Table 3)",
    arguments=(Argument("size", str, "small: 5×5 cells; large: 9×9 cells; the paper's mazes: "
                        "paper-small 3×3, paper-large 5×5 (it counts the walls: 5×5, 9×9)",
                        choices=tuple(maze_env.MAZE_SIZES)),),
    check=_maze_check,
    training_defaults=lambda t: maze_training_setting(t["size"]),
    make_env=lambda t, n: make_maze_trials(t["size"], n, time_limit=t.get("time_limit"),
                                           walls=_maze_walls(t), starts=_maze_starts(t),
                                           episodes=_maze_episodes(t)),
    env_spec=lambda t: maze_env.task_spec(t["size"], _maze_episodes(t), _maze_walls(t),
                                          _maze_starts(t)),
    describe=lambda t: f"maze {t['size']}",
    pretrained=lambda t: pretrained_maze_checkpoint(t["size"]),
    agents_help="random,rl2,rl2-forgetful (the RL² agent with its memory wiped before "
                "episode 2: what is its memory worth?)",
    evaluate=_maze_evaluate,
    trial_steps=lambda t: _maze_episodes(t) * int(
        t.get("time_limit") or maze_env.maze_size(t["size"]).time_limit),
    evaluation_heading=lambda t, r: (
        f"ViZDoom mazes ({t['size']}, {r.walls} walls, {r.starts} starts), {r.episodes} "
        f"episodes per trial, {r.trials} trials, seed {r.seed} (every agent meets the same "
        f"mazes); length = mean decisions of the successful episodes ± stderr"),
    default_trials=100,
    make_encoder=lambda t: ConvEncoder(),
    # time_limit: decisions per episode (None: the size's own; shorter limits make a
    # curriculum); walls: "uniform" or "districts"; starts: "same" or "random" (None: the
    # size's own, the paper's "same", `envs.maze.MAZE_SIZES`); episodes: per training trial
    # (None: the paper's 2; more make a memory of the target pay several times per trial)
    options={"time_limit": (None, "int | None"), "walls": (None, "str | None"),
             "starts": (None, "str | None"), "episodes": (None, "int | None")},
    evaluation_options=(
        Argument("walls", str, "wall textures: one everywhere, or one per quadrant of the maze "
                 "(default: the size's own; an RL² checkpoint must match it)",
                 choices=maze_env.WALL_SCHEMES),
        Argument("starts", str, "same: every episode of a trial starts where the first did (the "
                 "paper's protocol, the default); random: a fresh start per episode (the "
                 "protocol the shipped agents learned); an RL² checkpoint must match it",
                 choices=maze_env.START_PROTOCOLS, aliases=("--start",)),
        Argument("other_starts", bool, "play an RL² agent on --starts although it was trained "
                 "on the other protocol (the table names the protocol it learned)"),
        Argument("episodes_per_trial", int, "episodes per trial (default 2, as trained; more "
                 "shows whether the advantage lasts)", default=maze_env.MAZE_EPISODES)))

#: name -> family: the one table
FAMILIES: dict[str, TaskFamily] = {f.name: f for f in (BANDIT, MDP, MAZE)}


def family(name: str) -> TaskFamily:
    """The family called ``name``, or a one-line `UsageError`."""
    if name not in FAMILIES:
        raise UsageError(f"unknown environment {name!r}; this trainer knows: {', '.join(FAMILIES)}")
    return FAMILIES[name]


__all__ = ["Argument", "BANDIT", "FAMILIES", "MAZE", "MDP", "Task", "TaskFamily", "family"]

"""Evaluate agents in the ViZDoom mazes (the RL² paper's Table 3), on the same sampled mazes.

    python -m rl2_course evaluate maze --size small --agents rl2,random --trials 100 --seed 11 --json

A trial is 2 episodes in one random maze with one target (`rl2_course.envs.maze`), both
starting at the trial's one start (``--starts same``, the paper's protocol and the default) or
each at a fresh one (``--starts random``, the protocol the shipped agents were trained on; an
RL² agent is refused under the protocol it did not learn unless ``--other-starts`` asks for
it, and the table then says so). Table 3 reports, per episode of the trial:

* the **average length of the successful episodes** (decisions until the target), ± standard
  error — failed episodes are left out of this mean, as in the paper, and counted in
* the **success rate**: the share of episodes that reached the target within the time limit;
* **% improved**: the share of trials whose second episode is *shorter* than the first (a
  failed episode counts with its full length, the time limit). This is the issue's wording;
  the paper's table caption can also be read as "no longer than", which counts ties too.

An agent that remembers the maze from episode 1 needs fewer steps in episode 2.
``--episodes-per-trial K`` plays K episodes (the agents were trained on 2) and reports the
length and success of each; "improved" still compares episodes 1 and 2. As for the
other task families, chunk c of the trials uses environment seed (S, c) for every agent (the
same mazes, targets and starts; see `rl2_course.evaluate`). The Doom processes of the
evaluation are closed when it ends, also when it is interrupted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from rl2_course.envs import TrialEnv, make_maze_trials
from rl2_course.errors import UsageError
from rl2_course.evaluate import aid_notes, evaluate_policies, load_rl2_agent, resolve_agents
from rl2_course.limits import BYTES_PER_NETWORK_TASK, check_memory, check_seed, evaluation_bytes
from rl2_course.policy import Policy, UniformRandomPolicy
from rl2_course.rollout import TrialRecord
from rl2_course.envs.maze import (MAX_MAZE_EPISODES, MAZE_EPISODES, MAZE_SIZES, START_PROTOCOLS,
                                  WALL_SCHEMES, MazeSize, maze_size, task_spec, trained_starts)
from rl2_course.threads import fixed_torch_threads

#: trials stepped together: one Doom process each (about 8 reach the machine's full speed)
CHUNK_TRIALS = 8
#: "rl2-forgetful" is an ablation: the RL² agent with its memory wiped before episode 2
MAZE_AGENTS = ("random", "rl2", "rl2-forgetful")


def check_maze_setting(size: str, trials: int | None = None, walls: str | None = None,
                       starts: str | None = None, episodes: int = MAZE_EPISODES) -> MazeSize:
    """The setting of ``size``, or a one-line `UsageError` for a bad size, trial count, wall
    scheme, start protocol or number of episodes."""
    if size not in MAZE_SIZES:
        raise UsageError(f"unknown maze size {size!r}; choose from {', '.join(MAZE_SIZES)}")
    if walls is not None and walls not in WALL_SCHEMES:
        raise UsageError(f"unknown wall scheme {walls!r}; choose from {', '.join(WALL_SCHEMES)}")
    if starts is not None and starts not in START_PROTOCOLS:
        raise UsageError(f"unknown start protocol {starts!r}; choose from {', '.join(START_PROTOCOLS)}")
    if not 2 <= episodes <= MAX_MAZE_EPISODES:
        raise UsageError(f"--episodes-per-trial must lie in [2, {MAX_MAZE_EPISODES}] (improved compares "
                         f"episodes 1 and 2), got {episodes}")
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    return maze_size(size)


def check_maze_evaluation_fits(size: str, trials: int, agents: Sequence[str | Policy], *,
                               episodes_per_trial: int = MAZE_EPISODES,
                               chunk_trials: int = CHUNK_TRIALS) -> None:
    """Refuse, before a Doom engine starts, an evaluation whose kept records would not fit in
    memory: every step of every trial is kept (Table 3 reads the episodes' lengths from them),
    up to the size's time limit per episode."""
    names = [a if isinstance(a, str) else a.name for a in agents]
    steps = episodes_per_trial * maze_size(size).time_limit
    check_memory(evaluation_bytes(trials, chunk_trials, len(names), steps, BYTES_PER_NETWORK_TASK,
                                  keep_records=True),
                 f"evaluating {', '.join(names)} on {trials:,} {size} mazes")


def make_maze_agent(name: str, size: str, *, checkpoint: str | Path | None = None,
                    walls: str | None = None, starts: str | None = None,
                    other_starts: bool = False) -> Policy:
    """``random``, ``rl2`` or ``rl2-forgetful`` (the same network, wiping its memory before
    every later episode: an ablation that rolls ``rl2``'s dice, so its episode 1 is ``rl2``'s
    move for move), for mazes with wall scheme ``walls`` and start protocol ``starts`` (None:
    the size's own, the paper's "same").

    The network comes from ``checkpoint``, else from the pretrained agent trained on ``starts``
    (`settings.pretrained_maze_checkpoint`). A checkpoint trained on another wall scheme is
    refused in words; so is one trained on another start protocol (one that records none was
    trained on "random", `envs.maze.trained_starts`), unless ``other_starts`` asks to play it
    on ``starts`` anyway: then, with no ``checkpoint`` and no pretrained agent for ``starts``,
    the pretrained agent of the other protocol is loaded, and ``agent.trained_on`` says which
    protocol it learned, for the evaluation to label its numbers."""
    from rl2_course.settings import pretrained_maze_checkpoint

    if name == "random":
        return UniformRandomPolicy(3)
    if name not in ("rl2", "rl2-forgetful"):
        raise UsageError(f"unknown agent {name!r}; known maze agents: {', '.join(MAZE_AGENTS)}")
    walls = maze_size(size).walls if walls is None else walls
    starts = maze_size(size).starts if starts is None else starts
    others = [p for p in START_PROTOCOLS if p != starts]

    def advice(learned: str) -> str:
        return (f"was trained with {learned} starts, not {starts}: evaluate it with --starts "
                f"{learned}, or add --other-starts to play it on {starts} starts anyway")

    if checkpoint is None and not pretrained_maze_checkpoint(size, starts).exists():
        # e.g. the default "same" while only the agents trained on "random" are shipped
        shipped = next((p for p in others if pretrained_maze_checkpoint(size, p).exists()), None)
        if shipped is not None and not other_starts:
            raise UsageError(f"no pretrained rl2 agent for maze {size} with {starts} starts yet; "
                             f"the shipped {pretrained_maze_checkpoint(size, shipped).name} "
                             + advice(shipped))
        if shipped is not None:
            checkpoint = pretrained_maze_checkpoint(size, shipped)
    train = f"train maze --size {size}" + ("" if starts == maze_size(size).starts
                                           else f" --set starts={starts}")
    # every protocol passes the loader's check (walls and size must match), so that a protocol
    # mismatch gets the message below, which says what to do; so does every number of training
    # episodes (an agent trained on longer trials plays the first two of them like any other)
    agent = load_rl2_agent(checkpoint, pretrained_maze_checkpoint(size, starts),
                           [task_spec(size, episodes, walls, p) for p in (starts, *others)
                            for episodes in range(MAZE_EPISODES, MAX_MAZE_EPISODES + 1)],
                           f"maze {size} with {starts} starts", train, name=name, dice="rl2",
                           forget_between_episodes=name == "rl2-forgetful")
    learned = trained_starts(agent.trained_on)
    if learned != starts and not other_starts:
        raise UsageError(f"{agent.source} " + advice(learned))
    return agent


def agents_trained_starts(policies: Sequence[Policy]) -> dict[str, str]:
    """The start protocol each RL² maze agent among ``policies`` was trained on, by name."""
    return {p.name: trained_starts(p.trained_on) for p in policies
            if (getattr(p, "trained_on", None) or {}).get("env") == "maze"}


def agents_trained_sizes(policies: Sequence[Policy]) -> dict[str, str]:
    """The maze size each RL² agent among ``policies`` was trained on, by name, for those made
    to play another size without training there (`export --size`)."""
    return {p.name: p.trained_size for p in policies if getattr(p, "trained_size", None)}


# --------------------------------------------------------------------------------------------
# Table 3's metrics
# --------------------------------------------------------------------------------------------

def episode_outcomes(record: TrialRecord, episodes: int = MAZE_EPISODES
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Length (decisions) and success of each episode of each trial: two (B, episodes) arrays.

    Episode k ends at the k-th ``episode_done`` step of its trial (steps after the trial's last
    episode are padding while other trials of the batch go on). It succeeded when that last
    step's reward is positive: the target's +1 is the only positive reward of the maze.
    """
    batch = record.episode_done.shape[0]
    lengths = np.zeros((batch, episodes), dtype=np.int64)
    success = np.zeros((batch, episodes), dtype=bool)
    for b in range(batch):
        ends = np.nonzero(record.episode_done[b])[0][:episodes]
        if len(ends) < episodes:
            raise ValueError(f"trial {b} has {len(ends)} finished episodes, not {episodes}")
        lengths[b] = np.diff(np.concatenate([[-1], ends]))
        success[b] = record.rewards[b, ends] > 0
    return lengths, success


@dataclass
class MazeMetrics:
    """Table 3 for one agent: per-episode lengths (T, n) and successes (T, n) of T trials."""

    lengths: np.ndarray
    success: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[TrialRecord], episodes: int = MAZE_EPISODES) -> MazeMetrics:
        parts = [episode_outcomes(r, episodes) for r in records]
        return cls(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    @property
    def mean_length(self) -> list[float]:
        """Mean length of the *successful* episodes, per episode (nan where none succeeded)."""
        return [float(self.lengths[ok, k].mean()) if ok.any() else float("nan")
                for k, ok in enumerate(self.success.T)]

    @property
    def length_stderr(self) -> list[float]:
        return [float(self.lengths[ok, k].std(ddof=1) / np.sqrt(ok.sum())) if ok.sum() > 1
                else float("nan") for k, ok in enumerate(self.success.T)]

    @property
    def success_rate(self) -> list[float]:
        return [float(v) for v in self.success.mean(axis=0)]

    @property
    def improved(self) -> float:
        """Share of trials whose second episode is shorter than the first."""
        return float((self.lengths[:, 1] < self.lengths[:, 0]).mean())

    def to_json(self) -> dict:
        return {"length": self.mean_length, "length_stderr": self.length_stderr,
                "success": self.success_rate, "improved": self.improved}


@dataclass
class MazeEvaluation:
    """Results of one maze evaluation; ``to_json`` gives the CLI's ``--json`` object."""

    size: str
    trials: int
    seed: int
    results: dict[str, MazeMetrics]
    walls: str = "uniform"
    starts: str = "same"
    episodes: int = MAZE_EPISODES
    #: RL² agent -> the start protocol it was trained on (`agents_trained_starts`)
    trained_starts: dict[str, str] = field(default_factory=dict)
    #: RL² agent -> the maze size it was trained on, where not ``size`` (`agents_trained_sizes`)
    trained_sizes: dict[str, str] = field(default_factory=dict)
    #: RL² agent -> what its training used besides RL²'s return (`evaluate.training_aids`)
    aids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"env": "maze", "size": self.size, "walls": self.walls, "starts": self.starts,
                "episodes": self.episodes, "trials": self.trials, "seed": self.seed,
                "trained_starts": dict(self.trained_starts),
                "trained_sizes": dict(self.trained_sizes),
                "results": {name: m.to_json() for name, m in self.results.items()}}

    def notes(self) -> list[str]:
        """What a reader of the table must know that its columns do not say: agents playing a
        maze size or a start protocol they were not trained on, episodes beyond the two they
        were trained on, training aids besides RL²'s return."""
        notes = aid_notes(self.aids)
        for trained in sorted(set(self.trained_sizes.values())):
            names = sorted(n for n, s in self.trained_sizes.items() if s == trained)
            notes.append(f"note: {', '.join(names)} {'was' if len(names) == 1 else 'were'} "
                         f"trained on {trained} mazes only and play{'s' if len(names) == 1 else ''} "
                         f"{self.size} here unchanged (export --size)")
        other = sorted(n for n, p in self.trained_starts.items() if p != self.starts)
        if other:
            learned = ", ".join(sorted({self.trained_starts[n] for n in other}))
            notes.append(f"note: {', '.join(other)} learned {learned} starts and play "
                         f"{self.starts} starts here")
        if self.episodes > MAZE_EPISODES:
            later = (f"episode {self.episodes} goes" if self.episodes == MAZE_EPISODES + 1
                     else f"episodes {MAZE_EPISODES + 1}-{self.episodes} go")
            notes.append(f"note: {later} beyond the {MAZE_EPISODES} per trial the RL² agents "
                         f"were trained on; improved compares episodes 1 and 2")
        return notes

    def table(self) -> str:
        """Plain-text Table 3: one row per agent, a length and a success column per episode."""
        width = max(len(n) for n in self.results) + 2
        episodes = range(1, self.episodes + 1)
        lines = ["".join([f"{'agent':<{width}}", *(f"{'length ep ' + str(k):>17}" for k in episodes),
                          *(f"{'success ' + str(k):>11}" for k in episodes), f"{'improved':>10}"])]
        for name, m in self.results.items():
            lengths = [f"{v:.1f} ± {e:.1f}" for v, e in zip(m.mean_length, m.length_stderr)]
            lines.append("".join([f"{name:<{width}}", *(f"{v:>17}" for v in lengths),
                                  *(f"{v:>11.1%}" for v in m.success_rate), f"{m.improved:>10.1%}"]))
        return "\n".join(lines + self.notes())


def evaluate_maze(size: str, agents: Sequence[str | Policy], trials: int, seed: int, *,
                  checkpoint: str | Path | None = None, progress: bool | None = None,
                  chunk_trials: int = CHUNK_TRIALS, walls: str | None = None,
                  starts: str | None = None, episodes_per_trial: int = MAZE_EPISODES,
                  other_starts: bool = False) -> MazeEvaluation:
    """Run every agent on the same ``trials`` random mazes of ``size``; Table 3's metrics.

    ``walls`` is the wall scheme and ``starts`` the start protocol (None: the size's own,
    `envs.maze.MAZE_SIZES`); the mazes, targets and first starts of a seed are the same under
    every scheme and protocol. An RL² agent trained on another protocol is refused unless
    ``other_starts`` (`make_maze_agent`); ``trained_starts`` of the result says which protocol
    each RL² agent learned. ``episodes_per_trial`` > 2 plays trials longer than the agents
    were trained on: does their advantage last?
    ``agents`` holds CLI names or ready `Policy` objects. One batch of ``chunk_trials`` Doom
    processes is started (and one more for a smaller last chunk) and reused for every chunk
    and agent; all are closed before this returns or raises.
    """
    setting = check_maze_setting(size, trials, walls, starts, episodes_per_trial)
    check_seed(seed)
    check_maze_evaluation_fits(size, trials, agents, episodes_per_trial=episodes_per_trial,
                               chunk_trials=chunk_trials)
    walls = setting.walls if walls is None else walls
    starts = setting.starts if starts is None else starts
    policies = resolve_agents(
        agents, lambda name: make_maze_agent(name, size, checkpoint=checkpoint, walls=walls,
                                             starts=starts, other_starts=other_starts),
        checkpoint)
    envs: dict[int, TrialEnv] = {}

    def make_env(batch: int) -> TrialEnv:
        if batch not in envs:
            envs[batch] = make_maze_trials(size, batch, walls=walls, starts=starts,
                                           episodes=episodes_per_trial)
        return envs[batch]

    # One torch thread, as in training: the same numbers on every machine, and the cores are
    # left to the Doom processes (a second torch thread made evaluation many times slower).
    try:
        with fixed_torch_threads(1):
            evaluation = evaluate_policies("maze", {"size": size}, make_env, policies, trials,
                                           seed, keep_records=True, progress=progress,
                                           work=trials * 5_000 * episodes_per_trial,
                                           chunk_trials=chunk_trials)
    finally:
        for env in envs.values():
            env.close()
    return MazeEvaluation(size, trials, seed,
                          {name: MazeMetrics.from_records(r.records, episodes_per_trial)
                           for name, r in evaluation.results.items()}, walls, starts,
                          episodes_per_trial, agents_trained_starts(policies),
                          agents_trained_sizes(policies), evaluation.aids)


__all__ = ["CHUNK_TRIALS", "MAZE_AGENTS", "MazeEvaluation", "MazeMetrics", "agents_trained_starts",
           "check_maze_evaluation_fits",
           "check_maze_setting",
           "episode_outcomes", "evaluate_maze", "make_maze_agent"]

"""Per-setting training defaults: ONE table read by the trainer, the evaluator, reproduce and
the loader (`rl2_course.families` says which function serves which task family).

Every bandit setting of the paper's Table 1 (k ∈ {5, 10, 50} arms × n ∈ {10, 100, 500} pulls)
has a row: the RL² training hyperparameters the course found to work on a laptop CPU, and the
path of its pretrained checkpoint, ``assets/checkpoints/bandit-k{K}-n{N}.pt``. A setting outside
the table gets defaults derived from k and n by `bandit_setting` (same rules the table follows).

The assets directory is ``<repo>/assets``, or ``$RL2_COURSE_ASSETS`` when that is set.

Why the numbers look the way they do (measured with one torch thread on a shared 2-core CPU):

* Short trials (n = 10) are cheap, so an update can see many trials; full-trial backprop.
* Long trials (n = 500) cost ~n sequential GRU steps per trial both in the rollout and in
  backprop, so an update uses fewer trials and *truncated BPTT*: the trial is cut into
  segments of ``bptt_length`` steps that start from the hidden state the rollout recorded.
  The segments of all trials then run side by side as one wide batch, which is what makes
  n = 500 affordable on a CPU (a GRU on CPU is fast per wide step and slow per long sequence):
  at k = 50, n = 500 an update takes 1.2 s with 50-step segments against 2.2 s with whole
  trials. GAE still runs over the *whole* trial: truncation changes the gradient (and starts
  each segment from a hidden state computed by the slightly older rollout policy), never the
  targets.
* γ < 1 and ``reward_scale`` keep value targets O(1) for long trials (the value head then
  learns r-scaled, discounted returns-to-go; the policy gradient is unaffected after the
  advantages are normalised).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import rl2_course
from rl2_course.envs.maze import (AUX_TASKS as MAZE_AUX_TASKS, MAZE_EPISODES, MAZE_SIZES as MAZE_SETTINGS,
                                  WALL_SCHEMES, MazeSize as MazeSetting, maze_size as maze_setting)
from rl2_course.envs.mdp import MDP_ACTIONS, MDP_HORIZON, MDP_STATES

#: environment variable that moves the assets directory (pretrained checkpoints, figures)
ASSETS_ENV_VAR = "RL2_COURSE_ASSETS"


def assets_dir() -> Path:
    """``$RL2_COURSE_ASSETS`` if set, else ``<repo>/assets`` next to the package."""
    override = os.environ.get(ASSETS_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path(rl2_course.__file__).resolve().parents[1] / "assets"


@dataclass(frozen=True)
class TrainingSetting:
    """RL² training defaults for one setting of a task family: a bandit's (k arms, n pulls), an
    MDP's n episodes (5 actions), a maze size (3 actions, 2 episodes)."""

    actions: int               # actions per step (a bandit's k arms)
    episodes: int              # n, episodes per trial
    hidden_size: int           # GRU units
    trials_per_update: int     # B: trials rolled out per PPO update
    learning_rate: float       # Adam step size (annealed linearly to lr_final_fraction × lr)
    gamma: float               # discount γ inside a trial (1 = the paper's objective, total return)
    gae_lambda: float          # GAE λ
    entropy_coef: float        # entropy bonus at the start, decayed linearly ...
    entropy_coef_final: float  # ... to this value by the end of the schedule
    ppo_epochs: int            # passes over each batch of trials
    minibatches: int           # minibatches per epoch (split over trials / trial segments)
    updates: int               # default update budget (also the length of the schedules)
    bptt_length: int | None    # None = backprop through the whole trial
    reward_scale: float        # rewards × this before GAE and the value loss
    # the memory and the optimiser steps (`rl2_course.train.TrainConfig` says what each does);
    # the defaults are the course's first recipe
    cell: str = "gru"
    update_gate_bias: float = 0.0
    value_network: str = "shared"
    minibatch_size: int | None = None
    target_kl: float | None = None
    entropy_hold: float = 0.0
    lr_final_fraction: float = 0.1

    @property
    def checkpoint(self) -> Path:
        """Where the pretrained *bandit* checkpoint of this setting lives (it may not exist yet)."""
        return pretrained_checkpoint(self.actions, self.episodes)


def pretrained_checkpoint(arms: int, episodes: int) -> Path:
    return assets_dir() / "checkpoints" / f"bandit-k{int(arms)}-n{int(episodes)}.pt"


# Shared by every setting (PPO's usual values; the entropy bonus decays to zero so the final
# policy is sharp, which matters because RL² is evaluated *sampling* from its policy).
ENTROPY_COEF, ENTROPY_COEF_FINAL = 0.01, 0.0
PPO_EPOCHS, MINIBATCHES = 4, 4

#: The table. k, n | GRU units, trials per update, Adam lr, γ, GAE λ, update budget,
#: truncated-BPTT length (None = whole trial), reward scale.
#: s/update measured on one core of a shared 2-core machine: n=10 ≈ 0.15 s, n=100 ≈ 1.2–1.4 s,
#: n=500 ≈ 1.2–1.4 s (k=5..50), peak memory ≈ 0.45 GB.
_TABLE = [
    # k    n   hidden trials  lr     γ     λ    updates bptt  r_scale
    (5,   10,   64,  1000,  3e-3,  1.00, 0.3,  800,  None, 1.0),
    (10,  10,   64,  1000,  3e-3,  1.00, 0.3,  800,  None, 1.0),
    (50,  10,   64,  1000,  3e-3,  1.00, 0.3,  800,  None, 1.0),
    (5,  100,  128,   320,  3e-3,  0.99, 0.9,  500,  None, 0.1),
    (10, 100,  128,   320,  3e-3,  0.99, 0.9,  500,  None, 0.1),
    (50, 100,  128,   320,  3e-3,  0.99, 0.9,  500,  None, 0.1),
    (5,  500,  128,    64,  3e-3,  0.99, 0.9,  500,    50, 0.1),
    (10, 500,  128,    64,  3e-3,  0.99, 0.9,  500,    50, 0.1),
    (50, 500,  128,    64,  3e-3,  0.99, 0.9,  500,    50, 0.1),
]


def _row(k: int, n: int, hidden: int, trials: int, lr: float, gamma: float, lam: float,
         updates: int, bptt: int | None, reward_scale: float) -> TrainingSetting:
    return TrainingSetting(k, n, hidden, trials, lr, gamma, lam, ENTROPY_COEF, ENTROPY_COEF_FINAL,
                         PPO_EPOCHS, MINIBATCHES, updates, bptt, reward_scale)


#: (arms, episodes) -> defaults for the paper's nine bandit settings
BANDIT_SETTINGS: dict[tuple[int, int], TrainingSetting] = {
    (row[0], row[1]): _row(*row) for row in _TABLE}


def _derived(arms: int, episodes: int) -> TrainingSetting:
    """Defaults for a setting outside the table, by the rules the table follows."""
    n = int(episodes)
    gamma = 1.0 if n <= 10 else 0.99
    horizon = n if gamma == 1.0 else min(n, 1.0 / (1.0 - gamma))   # effective horizon
    return _row(
        int(arms), n,
        hidden=64 if n <= 10 else 128,
        # about 10k–32k steps per update: many short trials or a few long ones
        trials=int(min(1000, max(64, 32_000 // n))),
        lr=3e-3, gamma=gamma, lam=0.3 if n <= 10 else 0.9,
        updates=800 if n <= 10 else 500,
        # whole-trial backprop up to 100 steps, 50-step segments beyond
        bptt=None if n <= 100 else 50,
        # value targets O(1): ~10 rewards per effective horizon
        reward_scale=1.0 if horizon <= 10 else round(10.0 / horizon, 4),
    )


def bandit_setting(arms: int, episodes: int) -> TrainingSetting:
    """Defaults for k = ``arms``, n = ``episodes``: the table's row, or derived from k and n."""
    key = (int(arms), int(episodes))
    return BANDIT_SETTINGS.get(key) or _derived(*key)


# -- tabular MDPs (Table 2): the paper's 10 states, 5 actions, episodes of 10 steps (envs.mdp) --


def pretrained_mdp_checkpoint(episodes: int) -> Path:
    return assets_dir() / "checkpoints" / f"mdp-n{int(episodes)}.pt"


#: the MDP recipe of issue 26 (benchmarks/rl2_recipe_study.py compares it with the first one):
#: minibatches of 32 trials (or BPTT segments) with an approx-KL stop, 2.5 times the Adam
#: steps per sample of 4 × 4 minibatches at 320 trials; update gates that start holding (σ(2)
#: = 88 % a step); the entropy bonus held for 80 % of the schedule
MDP_RECIPE = dict(minibatch_size=32, target_kl=0.02, update_gate_bias=2.0, entropy_hold=0.8)


def mdp_setting(episodes: int) -> TrainingSetting:
    """RL² training defaults for the paper's random MDPs with n = ``episodes`` episodes per trial.

    The same fields as a bandit row, with the MDP's 5 actions. A trial is 10·n steps,
    so the rules are those of a bandit trial of that length: about 32k steps per update, γ = 0.99
    (rewards arrive every step, and a policy that plans ~100 steps ahead covers ten episodes),
    whole-trial backprop up to 100 steps and 50-step truncated BPTT beyond, and rewards scaled
    by 0.1 (a step pays about 1 on average, up to 3 or more) so value targets stay O(1); and
    `MDP_RECIPE`'s memory and optimiser settings.
    """
    steps = int(episodes) * MDP_HORIZON
    row = _row(MDP_ACTIONS, int(episodes), hidden=128,
               trials=int(min(1000, max(64, 32_000 // steps))), lr=3e-3, gamma=0.99, lam=0.9,
               updates=500, bptt=None if steps <= 100 else 50, reward_scale=0.1)
    return dataclasses.replace(row, **MDP_RECIPE)


# -- the visual maze (Table 3): sizes, time limits and wall schemes are the env's (envs.maze) --

def maze_training_setting(size: str) -> TrainingSetting:
    """RL² training defaults for the maze of ``size`` (the same fields as a bandit row, with the
    maze's 3 actions and ``episodes`` = 2).

    A trial is up to 2 × the time limit decisions, and each decision costs a Doom render, so an
    update uses few trials (16, one Doom process each), 50-step truncated BPTT, γ = 0.99
    and λ = 0.95 (the +1 at the target lies tens of steps ahead), and a GRU of 256 units.
    A first guess, not yet tuned on a finished run.
    """
    maze_setting(size)
    return _row(3, MAZE_EPISODES, hidden=256, trials=16, lr=1e-3, gamma=0.99, lam=0.95,
                updates=2000, bptt=50, reward_scale=1.0)


def pretrained_maze_checkpoint(size: str, starts: str = "random") -> Path:
    """The pretrained maze agent of ``size`` trained under start protocol ``starts``: the
    shipped ``maze-SIZE.pt`` learned "random" starts; one trained on the paper's "same" starts
    goes beside it as ``maze-SIZE-same.pt``."""
    suffix = "" if starts == "random" else f"-{starts}"
    return assets_dir() / "checkpoints" / f"maze-{size}{suffix}.pt"


__all__ = ["ASSETS_ENV_VAR", "BANDIT_SETTINGS", "TrainingSetting", "MDP_ACTIONS", "MDP_HORIZON",
           "MDP_STATES", "assets_dir", "bandit_setting", "mdp_setting", "pretrained_checkpoint",
           "pretrained_mdp_checkpoint"]
__all__ += ["MAZE_AUX_TASKS", "MAZE_EPISODES", "MAZE_SETTINGS", "WALL_SCHEMES", "MazeSetting", "maze_setting", "maze_training_setting",
            "pretrained_maze_checkpoint"]

"""Evaluate agents on random tabular MDPs (the RL² paper's Table 2), on the same sampled tasks.

    python -m rl2_course evaluate mdp --episodes N --agents random,psrl,... --trials T --seed S

The tasks are the paper's: 10 states, 5 actions, episodes of 10 steps from state 0, n episodes
per trial (`rl2_course.envs.mdp`). As for bandits, trial chunk c uses environment seed (S, c)
for every agent (common random numbers: the same MDPs, reward noise and transition luck) and
each agent's own randomness comes from (S, c, name); see `rl2_course.evaluate`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rl2_course.envs import make_mdp_trials
from rl2_course.errors import UsageError
from rl2_course.evaluate import (RL2_AGENTS, Evaluation, evaluate_policies, load_rl2_agent,
                                 resolve_agents)
from rl2_course.limits import check_memory, check_seed, check_trial_steps, mdp_evaluation_bytes
from rl2_course.policy import Policy
from rl2_course.settings import MDP_ACTIONS, MDP_HORIZON, MDP_STATES

#: the paper's task family (Section 3.2)
STATES, ACTIONS, HORIZON = MDP_STATES, MDP_ACTIONS, MDP_HORIZON
#: trials stepped in one batch: the baselines keep (B, S, A, S) counts and a (T, B, S, A) plan,
#: and UCRL2 several (B, S, A, S) temporaries, so a smaller chunk than the bandits' bounds memory
CHUNK_TRIALS = 5_000


def check_mdp_setting(episodes: int, trials: int | None = None) -> None:
    """Refuse impossible settings with a message that names the problem."""
    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {episodes}")
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")


def check_mdp_evaluation_fits(episodes: int, trials: int, agents: Sequence[str | Policy], *,
                              horizon: int = HORIZON, keep_records: bool = False) -> None:
    """Refuse, before anything is allocated, an evaluation of ``agents`` (names or policies)
    on ``trials`` random MDPs of n = ``episodes`` episodes of ``horizon`` steps whose memory
    estimate (`limits.mdp_evaluation_bytes`) exceeds what the machine has, or whose trials are
    longer than a rollout plays."""
    names = [a if isinstance(a, str) else a.name for a in agents]
    request = (f"evaluating {', '.join(names)} on {trials:,} MDP trials of n={episodes:,} "
               f"episodes of {horizon:,} steps")
    check_memory(mdp_evaluation_bytes(episodes, trials, names, chunk_trials=CHUNK_TRIALS,
                                      states=STATES, actions=ACTIONS, horizon=horizon,
                                      keep_records=keep_records), request)
    check_trial_steps(episodes * horizon, request)


def make_mdp_agent(name: str, episodes: int, *, checkpoint: str | Path | None = None) -> Policy:
    """Resolve a CLI agent name to an MDP policy for n = ``episodes``.

    ``rl2`` loads ``checkpoint`` (a file or a training run's directory), else the pretrained
    agent for n from ``assets/checkpoints/mdp-n{N}.pt``; a checkpoint trained for another
    task family is refused. ``rl2-forgetful`` is the same network with its memory wiped at
    the start of every episode: what it loses is what the memory of earlier episodes earns.
    """
    from rl2_course.baselines import MDP_AGENTS, make_mdp_baseline

    if name in RL2_AGENTS:
        return _load_rl2(episodes, checkpoint, **RL2_AGENTS[name])
    if name in MDP_AGENTS:
        return make_mdp_baseline(name, episodes, states=STATES, actions=ACTIONS, horizon=HORIZON)
    raise UsageError(f"unknown agent {name!r}; known MDP agents: {', '.join([*MDP_AGENTS, *RL2_AGENTS])}")


def _load_rl2(episodes: int, checkpoint: str | Path | None, **options: Any) -> Policy:
    from rl2_course.envs.mdp import task_spec
    from rl2_course.settings import pretrained_mdp_checkpoint

    return load_rl2_agent(checkpoint, pretrained_mdp_checkpoint(episodes),
                          task_spec(episodes, STATES, ACTIONS, HORIZON),
                          f"mdp n={episodes}", f"train mdp --episodes {episodes}", **options)


def evaluate_mdp(episodes: int, agents: Sequence[str | Policy], trials: int, seed: int, *,
                 checkpoint: str | Path | None = None, keep_records: bool = False,
                 progress: bool | None = None) -> Evaluation:
    """Run every agent on the same ``trials`` random MDPs, n = ``episodes`` episodes per trial.

    ``agents`` holds CLI names or ready `Policy` objects. The JSON form (``to_json``) is
    ``{"env": "mdp", "episodes": n, "trials": T, "seed": S, "results": {agent: {"mean", "stderr"}}}``.
    """
    check_mdp_setting(episodes, trials)
    check_seed(seed)
    check_mdp_evaluation_fits(episodes, trials, agents, keep_records=keep_records)
    policies = resolve_agents(
        agents, lambda name: make_mdp_agent(name, episodes, checkpoint=checkpoint), checkpoint)
    return evaluate_policies("mdp", {"episodes": episodes},
                             lambda size: make_mdp_trials(episodes, size, STATES, ACTIONS, HORIZON),
                             policies, trials, seed, keep_records=keep_records, progress=progress,
                             work=trials * episodes * HORIZON, chunk_trials=CHUNK_TRIALS)

"""Evaluate several agents on the *same* sampled tasks and report mean ± standard error.

Common random numbers: trial chunk c of an evaluation with seed S uses environment seed
(S, c) for every agent, so all agents meet the same bandits and the same reward luck; each
agent's own randomness comes from (S, c, name), so adding or removing an agent from the list
never changes another agent's numbers.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from rl2_course.envs import TrialEnv, make_bandit_trials
from rl2_course.errors import UsageError
from rl2_course.limits import bandit_evaluation_bytes, check_memory, check_seed, check_trial_steps
from rl2_course.policy import Policy
from rl2_course.rollout import TrialRecord, run_trials

#: most trials stepped in one batch; bounds memory (B × k × n floats per recorded array)
CHUNK_TRIALS = 20_000


@dataclass
class AgentResult:
    """One agent's returns over all evaluated trials."""

    returns: np.ndarray                      # (T,) total reward of each trial
    records: list[TrialRecord] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(self.returns.mean())

    @property
    def stderr(self) -> float:
        n = len(self.returns)
        return float(self.returns.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")


@dataclass
class Evaluation:
    """Results of one evaluation; ``to_json`` gives the CLI's ``--json`` object."""

    env: str
    setting: dict[str, int]
    trials: int
    seed: int
    results: dict[str, AgentResult]
    arm_means: np.ndarray | None = None      # (T, k) for bandits, when records were kept
    #: RL² agent -> what its training used besides RL²'s return (`training_aids`), where any
    aids: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"env": self.env, **self.setting, "trials": self.trials, "seed": self.seed,
                "results": {name: {"mean": r.mean, "stderr": r.stderr}
                            for name, r in self.results.items()}}

    def table(self) -> str:
        """Plain-text table of mean total reward ± stderr, best first."""
        width = max(len(n) for n in self.results) + 2
        lines = [f"{'agent':<{width}}{'mean':>10}   {'stderr':>7}"]
        for name, r in sorted(self.results.items(), key=lambda kv: -kv[1].mean):
            lines.append(f"{name:<{width}}{r.mean:>10.3f} ± {r.stderr:>7.3f}")
        return "\n".join(lines + aid_notes(self.aids))


def training_aids(policies: Sequence[Policy]) -> dict[str, tuple[str, ...]]:
    """Agent name -> the aids its checkpoint says it was trained with besides RL²'s return
    (`signals.privileged_aids`: a teacher, a privileged auxiliary task, shaping); agents
    trained with none, and baselines, are left out."""
    from rl2_course.signals import privileged_aids

    aids = {}
    for policy in policies:
        config = getattr(policy, "training_config", None)
        used = privileged_aids(config) if config else ()
        if used:
            aids[policy.name] = used
    return aids


def aid_notes(aids: dict[str, tuple[str, ...]]) -> list[str]:
    """The table's note for each agent trained with aids: its numbers are not plain RL²'s."""
    return [f"note: {name} was trained with {', '.join(used)}: not plain RL²"
            for name, used in sorted(aids.items())]


def check_bandit_setting(arms: int, episodes: int, trials: int | None = None) -> None:
    """Refuse impossible settings with a message that names the problem."""
    if arms < 2:
        raise UsageError(f"--arms must be at least 2 (a bandit with {arms} arm(s) has nothing to learn)")
    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {episodes}")
    if trials is not None and trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")


def check_bandit_evaluation_fits(arms: int, episodes: int, trials: int,
                                 agents: Sequence[str | Policy], *, keep_records: bool = False,
                                 chunk_trials: int = CHUNK_TRIALS) -> None:
    """Refuse, before anything is allocated, an evaluation of ``agents`` (names or policies)
    on ``trials`` bandits of k = ``arms``, n = ``episodes`` whose memory estimate
    (`limits.bandit_evaluation_bytes`) exceeds what the machine has, or whose trials are
    longer than a rollout plays."""
    names = [a if isinstance(a, str) else a.name for a in agents]
    request = (f"evaluating {', '.join(names)} on {trials:,} bandit trials with k={arms:,} arms, "
               f"n={episodes:,} pulls")
    check_memory(bandit_evaluation_bytes(arms, episodes, trials, names, chunk_trials=chunk_trials,
                                         keep_records=keep_records), request)
    check_trial_steps(episodes, request)


def make_bandit_agent(name: str, arms: int, episodes: int, *,
                      checkpoint: Path | None = None) -> Policy:
    """Resolve a CLI agent name to a policy for k = ``arms``, n = ``episodes``.

    ``"rl2"`` loads ``checkpoint`` (a file, or a training ``--out`` directory), or without one
    the pretrained checkpoint of this setting from ``assets/checkpoints`` (see `settings.py`);
    ``"rl2-forgetful"`` is the same network with its memory wiped at every episode start
    (`RL2_ABLATIONS`): in a bandit every pull is an episode, so it remembers nothing.
    """
    from rl2_course.baselines import BANDIT_AGENTS, make_bandit_baseline

    if name in RL2_AGENTS:
        return _load_rl2(arms, episodes, checkpoint, **RL2_AGENTS[name])
    if name in BANDIT_AGENTS:
        try:
            return make_bandit_baseline(name, arms, episodes)
        except ValueError as err:   # e.g. bayes-optimal refusing a setting too large to solve
            raise UsageError(str(err)) from None
    known = ", ".join([*BANDIT_AGENTS, *RL2_AGENTS])
    raise UsageError(f"unknown agent {name!r}; known bandit agents: {known}")


#: the RL² agent and its memory-wipe ablation: name -> `RL2Agent` options. "rl2-forgetful"
#: rolls rl2's dice, so the two play their first episode move for move alike and differ only
#: where the memory of earlier episodes would count (`RL2Agent.forget_between_episodes`).
#: "rl2-attention" is RL² with the causal-attention memory (`agents.attention`); its pretrained
#: file is the GRU's name with "-attention" (`with_memory`, applied in `load_rl2_agent`).
RL2_AGENTS: dict[str, dict[str, Any]] = {
    "rl2": {},
    "rl2-forgetful": {"name": "rl2-forgetful", "dice": "rl2", "forget_between_episodes": True},
    "rl2-attention": {"name": "rl2-attention", "memory": "attention"},
    "rl2-attention-forgetful": {"name": "rl2-attention-forgetful", "dice": "rl2-attention",
                                "forget_between_episodes": True, "memory": "attention"},
}


def with_memory(path: Path, memory: str) -> Path:
    """The pretrained file of a memory: ``assets/checkpoints/mdp-n10.pt`` itself for the GRU,
    ``mdp-n10-attention.pt`` for ``memory="attention"``."""
    return path if memory == "gru" else path.with_name(f"{path.stem}-{memory}{path.suffix}")


def _load_rl2(arms: int, episodes: int, checkpoint: Path | None, **options: Any) -> Policy:
    """The RL² agent of a checkpoint, refusing one trained on another (k, n)."""
    from rl2_course.envs.bandit import task_spec
    from rl2_course.settings import pretrained_checkpoint

    return load_rl2_agent(checkpoint, pretrained_checkpoint(arms, episodes),
                          task_spec(arms, episodes),
                          f"bandit k={arms}, n={episodes}",
                          f"train bandit --arms {arms} --episodes {episodes}", **options)


def load_rl2_agent(checkpoint: str | Path | None, pretrained: Path, env_spec: dict | list[dict],
                   setting: str, train_command: str, *, memory: str = "gru",
                   **agent_options: Any) -> Policy:
    """An `RL2Agent` from ``checkpoint`` (a file or a training run's --out directory), else from
    the ``pretrained`` file of the GRU agent, or of ``memory``'s agent (`with_memory`); one-line
    errors for a missing file or one trained on another ``env_spec`` (or on none of a list
    of them). ``setting`` and
    ``train_command`` word the message when nothing is pretrained; ``agent_options`` go to
    `RL2Agent` (e.g. ``name``, ``forget_between_episodes``)."""
    from rl2_course.agents import RL2Agent

    pretrained = with_memory(pretrained, memory)
    if memory != "gru":
        train_command += f" --set cell={memory}"
    if checkpoint is None:
        checkpoint = pretrained
        if not checkpoint.exists():
            raise UsageError(
                f"no pretrained rl2 checkpoint for {setting} (train one with: python -m "
                f"rl2_course {train_command} --out DIR, then pass --checkpoint DIR/checkpoint.pt)")
    checkpoint = Path(checkpoint)
    if checkpoint.is_dir():            # a training run's --out directory
        checkpoint = checkpoint / "checkpoint.pt"
    return RL2Agent.from_checkpoint(checkpoint, expected_env_spec=env_spec, **agent_options)


def agent_seed(seed: int, chunk: int, name: str) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, chunk, zlib.crc32(name.encode())])


def chunk_sizes(trials: int, chunk_trials: int | None = None) -> list[int]:
    """How `evaluate_policies` splits ``trials`` into chunks of ``chunk_trials`` (default
    `CHUNK_TRIALS`), in order: trial i of an evaluation is row i mod size of its chunk."""
    size_max = CHUNK_TRIALS if chunk_trials is None else int(chunk_trials)
    return [min(size_max, trials - start) for start in range(0, trials, size_max)]


def chunk_env_seed(seed: int, chunk: int) -> int:
    """The environment seed of chunk ``chunk`` of an evaluation with ``seed``, the same for
    every policy (common random numbers): resetting a `TrialEnv` with it gives that chunk's
    tasks."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def resolve_agents(agents: Sequence[str | Policy], make_agent: Callable[[str], Policy],
                   checkpoint: str | Path | None = None) -> list[Policy]:
    """The policies an evaluation runs: CLI names through ``make_agent``, ready policies as
    they are; refuses an empty list and a ``checkpoint`` that no ``rl2`` agent would read."""
    if not agents:
        raise UsageError("no agents to evaluate")
    if checkpoint is not None and not any(isinstance(a, str) and a.startswith("rl2") for a in agents):
        raise UsageError("--checkpoint is for the rl2 agent, but rl2 is not among the agents")
    memories = {RL2_AGENTS[a].get("memory", "gru") for a in agents
                if isinstance(a, str) and a in RL2_AGENTS}
    if checkpoint is not None and len(memories) > 1:
        raise UsageError("--checkpoint names one network, but the agents ask for two memories "
                         "(rl2 and rl2-attention): evaluate them with their pretrained files, "
                         "or one of them with --checkpoint")
    return [make_agent(a) if isinstance(a, str) else a for a in agents]


def evaluate_bandit(arms: int, episodes: int, agents: Sequence[str | Policy], trials: int, seed: int,
                    *, keep_records: bool = False, progress: bool | None = None,
                    make_agent: Callable[[str, int, int], Policy] = make_bandit_agent,
                    checkpoint: Path | None = None) -> Evaluation:
    """Run every agent on the same ``trials`` bandits (k = ``arms``, n = ``episodes``).

    ``agents`` holds CLI names or ready `Policy` objects. With ``keep_records`` the per-step
    actions and rewards and the arm means are kept (for regret curves). ``checkpoint`` is the
    RL² checkpoint that the name ``"rl2"`` loads (default: the pretrained one).
    """
    check_bandit_setting(arms, episodes, trials)
    check_seed(seed)
    check_bandit_evaluation_fits(arms, episodes, trials, agents, keep_records=keep_records)
    if checkpoint is not None:
        make_agent = functools.partial(make_agent, checkpoint=checkpoint)
    policies = resolve_agents(agents, lambda name: make_agent(name, arms, episodes), checkpoint)
    return evaluate_policies("bandit", {"arms": arms, "episodes": episodes},
                             lambda size: make_bandit_trials(arms, episodes, size), policies,
                             trials, seed, keep_records=keep_records, progress=progress,
                             work=trials * episodes,
                             task_arrays=lambda env: env.task_env.arm_means.copy())


def evaluate_policies(env_name: str, setting: dict[str, int], make_env: Callable[[int], TrialEnv],
                      policies: Sequence[Policy], trials: int, seed: int, *,
                      keep_records: bool = False, progress: bool | None = None,
                      work: int | None = None, chunk_trials: int | None = None,
                      task_arrays: Callable[[TrialEnv], np.ndarray] | None = None) -> Evaluation:
    """The loop shared by every task family: ``policies`` on the same ``trials`` tasks.

    ``make_env(size)`` builds a `TrialEnv` of ``size`` tasks; chunk c of the evaluation uses
    environment seed (seed, c) for every policy (common random numbers); a policy's own dice are
    seeded by (seed, c, its name), or by the name in its ``dice`` attribute. ``work`` (env steps)
    decides whether tqdm shows a bar by default; ``task_arrays(env)`` is kept per chunk with
    ``keep_records`` (the bandits' arm means, for regret curves).
    """
    check_seed(seed)      # numpy would refuse it mid-way, in its own words
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise UsageError(f"each agent may appear once, got {', '.join(names)}")

    chunks = chunk_sizes(trials, chunk_trials)
    returns = {n: [] for n in names}
    records = {n: [] for n in names}
    arrays = []
    with tqdm(total=len(chunks) * len(policies), desc="evaluating", unit="agent-chunk",
              disable=_quiet(progress, trials if work is None else work), leave=False) as bar:
        for c, size in enumerate(chunks):
            env = make_env(size)
            env_seed = chunk_env_seed(seed, c)
            for policy in policies:
                bar.set_postfix_str(policy.name)
                # an ablation may roll its original's dice (attribute `dice`), so that the two
                # differ only where the ablation acts
                dice = getattr(policy, "dice", policy.name)
                record = run_trials(env, policy, seed=env_seed, policy_seed=agent_seed(seed, c, dice))
                returns[policy.name].append(record.total_reward)
                if keep_records:
                    records[policy.name].append(record)
                bar.update(1)
            if keep_records and task_arrays is not None:
                arrays.append(task_arrays(env))
    results = {n: AgentResult(np.concatenate(returns[n]), records[n]) for n in names}
    return Evaluation(env_name, setting, trials, seed, results,
                      np.concatenate(arrays) if arrays else None, training_aids(policies))


def _quiet(progress: bool | None, work: int) -> bool | None:
    """tqdm's ``disable``: off when asked, or for small jobs; ``None`` lets tqdm hide it off a tty."""
    if progress is None:
        return True if work < 200_000 else None
    return not progress


def expected_regret(evaluation: Evaluation, name: str) -> np.ndarray:
    """Mean cumulative regret after each pull, shape (n,): Σ_t (max_a p_a − p_{a_t}).

    Uses the arm means, not the sampled rewards, so the curve is free of reward noise.
    """
    result = evaluation.results[name]
    if evaluation.arm_means is None or not result.records:
        raise UsageError("expected_regret needs evaluate_bandit(..., keep_records=True)")
    actions = np.concatenate([r.actions for r in result.records])
    means = evaluation.arm_means
    pulled = np.take_along_axis(means, actions, axis=1)
    return np.cumsum(means.max(axis=1, keepdims=True) - pulled, axis=1).mean(axis=0)

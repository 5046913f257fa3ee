"""Record bandit trials with what each agent knew at every decision: counts, GRU state, π.

Every analysis of chapter 05 starts from the same data: an agent plays many bandit trials
(through the evaluator, so with the same tasks and luck as ``evaluate bandit --seed S``), and at
every decision t we line up

* what a Bayesian would know: the counts (S_a, F_a) of each arm *before* pull t, hence the
  posterior Beta(1 + S_a, 1 + F_a) with mean (1 + S_a) / (2 + N_a);
* for an RL² agent, what the network holds: the GRU state h_t from which π(·|x_{≤t}) is read,
  and the logits of π. They are recomputed by replaying the trial's input sequence (the same
  `trial_input_sequence` the trainer uses) through the network, one `step` at a time, which
  gives exactly the states of the rollout and lets *another* network (a randomly initialised
  control) read the very same inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.agents.rl2_agent import RL2Agent
from rl2_course.envs import UNIFORM_PRIOR, ArmPrior, make_bandit_trials
from rl2_course.envs.trial import trial_input_sequence
from rl2_course.evaluate import CHUNK_TRIALS, check_bandit_setting, evaluate_policies
from rl2_course.limits import bandit_evaluation_bytes, check_memory
from rl2_course.policy import Policy

#: per decision, arm and agent of a recording: the counts (S, F) before each pull, their sum,
#: the posterior means and the analyses' (B, n, k) temporaries (Q-values, probe targets)
_BYTES_PER_DECISION_ARM = 6 * 8
#: per decision, GRU unit and agent: the replayed states and the probes' float64 copies
_BYTES_PER_DECISION_UNIT = 4 * 4


@dataclass
class BanditTrace:
    """B recorded trials of one agent on k-armed bandits, n pulls each, aligned per decision.

    Arrays are trial-major: ``actions`` (B, n); ``successes``/``failures`` (B, n, k) are the
    counts *before* pull t; ``hidden`` (B, n, H) and ``logits`` (B, n, k) are filled for RL²
    agents only (None otherwise).
    """

    name: str
    arms: int
    episodes: int
    actions: np.ndarray
    rewards: np.ndarray
    arm_means: np.ndarray
    successes: np.ndarray
    failures: np.ndarray
    hidden: np.ndarray | None = None
    logits: np.ndarray | None = None

    @property
    def trials(self) -> int:
        return self.actions.shape[0]

    @property
    def pulls(self) -> np.ndarray:
        """N_a before pull t, (B, n, k)."""
        return self.successes + self.failures

    @property
    def posterior_mean(self) -> np.ndarray:
        """(1 + S_a) / (2 + N_a) before pull t, (B, n, k): the Beta(1, 1) posterior's mean."""
        return (1.0 + self.successes) / (2.0 + self.pulls)

    @property
    def step(self) -> np.ndarray:
        """t, the number of pulls already made, (B, n)."""
        return np.broadcast_to(np.arange(self.episodes), self.actions.shape)

    def inputs(self) -> np.ndarray:
        """The RL² inputs x_0 … x_{n-1} of every trial, time-major (n, B, k + 3), float32."""
        ones = np.ones((self.episodes, self.trials, 1))       # a bandit's observation is [1.0]
        return trial_input_sequence(ones, self.actions.T, self.rewards.T,
                                    np.ones((self.episodes, self.trials)), self.arms)


def counts_before_each_pull(actions: np.ndarray, rewards: np.ndarray,
                            arms: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, F) before each pull, each (B, n, k), from actions and 0/1 rewards of shape (B, n)."""
    pulled = np.eye(int(arms), dtype=np.int64)[np.asarray(actions)]           # (B, n, k)
    won = pulled * np.asarray(rewards).astype(np.int64)[..., None]
    successes = np.cumsum(won, axis=1) - won                                  # leave out step t
    failures = np.cumsum(pulled, axis=1) - pulled - successes
    return successes, failures


def replay(model: RecurrentActorCritic, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` over time-major inputs ``x`` (T, B, D) from h_0 = 0, one `step` at a time,
    as the rollout did. Returns the GRU states h_t and the policy logits, (T, B, H) and (T, B, A).
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    hidden, logits = [], []
    with torch.no_grad():
        h = model.initial_hidden(x.shape[1])
        for t in range(x.shape[0]):
            step_logits, _, h = model.step(x[t].to(model.device), h)
            hidden.append(h.cpu())
            logits.append(step_logits.cpu())
    if not hidden:
        return np.zeros((0, x.shape[1], model.state_size)), np.zeros((0, x.shape[1], model.num_actions))
    return torch.stack(hidden).numpy(), torch.stack(logits).numpy()


def random_network_like(model: RecurrentActorCritic, seed: int) -> RecurrentActorCritic:
    """A freshly initialised network of the same architecture: the probes' control.

    Whatever a linear probe reads out of *its* states comes from the inputs and the mere fact
    of recurrence, not from training. Seeded without touching torch's global random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return RecurrentActorCritic.from_spec(model.spec()).eval()


def check_recording_fits(policies: Sequence[Policy], arms: int, episodes: int, trials: int) -> None:
    """Refuse, before anything is allocated, a recording (`record_bandit_trials`) that would
    not fit in memory: every step of every trial is kept, with k counts per decision and, for
    an RL² agent, its GRU state (and the same again for the probes' random network)."""
    names = [p.name for p in policies]
    hidden = max((p.model.state_size for p in policies if isinstance(p, RL2Agent)), default=0)
    per_decision = int(arms) * _BYTES_PER_DECISION_ARM + 2 * int(hidden) * _BYTES_PER_DECISION_UNIT
    needed = (bandit_evaluation_bytes(arms, episodes, trials, names, chunk_trials=CHUNK_TRIALS,
                                      keep_records=True)
              + int(trials) * int(episodes) * len(names) * per_decision)
    check_memory(needed, f"recording {', '.join(names)} on {trials:,} bandit trials with "
                         f"k={arms:,} arms, n={episodes:,} pulls")


def record_bandit_trials(policies: Sequence[Policy], arms: int, episodes: int, trials: int,
                         seed: int, *, prior: ArmPrior = UNIFORM_PRIOR) -> dict[str, BanditTrace]:
    """Play ``trials`` bandit trials with every policy (the same tasks and luck for all, as in
    `evaluate_bandit` with this seed) and return one `BanditTrace` per policy name.

    An `RL2Agent`'s trials are replayed through its network to fill ``hidden`` and ``logits``.
    """
    check_bandit_setting(arms, episodes, trials)
    check_recording_fits(policies, arms, episodes, trials)
    evaluation = evaluate_policies(
        "bandit", {"arms": arms, "episodes": episodes},
        lambda size: make_bandit_trials(arms, episodes, size, prior), policies, trials, seed,
        keep_records=True, progress=False, work=trials * episodes,
        task_arrays=lambda env: env.task_env.arm_means.copy())
    traces = {}
    for policy in policies:
        result = evaluation.results[policy.name]
        actions = np.concatenate([r.actions for r in result.records])
        rewards = np.concatenate([r.rewards for r in result.records])
        successes, failures = counts_before_each_pull(actions, rewards, arms)
        trace = BanditTrace(policy.name, arms, episodes, actions, rewards, evaluation.arm_means,
                            successes, failures)
        if isinstance(policy, RL2Agent):
            hidden, logits = replay(policy.model, trace.inputs())
            trace.hidden, trace.logits = hidden.transpose(1, 0, 2), logits.transpose(1, 0, 2)
        traces[policy.name] = trace
    return traces

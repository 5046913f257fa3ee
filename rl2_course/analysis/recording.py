"""Record trials with what each agent knew at every decision: counts, memory state, π.

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

Tabular MDPs (chapter 06) are recorded the same way by `record_mdp_trials`, which keeps the
inputs x_t themselves (they hold the state s_t, and an attention memory is read from them) and
the Bayesian statistics of every (state, action) pair before each step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.agents.rl2_agent import RL2Agent
from rl2_course.baselines.mdps import PRIOR_REWARD_MEAN, PRIOR_REWARD_VAR, REWARD_NOISE_VAR
from rl2_course.envs import UNIFORM_PRIOR, ArmPrior, make_bandit_trials, make_mdp_trials
from rl2_course.envs.trial import trial_input_sequence
from rl2_course.evaluate import CHUNK_TRIALS, agent_seed, check_bandit_setting, evaluate_policies
from rl2_course.limits import bandit_evaluation_bytes, check_memory
from rl2_course.policy import Policy
from rl2_course.rollout import TrialStepper
from rl2_course.settings import MDP_ACTIONS, MDP_HORIZON, MDP_STATES

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
    An attention memory's state is its key/value cache, so for it the features its heads read
    (T, B, H) come back instead, from one pass over the whole sequence.
    """
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if model.cell == "attention" and x.shape[0]:
        with torch.no_grad():
            features, _ = model.hidden_sequence(x.to(model.device), model.initial_hidden(x.shape[1]))
            logits, _ = model.heads(features)
        return model.policy_memory(features).cpu().numpy(), logits.cpu().numpy()
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


@dataclass
class MDPTrace:
    """B recorded trials of one agent on random tabular MDPs, aligned per step t = 0 … T−1.

    ``inputs`` (T, B, D) are the RL² inputs x_t the agent read, time-major as the network reads
    them (a replay through any network needs nothing else); ``states``, ``actions``,
    ``rewards`` and ``episode_done`` are (B, T): s_t and what the agent did there;
    ``reward_means`` (B, S, A) is each task's true μ. ``hidden`` (B, T, H) and ``logits``
    (B, T, A) are filled for RL² agents only: the GRU states h_t, or for an attention memory
    the features its heads read (`replay`).
    """

    name: str
    episodes: int
    horizon: int
    inputs: np.ndarray
    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_done: np.ndarray
    reward_means: np.ndarray
    hidden: np.ndarray | None = None
    logits: np.ndarray | None = None

    @property
    def trials(self) -> int:
        return self.actions.shape[0]

    @property
    def steps(self) -> int:
        """T = episodes · horizon, the steps of one trial."""
        return self.actions.shape[1]

    def visits_before(self) -> np.ndarray:
        """n(s, a) *before* step t, (B, T, S, A): how often each pair was tried earlier in the
        trial. Every step counts, the last of an episode too (its reward is seen)."""
        return self._cumulative(np.ones(self.actions.shape))

    def reward_estimates(self) -> np.ndarray:
        """The posterior mean of μ(s, a) before step t, (B, T, S, A): with the environment's
        prior N(1, 1) and unit reward noise, (1 + Σ r) / (1 + n), as `MDPBelief.reward_mean`.
        These are the 50 numbers a learner of this task family must keep and look up."""
        precision = 1.0 / PRIOR_REWARD_VAR + self.visits_before() / REWARD_NOISE_VAR
        sums = self._cumulative(self.rewards)
        return (PRIOR_REWARD_MEAN / PRIOR_REWARD_VAR + sums / REWARD_NOISE_VAR) / precision

    def current_state(self, per_pair: np.ndarray) -> np.ndarray:
        """(B, T, S, A) -> (B, T, A): each step's row for the state s_t it is in (the lookup)."""
        b, t = np.indices(self.states.shape)
        return per_pair[b, t, self.states]

    def _cumulative(self, values: np.ndarray) -> np.ndarray:
        """Σ over steps j < t of ``values`` (B, T) at the pair (s_j, a_j): (B, T, S, A)."""
        S, A = self.reward_means.shape[1:]
        pair = self.states * A + self.actions                                    # (B, T)
        added = np.zeros((*pair.shape, S * A))
        np.put_along_axis(added, pair[..., None], np.asarray(values, dtype=float)[..., None], axis=2)
        before = np.cumsum(added, axis=1) - added                                # leave out step t
        return before.reshape(*pair.shape, S, A)


def record_mdp_trials(policies: Sequence[Policy], episodes: int, trials: int, seed: int, *,
                      states: int = MDP_STATES, actions: int = MDP_ACTIONS,
                      horizon: int = MDP_HORIZON) -> dict[str, MDPTrace]:
    """Play ``trials`` MDP trials with every policy and return one `MDPTrace` per policy name.

    The tasks, the environment's luck and each policy's dice are those of `evaluate_mdp` with
    this seed (chunk c of `CHUNK_TRIALS` trials uses environment seed (seed, c), a policy the
    dice of (seed, c, its ``dice`` or name)), so a trace's returns are that evaluation's. An
    `RL2Agent`'s trials are replayed through its network to fill ``hidden`` and ``logits``.
    """
    from rl2_course.evaluate_mdp import CHUNK_TRIALS, check_mdp_setting

    check_mdp_setting(episodes, trials)
    chunks = [min(CHUNK_TRIALS, trials - start) for start in range(0, trials, CHUNK_TRIALS)]
    parts: dict[str, list[tuple[np.ndarray, ...]]] = {p.name: [] for p in policies}
    if len(parts) != len(policies):
        raise ValueError(f"each agent may appear once, got {', '.join(p.name for p in policies)}")
    for c, size in enumerate(chunks):
        env = make_mdp_trials(episodes, size, states, actions, horizon)
        env_seed = int(np.random.SeedSequence([seed, c]).generate_state(1)[0])   # as evaluate_policies
        for policy in policies:
            stepper = TrialStepper(env, policy, seed=env_seed,
                                   policy_seed=agent_seed(seed, c, getattr(policy, "dice", policy.name)))
            inputs = []
            while not stepper.done:
                inputs.append(stepper.x.copy())
                stepper.step()
            record = stepper.record()
            parts[policy.name].append((np.stack(inputs).astype(np.float32), record.actions,
                                       record.rewards, record.episode_done,
                                       env.task_env.reward_means.copy()))
    traces = {}
    for policy in policies:
        inputs, acts, rewards, done, means = (np.concatenate(p, axis=1 if i == 0 else 0)
                                              for i, p in enumerate(zip(*parts[policy.name])))
        trace = MDPTrace(policy.name, episodes, horizon, inputs,
                         inputs[..., :states].argmax(-1).T.astype(np.int64), acts, rewards,
                         done.astype(bool), means)
        if isinstance(policy, RL2Agent):
            hidden, logits = replay(policy.model, inputs)
            trace.hidden, trace.logits = hidden.transpose(1, 0, 2), logits.transpose(1, 0, 2)
        traces[policy.name] = trace
    return traces

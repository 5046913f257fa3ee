"""Batched random tabular MDPs, the second experiment of the RL² paper (Section 3.2).

A task is one MDP with S = 10 states and A = 5 actions, drawn from the paper's prior:

* transitions: P(·|s, a) ~ Dirichlet(1, …, 1) (flat) for every (s, a), independently;
* reward means: μ(s, a) ~ N(1, 1) for every (s, a), independently;
* observed reward of a step: r ~ N(μ(s, a), 1).

An episode lasts exactly T = 10 steps and **always starts in state 0** (the paper: "an episode
always starts on the first state"; the authors' code does the same). After the T-th step the
episode ends with ``terminated=True`` (a fixed horizon, not a time-limit truncation) and the
trial wrapper starts the next episode in the *same* MDP, back in state 0. A trial is n
episodes of one MDP; Table 2 reports the total reward of a trial.

The observation is the one-hot code of the current state (float32, ``Box(0, 1, (S,))``).

Common random numbers: every step draws one uniform number and one standard normal per task,
neither of which depends on the actions. The next state is found by inverse CDF,
``s' = min{j : F(j | s, a) > u}``, and the reward is ``μ(s, a) + z``. Two agents run with the
same seed therefore meet the same MDPs, the same reward noise, and — whenever they stand in the
same (s, a) at the same step — the same next state, which makes their difference far less noisy
than two independent runs would.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np

from rl2_course.envs.base import TaskVectorEnv

#: the paper's MDPs (Section 3.2): 10 states, 5 actions, episodes of 10 steps
MDP_STATES, MDP_ACTIONS, MDP_HORIZON = 10, 5, 10


class RandomTabularMDPs(TaskVectorEnv):
    """B random tabular MDPs (``states`` states, ``actions`` actions, episodes of ``horizon`` steps).

    ``reset(options={"transitions": P, "reward_means": mu})`` sets the tasks instead of sampling
    them: ``P`` of shape ``(S, A, S)`` or ``(B, S, A, S)`` (each ``P[..., s, a, :]`` a
    distribution), ``mu`` of shape ``(S, A)`` or ``(B, S, A)``. Either key may be given alone; the
    other part is then drawn from the prior.

    Arrays of the current tasks: ``transitions`` (B, S, A, S), ``reward_means`` (B, S, A); of the
    current episodes: ``state`` (B,) and ``t`` (B,), the number of steps taken in the episode.
    """

    metadata = {"render_modes": [], "autoreset_mode": None}
    reward_bounds = (-np.inf, np.inf)   # Gaussian rewards are unbounded

    def __init__(self, num_tasks: int, states: int = 10, actions: int = 5, horizon: int = 10) -> None:
        if int(states) < 1:
            raise ValueError(f"an MDP needs at least 1 state, got {states}")
        if int(actions) < 2:
            raise ValueError(f"an MDP needs at least 2 actions, got {actions}")
        if int(horizon) < 1:
            raise ValueError(f"the horizon must be at least 1 step, got {horizon}")
        super().__init__(num_tasks, gymnasium.spaces.Box(0.0, 1.0, shape=(int(states),), dtype=np.float32),
                         num_actions=int(actions))
        self.states, self.actions, self.horizon = int(states), int(actions), int(horizon)
        B, S, A = self.num_envs, self.states, self.actions
        self.transitions = np.full((B, S, A, S), 1.0 / S)
        self.reward_means = np.ones((B, S, A))
        self.state = np.zeros(B, dtype=np.int64)
        self.t = np.zeros(B, dtype=np.int64)
        self._eye = np.eye(S, dtype=np.float32)
        self._rows = np.arange(B)
        self._set_cdf()

    # -- tasks ---------------------------------------------------------------------------------

    def sample_tasks(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        B, S, A = self.num_envs, self.states, self.actions
        # A misspelt key would otherwise be ignored silently and the task drawn from the prior.
        unknown = set(options) - {"transitions", "reward_means"}
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(map(repr, sorted(unknown)))}; "
                             "RandomTabularMDPs takes 'transitions' and 'reward_means'")
        # Always draw both parts in the same order, so fixing one part leaves the other's draws
        # (and every later step's luck) unchanged.
        # A flat Dirichlet is a vector of i.i.d. Exp(1) draws divided by their sum.
        expo = rng.standard_exponential((B, S, A, S))
        means = 1.0 + rng.standard_normal((B, S, A))
        if "transitions" in options:
            p = np.asarray(options["transitions"], dtype=float)
            if p.shape not in ((S, A, S), (B, S, A, S)):
                raise ValueError(f"transitions must have shape {(S, A, S)} or {(B, S, A, S)}, got {p.shape}")
            if np.any(p < 0) or not np.allclose(p.sum(-1), 1.0, atol=1e-6):
                raise ValueError("every transitions[..., s, a, :] must be a probability distribution "
                                 "(non-negative, summing to 1)")
            self.transitions = np.broadcast_to(p, (B, S, A, S)).copy()
        else:
            self.transitions = expo / expo.sum(-1, keepdims=True)
        if "reward_means" in options:
            mu = np.asarray(options["reward_means"], dtype=float)
            if mu.shape not in ((S, A), (B, S, A)):
                raise ValueError(f"reward_means must have shape {(S, A)} or {(B, S, A)}, got {mu.shape}")
            if not np.all(np.isfinite(mu)):
                raise ValueError("reward_means must be finite")
            self.reward_means = np.broadcast_to(mu, (B, S, A)).copy()
        else:
            self.reward_means = means
        self._set_cdf()

    def _set_cdf(self) -> None:
        # (B*S*A, S) cumulative distributions, rows indexed by (b, s, a); the last column is set
        # to +inf so rounding can never send u past the last state.
        cdf = np.cumsum(self.transitions, axis=-1).reshape(-1, self.states)
        cdf[:, -1] = np.inf
        self._cdf = cdf

    # -- episodes ------------------------------------------------------------------------------

    def start_episodes(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Put the rows of ``mask`` (all rows if None) back in state 0 at step 0; return all obs."""
        if mask is None:
            self.state[:] = 0
            self.t[:] = 0
        else:
            mask = np.asarray(mask, dtype=bool)
            self.state[mask] = 0
            self.t[mask] = 0
        return np.take(self._eye, self.state, axis=0)

    def step(self, actions: np.ndarray):
        actions = self.check_actions(actions)
        if self.t.max(initial=0) >= self.horizon:
            raise RuntimeError(f"an episode has already run its {self.horizon} steps: "
                               "call start_episodes() (or reset()) first")
        # The luck of this step, drawn before (and independently of) the actions.
        u = self.np_random.random(self.num_envs)
        noise = self.np_random.standard_normal(self.num_envs)
        row = (self._rows * self.states + self.state) * self.actions + actions   # (b, s, a)
        reward = np.take(self.reward_means.reshape(-1), row) + noise
        # inverse CDF: the first next state whose cumulative probability exceeds u
        # (np.take is several times faster than fancy indexing for these row gathers)
        self.state = (np.take(self._cdf, row, axis=0) > u[:, None]).argmax(axis=1)
        self.t += 1
        terminated = self.t >= self.horizon
        return (np.take(self._eye, self.state, axis=0), reward, terminated,
                np.zeros(self.num_envs, dtype=bool), {})

    # -- oracle --------------------------------------------------------------------------------

    def optimal_q(self) -> np.ndarray:
        """Q*_h(s, a) of the true MDPs for the finite horizon, shape (T, B, S, A)."""
        return finite_horizon_q(self.transitions, self.reward_means, self.horizon)

    @property
    def optimal_episode_return(self) -> np.ndarray:
        """Expected return of one episode under the optimal policy from state 0, shape (B,)."""
        return self.optimal_q()[0, :, 0, :].max(axis=-1)


def finite_horizon_q(transitions: np.ndarray, rewards: np.ndarray, horizon: int) -> np.ndarray:
    """Finite-horizon value iteration, batched over tasks.

    ``transitions`` (B, S, A, S), ``rewards`` (B, S, A) expected rewards. Returns Q of shape
    (T, B, S, A) with Q_h(s, a) = r(s, a) + Σ_s' P(s'|s, a) V_{h+1}(s'), V_h = max_a Q_h and
    V_T = 0: ``Q[h]`` is the value of taking ``a`` in ``s`` with ``T - h`` steps left.
    """
    transitions = np.asarray(transitions, dtype=float)
    rewards = np.asarray(rewards, dtype=float)
    B, S, A, _ = transitions.shape
    flat = transitions.reshape(B, S * A, S)
    q = np.empty((int(horizon), B, S, A))
    v = np.zeros((B, S, 1))
    for h in range(int(horizon) - 1, -1, -1):
        q[h] = rewards + np.matmul(flat, v).reshape(B, S, A)
        v = q[h].max(axis=-1)[..., None]
    return q


# -- the task family, as checkpoints record it --------------------------------------------------

def task_spec(episodes: int, states: int = MDP_STATES, actions: int = MDP_ACTIONS,
              horizon: int = MDP_HORIZON) -> dict[str, Any]:
    """The task family a tabular-MDP checkpoint was trained on."""
    return {"env": "mdp", "states": int(states), "actions": int(actions), "horizon": int(horizon),
            "episodes": int(episodes)}


def describe_task(spec: dict[str, Any]) -> str:
    """How messages name an MDP task family: 'mdp n=10 (10 states, 5 actions, 10 steps)'."""
    return (f"mdp n={spec.get('episodes')} ({spec.get('states')} states, {spec.get('actions')} "
            f"actions, {spec.get('horizon')} steps)")


def task_layout(spec: dict[str, Any]) -> tuple[int, int]:
    """(observation size, actions) of an RL² network for this task family: the one-hot state."""
    return int(spec["states"]), int(spec["actions"])

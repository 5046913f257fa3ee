"""Tabular-MDP baselines of the RL² paper's Table 2, as batched policies over trial inputs.

The tasks are the random MDPs of `rl2_course.envs.mdp` (S = 10 states, A = 5 actions, episodes
of T = 10 steps that start in state 0). Every baseline reads the same inputs as the RL² policy,

    x_t = [one-hot s_t | one-hot a_{t-1} | r_{t-1} | d_{t-1}],

and rebuilds the transition (s_{t-1}, a_{t-1}, r_{t-1}, s_t) from two consecutive inputs: the
policy state remembers s_{t-1}. When d_{t-1} = 1 the input's state is the first state of the
*next* episode, not where the last step led, so the last step of every episode adds to the
reward statistics of (s, a) but not to its transition counts (the true next state is never
shown to the policy, nor to RL²).

Statistics per task, all numpy arrays over the B tasks of a batch (`MDPBelief`):

* N(s, a, s') — observed transitions. With the flat prior P(·|s, a) ~ Dirichlet(1, …, 1) (the
  environment's) the posterior is Dirichlet(1 + N(s, a, ·)), with mean
  (1 + N(s, a, s')) / (S + Σ_s'' N(s, a, s'')).
* n(s, a), Σr(s, a) — how often (s, a) was taken, and the sum of its rewards. With the prior
  μ(s, a) ~ N(1, 1) and *known* unit reward noise, r ~ N(μ, 1), the posterior of μ(s, a) is
  Normal with precision 1 + n(s, a) and mean (1 + Σr(s, a)) / (1 + n(s, a)).

Like the paper's baselines, every policy plans once per episode (at its first step) with
finite-horizon value iteration (`rl2_course.envs.mdp.finite_horizon_q`, batched over tasks),
then follows that plan, Q_h(s, ·) at step h of the episode, for the episode's T steps. Ties
are broken uniformly at random with the policy's own seeded generator.

The free parameters (ε, OPSRL's N, UCRL2's confidence scale, BEB's β) come from
`rl2_course.baselines.tuned` (``tuned_mdp.json``), which records the grid-search command.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rl2_course.envs.mdp import finite_horizon_q
from rl2_course.envs.trial import TrialInputLayout
from rl2_course.policy import argmax_random_ties

#: the environment's prior (`RandomTabularMDPs`): P(·|s, a) ~ Dirichlet(α, …, α) ...
DIRICHLET_ALPHA = 1.0
#: ... μ(s, a) ~ N(PRIOR_REWARD_MEAN, PRIOR_REWARD_VAR) and r ~ N(μ(s, a), REWARD_NOISE_VAR)
PRIOR_REWARD_MEAN = 1.0
PRIOR_REWARD_VAR = 1.0
REWARD_NOISE_VAR = 1.0


@dataclass
class MDPBelief:
    """Per-task statistics, rebuilt from the trial inputs as the trial goes on (shapes over B)."""

    transition_counts: np.ndarray   # (B, S, A, S) N(s, a, s'), last steps of episodes excluded
    visits: np.ndarray              # (B, S, A) n(s, a): times (s, a) was taken
    reward_sums: np.ndarray         # (B, S, A) Σ r over those times
    state: np.ndarray               # (B,) s_t, the state the current input shows
    h: np.ndarray                   # (B,) steps already taken in the current episode
    steps: np.ndarray               # (B,) steps already taken in the trial
    q: np.ndarray                   # (T, B, S, A) the current episode's plan
    rng: np.random.Generator

    @property
    def transition_mean(self) -> np.ndarray:
        """Posterior mean of P(s'|s, a) under the Dirichlet(1) prior, (B, S, A, S)."""
        alpha = DIRICHLET_ALPHA + self.transition_counts
        return alpha / alpha.sum(-1, keepdims=True)

    @property
    def reward_precision(self) -> np.ndarray:
        """Posterior precision of μ(s, a): 1/σ₀² + n/σ² (Normal prior, known noise), (B, S, A)."""
        return 1.0 / PRIOR_REWARD_VAR + self.visits / REWARD_NOISE_VAR

    @property
    def reward_mean(self) -> np.ndarray:
        """Posterior mean of μ(s, a): (μ₀/σ₀² + Σr/σ²) / precision, (B, S, A)."""
        return (PRIOR_REWARD_MEAN / PRIOR_REWARD_VAR + self.reward_sums / REWARD_NOISE_VAR) \
            / self.reward_precision


class MDPPolicy:
    """Base class: keeps the statistics up to date, replans at episode starts, follows the plan.

    Subclasses implement `plan` (the episode's Q from the statistics of some tasks) and may
    override `choose` (the action from the plan's Q_h(s, ·)).
    """

    name = "mdp-policy"

    def __init__(self, episodes: int, states: int = 10, actions: int = 5, horizon: int = 10) -> None:
        if int(episodes) < 1:
            raise ValueError(f"a trial needs at least 1 episode, got {episodes}")
        if int(states) < 1 or int(actions) < 2 or int(horizon) < 1:
            raise ValueError(f"need states >= 1, actions >= 2, horizon >= 1; got "
                             f"{states}, {actions}, {horizon}")
        self.episodes = int(episodes)
        self.states, self.actions, self.horizon = int(states), int(actions), int(horizon)
        self.layout = TrialInputLayout(observation_size=self.states, num_actions=self.actions)

    def initial_state(self, num_tasks: int, seed: int | np.random.SeedSequence | None = None) -> MDPBelief:
        B, S, A, T = int(num_tasks), self.states, self.actions, self.horizon
        zeros = np.zeros(B, dtype=np.int64)
        return MDPBelief(np.zeros((B, S, A, S)), np.zeros((B, S, A)), np.zeros((B, S, A)),
                         zeros.copy(), zeros.copy(), zeros.copy(), np.zeros((T, B, S, A)),
                         np.random.default_rng(seed))

    def observe(self, x: np.ndarray, belief: MDPBelief) -> np.ndarray:
        """Add the step carried by ``x`` to the statistics; returns the rows starting an episode.

        The input's previous action, reward and done flag belong to the step taken from
        ``belief.state``; its observation is the state now (or the next episode's first state
        when done is set).
        """
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.layout.size:
            raise ValueError(f"{self.name} was built for {self.states} states and {self.actions} "
                             f"actions (inputs of width {self.layout.size}), got inputs of shape {x.shape}")
        inp = self.layout.split(x)
        now = inp.observation.argmax(axis=1)
        took = inp.prev_action.any(axis=1)           # false only at the first step of a trial
        done = inp.prev_done > 0.5
        if took.any():
            rows = np.nonzero(took)[0]
            S, A = self.states, self.actions
            s, a = belief.state[rows], inp.prev_action[rows].argmax(axis=1)
            sa = (rows * S + s) * A + a                # one (s, a) cell per row: no repeated index
            belief.visits.reshape(-1)[sa] += 1.0
            belief.reward_sums.reshape(-1)[sa] += inp.prev_reward[rows]
            seen = ~done[rows]                         # the last step's next state is not shown
            belief.transition_counts.reshape(-1)[sa[seen] * S + now[rows[seen]]] += 1.0
            belief.steps[rows] += 1
        belief.state = now
        return ~took | done

    def act(self, x: np.ndarray, belief: MDPBelief) -> tuple[np.ndarray, MDPBelief]:
        starting = self.observe(x, belief)
        if starting.any():
            belief.h[starting] = 0
            if starting.all():
                belief.q = self.plan(belief, slice(None))
            else:
                rows = np.nonzero(starting)[0]
                belief.q[:, rows] = self.plan(belief, rows)
        if belief.h.max(initial=0) >= self.horizon:
            raise RuntimeError(f"{self.name} was built for episodes of {self.horizon} steps, "
                               "but an episode went on longer")
        batch = np.arange(belief.state.shape[0])
        actions = self.choose(belief.q[belief.h, batch, belief.state], belief)
        belief.h += 1
        return actions, belief

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        """Q of shape (T, len(rows), S, A) for the episode that ``rows`` are starting."""
        raise NotImplementedError

    def choose(self, q: np.ndarray, belief: MDPBelief) -> np.ndarray:
        """Actions from the plan's values Q_h(s_t, ·) of each task, (B, A)."""
        return argmax_random_ties(q, belief.rng)

    def __repr__(self) -> str:
        params = {k: v for k, v in vars(self).items() if k != "layout"}
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in params.items())})"


class MDPRandomPolicy(MDPPolicy):
    """A uniformly random action every step: the floor (about 1 per step, the prior mean)."""

    name = "random"

    def act(self, x: np.ndarray, belief: MDPBelief) -> tuple[np.ndarray, MDPBelief]:
        # No statistics needed; skipping them keeps the floor cheap to evaluate.
        return belief.rng.integers(0, self.actions, size=belief.state.shape[0]), belief


class MDPGreedyPolicy(MDPPolicy):
    """Optimal for the posterior-mean MDP (mean transitions P̄, mean rewards μ̄); no exploration."""

    name = "greedy"

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        return finite_horizon_q(belief.transition_mean[rows], belief.reward_mean[rows], self.horizon)


class MDPEpsilonGreedyPolicy(MDPGreedyPolicy):
    """Each step: with probability ε a uniformly random action, otherwise the greedy one."""

    name = "epsilon-greedy"

    def __init__(self, episodes: int, states: int = 10, actions: int = 5, horizon: int = 10,
                 epsilon: float = 0.1) -> None:
        super().__init__(episodes, states, actions, horizon)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.epsilon = float(epsilon)

    def choose(self, q: np.ndarray, belief: MDPBelief) -> np.ndarray:
        greedy = argmax_random_ties(q, belief.rng)
        explore = belief.rng.random(greedy.shape[0]) < self.epsilon
        return np.where(explore, belief.rng.integers(0, self.actions, size=greedy.shape[0]), greedy)


def sample_mdps(belief: MDPBelief, rows: slice | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One MDP per task from the posterior: P̃(·|s, a) ~ Dirichlet(1 + N(s, a, ·)) and
    μ̃(s, a) ~ N(posterior mean, 1 / precision). Returns (P̃ (b, S, A, S), μ̃ (b, S, A))."""
    rng = belief.rng
    # A Dirichlet draw is a vector of independent Gamma(α_i, 1) draws divided by their sum.
    gamma = rng.standard_gamma(DIRICHLET_ALPHA + belief.transition_counts[rows])
    transitions = gamma / gamma.sum(-1, keepdims=True)
    precision = belief.reward_precision[rows]
    means = belief.reward_mean[rows] + rng.standard_normal(precision.shape) / np.sqrt(precision)
    return transitions, means


class PSRLPolicy(MDPPolicy):
    """Posterior sampling for RL (Strens 2000; Osband, Russo & Van Roy 2013, "(More) efficient
    reinforcement learning via posterior sampling"): at the start of each episode draw one MDP
    from the posterior — transitions from Dirichlet(1 + N(s, a, ·)) (flat Dirichlet(1) prior),
    reward means from their Normal posterior (prior N(1, 1), known unit noise variance) — and
    follow its optimal finite-horizon policy for the whole episode.
    """

    name = "psrl"

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        return finite_horizon_q(*sample_mdps(belief, rows), self.horizon)


class OPSRLPolicy(PSRLPolicy):
    """Optimistic PSRL. The exact definition used here: at the start of each episode draw
    ``samples`` (N) MDPs M̃_1 … M̃_N independently from the posterior (as PSRL does), solve each
    one by finite-horizon value iteration, and act greedily on

        Q⁺_h(s, a) = max_i Q^{M̃_i}_h(s, a)

    for the whole episode. N = 1 is PSRL; a larger N is more optimistic (Q⁺ grows towards an
    upper quantile of the posterior of Q). Note the max is taken over whole per-sample plans, not
    inside the Bellman backup (Agrawal & Jia 2017 take it per step, which is more optimistic).
    The RL² paper tuned its OPSRL's number of samples per setting; so does `rl2_course.tuning`.
    """

    name = "opsrl"

    def __init__(self, episodes: int, states: int = 10, actions: int = 5, horizon: int = 10,
                 samples: int = 1) -> None:
        super().__init__(episodes, states, actions, horizon)
        if int(samples) < 1:
            raise ValueError(f"samples must be >= 1, got {samples}")
        self.samples = int(samples)

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        # One sample at a time with a running max: memory stays that of a single sample.
        best = super().plan(belief, rows)
        for _ in range(self.samples - 1):
            np.maximum(best, super().plan(belief, rows), out=best)
        return best


class UCRL2Policy(MDPPolicy):
    """UCRL2 (Jaksch, Ortner & Auer 2010, "Near-optimal regret bounds for reinforcement
    learning"), finite-horizon variant replanned at every episode start.

    With t the steps taken so far in the trial (at least 1), N_p(s, a) the observed transitions
    of (s, a) and n(s, a) its reward observations, the plausible MDPs are

        |r̃(s, a) − r̂(s, a)|       ≤ c · sqrt(7 ln(2 S A t / δ) / (2 max(1, n(s, a))))
        ‖p̃(·|s, a) − p̂(·|s, a)‖₁  ≤ c · sqrt(14 S ln(2 A t / δ) / max(1, N_p(s, a)))

    around the empirical means r̂ = Σr / max(1, n) and p̂ = N(s, a, ·) / N_p(s, a) (uniform while
    N_p = 0). c = 1 gives the paper's bounds, which assume rewards in [0, 1]; the rewards here
    are Gaussian, so the scale ``c`` is tuned instead (δ stays fixed). Extended value iteration
    (the paper's Figure 2) picks the most optimistic member, run here for the T steps of an
    episode: V_T = 0 and, for h = T−1 … 0,

        Q_h(s, a) = r̂(s, a) + width_r(s, a) + max_{p̃ in the L1 ball} Σ_s' p̃(s') V_{h+1}(s'),

    where the inner max puts min(1, p̂(s₁) + width_p/2) on the best state s₁ of V_{h+1} and takes
    the excess off the worst states (`optimistic_transitions`). Unlike the paper's doubling
    episodes, the plan is recomputed at each of the trial's episode starts, like the other
    baselines.
    """

    name = "ucrl2"

    def __init__(self, episodes: int, states: int = 10, actions: int = 5, horizon: int = 10,
                 c: float = 1.0, delta: float = 0.05) -> None:
        super().__init__(episodes, states, actions, horizon)
        if c < 0:
            raise ValueError(f"the confidence scale c must be >= 0, got {c}")
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must lie in (0, 1), got {delta}")
        self.c = float(c)
        self.delta = float(delta)

    def confidence_set(self, belief: MDPBelief, rows: slice | np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(r̂ + width_r, width_r, p̂, width_p) for the tasks ``rows``; shapes (b, S, A[, S])."""
        S, A = self.states, self.actions
        counts = belief.transition_counts[rows]
        n_p = counts.sum(-1)
        n_r = belief.visits[rows]
        t = np.maximum(1, belief.steps[rows]).astype(float)[:, None, None]
        p_hat = np.where(n_p[..., None] > 0, counts / np.maximum(1.0, n_p)[..., None], 1.0 / S)
        r_hat = belief.reward_sums[rows] / np.maximum(1.0, n_r)
        width_r = self.c * np.sqrt(7.0 * np.log(2.0 * S * A * t / self.delta) / (2.0 * np.maximum(1.0, n_r)))
        width_p = self.c * np.sqrt(14.0 * S * np.log(2.0 * A * t / self.delta) / np.maximum(1.0, n_p))
        return r_hat + width_r, width_r, p_hat, width_p

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        r_upper, _, p_hat, width_p = self.confidence_set(belief, rows)
        return extended_value_iteration(p_hat, width_p, r_upper, self.horizon)


def optimistic_transitions(p_hat: np.ndarray, width: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The inner problem of extended value iteration (Jaksch et al. 2010, Figure 2):

        argmax_p Σ_s' p(s') V(s')  over distributions p with ‖p − p̂‖₁ ≤ width.

    Sort states by V (best first): p(s₁) = min(1, p̂(s₁) + width/2), p(s_j) = p̂(s_j) otherwise,
    then remove the excess over 1 from the worst states first. Shapes: ``p_hat`` (B, S, A, S),
    ``width`` (B, S, A), ``values`` (B, S). Returns p (B, S, A, S), in the original state order.
    """
    p, _, perm = _optimistic_sorted(p_hat, width, values)
    return (p @ perm.transpose(0, 2, 1)).reshape(p_hat.shape)


def _optimistic_sorted(p_hat: np.ndarray, width: np.ndarray, values: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`optimistic_transitions` in the order of decreasing V: (p (B, S·A, S), V sorted (B, S),
    the permutation matrices perm (B, S, S) with perm[b, s, j] = 1 when s is j-th best).

    The gathers by rank are written as batched products with 0/1 matrices: several times
    faster than take_along_axis / cumsum / put_along_axis over the (B, S·A, S) array.
    """
    B, S = values.shape                                  # S next states; any (s, a) layout before
    order = np.argsort(-values, axis=1, kind="stable")                     # (B, S) best first
    rank = np.argsort(order, axis=1)                                       # position of each state
    positions = np.arange(S)
    perm = (rank[:, :, None] == positions).astype(p_hat.dtype)
    later = (rank[:, :, None] > positions).astype(p_hat.dtype)            # s sits after position j
    flat = p_hat.reshape(B, -1, S)
    p = flat @ perm                                                        # p̂ sorted, best first
    after = flat @ later                  # mass strictly after position j: emptied worst first
    top = np.minimum(1.0, p[..., 0] + width.reshape(B, -1) / 2.0)
    excess = top - p[..., 0]
    # removed = clip(excess - after, 0, p), in place: fresh temporaries of this size cost more
    # (page faults) than the arithmetic, and np.clip with an array bound is slower still
    removed = np.subtract(excess[..., None], after, out=after)
    np.maximum(removed, 0.0, out=removed)
    np.minimum(removed, p, out=removed)
    p -= removed
    # The best state never gives mass away (the others hold all of the excess) and gets the top.
    p[..., 0] = top
    return p, np.take_along_axis(values, order, axis=1), perm


def extended_value_iteration(p_hat: np.ndarray, width_p: np.ndarray, r_upper: np.ndarray,
                             horizon: int) -> np.ndarray:
    """Finite-horizon extended value iteration: Q (T, B, S, A) of the most optimistic MDP in the
    confidence set (rewards at their upper bounds ``r_upper``, transitions within L1 distance
    ``width_p`` of ``p_hat``), chosen afresh at every step h as in Jaksch et al. (2010)."""
    B, S, A, _ = p_hat.shape
    q = np.empty((int(horizon), B, S, A))
    # Blocks of tasks keep the (b, S·A, S) temporaries in cache (several times faster at B = 5000).
    for start in range(0, B, _EVI_BLOCK):
        rows = slice(start, start + _EVI_BLOCK)
        v = np.zeros((min(B, start + _EVI_BLOCK) - start, S))
        for h in range(int(horizon) - 1, -1, -1):
            p, v_sorted, _ = _optimistic_sorted(p_hat[rows], width_p[rows], v)
            q[h, rows] = r_upper[rows] + (p @ v_sorted[:, :, None]).reshape(-1, S, A)
            v = q[h, rows].max(axis=-1)
    return q


#: tasks per block in extended value iteration
_EVI_BLOCK = 256


class BEBPolicy(MDPGreedyPolicy):
    """Bayesian Exploration Bonus (Kolter & Ng 2009, "Near-Bayesian exploration in polynomial
    time"): plan in the posterior-mean MDP with the reward bonus β / (1 + n(s, a)),

        Q_h(s, a) = μ̄(s, a) + β / (1 + n(s, a)) + Σ_s' P̄(s'|s, a) V_{h+1}(s'),

    where n(s, a) counts the times (s, a) was taken in this trial, so an untried pair gets the
    full bonus β. (Kolter & Ng write the bonus as β / (1 + α₀(s, a)) with α₀ the sum of the
    Dirichlet parameters, prior pseudo-counts included, which here would be S + N_p(s, a); this
    implementation uses the visit count. Their rewards are known; here the bonus is added to the
    posterior-mean reward μ̄ of the Normal posterior.)
    """

    name = "beb"

    def __init__(self, episodes: int, states: int = 10, actions: int = 5, horizon: int = 10,
                 beta: float = 1.0) -> None:
        super().__init__(episodes, states, actions, horizon)
        if beta < 0:
            raise ValueError(f"the bonus β must be >= 0, got {beta}")
        self.beta = float(beta)

    def plan(self, belief: MDPBelief, rows: slice | np.ndarray) -> np.ndarray:
        bonus = self.beta / (1.0 + belief.visits[rows])
        return finite_horizon_q(belief.transition_mean[rows], belief.reward_mean[rows] + bonus,
                                self.horizon)

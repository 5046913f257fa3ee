"""The exact Bayes-optimal policy for the finite-horizon Bernoulli bandit with Beta(1, 1) priors.

With independent uniform priors, what the learner knows after t pulls is the posterior of each
arm, Beta(1 + S_a, 1 + F_a), i.e. the counts (S_a, F_a). The arms are exchangeable, so the
*multiset* of the k pairs (kept as a sorted tuple) is a sufficient state, and Bellman's equation
over these states is

    V(x) = 0                                                         when Σ_a (S_a + F_a) = n
    V(x) = max_a  p̂_a·(1 + V(x with S_a + 1)) + (1 - p̂_a)·V(x with F_a + 1),
           p̂_a = (S_a + 1) / (S_a + F_a + 2)                         otherwise          (B)

V(all arms (0, 0)) is the most any learner can earn in expectation on the paper's task
distribution (`bayes_optimal_value`), the ceiling of Table 1. The number of states grows fast
with k and n (`count_posterior_states`): the exact solution is cheap for n = 10 and out of reach
for n = 100 with five arms or more, where the Gittins index (`gittins.py`) stands in for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

from rl2_course.baselines.bandits import BanditBelief, BanditPolicy
from rl2_course.policy import argmax_random_ties

#: most posterior states `solve_bayes_optimal` accepts; at the limit solving takes about 15 s and
#: 1 GB when all arms can be pulled (k >= n, e.g. k=50, n=22), less for few arms (k=2, n=100: 3 s)
MAX_STATES = 4_000_000

#: successor rows generated at once while solving (bounds the temporaries)
_CHUNK_ROWS = 1 << 20

#: Q-values this close to the best count as ties (they are ties up to rounding)
_TIE_TOLERANCE = 1e-9

# Random odd multipliers for the 64-bit state hash; fixed so that runs are reproducible. The
# hash is only an index: every lookup checks that the stored state equals the one asked for.
_HASH_MULTIPLIERS = np.random.default_rng(20160202).integers(
    1, 2**63, size=4096, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


class BayesOptimalTooLarge(ValueError):
    """The exact dynamic programme for this (k, n) has more states than `MAX_STATES`."""


def _window(arms: int, episodes: int) -> int:
    """Arms a state must list: at most n of them have been pulled, the rest are all (0, 0)."""
    return min(int(arms), int(episodes))


def _count(arms: int, episodes: int, dtype) -> int | float:
    """Multisets of ``arms`` (S, F) pairs with Σ(S + F) <= ``episodes`` (see the public version)."""
    k, n = _window(arms, episodes), int(episodes)
    # poly[j, t]: multisets of j pulled arms (S + F >= 1) with total pulls t; the other arms are
    # (0, 0). Each weight class w holds w + 1 pairs; taking r arms from it, with repetition, is
    # C(w + r, r) ways and adds r·w pulls: poly *= Σ_r C(w + r, r) y^r x^{r w}.
    poly = np.zeros((k + 1, n + 1), dtype=dtype)
    poly[0, 0] = 1
    for w in range(1, n + 1):
        old = poly.copy()
        for r in range(1, min(k, n // w) + 1):
            poly[r:, r * w:] += comb(w + r, r) * old[:k + 1 - r, :n + 1 - r * w]
    return poly.sum()


def count_posterior_states(arms: int, episodes: int) -> int:
    """Number of states of (B): multisets of k (S, F) pairs with total pulls Σ(S + F) <= n.

    Counted with a generating function, without enumerating: O(k·n²·log n) operations.
    """
    if int(arms) < 1 or int(episodes) < 0:
        raise ValueError(f"need arms >= 1 and episodes >= 0, got {arms}, {episodes}")
    fast = _count(arms, episodes, np.float64)
    if fast < 2.0**53:  # every partial count is at most the total, so float64 was exact
        return int(fast)
    return int(_count(arms, episodes, object))


@dataclass(frozen=True)
class BayesOptimalSolution:
    """The solved programme (B): every decision state (Σ pulls < n), its value and best arms.

    A state is stored as its ``width`` = min(k, n) largest pair codes, sorted, where the code of
    (S, F) is m(m+1)/2 + S with m = S + F (the arms left out are all (0, 0)).
    """

    arms: int
    episodes: int
    width: int
    keys: np.ndarray       # (N,) uint64 hash of each state, sorted
    rows: np.ndarray       # (N, width) int16/int32 codes of each state, in key order
    values: np.ndarray     # (N,) V(x)
    optimal: np.ndarray    # (N, width) bool: that slot's arm attains V(x); of equal codes
    #                        only the first slot is marked (equal arms are interchangeable)

    @property
    def value(self) -> float:
        """V at the start of a trial: the Bayes-optimal expected total reward."""
        return float(self.values[self.find(np.zeros((1, self.width), dtype=np.int32))[0]])

    def find(self, rows: np.ndarray) -> np.ndarray:
        """Positions of the given sorted code rows (B, width); raises if one is not a state."""
        keys = _hash(rows)
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        if not np.array_equal(self.rows[pos], rows):
            raise ValueError(f"counts that are not a state of the k={self.arms}, "
                             f"n={self.episodes} bandit (more than n - 1 pulls made?)")
        return pos

    def state_values(self, successes: np.ndarray, failures: np.ndarray) -> np.ndarray:
        """V*(S, F) for integer counts of shape (..., k): the Bayes-optimal reward still to come
        (0 once all n pulls are made). Lets an analysis judge *any* agent's decisions."""
        successes, failures = np.asarray(successes, np.int64), np.asarray(failures, np.int64)
        pulls = successes + failures
        window = np.sort(pulls * (pulls + 1) // 2 + successes, axis=-1)[..., self.arms - self.width:]
        return self._window_values(window.reshape(-1, self.width)).reshape(pulls.shape[:-1])

    def _window_values(self, rows: np.ndarray) -> np.ndarray:
        """V* of sorted code rows (N, width); 0 for rows with n pulls made."""
        pulls, _ = _pair_tables(self.episodes)
        values = np.zeros(rows.shape[0])
        live = pulls[rows].sum(axis=-1) < self.episodes
        if live.any():
            values[live] = self.values[self.find(rows[live].astype(np.int32))]
        return values

    def q_values(self, successes: np.ndarray, failures: np.ndarray) -> np.ndarray:
        """Q*(S, F; a) for every arm a, shape (..., k): the expected total reward still to come
        when arm a is pulled now and the Bayes-optimal policy plays on, equation (B)'s terms.

        V* − Q*(a_t), summed over a trial, is how much expected reward an agent's pulls gave up
        against the Bayes-optimal agent (the performance-difference identity). Counts must be a
        decision state (fewer than n pulls). Arms in equal states have equal Q, so only the
        ``width`` slots of the stored state are valued (cheap even for k = 50), in chunks.
        """
        successes, failures = np.asarray(successes, np.int64), np.asarray(failures, np.int64)
        shape, k, w = successes.shape, self.arms, self.width
        if shape[-1] != k or failures.shape != shape:
            raise ValueError(f"expected counts of shape (..., {k}), got {shape} and {failures.shape}")
        pulls = (successes + failures).reshape(-1, k)
        codes = pulls * (pulls + 1) // 2 + successes.reshape(-1, k)
        if np.any(pulls.sum(axis=1) >= self.episodes):
            raise ValueError(f"Q* needs decision states (fewer than n={self.episodes} pulls made)")
        code_pulls, p_hat = _pair_tables(self.episodes)
        out = np.empty(codes.shape)
        step = max(1, _CHUNK_ROWS // (2 * w * w))
        for a in range(0, codes.shape[0], step):
            c = codes[a:a + step]
            window = np.sort(c, axis=1)[:, k - w:]                             # (M, w) states
            row, slot, after = _successors(window, code_pulls)                # the solver's own
            v = self._window_values(after.reshape(-1, w)).reshape(-1, 2)       # failure, success
            p = p_hat[window[row, slot]]
            q_slot = np.full(window.shape, np.nan)      # valued: the first slot of equal codes
            q_slot[row, slot] = p * (1.0 + v[:, 1]) + (1.0 - p) * v[:, 0]     # (B) per pull
            # each arm takes the first slot holding its code (an unpulled arm always finds one
            # when k > n: fewer than n = width pulls leave a (0, 0) slot in the window)
            first = (c[:, :, None] == window[:, None, :]).argmax(axis=-1)      # (M, k)
            out[a:a + step] = np.take_along_axis(q_slot, first, axis=1)
        return out.reshape(shape)


def _hash(rows: np.ndarray) -> np.ndarray:
    """Σ_j code_j · M_j mod 2^64 over the last axis, one column at a time (no 8-byte copy)."""
    key = np.zeros(rows.shape[:-1], dtype=np.uint64)
    for j in range(rows.shape[-1]):
        key += rows[..., j].astype(np.uint64) * _HASH_MULTIPLIERS[j]
    return key


def _pair_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per code: pulls m of the pair, and posterior mean p̂ = (S + 1)/(m + 2)."""
    m = np.repeat(np.arange(n + 1), np.arange(1, n + 2))
    s = np.arange(m.size) - m * (m + 1) // 2
    return m, (s + 1) / (m + 2)


def _successors(rows: np.ndarray, pulls: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted rows after each possible pull: (row, slot, (M, 2, w) rows for failure, success).

    Only the first slot of each run of equal codes is pulled: equal arms are interchangeable.
    (S, F) -> (S, F + 1) adds m + 1 to the code, (S + 1, F) adds m + 2.
    """
    distinct = np.ones(rows.shape, dtype=bool)
    distinct[:, 1:] = rows[:, 1:] != rows[:, :-1]
    row, slot = np.nonzero(distinct)          # row-major: each row's slots are contiguous
    out = np.repeat(rows[row][:, None, :], 2, axis=1)
    pair = np.arange(row.size)
    bump = pulls[out[pair, 0, slot]] + 1
    out[pair, 0, slot] += bump
    out[pair, 1, slot] += bump + 1
    out.sort(axis=-1)
    return row, slot, out


def _unique_states(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows and their hashes, sorted by hash; checks that the hash separates them."""
    keys, first, inverse = np.unique(_hash(rows), return_index=True, return_inverse=True)
    distinct = rows[first]
    for a in range(0, rows.shape[0], _CHUNK_ROWS):   # in chunks: a full copy would double memory
        if not np.array_equal(distinct[inverse[a:a + _CHUNK_ROWS]], rows[a:a + _CHUNK_ROWS]):
            raise RuntimeError("64-bit state hash collision; change _HASH_MULTIPLIERS' seed")
    return distinct, keys


@lru_cache(maxsize=4)
def solve_bayes_optimal(arms: int, episodes: int) -> BayesOptimalSolution:
    """Solve (B) for k = ``arms``, n = ``episodes`` by backward induction (cached per (k, n)).

    States are generated forward, level by level (level t = states after t pulls), then valued
    backward from level n - 1; level n (V = 0) is never stored. Refuses more than `MAX_STATES`.
    """
    k, n = int(arms), int(episodes)
    if k < 1 or n < 1:
        raise ValueError(f"need arms >= 1 and episodes >= 1, got {arms}, {episodes}")
    states = count_posterior_states(k, n)
    if states > MAX_STATES:
        raise BayesOptimalTooLarge(
            f"bayes-optimal for k={k}, n={n} needs {states:,} posterior states, over the limit "
            f"MAX_STATES={MAX_STATES:,}; use 'gittins', which is near-optimal, instead")
    w = _window(k, n)
    pulls, p_hat = _pair_tables(n)
    code_type = np.int16 if pulls.size <= np.iinfo(np.int16).max else np.int32
    step = max(1, _CHUNK_ROWS // (2 * w))

    level_rows = [np.zeros((1, w), dtype=code_type)]
    level_keys = [_hash(level_rows[0])]
    for _ in range(n - 1):
        rows = level_rows[-1]
        parts = [_unique_states(_successors(rows[a:a + step], pulls)[2].reshape(-1, w))[0]
                 for a in range(0, rows.shape[0], step)]
        rows, keys = _unique_states(np.concatenate(parts))
        level_rows.append(rows)
        level_keys.append(keys)

    level_values: list[np.ndarray] = [np.empty(0)] * n
    level_optimal: list[np.ndarray] = [np.empty(0)] * n
    for t in range(n - 1, -1, -1):
        rows = level_rows[t]
        values = np.empty(rows.shape[0])
        optimal = np.zeros(rows.shape, dtype=bool)
        for a in range(0, rows.shape[0], step):
            row, slot, succ = _successors(rows[a:a + step], pulls)
            if t == n - 1:
                v_next = np.zeros((row.size, 2))           # the trial is over: V = 0
            else:
                v_next = level_values[t + 1][np.searchsorted(level_keys[t + 1], _hash(succ))]
            p = p_hat[rows[a + row, slot]]
            q = p * (1.0 + v_next[:, 1]) + (1.0 - p) * v_next[:, 0]           # (B) per pull
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            best = np.maximum.reduceat(q, starts)
            values[a:a + best.size] = best
            optimal[a + row, slot] = q >= best[row] - _TIE_TOLERANCE
        level_values[t] = values
        level_optimal[t] = optimal

    keys = np.concatenate(level_keys)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if np.any(keys[1:] == keys[:-1]):  # states of different levels differ, so equal keys collide
        raise RuntimeError("64-bit state hash collision; change _HASH_MULTIPLIERS' seed")
    return BayesOptimalSolution(k, n, w, keys, np.concatenate(level_rows)[order],
                                np.concatenate(level_values)[order],
                                np.concatenate(level_optimal)[order])


def bayes_optimal_value(arms: int, episodes: int) -> float:
    """Expected total reward of the Bayes-optimal policy over n pulls, from the Beta(1, 1) prior."""
    return solve_bayes_optimal(arms, episodes).value


class BayesOptimalPolicy(BanditPolicy):
    """The exact Bayes-optimal learner: solves (B) over posterior-count states, then looks up.

    Solving visits `count_posterior_states(k, n)` states once (milliseconds for n = 10); a (k, n)
    with more than `MAX_STATES` raises `BayesOptimalTooLarge` at construction. Each step sorts
    every task's pair codes, finds the state by hash and pulls one of its optimal arms, with
    ties (including arms in equal states) broken at random.
    """

    name = "bayes-optimal"

    def __init__(self, arms: int, episodes: int) -> None:
        super().__init__(arms, episodes)
        solve_bayes_optimal(self.arms, self.episodes)   # solve now, so errors surface here

    @property
    def solution(self) -> BayesOptimalSolution:
        return solve_bayes_optimal(self.arms, self.episodes)

    def choose(self, belief: BanditBelief) -> np.ndarray:
        sol = self.solution
        pulls = belief.pulls.astype(np.int64)
        codes = pulls * (pulls + 1) // 2 + belief.successes.astype(np.int64)      # (B, k)
        window = np.sort(codes, axis=1)[:, self.arms - sol.width:].astype(np.int32)
        best = sol.optimal[sol.find(window)]                                     # (B, width)
        best_codes = np.where(best, window, -1)
        is_best = (codes[:, :, None] == best_codes[:, None, :]).any(axis=2)      # (B, k)
        return argmax_random_ties(is_best.astype(np.float64), belief.rng)

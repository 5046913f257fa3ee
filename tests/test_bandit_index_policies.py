"""The Gittins index and the exact Bayes-optimal policy for Bernoulli bandits with U[0, 1] arms."""

from functools import lru_cache

import numpy as np
import pytest

from rl2_course.baselines import (BayesOptimalPolicy, BayesOptimalTooLarge, GittinsIndexPolicy,
                                  make_bandit_baseline)
from rl2_course.baselines.bandits import BanditBelief
from rl2_course.baselines.bayes_optimal import (MAX_STATES, bayes_optimal_value,
                                                count_posterior_states, solve_bayes_optimal)
from rl2_course.baselines.gittins import gittins_index_bisection, gittins_table
from rl2_course.envs import make_bandit_trials
from rl2_course.rollout import run_trials


def belief(successes, pulls, step, seed=0):
    return BanditBelief(np.asarray(pulls, float), np.asarray(successes, float), step,
                        np.random.default_rng(seed))


def states_with_pulls_left(n, h):
    """Every (S, F) an arm can be in with h of n pulls left: S + F <= n - h."""
    pairs = [(s, m - s) for m in range(n - h + 1) for s in range(m + 1)]
    return np.array(pairs).T


# --- Gittins index -------------------------------------------------------------------------------

def test_gittins_table_matches_exact_bisection_everywhere_for_small_n():
    n = 30
    table = gittins_table(n)
    worst = 0.0
    for h in range(1, n + 1):
        s, f = states_with_pulls_left(n, h)
        exact = gittins_index_bisection(s, f, h, tol=1e-9)
        worst = max(worst, np.abs(table.index(s, f, h) - exact).max())
    assert worst < 1e-3


def test_gittins_index_by_hand_for_two_pulls_left():
    # ν_2(0, 0) solves 2λ = ½(1 + max(λ, 2/3)) + ½·max(λ, 1/3); for λ in (1/3, 2/3) that is
    # 2λ = 5/6 + λ/2, so λ = 5/9.
    assert gittins_index_bisection(0, 0, 2)[0] == pytest.approx(5 / 9, abs=1e-9)
    assert gittins_table(10).index(0, 0, 2) == pytest.approx(5 / 9, abs=1e-5)


def test_gittins_index_properties():
    n = 40
    table = gittins_table(n)
    s, f = states_with_pulls_left(n, 1)
    # one pull left: nothing more to learn, the index is the posterior mean
    assert np.allclose(table.index(s, f, 1), (s + 1) / (s + f + 2), atol=1e-6)
    for h in range(1, n):
        s, f = states_with_pulls_left(n, h + 1)    # so that (S + 1, F) and (S, F + 1) exist
        index = table.index(s, f, h)
        assert np.all(table.index(s + 1, f, h) > index)            # increasing in successes
        assert np.all(table.index(s, f + 1, h) < index)            # decreasing in failures
        assert np.all(index >= (s + 1) / (s + f + 2) - 1e-6)        # never below the mean
        assert np.all(table.index(s, f, h + 1) >= index - 1e-6)     # more time, more to gain
    # at the same posterior mean the less-pulled arm has the larger index (exploration bonus)
    assert table.index(0, 0, 20) > table.index(1, 1, 20) > table.index(2, 2, 20)


def test_gittins_table_refuses_states_outside_its_horizon():
    table = gittins_table(10)
    with pytest.raises(ValueError, match="pulls left"):
        table.index(0, 0, 11)
    with pytest.raises(ValueError, match="S \\+ F \\+ h"):
        table.index(5, 3, 3)


def test_gittins_policy_pulls_the_largest_index_and_breaks_ties_at_random():
    policy = GittinsIndexPolicy(3, 10)
    # arms (2, 2), (0, 0), (1, 0) with 5 of 10 pulls left: the fresh arm beats the arm with the
    # same mean and more pulls, and the table ranks it against the arm with mean 2/3
    b = belief([[2, 0, 1]], [[4, 0, 1]], 5)
    index = gittins_table(10).index(b.successes, b.failures, 5)[0]
    assert index[1] > index[0] and len(set(index)) == 3
    assert policy.choose(b)[0] == np.argmax(index)
    fresh = belief(np.zeros((3000, 3)), np.zeros((3000, 3)), 0)
    counts = np.bincount(policy.choose(fresh), minlength=3) / 3000
    assert np.allclose(counts, 1 / 3, atol=0.04)


# --- Bayes-optimal -------------------------------------------------------------------------------

def brute_force_count(k, n):
    """Enumerate the multisets as non-decreasing tuples of pair numbers, pruning on the budget."""
    pairs = [(s, m - s) for m in range(n + 1) for s in range(m + 1)]

    def extend(length, smallest, budget):
        if length == k:
            return 1
        return sum(extend(length + 1, i, budget - sum(pairs[i]))
                   for i in range(smallest, len(pairs)) if sum(pairs[i]) <= budget)
    return extend(0, 0, n)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 7])
def test_state_count_matches_enumeration(k, n):
    assert count_posterior_states(k, n) == brute_force_count(k, n)


def test_state_counts_of_the_papers_settings():
    assert count_posterior_states(5, 10) == brute_force_count(5, 10) == 3519
    # with k >= n only n arms can have been pulled, so more arms add no states
    assert count_posterior_states(50, 10) == count_posterior_states(10, 10)


def brute_force_value(k, n):
    """V of (B) over *ordered* arms, without the exchangeability the solver relies on."""
    @lru_cache(maxsize=None)
    def value(state, left):
        if left == 0:
            return 0.0
        best = 0.0
        for a, (s, f) in enumerate(state):
            p = (s + 1) / (s + f + 2)
            win = state[:a] + ((s + 1, f),) + state[a + 1:]
            loss = state[:a] + ((s, f + 1),) + state[a + 1:]
            best = max(best, p * (1 + value(win, left - 1)) + (1 - p) * value(loss, left - 1))
        return best
    return value(((0, 0),) * k, n)


def test_bayes_optimal_value_by_hand():
    # n = 1: one pull of an arm with mean 1/2.
    assert bayes_optimal_value(2, 1) == pytest.approx(0.5)
    # n = 2: pull arm A (mean 1/2). After a success its mean is 2/3 > 1/2, so pull it again;
    # after a failure it is 1/3 < 1/2, so pull the fresh arm B. V = ½(1 + 2/3) + ½·½ = 13/12.
    assert bayes_optimal_value(2, 2) == pytest.approx(13 / 12)


@pytest.mark.parametrize("k,n", [(2, 6), (3, 5), (4, 4)])
def test_bayes_optimal_value_matches_brute_force(k, n):
    assert bayes_optimal_value(k, n) == pytest.approx(brute_force_value(k, n), abs=1e-12)


def test_bayes_optimal_value_of_five_arms_ten_pulls():
    assert bayes_optimal_value(5, 10) == pytest.approx(6.66, abs=0.005)


def test_too_large_a_setting_is_refused_with_its_state_count():
    states = count_posterior_states(5, 100)
    assert states > MAX_STATES
    with pytest.raises(BayesOptimalTooLarge, match=f"{states:,} posterior states") as err:
        BayesOptimalPolicy(5, 100)
    assert isinstance(err.value, ValueError)
    assert "k=5, n=100" in str(err.value) and "gittins" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(BayesOptimalTooLarge):
        make_bandit_baseline("bayes-optimal", 5, 100)


def test_bayes_optimal_choices():
    policy = BayesOptimalPolicy(3, 6)
    # at the start every arm is optimal (and equal): ties spread uniformly
    fresh = belief(np.zeros((3000, 3)), np.zeros((3000, 3)), 0)
    counts = np.bincount(policy.choose(fresh), minlength=3) / 3000
    assert np.allclose(counts, 1 / 3, atol=0.04)
    # with one pull left the optimal arm is the largest posterior mean: (3, 0) beats (0, 0)
    last = belief([[0, 3, 0], [1, 0, 0]], [[1, 3, 1], [1, 1, 3]], 5)
    assert list(policy.choose(last)) == [1, 0]
    with pytest.raises(ValueError, match="not a state"):
        policy.choose(belief([[0, 0, 0]], [[3, 2, 1]], 6))      # the trial is already over
    assert solve_bayes_optimal(3, 6).value == pytest.approx(bayes_optimal_value(3, 6))


def test_bayes_optimal_beats_gittins_by_a_hair_on_common_random_numbers():
    k, n, trials = 2, 10, 20_000
    env = make_bandit_trials(k, n, trials)
    optimal = run_trials(env, BayesOptimalPolicy(k, n), seed=2024, policy_seed=1).total_reward
    gittins = run_trials(env, GittinsIndexPolicy(k, n), seed=2024, policy_seed=1).total_reward
    diff = optimal - gittins
    diff_se = diff.std(ddof=1) / np.sqrt(trials)
    assert optimal.mean() >= gittins.mean() - 3 * diff_se
    assert abs(gittins.mean() - optimal.mean()) <= 0.01 * optimal.mean()
    se = optimal.std(ddof=1) / np.sqrt(trials)
    assert abs(optimal.mean() - bayes_optimal_value(k, n)) <= 3 * se

import numpy as np
import pytest

from rl2_course.baselines import (BanditBelief, EpsilonGreedyPolicy, GreedyPolicy,
                                  OptimisticThompsonPolicy, RandomPolicy, ThompsonSamplingPolicy,
                                  UCB1Policy, make_bandit_baseline)
from rl2_course.baselines.tuned import DEFAULTS, tuned_parameters
from rl2_course.envs import make_bandit_trials
from rl2_course.policy import argmax_random_ties
from rl2_course.rollout import run_trials


def belief(successes, pulls, step, seed=0):
    return BanditBelief(np.asarray(pulls, float), np.asarray(successes, float), step,
                        np.random.default_rng(seed))


def test_counts_are_rebuilt_from_the_trial_inputs():
    env = make_bandit_trials(arms=3, episodes=20, num_tasks=50)
    policy = ThompsonSamplingPolicy(3, 20)
    x, _ = env.reset(seed=4)
    state = policy.initial_state(50, seed=0)
    pulls, wins = np.zeros((50, 3)), np.zeros((50, 3))
    for _ in range(20):
        action, state = policy.act(x, state)
        x, reward, *_ = env.step(action)
        pulls[np.arange(50), action] += 1
        wins[np.arange(50), action] += reward
    state = policy.observe(x, state)
    assert np.array_equal(state.pulls, pulls) and np.array_equal(state.successes, wins)
    assert state.step == 20


def test_argmax_random_ties_spreads_over_tied_arms_only():
    values = np.tile([0.2, 0.9, 0.9, 0.1], (4000, 1))
    picks = argmax_random_ties(values, np.random.default_rng(0))
    assert set(np.unique(picks)) == {1, 2}
    assert abs((picks == 1).mean() - 0.5) < 0.05


def test_greedy_pulls_the_best_posterior_mean():
    b = belief([[3, 0, 1]], [[4, 1, 1]], 6)  # posterior means 4/6, 1/3, 2/3 -> tie between 0 and 2
    picks = {int(GreedyPolicy(3, 10).choose(belief([[3, 0, 1]], [[4, 1, 1]], 6, seed=s))[0]) for s in range(20)}
    assert picks == {0, 2}
    assert np.allclose(b.posterior_mean, [[4 / 6, 1 / 3, 2 / 3]])


def test_epsilon_zero_is_greedy_and_epsilon_one_is_uniform():
    b = belief(np.tile([5, 1, 2], (3000, 1)), np.tile([6, 6, 6], (3000, 1)), 18)
    assert (EpsilonGreedyPolicy(3, 30, epsilon=0.0).choose(b) == 0).all()
    counts = np.bincount(EpsilonGreedyPolicy(3, 30, epsilon=1.0).choose(b), minlength=3) / 3000
    assert np.allclose(counts, 1 / 3, atol=0.04)
    with pytest.raises(ValueError, match="epsilon"):
        EpsilonGreedyPolicy(3, 30, epsilon=1.5)


def test_ucb1_index_starts_from_one_success_and_one_failure():
    b = belief([[3, 1]], [[4, 2]], 6)
    mean = np.array([4 / 6, 2 / 4])
    index = mean + 0.5 * np.sqrt(2 * np.log(7) / np.array([6, 4]))
    assert UCB1Policy(2, 10, c=0.5).choose(b)[0] == np.argmax(index)
    b = belief([[3, 1]], [[4, 1]], 5)            # means 4/6 vs 2/3: tie at c = 0 ...
    assert {int(UCB1Policy(2, 10, c=0.0).choose(belief([[3, 1]], [[4, 1]], 5, seed=s))[0])
            for s in range(20)} == {0, 1}
    assert UCB1Policy(2, 10, c=1.0).choose(b)[0] == 1   # ... which the bonus breaks for the less pulled arm


def test_thompson_is_seeded_and_follows_the_posterior():
    b = lambda s: belief(np.tile([[8, 2]], (5000, 1)), np.tile([[10, 10]], (5000, 1)), 20, seed=s)
    ts = ThompsonSamplingPolicy(2, 30)
    assert np.array_equal(ts.choose(b(1)), ts.choose(b(1)))
    # P(Beta(9,3) > Beta(3,9)) is about 0.99
    assert (ts.choose(b(2)) == 0).mean() > 0.97


def test_optimistic_thompson_keeps_the_most_probable_sample():
    tile = lambda row: np.tile([row], (20000, 1))
    # arm 1 has the higher mean (2/3, Beta(2,1)) but a wide posterior; arm 0 sits at 0.5.
    b = lambda: belief(tile([300, 1]), tile([600, 1]), 601, seed=0)
    ts = (ThompsonSamplingPolicy(2, 2000).choose(b()) == 1).mean()       # P(Beta(2,1) > .5) = .75
    one = (OptimisticThompsonPolicy(2, 2000, samples=1).choose(b()) == 1).mean()
    many = (OptimisticThompsonPolicy(2, 2000, samples=20).choose(b()) == 1).mean()
    assert 0.73 < ts < 0.77 and 0.73 < one < 0.77      # N = 1 is Thompson sampling
    assert many > 0.95                                  # the kept sample approaches the mode (1, .5)
    with pytest.raises(ValueError, match="samples"):
        OptimisticThompsonPolicy(2, 10, samples=0)


def test_random_policy_earns_half_per_pull():
    env = make_bandit_trials(5, 10, 20000)
    total = run_trials(env, RandomPolicy(5, 10), seed=0, policy_seed=1).total_reward
    assert abs(total.mean() - 5.0) < 4 * total.std() / np.sqrt(total.size)


def test_tuned_parameters_fall_back_to_defaults():
    assert tuned_parameters("ucb1", 3, 7) == DEFAULTS["ucb1"]
    assert tuned_parameters("thompson", 3, 7) == {}
    assert make_bandit_baseline("epsilon-greedy", 3, 7, epsilon=0.25).epsilon == 0.25
    with pytest.raises(KeyError, match="unknown bandit agent"):
        make_bandit_baseline("softmax", 3, 7)

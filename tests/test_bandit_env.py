import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rl2_course.envs import BernoulliBandits, SingleTaskEnv, make_bandit_trials


def test_single_task_views_pass_gymnasium_checker():
    check_env(SingleTaskEnv(BernoulliBandits(1, 3)), skip_render_check=True)
    check_env(SingleTaskEnv(make_bandit_trials(5, 10, 1)), skip_render_check=True)


def test_same_seed_same_tasks_and_luck():
    a, b = BernoulliBandits(64, 5), BernoulliBandits(64, 5)
    a.reset(seed=3)
    b.reset(seed=3)
    assert np.array_equal(a.arm_means, b.arm_means)
    acts = np.arange(64) % 5
    assert np.array_equal(a.step(acts)[1], b.step(acts)[1])
    b.reset(seed=4)
    assert not np.array_equal(a.arm_means, b.arm_means)


def test_arm_means_follow_the_uniform_prior():
    env = BernoulliBandits(20_000, 5)
    env.reset(seed=0)
    p = env.arm_means.ravel()
    se = np.sqrt(1 / 12 / p.size)
    assert abs(p.mean() - 0.5) < 4 * se
    assert abs(p.var() - 1 / 12) < 0.005
    # independent arms: correlation between arm 0 and arm 1 is near zero
    assert abs(np.corrcoef(env.arm_means[:, 0], env.arm_means[:, 1])[0, 1]) < 4 / np.sqrt(20_000)


def test_rewards_are_bernoulli_with_the_arm_mean():
    env = BernoulliBandits(50_000, 2)
    env.reset(seed=1, options={"arm_means": [0.2, 0.7]})
    obs, reward, terminated, truncated, _ = env.step(np.ones(50_000, dtype=int))
    assert set(np.unique(reward)) <= {0.0, 1.0}
    assert abs(reward.mean() - 0.7) < 4 * np.sqrt(0.21 / 50_000)
    assert terminated.all() and not truncated.any()   # one pull is one episode
    assert obs.shape == (50_000, 1) and (obs == 1).all()


def test_common_random_numbers_couple_arms():
    # With shared luck, an arm with a higher mean pays whenever a lower one does.
    env = BernoulliBandits(1000, 2)
    env.reset(seed=2, options={"arm_means": [0.3, 0.6]})
    low = env.step(np.zeros(1000, dtype=int))[1]
    env.reset(seed=2, options={"arm_means": [0.3, 0.6]})
    high = env.step(np.ones(1000, dtype=int))[1]
    assert np.all(high >= low)


@pytest.mark.parametrize("bad", [np.array([0, 5]), np.array([-1, 0]), np.array([0.5, 1.0]), np.array([0])])
def test_bad_actions_get_a_clear_error(bad):
    env = BernoulliBandits(2, 5)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_bad_sizes_and_means_are_refused():
    with pytest.raises(ValueError, match="at least 2 arms"):
        BernoulliBandits(4, 1)
    with pytest.raises(ValueError, match="num_tasks"):
        BernoulliBandits(0, 3)
    env = BernoulliBandits(1, 2)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        env.reset(options={"arm_means": [0.5, 1.5]})

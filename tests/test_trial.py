import numpy as np
import pytest

from rl2_course.envs import TrialInputLayout, encode_trial_input, make_bandit_trials


def test_encode_trial_input_layout():
    x = encode_trial_input(np.array([[1.0], [1.0]]), np.array([-1, 2]), np.array([0.0, 1.0]),
                           np.array([0.0, 1.0]), num_actions=3)
    assert x.dtype == np.float32
    assert np.array_equal(x, [[1, 0, 0, 0, 0, 0], [1, 0, 0, 1, 1, 1]])
    parts = TrialInputLayout(1, 3).split(x)
    assert np.array_equal(parts.prev_action, [[0, 0, 0], [0, 0, 1]])
    assert np.array_equal(parts.prev_reward, [0, 1]) and np.array_equal(parts.prev_done, [0, 1])


def test_trial_feeds_back_action_reward_and_done():
    env = make_bandit_trials(arms=4, episodes=6, num_tasks=8)
    x, info = env.reset(seed=0)
    first = env.layout.split(x)
    assert not first.prev_action.any() and not first.prev_reward.any() and not first.prev_done.any()
    rng = np.random.default_rng(0)
    for t in range(6):
        action = rng.integers(0, 4, size=8)
        x, reward, terminated, truncated, info = env.step(action)
        parts = env.layout.split(x)
        assert np.array_equal(parts.prev_action.argmax(1), action)
        assert np.array_equal(parts.prev_reward, reward)
        assert (parts.prev_done == 1).all()          # every bandit pull ends an episode
        assert np.array_equal(info["episode"], np.full(8, t + 1))
        assert terminated.all() == (t == 5) and not truncated.any()


def test_the_task_stays_the_same_across_episodes_of_a_trial():
    env = make_bandit_trials(arms=3, episodes=5, num_tasks=4)
    env.reset(seed=1)
    means = env.task_env.arm_means.copy()
    for _ in range(5):
        env.step(np.zeros(4, dtype=int))
        assert np.array_equal(env.task_env.arm_means, means)
    env.reset(seed=2)
    assert not np.array_equal(env.task_env.arm_means, means)


def test_stepping_past_the_end_of_a_trial_is_refused():
    env = make_bandit_trials(arms=2, episodes=1, num_tasks=1)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0]))
    env.reset(seed=0)
    env.step(np.array([0]))
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([0]))


def test_observation_space_contains_the_inputs():
    env = make_bandit_trials(arms=3, episodes=4, num_tasks=5)
    x, _ = env.reset(seed=0)
    assert env.observation_space.contains(x)
    x, *_ = env.step(np.array([0, 1, 2, 0, 1]))
    assert env.observation_space.contains(x)

"""Random tabular MDPs (Section 3.2 of the RL² paper): the prior, episodes, trials, seeding."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from rl2_course.envs import RandomTabularMDPs, SingleTaskEnv, finite_horizon_q, make_mdp_trials

S, A, T = 10, 5, 10


def test_single_task_views_pass_gymnasium_checker():
    check_env(SingleTaskEnv(RandomTabularMDPs(1)), skip_render_check=True)
    with warnings.catch_warnings():
        # Gaussian rewards are unbounded, so the trial input's reward bounds are ±inf on purpose.
        warnings.filterwarnings("ignore", message=".*infinity.*")
        check_env(SingleTaskEnv(make_mdp_trials(3, 1)), skip_render_check=True)


def test_transitions_follow_the_flat_dirichlet_prior():
    env = RandomTabularMDPs(2000)
    env.reset(seed=0)
    p = env.transitions
    assert p.shape == (2000, S, A, S) and np.all(p >= 0) and np.allclose(p.sum(-1), 1.0)
    # each coordinate of a flat Dirichlet is Beta(1, S-1): mean 1/S, variance (S-1)/(S²(S+1))
    var = (S - 1) / (S * S * (S + 1))
    per_next_state = p.reshape(-1, S).mean(axis=0)
    assert np.all(np.abs(per_next_state - 1 / S) < 4 * np.sqrt(var / (2000 * S * A)))
    assert abs(p.var() - var) < 0.05 * var


def test_reward_means_follow_the_normal_prior_and_noise_has_unit_variance():
    env = RandomTabularMDPs(4000)
    env.reset(seed=1)
    mu = env.reward_means.ravel()
    assert abs(mu.mean() - 1.0) < 4 / np.sqrt(mu.size) and abs(mu.var() - 1.0) < 0.03
    # noise: fixed means, many steps
    env.reset(seed=2, options={"reward_means": np.full((S, A), 1.5)})
    _, reward, *_ = env.step(np.zeros(4000, dtype=int))
    assert abs(reward.mean() - 1.5) < 4 / np.sqrt(4000) and abs(reward.var() - 1.0) < 0.1
    assert reward.dtype == np.float64


def test_next_states_follow_the_transition_probabilities():
    p = np.zeros((S, A, S))
    p[:, :, 3], p[:, :, 7] = 0.25, 0.75
    p[0, 1] = np.eye(S)[9]
    env = RandomTabularMDPs(20_000)
    env.reset(seed=3, options={"transitions": p})
    obs, *_ = env.step(np.zeros(20_000, dtype=int))
    assert set(np.unique(env.state)) == {3, 7}
    assert abs((env.state == 7).mean() - 0.75) < 4 * np.sqrt(0.75 * 0.25 / 20_000)
    assert np.array_equal(obs.argmax(1), env.state) and obs.dtype == np.float32
    env.start_episodes()
    env.step(np.ones(20_000, dtype=int))
    assert (env.state == 9).all()


def test_episodes_start_in_state_0_and_end_after_10_steps():
    env = RandomTabularMDPs(64)
    obs, _ = env.reset(seed=4)
    assert (obs.argmax(1) == 0).all() and (obs.sum(1) == 1).all()
    rng = np.random.default_rng(0)
    for t in range(T):
        obs, reward, terminated, truncated, _ = env.step(rng.integers(0, A, size=64))
        assert terminated.all() if t == T - 1 else not terminated.any()
        assert not truncated.any()
        assert env.observation_space.contains(obs)
    with pytest.raises(RuntimeError, match="start_episodes"):
        env.step(np.zeros(64, dtype=int))
    mask = np.arange(64) % 2 == 0
    obs = env.start_episodes(mask)
    assert (env.state[mask] == 0).all() and (env.t[mask] == 0).all() and (env.t[~mask] == T).all()
    assert (obs[mask].argmax(1) == 0).all()


def test_a_trial_is_n_episodes_of_the_same_mdp():
    n = 4
    env = make_mdp_trials(n, num_tasks=16)
    x, info = env.reset(seed=5)
    first = env.layout.split(x)
    assert (first.observation.argmax(1) == 0).all() and not first.prev_action.any()
    p, mu = env.task_env.transitions.copy(), env.task_env.reward_means.copy()
    rng = np.random.default_rng(1)
    for step in range(1, n * T + 1):
        action = rng.integers(0, A, size=16)
        x, reward, terminated, truncated, info = env.step(action)
        parts = env.layout.split(x)
        boundary = step % T == 0
        assert np.array_equal(parts.prev_action.argmax(1), action)
        assert np.array_equal(parts.prev_reward, reward.astype(np.float32))
        assert (parts.prev_done == boundary).all() and (info["episode_done"] == boundary).all()
        if boundary and step < n * T:   # the next episode begins in state 0 of the same task
            assert (parts.observation.argmax(1) == 0).all()
        assert (info["episode"] == step // T).all()
        assert terminated.all() == (step == n * T) and not truncated.any()
        assert np.array_equal(env.task_env.transitions, p) and np.array_equal(env.task_env.reward_means, mu)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(16, dtype=int))
    env.reset(seed=6)
    assert not np.array_equal(env.task_env.transitions, p)


def test_same_seed_same_tasks_and_luck():
    a, b = RandomTabularMDPs(32), RandomTabularMDPs(32)
    a.reset(seed=7)
    b.reset(seed=7)
    assert np.array_equal(a.transitions, b.transitions) and np.array_equal(a.reward_means, b.reward_means)
    acts = np.arange(32) % A
    for _ in range(T):
        ra, rb = a.step(acts)[1], b.step(acts)[1]
        assert np.array_equal(ra, rb) and np.array_equal(a.state, b.state)
    b.reset(seed=8)
    assert not np.array_equal(a.reward_means, b.reward_means)


def test_reward_noise_does_not_depend_on_the_actions():
    # common random numbers: two agents acting differently meet the same reward noise
    env = RandomTabularMDPs(100)
    env.reset(seed=9)
    mu = env.reward_means
    noise_0 = env.step(np.zeros(100, dtype=int))[1] - mu[:, 0, 0]
    env.reset(seed=9)
    noise_4 = env.step(np.full(100, 4))[1] - mu[:, 0, 4]
    assert np.allclose(noise_0, noise_4)


def test_fixing_one_part_of_the_task_leaves_the_other_draws_unchanged():
    a, b = RandomTabularMDPs(8), RandomTabularMDPs(8)
    a.reset(seed=10)
    b.reset(seed=10, options={"reward_means": np.zeros((S, A))})
    assert np.array_equal(a.transitions, b.transitions) and (b.reward_means == 0).all()


@pytest.mark.parametrize("options, match", [
    ({"transitions": np.full((S, A), 0.1)}, "shape"),
    ({"transitions": np.full((S, A, S), 0.2)}, "distribution"),
    ({"transitions": np.full((S, A, S), 1 / S) + 0.2 * (np.eye(S)[0] - np.eye(S)[1])}, "distribution"),
    ({"reward_means": np.zeros((A, S))}, "shape"),
    ({"reward_means": np.full((S, A), np.nan)}, "finite"),
    ({"reward_mean": np.zeros((S, A))}, "unknown reset option"),
])
def test_bad_reset_options_are_refused(options, match):
    env = RandomTabularMDPs(2)
    with pytest.raises(ValueError, match=match):
        env.reset(seed=0, options=options)


def test_bad_sizes_and_actions_are_refused():
    with pytest.raises(ValueError, match="action"):
        RandomTabularMDPs(2, actions=1)
    with pytest.raises(ValueError, match="state"):
        RandomTabularMDPs(2, states=0)
    with pytest.raises(ValueError, match="horizon"):
        RandomTabularMDPs(2, horizon=0)
    env = RandomTabularMDPs(2)
    env.reset(seed=0)
    for bad in (np.array([0, 5]), np.array([-1, 0]), np.array([0.5, 1.0]), np.array([0])):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)


def tiny_mdp():
    """2 states, 2 actions. In s0: a0 stays (r=1), a1 moves to s1 (r=0). In s1: a0 stays (r=3),
    a1 goes to s0 or s1 with probability 1/2 each (r=2)."""
    p = np.zeros((2, 2, 2))
    p[0, 0, 0] = p[0, 1, 1] = p[1, 0, 1] = 1.0
    p[1, 1] = [0.5, 0.5]
    r = np.array([[1.0, 0.0], [3.0, 2.0]])
    return p, r


def test_finite_horizon_q_on_a_tiny_mdp_solved_by_hand():
    p, r = tiny_mdp()
    q = finite_horizon_q(np.stack([p, p]), np.stack([r, 2 * r]), horizon=2)
    assert q.shape == (2, 2, 2, 2)
    # last step: Q = r. With two steps left: V_1 = (1, 3), so
    # Q(s0,a0) = 1 + V_1(s0) = 2, Q(s0,a1) = 0 + V_1(s1) = 3,
    # Q(s1,a0) = 3 + 3 = 6,       Q(s1,a1) = 2 + (1 + 3)/2 = 4.
    assert np.allclose(q[1, 0], r)
    assert np.allclose(q[0, 0], [[2, 3], [6, 4]])
    assert np.allclose(q[0, 1], 2 * q[0, 0])       # doubling every reward doubles every value
    # horizon 3: V_2 = (3, 6): Q(s0,a0) = 1+3, Q(s0,a1) = 0+6, Q(s1,a0) = 3+6, Q(s1,a1) = 2+4.5
    q3 = finite_horizon_q(p[None], r[None], horizon=3)
    assert np.allclose(q3[0, 0], [[4, 6], [9, 6.5]]) and np.allclose(q3[1:], q[:, :1])


def test_optimal_return_is_the_value_of_state_0():
    p, r = tiny_mdp()
    env = RandomTabularMDPs(1, states=2, actions=2, horizon=2)
    env.reset(seed=0, options={"transitions": p, "reward_means": r})
    assert np.allclose(env.optimal_episode_return, [3.0])


def test_random_policy_earns_about_1_per_step():
    n, B = 10, 4000
    env = make_mdp_trials(n, num_tasks=B)
    env.reset(seed=11)
    rng = np.random.default_rng(2)
    total, terminated = np.zeros(B), np.zeros(B, dtype=bool)
    while not terminated.all():
        _, reward, terminated, _, _ = env.step(rng.integers(0, A, size=B))
        total += reward
    # E[reward] = E[μ] = 1 per step: 10 per episode, 100 per trial of n = 10 episodes
    assert abs(total.mean() - 100.0) < 4 * total.std() / np.sqrt(B)
    assert (env.task_env.optimal_episode_return * n).mean() > total.mean() + 50

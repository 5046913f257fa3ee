"""The MDP trial stepper: its state matches `run_trials` on the same MDP and seeds."""

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, RL2Agent
from rl2_course.baselines import make_mdp_baseline
from rl2_course.envs import make_mdp_trials
from rl2_course.rollout import run_trials
from rl2_course.widgets import MDPTrialStepper, show_mdp_trial
from rl2_course.widgets.mdp import episode_returns, most_likely_transitions

N = 3           # episodes per trial (of 10 steps each)


def fresh_rl2(seed=0):
    torch.manual_seed(seed)
    return RL2Agent(RecurrentActorCritic(10, 5, hidden_size=16))


@pytest.mark.parametrize("make_policy", [lambda: make_mdp_baseline("psrl", N), fresh_rl2],
                         ids=["psrl", "rl2"])
def test_stepping_to_the_end_reproduces_run_trials(make_policy):
    policy = make_policy()
    ref = run_trials(make_mdp_trials(N, 1), policy, seed=7)
    w = MDPTrialStepper(policy, N, seed=7, auto_draw=False)
    assert w.t == 0 and w.visit_counts == [0] * 10 and w.state == 0
    w.play_to_end()
    rec = w.agent_stepper.record()
    assert np.array_equal(rec.actions, ref.actions) and np.allclose(rec.rewards, ref.rewards)
    assert w.done and w.t == 10 * N and w.episode == N
    assert np.allclose(w.episode_returns, ref.rewards[0].reshape(N, 10).sum(1))
    assert sum(w.visit_counts) == 10 * N


def test_path_visits_and_comparison_follow_the_steps():
    w = MDPTrialStepper(make_mdp_baseline("greedy", N), N, seed=2, auto_draw=False,
                        compare=("psrl", "random"))
    psrl = run_trials(make_mdp_trials(N, 1), make_mdp_baseline("psrl", N), seed=2)
    for t in range(1, 13):
        w.step()
        assert w.t == t and w.episode == t // 10
        assert w.current_path[-1] == w.state
        assert len(w.current_path) == t % 10 + 1          # every episode starts again in 0
        assert w.current_path[0] == 0
    assert w.comparison_episode_returns["psrl"][0] == pytest.approx(psrl.rewards[0, :10].sum())
    assert sorted(w.comparison_reward) == ["psrl", "random"]
    w.reset(seed=2)
    assert w.t == 0 and w.episode_returns == [] and w.current_path == [0]


def test_helpers():
    assert np.allclose(episode_returns([1, 2, 3, 4, 5], 2), [3, 7, 5])
    P = np.zeros((2, 2, 2))
    P[0, 0] = [0.3, 0.7]
    P[0, 1] = [0.9, 0.1]
    P[1, :] = [0.5, 0.5]
    assert most_likely_transitions(P)[0] == (0, 1, 0, pytest.approx(0.9))


def test_bad_policies_and_settings_are_refused():
    from rl2_course.errors import UsageError

    with pytest.raises(ValueError, match="n=3 episodes"):
        MDPTrialStepper(make_mdp_baseline("psrl", N), 5, auto_draw=False)
    with pytest.raises(UsageError):
        MDPTrialStepper(fresh_rl2(), 0, auto_draw=False)
    w = show_mdp_trial("random", N, compare=("psrl", "nonsense"), auto_draw=False)
    assert "nonsense" in w.comparison_notes and "psrl" not in w.comparison_notes


def test_drawing_the_figure(tmp_path):
    w = MDPTrialStepper(fresh_rl2(), N, seed=1)              # auto_draw: renders on each step
    w.step()
    assert w.image.value[:4] == b"\x89PNG"
    assert w.save_png(tmp_path / "mdp.png").stat().st_size > 0
    assert "step 1 / 30" in w.counter.value

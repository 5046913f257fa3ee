"""The maze trial stepper: `run_trials` reproduced, paths per episode, the GIF, no Doom left.

Trials are kept tiny (a time limit of a dozen decisions per episode), so each test costs a
second or two of Doom.
"""

import os

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, RL2Agent
from rl2_course.agents.recurrent import ConvEncoder
from rl2_course.envs import make_maze_trials
from rl2_course.envs.maze import OBS_SHAPE, cell_center, doom_processes, position_to_cell
from rl2_course.evaluate_maze import episode_outcomes
from rl2_course.policy import UniformRandomPolicy
from rl2_course.rollout import run_trials
from rl2_course.widgets import MazeTrialStepper

LIMIT = 12          # decisions per episode: a trial is at most 24 steps


def fresh_rl2(seed=0):
    torch.manual_seed(seed)
    return RL2Agent(RecurrentActorCritic(int(np.prod(OBS_SHAPE)), 3, hidden_size=8,
                                         encoder=ConvEncoder(output_size=16)))


def my_doom_processes():
    return doom_processes(f"rl2-maze-{os.getpid()}-")


@pytest.fixture
def widgets_to_close():
    made = []
    yield made
    for w in made:
        w.close()
    assert my_doom_processes() == []


@pytest.mark.parametrize("make_policy", [lambda: UniformRandomPolicy(3), fresh_rl2],
                         ids=["random", "rl2"])
def test_stepping_to_the_end_reproduces_run_trials(make_policy, widgets_to_close):
    policy = make_policy()
    env = make_maze_trials("small", 1, time_limit=LIMIT)
    try:
        ref = run_trials(env, policy, seed=7)
    finally:
        env.close()
    w = MazeTrialStepper(policy, "small", seed=7, time_limit=LIMIT, auto_draw=False)
    widgets_to_close.append(w)
    assert w.t == 0 and w.episode == 0 and len(w.paths) == 1 and w.episode_lengths == []
    w.play_to_end()
    rec = w.agent_stepper.record()
    assert np.array_equal(rec.actions, ref.actions) and np.allclose(rec.rewards, ref.rewards)
    lengths, success = episode_outcomes(ref)
    assert w.done and w.episode == 2 and w.t == lengths.sum()
    assert w.episode_lengths == lengths[0].tolist() and w.episode_success == success[0].tolist()
    if policy.name == "rl2":                     # the network's π and V are published
        assert len(w.action_probabilities) == 3 and w.value is not None
    # the same seed again, in the reused Doom process: the same trial
    w.reset(seed=7)
    w.play_to_end()
    assert np.array_equal(w.agent_stepper.record().actions, ref.actions)


def test_the_path_of_episode_2_starts_after_episode_1_ended(widgets_to_close):
    w = MazeTrialStepper(UniformRandomPolicy(3), "small", seed=3, time_limit=LIMIT,
                         auto_draw=False)
    widgets_to_close.append(w)
    tasks = w.recorder.task_env
    assert w.paths[0][0] == list(cell_center(tuple(w.starts[0])))
    while w.episode == 0:
        w.step()
        assert w.position == w.paths[-1][-1] and w.cell == list(position_to_cell(*w.position))
    first = w.episode_lengths[0]
    assert w.t == first and len(w.paths) == 2
    assert len(w.paths[0]) == first + 1                   # the start, then one point a decision
    # episode 2 begins where the env put the agent after episode 1's last decision
    assert w.paths[1] == [list(cell_center(tuple(tasks.starts[0])))]
    assert w.starts[1] == tasks.starts[0].tolist() != w.target
    assert w.recorder.paths[1][0][0] == w.recorder.paths[0][-1][0] == first
    w.step()
    assert len(w.paths[1]) == 2 and len(w.paths[0]) == first + 1
    w.reset(seed=3)
    assert w.t == 0 and len(w.paths) == 1 and w.episode_lengths == [] and w.episode == 0


def test_save_gif_writes_a_gif_of_the_trial_so_far(tmp_path, widgets_to_close):
    from PIL import Image

    w = MazeTrialStepper(fresh_rl2(), "small", seed=1, time_limit=LIMIT, auto_draw=False,
                         gif_path=tmp_path / "button.gif")
    widgets_to_close.append(w)
    for _ in range(5):
        w.step()
    path = w.save_gif(tmp_path / "trial.gif")
    assert path.read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    with Image.open(path) as gif:
        assert gif.n_frames == 6                          # decisions 0..5
    w.play_to_end()
    with Image.open(w.save_gif(tmp_path / "short.gif", max_frames=4)) as gif:
        assert 4 <= gif.n_frames <= 5                     # every k-th decision, and the last
    w.gif_button.click()
    assert (tmp_path / "button.gif").exists() and w.message.startswith("wrote")
    w.gif_input.value = str(tmp_path / "no-such-dir" / "x.gif")
    w.gif_button.click()                                  # an error is shown, not raised
    assert w.message.startswith("could not write")


def test_doom_processes_are_reused_on_reset_and_end_on_close():
    before = len(my_doom_processes())
    w = MazeTrialStepper(fresh_rl2(), "small", seed=2, time_limit=LIMIT, auto_draw=False,
                         compare=("random", "ucb1"))
    try:
        assert "ucb1" in w.comparison_notes and sorted(w.comparison_reward) == ["random"]
        assert len(my_doom_processes()) == before + 2     # the agent's and random's
        for _ in range(3):
            w.step()
        w.reset(seed=5)
        w.reset(seed=6)
        assert len(my_doom_processes()) == before + 2     # reused, none left behind
        w.play_to_end()
        assert set(w.comparison_episode_lengths) == {"random"}
    finally:
        w.close()
    assert len(my_doom_processes()) == before


def test_close_envs_ends_the_processes_but_reset_plays_again(widgets_to_close):
    before = len(my_doom_processes())
    w = MazeTrialStepper(UniformRandomPolicy(3), "small", seed=9, time_limit=LIMIT,
                         auto_draw=False)
    widgets_to_close.append(w)
    w.play_to_end()
    actions = w.agent_stepper.record().actions
    w.close_envs()
    assert len(my_doom_processes()) == before and w.step_button.disabled
    assert w.step() is False and "press Reset" in w.message
    w.play_to_end()                                       # a message, not a hang or a crash
    assert w.reset() and len(my_doom_processes()) == before + 1 and not w.step_button.disabled
    w.play_to_end()
    assert np.array_equal(w.agent_stepper.record().actions, actions)


def test_a_policy_for_another_task_is_refused():
    before = my_doom_processes()
    mdp_agent = RL2Agent(RecurrentActorCritic(10, 5, hidden_size=8))
    with pytest.raises(ValueError, match="3 actions"):
        MazeTrialStepper(mdp_agent, "small", auto_draw=False)
    with pytest.raises(ValueError, match="the maze has 3"):
        MazeTrialStepper(UniformRandomPolicy(4), "small", auto_draw=False)
    from rl2_course.errors import UsageError

    with pytest.raises(UsageError, match="unknown maze size"):
        MazeTrialStepper(UniformRandomPolicy(3), "huge", auto_draw=False)
    with pytest.raises(UsageError, match="unknown wall scheme"):
        MazeTrialStepper(UniformRandomPolicy(3), "small", walls="stripes", auto_draw=False)
    assert my_doom_processes() == before


def test_the_widget_plays_the_wall_scheme_it_is_given(widgets_to_close):
    w = MazeTrialStepper(UniformRandomPolicy(3), "small", seed=9, time_limit=LIMIT,
                         walls="districts", auto_draw=False)
    widgets_to_close.append(w)
    assert w.agent_stepper.env.task_env.walls == "districts"


def test_drawing_the_figure(tmp_path, widgets_to_close):
    w = MazeTrialStepper(fresh_rl2(), "small", seed=1, time_limit=LIMIT)    # auto_draw
    widgets_to_close.append(w)
    w.step()
    assert w.image.value[:4] == b"\x89PNG"
    assert f"step 1 / {2 * LIMIT}" in w.counter.value
    w.play_to_end()
    assert w.save_png(tmp_path / "maze.png").stat().st_size > 0

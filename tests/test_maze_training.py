"""RL² on the maze: the CNN encoder's shapes and a two-update training run end to end."""

from __future__ import annotations

import json
import os

import pytest
import torch

from rl2_course.agents import load_checkpoint
from rl2_course.agents.recurrent import ConvEncoder, RecurrentActorCritic, conv_output_size
from rl2_course.cli import main
from rl2_course.envs.maze import OBS_SHAPE, doom_processes
from rl2_course.train import TrainConfig, train


def test_conv_encoder_shapes_and_rebuild_from_spec():
    assert [conv_output_size(30, 5, 2), conv_output_size(40, 5, 2)] == [13, 18]
    assert [conv_output_size(13, 3, 2), conv_output_size(18, 3, 2)] == [6, 8]
    encoder = ConvEncoder()
    flat = torch.rand(7, 3 * 30 * 40)
    assert encoder(flat).shape == (7, 256)
    model = RecurrentActorCritic(3 * 30 * 40, 3, 32, encoder=encoder)
    logits, values, h = model.forward_sequence(torch.rand(5, 2, model.input_size), model.initial_hidden(2))
    assert logits.shape == (5, 2, 3) and values.shape == (5, 2) and h.shape == (2, 32)
    again = RecurrentActorCritic.from_spec(model.spec())
    assert isinstance(again.encoder, ConvEncoder) and again.spec() == model.spec()


@pytest.mark.slow
def test_two_updates_on_the_small_maze_then_evaluate_the_checkpoint(tmp_path, capsys):
    config = TrainConfig.for_maze("small", updates=2, trials_per_update=2, hidden_size=16,
                                  ppo_epochs=1, minibatches=1, checkpoint_every=1)
    result = train(config, tmp_path, progress=False)
    assert result.updates == 2 and result.trials_seen == 4
    model, meta = load_checkpoint(result.checkpoint_path)
    # the small maze's own wall scheme and start protocol (settings.MAZE_SETTINGS: the paper's
    # same start in both episodes) are recorded with the task
    assert meta["env_spec"] == {"env": "maze", "size": "small", "episodes": 2, "walls": "districts",
                                "starts": "same"}
    assert model.layout.observation_size == 3 * 30 * 40 and isinstance(model.encoder, ConvEncoder)
    assert doom_processes(f"rl2-maze-{os.getpid()}-") == []
    assert main(["evaluate", "maze", "--size", "small", "--agents", "rl2,random", "--trials", "2",
                 "--seed", "1", "--json", "--checkpoint", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["results"]) == {"rl2", "random"} and OBS_SHAPE == (3, 30, 40)


def test_a_training_time_limit_reaches_the_doom_env_and_only_a_maze_takes_one():
    from rl2_course.errors import UsageError
    from rl2_course.settings import maze_setting
    from rl2_course.train import parse_overrides

    assert parse_overrides(["time_limit=250"]) == {"time_limit": 250}
    for config, limit in [(TrainConfig.for_maze("small", **parse_overrides(["time_limit=7"])), 7),
                          (TrainConfig.for_maze("small"), maze_setting("small").time_limit)]:
        config.validate()
        env = config.make_env(1)
        try:
            assert env.task_env.time_limit == limit
        finally:
            env.task_env.close()
    with pytest.raises(UsageError, match="time_limit"):
        TrainConfig.for_maze("small", time_limit=0).validate()
    with pytest.raises(UsageError, match="time_limit: not a setting of bandit runs"):
        TrainConfig.for_bandit(5, 10, time_limit=50)


def test_the_wall_scheme_reaches_the_doom_env_and_the_checkpoint_spec(tmp_path):
    from rl2_course.errors import UsageError
    from rl2_course.evaluate_maze import make_maze_agent
    from rl2_course.settings import maze_setting
    from rl2_course.train import parse_overrides

    assert parse_overrides(["walls=districts"]) == {"walls": "districts"}
    config = TrainConfig.for_maze("small", **parse_overrides(["walls=districts"]))
    config.validate()
    assert config.env_spec()["walls"] == "districts"
    env = config.make_env(1)
    try:
        assert env.task_env.walls == "districts"
    finally:
        env.task_env.close()
    # the size's own scheme by default, and an older checkpoint's spec (no "walls") is uniform
    assert TrainConfig.for_maze("small").env_spec().get("walls", "uniform") == maze_setting("small").walls
    assert "walls" not in TrainConfig.for_maze("small", walls="uniform").env_spec()
    with pytest.raises(UsageError, match="wall scheme"):
        TrainConfig.for_maze("small", walls="stripes").validate()
    with pytest.raises(UsageError, match="walls: not a setting of bandit runs"):
        TrainConfig.for_bandit(5, 10, walls="districts")
    # a checkpoint trained on district walls is refused for uniform ones, in words
    train(TrainConfig.for_maze("small", walls="districts", updates=1, trials_per_update=2,
                               time_limit=3, bptt_length=4), tmp_path, progress=False)
    assert make_maze_agent("rl2", "small", checkpoint=tmp_path, walls="districts").name == "rl2"
    with pytest.raises(UsageError, match="districts walls, same starts, not small, n=2, uniform walls"):
        make_maze_agent("rl2", "small", checkpoint=tmp_path, walls="uniform")


def test_a_maze_run_may_train_on_longer_trials_and_its_agent_plays_the_papers_two(tmp_path):
    """``episodes``: a training trial of K episodes (the saving of a remembered target repeats
    K − 1 times); the spec records K, and the agent is still evaluated on the paper's two."""
    from rl2_course.errors import UsageError
    from rl2_course.evaluate_maze import make_maze_agent

    config = TrainConfig.for_maze("paper-small", episodes=4, updates=1, trials_per_update=2,
                                  time_limit=3, hidden_size=8, bptt_length=4)
    config.validate()
    assert config.env_spec()["episodes"] == 4
    assert TrainConfig.for_maze("paper-small").env_spec()["episodes"] == 2      # the paper's
    env = config.make_env(1)
    try:
        assert env.episodes_per_trial == 4
    finally:
        env.task_env.close()
    train(config, tmp_path, progress=False)
    agent = make_maze_agent("rl2", "paper-small", checkpoint=tmp_path)
    assert agent.trained_on["episodes"] == 4
    for episodes in (1, 11):
        with pytest.raises(UsageError, match=r"episodes is a maze trial's episodes, in \[2, 10\]"):
            TrainConfig.for_maze("paper-small", episodes=episodes).validate()


def test_a_map_head_records_the_mazes_map_targets_for_each_step():
    """``aux_task="map"``: collect_trials records, for every x_t, the 8 numbers the env computes
    for the state x_t shows (target offset, own place and heading, the target's place)."""
    import numpy as np

    from rl2_course.train import fresh_state, collect_trials

    config = TrainConfig.for_maze("small", trials_per_update=2, hidden_size=16, time_limit=5,
                                  aux_coef=0.5, aux_task="map")
    state = fresh_state(config)
    env = config.make_env()
    try:
        batch = collect_trials(state.model, env, 3, state.sampler, signals=config.make_signals())
        env.reset(seed=3)                  # the same tasks and starts as the trials began with
        at_reset = env.task_env.auxiliary_targets("map")
    finally:
        env.task_env.close()
    aux_targets = batch.signal_data[0]["targets"]
    assert aux_targets.shape == (batch.actions.shape[0], 2, 8)
    assert np.allclose(aux_targets[0].numpy(), at_reset)
    for b in range(2):                     # the target stays where it is for the whole trial
        target_place = aux_targets[:, b, 6:][batch.valid[:, b] > 0]
        assert torch.allclose(target_place, target_place[:1].expand_as(target_place))


@pytest.mark.slow
def test_reward_shaping_is_the_cells_episode_2_came_closer():
    """The shaping signal (``shaping_coef``): F_t = γ Φ(s_{t+1}) − Φ(s_t) with Φ = −coef × cells to the target,
    nothing in episode 1; with γ = 1 episode 2's shaping sums to coef × (cells at its start −
    cells at its end), whatever the path."""
    import numpy as np

    from rl2_course.envs.maze_generator import cell_distances
    from rl2_course.envs.trial import TrialInputLayout
    from rl2_course.signals import RewardShaping
    from rl2_course.train import fresh_state, collect_trials

    config = TrainConfig.for_maze("small", trials_per_update=3, hidden_size=16, time_limit=12)
    state = fresh_state(config)
    env = config.make_env()
    try:
        batch = collect_trials(state.model, env, 4, state.sampler, signals=[RewardShaping(0.1, gamma=1.0)])
        shaping = batch.signal_data[0]["shaping"]
        tasks = env.task_env
        start_cells = [cell_distances(m, tuple(t))[tuple(s)]
                       for m, t, s in zip(tasks.mazes, tasks.targets, tasks.starts)]
        end_cells = tasks.cells_to_target()
    finally:
        env.task_env.close()
    assert shaping.shape == batch.rewards.shape
    episode = torch.cumsum(torch.from_numpy(TrialInputLayout(3 * 30 * 40, 3)
                                            .split(batch.x.numpy()).prev_done), 0)
    assert (shaping[episode == 0] == 0).all()
    assert set(np.round(shaping.numpy() / 0.1).astype(int).ravel()) <= {-1, 0, 1}
    assert np.allclose(shaping.sum(0).numpy(), 0.1 * (np.array(start_cells) - end_cells), atol=1e-6)
    assert (shaping != 0).any()          # the agents did walk between cells
    # the rewards themselves are the environment's own
    paid = np.array([0.0, -0.01, -0.011, 0.99])
    assert (np.abs(batch.rewards.numpy()[..., None] - paid).min(-1) < 1e-6).all()


@pytest.mark.slow
def test_the_teacher_is_recorded_only_after_episode_1_found_the_target():
    """The teacher signal: the maze's teacher actions at every step, and a mask that holds the
    steps of episode 2 in the trials whose episode 1 reached the target, and nothing else."""
    from rl2_course.envs import TrialEnv
    from rl2_course.envs.maze import MazeTasks
    from rl2_course.envs.trial import TrialInputLayout
    from rl2_course.signals import Teacher
    from rl2_course.train import fresh_state, collect_trials

    config = TrainConfig.for_maze("small", trials_per_update=6, hidden_size=16)
    state = fresh_state(config)
    env = TrialEnv(MazeTasks(6, 1, 3, time_limit=25), 2)    # short corridors: often found
    try:
        batch = collect_trials(state.model, env, 1, state.sampler, signals=[Teacher(0.1, None)])
    finally:
        env.task_env.close()
    teacher_actions, teacher_mask = batch.signal_data[0]["actions"], batch.signal_data[0]["mask"]
    assert teacher_actions.shape == batch.actions.shape == teacher_mask.shape
    assert set(teacher_actions.unique().tolist()) <= {0, 1, 2}
    episode = torch.cumsum(torch.from_numpy(TrialInputLayout(3 * 30 * 40, 3)
                                            .split(batch.x.numpy()).prev_done), 0)
    found_in_1 = ((batch.rewards > 0.5) & (episode == 0)).any(0)            # (B,)
    expected = (episode >= 1) & found_in_1[None, :] & (batch.valid > 0)
    assert torch.equal(teacher_mask > 0, expected)
    assert found_in_1.any() and not found_in_1.all()     # both kinds of trial were drawn


@pytest.mark.slow
def test_export_size_makes_a_maze_agent_play_another_size_and_every_table_says_so(tmp_path, capsys):
    """``export --size``: the weights copied, an attention context grown to the new size's
    trial (its new positions repeat the last episode's), the new size recorded as the task and
    the trained one in ``grown_from``; the evaluation's note and Table 3's ‡ say so. A warm
    start across sizes grows the context the same way."""
    from rl2_course.evaluate_maze import MazeEvaluation, make_maze_agent
    from rl2_course.reproduce import MazeTableEntry, MazeTableRow, table3_markdown
    from rl2_course.settings import pretrained_checkpoint
    from rl2_course.train import fresh_state

    tiny = dict(cell="attention", hidden_size=8, attention_heads=2, ppo_epochs=1, minibatches=1)
    run = train(TrainConfig.for_maze("paper-small", updates=1, trials_per_update=2, time_limit=3,
                                     **tiny), tmp_path / "run", progress=False)   # context 2 × 3
    large = tmp_path / "large.pt"
    assert main(["export", str(tmp_path / "run"), str(large), "--size", "paper-large"]) == 0
    model, meta = load_checkpoint(large)
    old, new = (m.gru.position.weight.detach() for m in (run.model, model))
    assert new.shape == (2 * 1000, 8)                       # paper-large: 2 episodes of 1,000
    torch.testing.assert_close(new[:6], old)
    torch.testing.assert_close(new[6:12], torch.cat([old[3:6], old[3:6]]))
    assert meta["env_spec"] == {**load_checkpoint(run.checkpoint_path)[1]["env_spec"],
                                "size": "paper-large"}
    assert meta["extra"]["grown_from"] == {"checkpoint": "checkpoint.pt", "size": "paper-small"}
    for name, tensor in run.model.state_dict().items():      # every other weight unchanged
        if name != "gru.position.weight":
            torch.testing.assert_close(model.state_dict()[name], tensor)

    agent = make_maze_agent("rl2", "paper-large", checkpoint=large)
    assert agent.trained_size == "paper-small"
    evaluation = MazeEvaluation("paper-large", 2, 1, {}, trained_sizes={"rl2": "paper-small",
                                                                         "rl2-forgetful": "paper-small"})
    assert ("note: rl2, rl2-forgetful were trained on paper-small mazes only and play "
            "paper-large here unchanged (export --size)") in evaluation.notes()
    row = MazeTableRow("paper-large", "same", 2,
                       [MazeTableEntry("rl2", "same", None, (), "paper-small")])
    text = table3_markdown([row])
    assert "| paper-large | RL² | paper-small mazes ‡, same starts |" in text
    assert "‡: trained on mazes of that size only" in text

    back = tmp_path / "back.pt"                              # home again: no label left
    assert main(["export", str(large), str(back), "--size", "paper-small"]) == 0
    assert "grown_from" not in load_checkpoint(back)[1]["extra"]
    for args, says in [(["--size", "paper-small"], "plays paper-small mazes already"),
                       (["--size", "huge"], "unknown maze size"),
                       (["--size", "small", "--episodes", "3"], "not both")]:
        assert main(["export", str(tmp_path / "run"), str(tmp_path / "x.pt"), *args]) == 2
        assert says in capsys.readouterr().err
    assert main(["export", str(pretrained_checkpoint(5, 10)), str(tmp_path / "x.pt"),
                 "--size", "small"]) == 2
    assert "was not trained on mazes" in capsys.readouterr().err

    # --init-from across sizes: the source's episode (3 steps) is what the new positions repeat
    warm = fresh_state(TrainConfig.for_maze("paper-large", time_limit=5,
                                            init_from=str(run.checkpoint_path), **tiny))
    grown = warm.model.gru.position.weight.detach()
    torch.testing.assert_close(grown, torch.cat([old, old[3:6], old[3:4]]))

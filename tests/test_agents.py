"""The RL² network, its Policy wrapper and its checkpoints."""

import io
import zipfile

import numpy as np
import pytest
import torch

from rl2_course.agents import (RecurrentActorCritic, RL2Agent, load_checkpoint,
                               save_checkpoint)
from rl2_course.agents.rl2_agent import RL2State
from rl2_course.envs import make_bandit_trials
from rl2_course.envs.bandit import task_spec as bandit_env_spec
from rl2_course.errors import UsageError
from rl2_course.evaluate import evaluate_bandit, make_bandit_agent
from rl2_course.policy import Policy
from rl2_course.rollout import run_trials


def tiny_model(arms=3, hidden=8, seed=0) -> RecurrentActorCritic:
    torch.manual_seed(seed)
    return RecurrentActorCritic(1, arms, hidden)


def manual_gru_step(gru: torch.nn.GRU, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The GRU equations written out (PyTorch's gate order r, z, n), no reset anywhere."""
    w_ih, w_hh, b_ih, b_hh = gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def play_trial_inputs(arms=3, episodes=4, batch=2, seed=5) -> torch.Tensor:
    """The inputs x_0..x_{n-1} of one bandit trial under a fixed action sequence, (T, B, D)."""
    env = make_bandit_trials(arms, episodes, batch)
    x, _ = env.reset(seed=seed)
    xs = [x]
    for t in range(episodes - 1):
        x, *_ = env.step(np.full(batch, t % arms))
        xs.append(x)
    return torch.from_numpy(np.stack(xs))


def test_hidden_state_is_carried_across_episode_boundaries_and_reset_at_trial_start():
    model = tiny_model()
    xs = play_trial_inputs()
    done_column = model.layout.size - 1
    assert torch.all(xs[1:, :, done_column] == 1.0)    # every later input says "an episode ended"
    with torch.no_grad():
        _, _, h_final = model.forward_sequence(xs, model.initial_hidden(2))
        h = torch.zeros(2, 8)                           # trial start: h_0 = 0
        hs = []
        for x in xs:
            h = manual_gru_step(model.gru, x, h)        # no (1 - done) * h anywhere
            hs.append(h)
        assert torch.allclose(h_final, hs[-1], atol=1e-6)
        # step-by-step through the model agrees too, and the state after a done=1 input is
        # the continuation, not a fresh start from zero
        h_step = model.initial_hidden(2)
        for t, x in enumerate(xs):
            _, _, h_step = model.step(x, h_step)
            assert torch.allclose(h_step, hs[t], atol=1e-6)
        fresh = manual_gru_step(model.gru, xs[2], torch.zeros(2, 8))
        assert not torch.allclose(hs[2], fresh, atol=1e-4)

    agent = RL2Agent(model)
    state = agent.initial_state(2, seed=0)
    assert torch.equal(state.hidden, torch.zeros(2, 8))
    _, state = agent.act(xs[0].numpy(), state)
    assert state.hidden.abs().sum() > 0
    assert torch.equal(agent.initial_state(2, seed=0).hidden, torch.zeros(2, 8))


def test_the_forgetful_ablation_starts_every_episode_like_a_fresh_trial():
    """``forget_between_episodes`` wipes a row's memory where the previous step ended an episode
    (and only there): its π then equals the intact agent's π at a trial's first step."""
    model = tiny_model()
    xs = play_trial_inputs(arms=3, episodes=4, batch=2).numpy()    # every later input has d = 1
    intact, forgetful = RL2Agent(model), RL2Agent(model, forget_between_episodes=True)
    state_i, state_f = intact.initial_state(2, seed=0), forgetful.initial_state(2, seed=0)
    _, state_i = intact.act(xs[0], state_i)
    _, state_f = forgetful.act(xs[0], state_f)
    assert np.allclose(state_i.probs, state_f.probs)               # no episode has ended yet
    first = xs[1].copy()
    first[:, model.layout.observation_size:] = 0.0                  # as at a trial's first step
    _, fresh = intact.act(first, intact.initial_state(2, seed=0))
    _, state_i = intact.act(xs[1], state_i)
    _, state_f = forgetful.act(xs[1], state_f)
    assert np.allclose(state_f.probs, fresh.probs, atol=1e-6)
    assert not np.allclose(state_i.probs, state_f.probs, atol=1e-4)
    # a row whose previous step did not end an episode keeps its memory
    mixed = xs[1].copy()
    mixed[0, -1] = 0.0
    _, kept = forgetful.act(mixed, state_f)
    _, same = intact.act(mixed[:1], RL2State(state_f.hidden[:1], state_f.generator))
    assert np.allclose(kept.probs[0], same.probs[0], atol=1e-6)
    assert "forget_between_episodes=True" in repr(forgetful)


def test_step_matches_forward_sequence():
    model = tiny_model(arms=4, hidden=16)
    xs = play_trial_inputs(arms=4, episodes=6, batch=3)
    with torch.no_grad():
        logits, values, _ = model.forward_sequence(xs, model.initial_hidden(3))
        h = model.initial_hidden(3)
        for t in range(xs.shape[0]):
            step_logits, step_value, h = model.step(xs[t], h)
            assert torch.allclose(step_logits, logits[t], atol=1e-6)
            assert torch.allclose(step_value, values[t], atol=1e-6)
    assert logits.shape == (6, 3, 4) and values.shape == (6, 3)


def test_agent_is_a_seeded_policy_and_exposes_its_probabilities():
    agent = RL2Agent(tiny_model())
    assert isinstance(agent, Policy) and agent.name == "rl2"
    env = make_bandit_trials(3, 6, 50)
    a = run_trials(env, agent, seed=1, policy_seed=np.random.SeedSequence(7))
    b = run_trials(env, agent, seed=1, policy_seed=np.random.SeedSequence(7))
    c = run_trials(env, agent, seed=1, policy_seed=np.random.SeedSequence(8))
    assert np.array_equal(a.actions, b.actions) and not np.array_equal(a.actions, c.actions)
    x, _ = env.reset(seed=0)
    _, state = agent.act(x, agent.initial_state(50, seed=3))
    assert state.probs.shape == (50, 3) and np.allclose(state.probs.sum(1), 1, atol=1e-6)
    assert state.value.shape == (50,)
    greedy = RL2Agent(tiny_model(), greedy=True)
    actions, state = greedy.act(x, greedy.initial_state(50, seed=3))
    assert np.array_equal(actions, state.probs.argmax(1))
    with pytest.raises(ValueError, match="shape"):
        agent.act(np.zeros((2, 9), dtype=np.float32), agent.initial_state(2, 0))


# -- checkpoints ------------------------------------------------------------------------------

def saved(tmp_path, arms=5, episodes=10, name="ckpt.pt"):
    model = tiny_model(arms=arms)
    path = save_checkpoint(tmp_path / name, model, {"seed": 0, "hidden_size": 8},
                           bandit_env_spec(arms, episodes), {"update": 3, "rng": [1, 2]})
    return model, path


def test_checkpoint_round_trip_loads_with_weights_only(tmp_path):
    model, path = saved(tmp_path)
    raw = torch.load(path, weights_only=True)              # plain torch can read it safely
    assert raw["format_version"] == 1 and raw["env_spec"]["arms"] == 5
    loaded, meta = load_checkpoint(path, expected_env_spec=bandit_env_spec(5, 10))
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    assert meta["extra"]["update"] == 3 and meta["config"]["hidden_size"] == 8
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]   # no temporary file left


def test_saving_refuses_values_that_weights_only_could_not_read(tmp_path):
    with pytest.raises(TypeError, match="plain"):
        save_checkpoint(tmp_path / "x.pt", tiny_model(), {"when": object()},
                        bandit_env_spec(3, 4), {})
    assert not list(tmp_path.iterdir())


class Payload:
    """Stands in for anything a malicious or careless checkpoint could pickle."""


def one_line_error(path, **kwargs) -> str:
    with pytest.raises(UsageError) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_pickled_objects_are_refused(tmp_path):
    model, path = saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["extra"]["surprise"] = Payload()
    torch.save(payload, tmp_path / "evil.pt")
    assert "arbitrary Python objects" in one_line_error(tmp_path / "evil.pt")


def test_checkpoint_for_another_setting_is_refused(tmp_path):
    _, path = saved(tmp_path, arms=5, episodes=10)
    message = one_line_error(path, expected_env_spec=bandit_env_spec(10, 10))
    assert message == f"checkpoint {path} was trained on bandit k=5, n=10, not k=10, n=10"
    with pytest.raises(UsageError, match="k=5, n=10, not k=5, n=100"):
        make_bandit_agent("rl2", 5, 100, checkpoint=path)


def test_missing_corrupt_truncated_and_foreign_files_are_refused(tmp_path):
    _, path = saved(tmp_path)
    assert "no checkpoint at" in one_line_error(tmp_path / "nope.pt")
    data = path.read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    assert "corrupt or truncated" in one_line_error(tmp_path / "half.pt")
    (tmp_path / "junk.pt").write_bytes(b"this is not a checkpoint")
    assert "corrupt or truncated" in one_line_error(tmp_path / "junk.pt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("hello.txt", "a zip, but not torch's")
    (tmp_path / "zip.pt").write_bytes(buffer.getvalue())
    assert "corrupt or truncated" in one_line_error(tmp_path / "zip.pt")
    torch.save(tiny_model().state_dict(), tmp_path / "bare.pt")   # weights without our format
    assert "not an rl2_course checkpoint" in one_line_error(tmp_path / "bare.pt")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "future.pt")
    assert "format version 99" in one_line_error(tmp_path / "future.pt")


def test_evaluator_runs_rl2_from_a_checkpoint_and_explains_a_missing_pretrained_one(
        tmp_path, monkeypatch):
    _, path = saved(tmp_path, arms=3, episodes=5, name="checkpoint.pt")
    out = evaluate_bandit(3, 5, ["rl2", "random"], 200, seed=0, checkpoint=path)
    again = evaluate_bandit(3, 5, ["rl2"], 200, seed=0, checkpoint=tmp_path)   # the --out dir
    assert np.array_equal(out.results["rl2"].returns, again.results["rl2"].returns)
    assert 0 <= out.results["rl2"].mean <= 5
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path / "empty"))
    with pytest.raises(UsageError, match=r"no pretrained rl2 checkpoint for bandit k=3, n=5 "
                                         r"\(train one with: python -m rl2_course train bandit"):
        evaluate_bandit(3, 5, ["rl2"], 10, seed=0)
    with pytest.raises(UsageError, match="rl2 is not among"):
        evaluate_bandit(3, 5, ["random"], 10, seed=0, checkpoint=path)

"""The PPO trainer: GAE, reproducibility, resume, the log, and the CLI end to end."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from rl2_course.agents import load_checkpoint
from rl2_course.errors import UsageError
from rl2_course.settings import BANDIT_SETTINGS, bandit_setting, pretrained_checkpoint
from rl2_course.envs.trial import TrialInputLayout
from rl2_course.agents import RecurrentActorCritic
from rl2_course.envs import make_mdp_trials
from rl2_course.train import (LOG_COLUMNS, TrainConfig, TrialBatch, collect_trials, compute_gae,
                              fresh_state, ppo_loss, ppo_update, read_log, train)


def tiny(**overrides) -> TrainConfig:
    """A configuration small enough that an update takes milliseconds."""
    base = dict(trials_per_update=16, hidden_size=8, ppo_epochs=2, minibatches=2,
                schedule_updates=4, checkpoint_every=1)
    return TrainConfig.for_bandit(3, 5, **{**base, **overrides})


def params(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_params(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_compute_gae_by_hand():
    # One trial of 3 steps, γ = 0.9, λ = 0.5; the trial ends at step 2 (d_2 = 1).
    #   r = (1, 0, 2), V = (0.5, 1.0, 1.5)
    #   δ_2 = 2 + 0            − 1.5 =  0.5          (terminal: no bootstrap)
    #   δ_1 = 0 + 0.9 · 1.5    − 1.0 =  0.35
    #   δ_0 = 1 + 0.9 · 1.0    − 0.5 =  1.4
    #   A_2 = 0.5
    #   A_1 = 0.35 + 0.45 · 0.5   = 0.575            (γλ = 0.45)
    #   A_0 = 1.4  + 0.45 · 0.575 = 1.65875
    #   R   = A + V = (2.15875, 1.575, 2.0)
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])
    dones = torch.tensor([[0.0], [0.0], [1.0]])
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([123.0]), gamma=0.9, lam=0.5)
    assert torch.allclose(adv[:, 0], torch.tensor([1.65875, 0.575, 0.5]))
    assert torch.allclose(ret[:, 0], torch.tensor([2.15875, 1.575, 2.0]))
    # Without the terminal flag the last step bootstraps from last_value: δ_2 = 2 + 0.9·2 − 1.5.
    adv, _ = compute_gae(rewards, values, torch.zeros_like(dones), torch.tensor([2.0]), 0.9, 0.5)
    assert torch.isclose(adv[2, 0], torch.tensor(2.3))


def test_same_seed_same_parameters_other_seed_other_parameters(tmp_path):
    a = train(tiny(updates=2), tmp_path / "a", progress=False)
    b = train(tiny(updates=2), tmp_path / "b", progress=False)
    c = train(tiny(updates=2, seed=1), tmp_path / "c", progress=False)
    assert_same_params(params(a.model), params(b.model))
    assert not torch.equal(a.model.policy_head.weight, c.model.policy_head.weight)


@pytest.mark.parametrize("bptt", [None, 2])
def test_resume_gives_exactly_the_uninterrupted_parameters(tmp_path, bptt):
    straight = train(tiny(updates=4, bptt_length=bptt), tmp_path / "straight", progress=False)
    first = train(tiny(updates=2, bptt_length=bptt, checkpoint_every=100), tmp_path / "split",
                  progress=False)
    assert first.updates == 2
    resumed = train(tiny(updates=4, bptt_length=bptt), tmp_path / "split", resume=True,
                    progress=False)
    assert resumed.updates == 4 and resumed.trials_seen == straight.trials_seen == 64
    assert_same_params(params(straight.model), params(resumed.model))
    a, b = read_log(straight.log_path), read_log(resumed.log_path)
    assert list(b["update"]) == [1, 2, 3, 4]
    for column in LOG_COLUMNS:
        if column != "wall_seconds":
            assert np.array_equal(a[column], b[column]), column


def test_resume_drops_rows_after_the_checkpoint_and_a_truncated_last_line(tmp_path, capsys):
    out = tmp_path / "run"
    train(tiny(updates=2), out, progress=False)
    log = out / "log.csv"
    lines = log.read_text().splitlines()
    # pretend the run logged update 3, then crashed in the middle of writing update 4's row
    row_3 = ",".join(["3", "48"] + ["1.0"] * (len(lines[0].split(",")) - 2))
    log.write_text("\n".join(lines + [row_3, "4,64,1.2"]))
    train(tiny(updates=3), out, resume=True, progress=False)
    assert "truncated last line" in capsys.readouterr().err
    assert list(read_log(log)["update"]) == [1, 2, 3]
    assert read_log(log)["mean_return"][2] != 1.0          # update 3 was redone, not kept


def test_a_log_from_before_new_columns_is_carried_over_on_resume(tmp_path, capsys):
    out = tmp_path / "run"
    train(tiny(updates=2), out, progress=False)
    log = out / "log.csv"
    header, *rows = log.read_text().splitlines()
    old = [c for c in header.split(",") if c not in ("first_episode_return", "adam_steps")]
    keep = [header.split(",").index(c) for c in old]
    log.write_text("\n".join([",".join(old)] + [",".join(r.split(",")[i] for i in keep) for r in rows]) + "\n")
    train(tiny(updates=3), out, resume=True, progress=False)
    assert "columns the log did not have" in capsys.readouterr().err
    columns = read_log(log)
    assert list(columns["update"]) == [1, 2, 3] and np.isnan(columns["adam_steps"][:2]).all()
    assert columns["adam_steps"][2] > 0


def test_a_malformed_log_is_refused_on_resume(tmp_path):
    out = tmp_path / "run"
    train(tiny(updates=1), out, progress=False)
    log = out / "log.csv"
    log.write_text(log.read_text().replace("\n1,", "\n1,oops,", 1))
    with pytest.raises(UsageError, match="line 2 is malformed"):
        train(tiny(updates=2), out, resume=True, progress=False)
    log.write_text("something else\n")
    with pytest.raises(UsageError, match="not a training log"):
        train(tiny(updates=2), out, resume=True, progress=False)


def test_bad_runs_are_refused(tmp_path):
    with pytest.raises(UsageError, match="no checkpoint at .* to resume from"):
        train(tiny(updates=1), tmp_path / "empty", resume=True, progress=False)
    train(tiny(updates=1), tmp_path / "done", progress=False)
    with pytest.raises(UsageError, match="already exists; pass --resume"):
        train(tiny(updates=1), tmp_path / "done", progress=False)
    with pytest.raises(UsageError, match="seed=0, not 5"):
        train(tiny(updates=2, seed=5), tmp_path / "done", resume=True, progress=False)
    with pytest.raises(UsageError, match="not both"):
        train(tiny(updates=1, minutes=1.0), tmp_path / "x", progress=False)
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="not a directory"):
        train(tiny(updates=1), tmp_path / "file", progress=False)
    with pytest.raises(UsageError, match="cannot write"):
        train(tiny(updates=1), tmp_path / "file" / "sub", progress=False)


def test_settings_table_covers_the_paper_and_derives_the_rest(monkeypatch, tmp_path):
    assert {(k, n) for k in (5, 10, 50) for n in (10, 100, 500)} <= set(BANDIT_SETTINGS)
    other = bandit_setting(7, 30)
    assert other.actions == 7 and other.episodes == 30 and other.trials_per_update >= 1
    assert pretrained_checkpoint(5, 10).name == "bandit-k5-n10.pt"
    monkeypatch.setenv("RL2_COURSE_ASSETS", str(tmp_path))
    assert bandit_setting(5, 10).checkpoint == tmp_path / "checkpoints" / "bandit-k5-n10.pt"


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rl2_course", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **env})


def one_line(out: subprocess.CompletedProcess, word: str) -> None:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert word in lines[0], lines[0]


def test_cli_train_then_evaluate_the_checkpoint(tmp_path):
    out = tmp_path / "run"
    trained = run_cli("train", "bandit", "--arms", "3", "--episodes", "4", "--seed", "1",
                      "--out", str(out), "--updates", "1", "--quiet")
    assert trained.returncode == 0, trained.stderr
    assert (out / "checkpoint.pt").exists() and (out / "log.csv").exists()
    resumed = run_cli("train", "bandit", "--arms", "3", "--episodes", "4", "--seed", "1",
                      "--out", str(out), "--updates", "2", "--resume", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert list(read_log(out / "log.csv")["update"]) == [1, 2]

    evaluated = run_cli("evaluate", "bandit", "--arms", "3", "--episodes", "4", "--agents",
                        "rl2,random", "--trials", "100", "--checkpoint",
                        str(out / "checkpoint.pt"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    data = json.loads(evaluated.stdout)
    assert list(data["results"]) == ["rl2", "random"]
    assert 0.0 <= data["results"]["rl2"]["mean"] <= 4.0

    one_line(run_cli("evaluate", "bandit", "--arms", "4", "--episodes", "4", "--agents", "rl2",
                     "--trials", "10", "--checkpoint", str(out / "checkpoint.pt")),
             "was trained on bandit k=3, n=4, not k=4, n=4")
    one_line(run_cli("evaluate", "bandit", "--arms", "3", "--episodes", "4", "--agents", "rl2",
                     "--trials", "10", RL2_COURSE_ASSETS=str(tmp_path / "no-assets")),
             "no pretrained rl2 checkpoint for bandit k=3, n=4 (train one with: "
             "python -m rl2_course train bandit")


@pytest.mark.parametrize("args, word", [
    (["--minutes", "1", "--updates", "3"], "not allowed with"),
    (["--resume"], "no checkpoint at"),
    (["--updates", "0"], "--updates must be at least 1"),
    (["--arms", "1"], "--arms must be at least 2"),
])
def test_cli_train_bad_input_is_one_line(tmp_path, args, word):
    base = {"--arms": "3", "--episodes": "4", "--out": str(tmp_path / "run")}
    for flag in args:
        base.pop(flag, None)
    argv = [x for kv in base.items() for x in kv] + args
    one_line(run_cli("train", "bandit", *argv, "--quiet"), word)


def test_cli_train_refuses_an_unwritable_out(tmp_path):
    (tmp_path / "file").write_text("")
    one_line(run_cli("train", "bandit", "--arms", "3", "--episodes", "4", "--updates", "1",
                     "--out", str(tmp_path / "file" / "run"), "--quiet"), "cannot write to --out")



def test_init_from_starts_at_another_runs_weights_and_refuses_another_network(tmp_path):
    short = train(tiny(updates=2), tmp_path / "short", progress=False)          # trials of n=5
    longer = dict(trials_per_update=16, hidden_size=8, ppo_epochs=2, minibatches=2, schedule_updates=4)
    warm_config = TrainConfig.for_bandit(3, 9, seed=1, init_from=str(short.checkpoint_path), updates=1,
                                         **longer)
    warm = train(warm_config, tmp_path / "warm", progress=False)
    cold = train(dataclasses.replace(warm_config, init_from=None), tmp_path / "cold", progress=False)

    def distance(a, b):
        return sum(float((a[k] - b[k]).abs().max()) for k in a)

    # one small update away from the short run's weights, far from a fresh network's
    assert distance(params(warm.model), params(short.model)) < 0.5 * distance(params(cold.model),
                                                                               params(short.model))
    # resuming a warm-started run does not need (or re-apply) the source checkpoint
    short.checkpoint_path.rename(tmp_path / "moved.pt")
    resumed = train(dataclasses.replace(warm_config, updates=2), tmp_path / "warm", resume=True,
                    progress=False)
    assert resumed.updates == 2
    with pytest.raises(UsageError, match="moved.pt.*does not fit.*hidden_size 8 there, 16 here"):
        train(TrainConfig.for_bandit(3, 9, init_from=str(tmp_path / "moved.pt"), updates=1,
                                     **{**longer, "hidden_size": 16}), tmp_path / "bigger", progress=False)
    # the gates' initial bias is an initial value, which the copied weights replace: the
    # agents of the issue-26 recipe (bias 2) warm-start runs of the default recipe
    held = train(TrainConfig.for_bandit(3, 5, update_gate_bias=2.0, updates=1, **longer),
                 tmp_path / "held", progress=False)
    regrown = fresh_state(TrainConfig.for_bandit(3, 9, init_from=str(held.checkpoint_path), **longer))
    assert distance(params(regrown.model), params(held.model)) == 0.0
    with pytest.raises(UsageError, match="nowhere.pt"):
        train(TrainConfig.for_bandit(3, 9, init_from=str(tmp_path / "nowhere.pt"), updates=1, **longer),
              tmp_path / "x", progress=False)


def test_the_same_trainer_learns_on_tabular_mdps(tmp_path):
    """`train mdp` end to end: one-hot state inputs, 5 actions, an mdp checkpoint that the MDP
    evaluator loads and the bandit evaluator refuses."""
    run = tmp_path / "mdp"
    done = subprocess.run([sys.executable, "-m", "rl2_course", "train", "mdp", "--episodes", "2",
                           "--updates", "2", "--seed", "3", "--quiet", "--out", str(run)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    model, meta = load_checkpoint(run / "checkpoint.pt")
    assert meta["env_spec"] == {"env": "mdp", "states": 10, "actions": 5, "horizon": 10, "episodes": 2}
    assert model.spec()["observation_size"] == 10 and model.spec()["num_actions"] == 5
    assert len(read_log(run / "log.csv")["update"]) == 2
    evaluated = subprocess.run([sys.executable, "-m", "rl2_course", "evaluate", "mdp", "--episodes", "2",
                                "--agents", "rl2,random", "--trials", "100", "--seed", "1", "--json",
                                "--checkpoint", str(run)], capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr
    assert set(json.loads(evaluated.stdout)["results"]) == {"rl2", "random"}
    for args in (["mdp", "--episodes", "3"], ["bandit", "--arms", "5", "--episodes", "2"]):
        refused = subprocess.run([sys.executable, "-m", "rl2_course", "evaluate", *args, "--agents", "rl2",
                                  "--trials", "10", "--checkpoint", str(run)],
                                 capture_output=True, text=True, timeout=600)
        assert refused.returncode == 2 and "trained on mdp n=2" in refused.stderr


def test_set_overrides_parse_to_the_fields_types_and_refuse_the_rest():
    from rl2_course.train import parse_overrides

    assert parse_overrides(["hidden_size=256", "gae_lambda=0.3", "bptt-length=none"]) == {
        "hidden_size": 256, "gae_lambda": 0.3, "bptt_length": None}
    for bad, word in [(["seed=3"], "FIELD one of"), (["hidden_size=big"], "not a valid integer"),
                      (["learning_rate"], "FIELD=VALUE"), (["clip_coef=none"], "not a valid number")]:
        with pytest.raises(UsageError, match=word):
            parse_overrides(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "rl2_course", "train", "mdp", "--episodes", "2",
                           "--updates", "1", "--device", "cuda", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "no CUDA GPU" in done.stderr and not (tmp_path / "run" / "checkpoint.pt").exists()


def _uneven_trials(config: TrainConfig, lengths: list[int], steps: int, padding_value: float
                   ) -> TrialBatch:
    """A batch of trials of the given lengths, as the maze produces them: each row waits
    (``valid`` = 0) after its trial ended; its padding steps hold ``padding_value``."""
    gen = torch.Generator().manual_seed(0)
    batch = len(lengths)
    valid = (torch.arange(steps)[:, None] < torch.tensor(lengths)[None, :]).float()
    inputs = TrialInputLayout(1, config.task["arms"]).size
    x = torch.rand(steps, batch, inputs, generator=gen)
    x = torch.where(valid[..., None] > 0, x, torch.full_like(x, padding_value))
    dones = torch.zeros(steps, batch)
    dones[torch.tensor(lengths) - 1, torch.arange(batch)] = 1.0
    segments = -(-steps // (config.bptt_length or steps))
    return TrialBatch(x=x, actions=torch.randint(0, config.task["arms"], (steps, batch), generator=gen),
                      logprobs=torch.full((steps, batch), -1.1),
                      values=torch.rand(steps, batch, generator=gen) * valid,
                      rewards=torch.rand(steps, batch, generator=gen) * valid, dones=dones,
                      entropy=torch.ones(steps, batch),
                      segment_h0=torch.rand(segments, batch, config.hidden_size, generator=gen),
                      valid=valid)


@pytest.mark.parametrize("bptt", [4, None])
def test_steps_after_a_trial_ended_neither_reach_the_network_nor_change_the_update(bptt):
    config = tiny(bptt_length=bptt)
    lengths, steps = [3, 17, 9, 5], 17          # with bptt=4: 5 segments, 8 of 20 wholly padding
    updated = []
    for padding_value in (0.0, 7.0):
        state = fresh_state(config)
        seen_columns = []
        forward = state.model.hidden_sequence

        def recording_forward(x, h0, forward=forward, seen=seen_columns):
            seen.append(x.shape[1])
            return forward(x, h0)

        state.model.hidden_sequence = recording_forward
        batch = _uneven_trials(config, lengths, steps, padding_value)
        ppo_update(state.model, state.optimizer, batch, config, 0.01, np.random.default_rng(0))
        own_columns = sum(-(-n // (bptt or steps)) for n in lengths)
        assert sum(seen_columns) == config.ppo_epochs * own_columns
        updated.append(params(state.model))
    # what lies in a finished row's steps (the env leaves it alone) must not matter
    for k in updated[0]:
        assert torch.allclose(updated[0][k], updated[1][k], atol=1e-6), k


# --------------------------------------------------------------------------------------------
# The hooks a course exercise plugs into: the rollout and the loss
# --------------------------------------------------------------------------------------------

def test_ppo_loss_by_hand_and_where_it_stops_pulling():
    # ratios 1.5, 0.5, 1.5, 0.5 against advantages +1, +1, -1, -1 with epsilon 0.2: the clipped
    # term is the smaller one at steps 0 and 3, whose gradients must therefore vanish
    new_logp = torch.log(torch.tensor([1.5, 0.5, 1.5, 0.5])).requires_grad_()
    values = torch.tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)
    terms = ppo_loss(new_logp=new_logp, old_logp=torch.zeros(4),
                     advantages=torch.tensor([1.0, 1.0, -1.0, -1.0]), values=values,
                     returns=torch.ones(4), entropy=torch.ones(4), mask=torch.ones(4),
                     clip_coef=0.2, value_coef=0.5, entropy_coef=0.01)
    expected = {"policy": -(1.2 + 0.5 - 1.5 - 0.8) / 4, "value": 0.5 * 6 / 4, "entropy": 1.0}
    expected["total"] = expected["policy"] + 0.5 * expected["value"] - 0.01
    for name, value in expected.items():
        assert abs(float(getattr(terms, name).detach()) - value) < 1e-6, name
    terms.total.backward()
    assert torch.allclose(new_logp.grad, torch.tensor([0.0, -0.125, 0.375, 0.0]), atol=1e-6)
    assert torch.allclose(values.grad, torch.tensor([-0.125, 0.0, 0.125, 0.25]), atol=1e-6)
    # padding (mask 0) counts for nothing, whatever it holds
    padded = ppo_loss(new_logp=torch.tensor([0.1, 9.0]), old_logp=torch.zeros(2),
                      advantages=torch.tensor([1.0, -50.0]), values=torch.tensor([2.0, 99.0]),
                      returns=torch.tensor([1.0, 0.0]), entropy=torch.tensor([0.5, 80.0]),
                      mask=torch.tensor([1.0, 0.0]), clip_coef=0.2, value_coef=0.5, entropy_coef=0.01)
    ratio = float(np.exp(0.1))                   # inside [0.8, 1.2]: not clipped
    assert torch.allclose(torch.stack(tuple(padded)),
                          torch.tensor([-ratio + 0.25 - 0.005, -ratio, 0.5, 0.5]), atol=1e-6)


def test_the_trainer_calls_its_rollout_and_loss_hooks_and_defaults_to_the_package(tmp_path):
    """A hook that only delegates must give the plain run's weights, bit for bit."""
    config = tiny(updates=2)
    calls = {"rollout": 0, "loss": 0}

    def rollout(*args):
        calls["rollout"] += 1
        return collect_trials(*args)

    def loss(**kwargs):
        calls["loss"] += 1
        return tuple(ppo_loss(**kwargs))         # a plain tuple is enough

    plain = train(config, tmp_path / "plain", progress=False)
    hooked = train(config, tmp_path / "hooked", progress=False, rollout=rollout, loss=loss)
    assert calls == {"rollout": 2, "loss": 2 * config.ppo_epochs * config.minibatches}
    assert_same_params(params(plain.model), params(hooked.model))
    assert np.array_equal(read_log(plain.log_path)["value_loss"], read_log(hooked.log_path)["value_loss"])


def _replay_gap(model, batch) -> float:
    """How far what PPO recomputes (the network over each whole trial from h0 = 0) is from
    the log-probabilities and values the rollout recorded."""
    with torch.no_grad():
        logits, values, _ = model.forward_sequence(batch.x, model.initial_hidden(batch.x.shape[1]))
        logp = torch.log_softmax(logits, -1).gather(-1, batch.actions[..., None]).squeeze(-1)
    return max(float((logp - batch.logprobs).abs().max()), float((values - batch.values).abs().max()))


def test_the_rollout_keeps_the_memory_across_episodes_and_ppo_replays_what_it_played():
    """The silent bug of chapter 02's exercise 2.5: a rollout that clears the memory at episode
    starts (recurrent PPO for ordinary RL) runs and trains, but acts without memory."""
    torch.manual_seed(0)
    env = make_mdp_trials(episodes=3, num_tasks=8)
    model = RecurrentActorCritic(env.layout.observation_size, env.num_actions, hidden_size=16)
    batch = collect_trials(model, env, 4, torch.Generator().manual_seed(0))
    assert _replay_gap(model, batch) < 1e-5

    class ClearsAtEpisodeStarts:
        """The network, with its memory zeroed wherever the input's done flag is set."""
        device = model.device
        initial_hidden = model.initial_hidden

        def step(self, x, h, **kwargs):
            return model.step(x, h * (1.0 - x[:, -1:]))

    buggy = collect_trials(ClearsAtEpisodeStarts(), env, 4, torch.Generator().manual_seed(0))
    assert _replay_gap(model, buggy) > 1e-3


def test_a_run_on_another_arm_prior_trains_there_and_keeps_it_on_resume(tmp_path):
    # a curriculum over the task distribution: --set prior=A:B draws the run's bandits from
    # Beta(A, B) (mean A / (A + B)); the paper's U[0, 1] (mean 1/2) otherwise
    env = tiny(prior="1:3").make_env(4000)
    env.reset(seed=0)
    assert abs(env.task_env.arm_means.mean() - 0.25) < 0.01
    env = tiny().make_env(4000)
    env.reset(seed=0)
    assert abs(env.task_env.arm_means.mean() - 0.5) < 0.01
    train(tiny(updates=1, prior="1:3"), tmp_path / "run", progress=False)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")[1]["config"]["task"]["prior"] == "1:3"
    with pytest.raises(UsageError, match="trained with task="):
        train(tiny(updates=2), tmp_path / "run", resume=True, progress=False)
    with pytest.raises(UsageError, match="a Beta prior needs two positive numbers"):
        TrainConfig.for_bandit(3, 5, prior="0:1")


def test_a_run_from_before_a_family_option_existed_resumes(tmp_path):
    # checkpoints written before the bandit family had its `prior` option record no such key
    out = tmp_path / "run"
    straight = train(tiny(updates=2), tmp_path / "straight", progress=False)
    train(tiny(updates=1), out, progress=False)
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    del payload["config"]["task"]["prior"]
    torch.save(payload, out / "checkpoint.pt")
    resumed = train(tiny(updates=2), out, resume=True, progress=False)
    assert_same_params(params(straight.model), params(resumed.model))

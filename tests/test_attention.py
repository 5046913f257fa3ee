"""The causal-attention memory (`rl2_course.agents.attention`): the same function whether run
step by step from its cache, in truncated segments or over a whole trial; causal; cleared by
a zero state; trained, saved, resumed and evaluated like the GRU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rl2_course.agents import RecurrentActorCritic, RL2Agent, load_checkpoint
from rl2_course.agents.attention import CausalAttentionCore
from rl2_course.errors import UsageError
from rl2_course.evaluate_mdp import evaluate_mdp
from rl2_course.train import TrainConfig, fresh_state, read_log, train
from test_train import assert_same_params, params, tiny


def _network(context: int = 12, **options) -> RecurrentActorCritic:
    torch.manual_seed(0)
    return RecurrentActorCritic(4, 3, 16, cell="attention", context=context, attention_layers=2,
                                attention_heads=2, **options).eval()


def test_stepping_from_the_cache_segments_and_whole_trials_agree():
    model = _network()
    x = torch.randn(12, 5, model.input_size)
    h0 = model.initial_hidden(5)
    with torch.no_grad():
        whole, values, h_end = model.forward_sequence(x, h0)
        h, stepped = h0, []
        for t in range(12):
            logits, _, h = model.step(x[t], h)
            stepped.append(logits)
        h_seg, segments = h0, []
        for start in range(0, 12, 5):                  # 5 + 5 + 2: segments read the cache
            logits, _, h_seg = model.forward_sequence(x[start:start + 5], h_seg)
            segments.append(logits)
    torch.testing.assert_close(torch.stack(stepped), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(segments), whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(h, h_end, atol=1e-5, rtol=0)
    assert model.state_size == 1 + model.input_size + 2 * 2 * 12 * 16


def test_in_place_steps_match_the_functional_path_with_rows_at_different_steps():
    model = _network()
    x = torch.randn(12, 3, model.input_size)
    with torch.no_grad():
        whole, _, h_end = model.forward_sequence(x, model.initial_hidden(3))
        late = model.forward_sequence(x[:7, 2:], model.initial_hidden(1))[0]  # row 2 restarts
        h, stepped = model.initial_hidden(3), []
        for t in range(12):
            if t == 5:                                 # a wipe: row 2 begins again at step 5
                h[2] = 0.0
            logits, _, h_next = model.step(x[t] if t < 5 else torch.cat([x[t, :2], x[t - 5, 2:]]),
                                           h, in_place=True)
            assert h_next is h                         # written into the cache, not copied
            stepped.append(logits)
    stepped = torch.stack(stepped)
    torch.testing.assert_close(stepped[:, :2], whole[:, :2], atol=1e-5, rtol=0)
    torch.testing.assert_close(stepped[5:, 2:], late, atol=1e-5, rtol=0)
    torch.testing.assert_close(h[:2], h_end[:2], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="rollouts"):
        model.gru(torch.zeros(1, 1, model.gru.input_size),
                  torch.zeros(1, model.state_size, requires_grad=True), in_place=True)


def test_attention_is_causal_and_a_zero_state_is_a_new_trial():
    model = _network()
    x = torch.randn(10, 3, model.input_size)
    changed = x.clone()
    changed[6:] = torch.randn(4, 3, model.input_size)
    with torch.no_grad():
        before, _, _ = model.forward_sequence(x, model.initial_hidden(3))
        after, _, _ = model.forward_sequence(changed, model.initial_hidden(3))
        torch.testing.assert_close(before[:6], after[:6])
        assert not torch.allclose(before[6:], after[6:])
        # the memory-wipe ablation zeroes a row's state: it then acts as at a trial's start
        _, _, h = model.forward_sequence(x[:4], model.initial_hidden(3))
        h[1] = 0.0
        wiped, _, _ = model.forward_sequence(x[4:6], h)
        fresh, _, _ = model.forward_sequence(x[4:6], model.initial_hidden(3))
    torch.testing.assert_close(wiped[:, 1], fresh[:, 1])
    assert not torch.allclose(wiped[:, 0], fresh[:, 0])


def test_a_trial_longer_than_the_context_is_refused():
    model = _network(context=4)
    with pytest.raises(ValueError, match="attention context of 4 steps"):
        model.forward_sequence(torch.zeros(5, 1, model.input_size), model.initial_hidden(1))
    with pytest.raises(ValueError, match="multiple"):
        CausalAttentionCore(8, 10, context=4, heads=4)


def test_attention_weights_are_a_causal_distribution_over_the_trial():
    core = CausalAttentionCore(4, 8, context=6, layers=1, heads=2)
    h0 = torch.zeros(2, core.state_size)
    with torch.no_grad():
        outputs, _, weights = core(torch.randn(6, 2, 4), h0, return_weights=True)
        plain, _ = core(torch.randn(6, 2, 4), h0)
    w = weights[0]                                     # (B, heads, T, T)
    assert w.shape == (2, 2, 6, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 6))
    assert float(w.triu(1).abs().max()) == 0.0         # nothing read from the future
    assert plain.shape == outputs.shape == (6, 2, 8)


def test_config_checks_the_attention_shape():
    with pytest.raises(UsageError, match="shorter than the trial"):
        tiny(cell="attention", context=3).validate()
    with pytest.raises(UsageError, match="multiple of attention_heads"):
        tiny(cell="attention", hidden_size=10, attention_heads=4).validate()
    with pytest.raises(UsageError, match="update gates"):
        tiny(cell="attention", value_network="separate").validate()
    # the MDP defaults' gate bias is a GRU setting: asking for attention drops it
    assert TrainConfig.for_mdp(10, cell="attention").update_gate_bias == 0.0
    assert TrainConfig.for_mdp(10, cell="attention").attention_shape()["context"] == 100


def test_an_attention_agent_trains_resumes_bit_for_bit_and_evaluates(tmp_path):
    options = dict(cell="attention", attention_heads=2)
    straight = train(tiny(updates=4, **options), tmp_path / "a", progress=False)
    train(tiny(updates=2, **options), tmp_path / "b", progress=False)
    resumed = train(tiny(updates=4, **options), tmp_path / "b", resume=True, progress=False)
    assert_same_params(params(straight.model), params(resumed.model))
    assert len(read_log(straight.log_path)["update"]) == 4
    model, _ = load_checkpoint(straight.checkpoint_path)
    assert model.spec()["cell"] == "attention" and model.spec()["context"] == 5
    x = torch.randn(5, 2, model.input_size)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_sequence(x, model.initial_hidden(2))[0],
                                   straight.model.forward_sequence(x, model.initial_hidden(2))[0])


def test_an_attention_agent_plays_mdp_trials_with_its_ablation(tmp_path):
    config = TrainConfig.for_mdp(2, cell="attention", hidden_size=8, attention_heads=2,
                                 trials_per_update=8, updates=1, minibatch_size=4)
    run = train(config, tmp_path / "run", progress=False)
    result = evaluate_mdp(2, ["rl2", "rl2-forgetful", "random"], 40, seed=5,
                          checkpoint=run.checkpoint_path, progress=False)
    again = evaluate_mdp(2, ["rl2"], 40, seed=5, checkpoint=run.checkpoint_path, progress=False)
    assert result.results["rl2"].mean == again.results["rl2"].mean       # seeded: same numbers
    assert np.isfinite(result.results["rl2-forgetful"].mean)
    assert isinstance(RL2Agent.from_checkpoint(run.checkpoint_path), RL2Agent)


def test_a_warm_start_grows_the_context_repeating_the_last_episodes_positions(tmp_path):
    small = dict(cell="attention", hidden_size=8, attention_heads=2, trials_per_update=4,
                 updates=1, minibatch_size=2)
    short = train(TrainConfig.for_mdp(2, **small), tmp_path / "n2", progress=False)    # context 20
    grown = fresh_state(TrainConfig.for_mdp(3, init_from=str(short.checkpoint_path), **small))
    old = short.model.gru.position.weight.detach()
    new = grown.model.gru.position.weight.detach()
    assert new.shape == (30, 8)
    torch.testing.assert_close(new[:20], old)
    torch.testing.assert_close(new[20:30], old[10:20])        # the last episode (10 steps) again
    torch.testing.assert_close(grown.model.gru.embed.weight, short.model.gru.embed.weight)
    with pytest.raises(UsageError, match="does not fit"):     # a shorter context is refused
        fresh_state(TrainConfig.for_mdp(1, init_from=str(short.checkpoint_path), **small))


def test_init_parts_encoder_gives_a_new_memory_the_eyes_of_a_trained_agent():
    """``--set init_parts=encoder``: the shipped GRU maze agent's CNN travels into an attention
    core; the memory and heads keep their fresh, seeded weights."""
    from rl2_course.agents.checkpoint import read_checkpoint
    from rl2_course.settings import pretrained_maze_checkpoint, pretrained_mdp_checkpoint

    shipped = pretrained_maze_checkpoint("small")
    shape = dict(cell="attention", hidden_size=16, attention_heads=2)
    fresh = fresh_state(TrainConfig.for_maze("small", **shape)).model
    eyes = fresh_state(TrainConfig.for_maze("small", init_from=str(shipped), init_parts="encoder",
                                            **shape)).model
    theirs = read_checkpoint(shipped)["state_dict"]
    for name, weight in eyes.encoder.state_dict().items():
        torch.testing.assert_close(weight, theirs[f"encoder.{name}"])
    for name, weight in eyes.state_dict().items():
        if not name.startswith("encoder."):
            torch.testing.assert_close(weight, fresh.state_dict()[name])
    with pytest.raises(UsageError, match="does not fit"):       # the whole network would not
        fresh_state(TrainConfig.for_maze("small", init_from=str(shipped), **shape))
    small = dict(cell="attention", hidden_size=8, attention_heads=2)
    with pytest.raises(UsageError, match="no trained encoder"):  # an MDP's encoder is the identity
        fresh_state(TrainConfig.for_mdp(2, init_from=str(pretrained_mdp_checkpoint(10)),
                                        init_parts="encoder", **small))
    with pytest.raises(UsageError, match="init_parts must be"):
        TrainConfig.for_mdp(2, init_parts="heads", **small).validate()


def test_export_episodes_grows_an_attention_agent_for_longer_trials(tmp_path, capsys):
    """``export --episodes N``: the same weights, the context grown to N episodes (the new
    positions repeat the last episode's; a GRU has none to grow), the file recording the
    longer task so that evaluation plays it there and where it came from."""
    from rl2_course.cli import main

    small = dict(cell="attention", hidden_size=8, attention_heads=2, trials_per_update=4,
                 updates=1, minibatch_size=2)
    short = train(TrainConfig.for_mdp(2, **small), tmp_path / "n2", progress=False)   # context 20
    assert main(["export", str(tmp_path / "n2"), str(tmp_path / "n3.pt"), "--episodes", "3"]) == 0
    model, metadata = load_checkpoint(tmp_path / "n3.pt")
    old = short.model.gru.position.weight.detach()
    new = model.gru.position.weight.detach()
    assert new.shape == (30, 8) and metadata["env_spec"]["episodes"] == 3
    torch.testing.assert_close(new[:20], old)
    torch.testing.assert_close(new[20:], old[10:20])
    assert metadata["extra"]["grown_from"] == {"checkpoint": "checkpoint.pt", "episodes": 2}
    assert np.isfinite(evaluate_mdp(3, ["rl2"], 4, seed=1, checkpoint=tmp_path / "n3.pt",
                                    progress=False).results["rl2"].mean)
    assert main(["export", str(tmp_path / "n3.pt"), str(tmp_path / "n1.pt"), "--episodes", "1"]) == 2
    assert "grow, not shrink" in capsys.readouterr().err
    gru = train(TrainConfig.for_mdp(2, hidden_size=8, trials_per_update=4, updates=1),
                tmp_path / "gru", progress=False)
    assert main(["export", str(gru.checkpoint_path), str(tmp_path / "g.pt"), "--episodes", "3"]) == 0
    retargeted, metadata = load_checkpoint(tmp_path / "g.pt")   # a GRU: nothing to grow
    assert metadata["env_spec"]["episodes"] == 3 and metadata["extra"]["grown_from"]["episodes"] == 2
    for name, tensor in gru.model.state_dict().items():
        torch.testing.assert_close(retargeted.state_dict()[name], tensor)


def _with_done_flags(x: torch.Tensor, starts: dict[int, list[int]]) -> torch.Tensor:
    """x with its done flags (the last input) 0 except where an episode begins: row b at each
    step of ``starts[b]``."""
    x = x.clone()
    x[..., -1] = 0.0
    for row, steps in starts.items():
        x[steps, row, -1] = 1.0
    return x


def test_an_episode_clock_counts_steps_since_the_done_flag_on_every_path():
    """``episode_clock``: u_t restarts at every done flag; stepping from the cache, segments,
    in-place steps and whole trials agree; with the embedding at zero it is the clockless
    network; its embedding moves the output only through u_t."""
    model = _network(episode_clock=6)
    x = _with_done_flags(torch.randn(12, 3, model.input_size), {0: [4, 9], 1: [7], 2: []})
    core = model.gru
    _, _, _, episode_next = core._embed_steps(x, model.initial_hidden(3))  # identity encoder: x is the core input
    assert episode_next.tolist() == [3, 5, 12]                 # steps since the last start, + 1
    with torch.random.fork_rng():
        torch.nn.init.normal_(core.episode_position.weight)  # make the clock matter
    with torch.no_grad():
        whole, _, h_end = model.forward_sequence(x, model.initial_hidden(3))
        h, h_in_place, stepped, in_place = model.initial_hidden(3), model.initial_hidden(3), [], []
        for t in range(12):
            logits, _, h = model.step(x[t], h)
            stepped.append(logits)
            logits, _, h_in_place = model.step(x[t], h_in_place, in_place=True)
            in_place.append(logits)
        h_seg, segments = model.initial_hidden(3), []
        for start in range(0, 12, 5):       # a segment starts inside an episode: u carries over
            logits, _, h_seg = model.forward_sequence(x[start:start + 5], h_seg)
            segments.append(logits)
    for path in (torch.stack(stepped), torch.stack(in_place), torch.cat(segments)):
        torch.testing.assert_close(path, whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(h_seg, h_end, atol=1e-5, rtol=0)
    assert model.state_size == 2 + model.input_size + 2 * 2 * 12 * 16
    assert h_end[:, 1].tolist() == [3, 5, 12]
    # the clock's embedding starts at zero: the same outputs as the network without one
    plain, clocked = _network(), _network(episode_clock=6)
    missing, unexpected = clocked.load_state_dict(plain.state_dict(), strict=False)
    assert missing == ["gru.episode_position.weight"] and not unexpected
    with torch.no_grad():
        torch.testing.assert_close(clocked.forward_sequence(x, clocked.initial_hidden(3))[0],
                                   plain.forward_sequence(x, plain.initial_hidden(3))[0])
    assert RecurrentActorCritic.from_spec(model.spec()).gru.episode_clock == 6
    assert "episode_clock" not in plain.spec()                 # the first specs stay as they were


def test_a_warm_start_may_add_an_episode_clock_and_the_config_checks_it(tmp_path):
    small = dict(cell="attention", hidden_size=8, attention_heads=2, trials_per_update=4,
                 updates=1, minibatch_size=2)
    plain = train(TrainConfig.for_mdp(2, **small), tmp_path / "plain", progress=False)
    clocked = fresh_state(TrainConfig.for_mdp(2, init_from=str(plain.checkpoint_path),
                                              episode_clock=10, **small))
    assert clocked.model.gru.episode_clock == 10
    assert not clocked.model.gru.episode_position.weight.any()           # starts at zero
    torch.testing.assert_close(clocked.model.gru.embed.weight, plain.model.gru.embed.weight)
    with pytest.raises(UsageError, match="episode_clock"):
        TrainConfig.for_mdp(2, episode_clock=10).validate()              # a GRU has no clock
    with pytest.raises(UsageError, match="episode_clock"):
        TrainConfig.for_mdp(2, cell="attention", episode_clock=-1).validate()
    # and a clocked run trains, saves and is read back with its clock
    run = train(TrainConfig.for_mdp(2, episode_clock=10, **small), tmp_path / "clock", progress=False)
    model, _ = load_checkpoint(run.checkpoint_path)
    assert model.gru.episode_clock == 10

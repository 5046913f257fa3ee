"""Extra training signals (`rl2_course.signals`): the maze's auxiliary task, shaping, teacher,
and the bandits' count bonus.

The update-side tests use a tiny bandit batch (the signals' losses and reward terms do not
care which env recorded their data); what the maze's env records is in test_maze_training.py.
"""

import dataclasses

import numpy as np
import pytest
import torch

from rl2_course.agents import load_checkpoint
from rl2_course.errors import UsageError
from rl2_course.signals import (AuxiliaryTask, CountBonus, GittinsTeacher, RewardShaping, Teacher,
                                make_signals, privileged_aids)
from rl2_course.train import (LOG_COLUMNS, TrainConfig, collect_trials, fresh_state, parse_overrides,
                              ppo_update, schedule, train)
from test_train import _uneven_trials, assert_same_params, params, tiny

LENGTHS, STEPS = [3, 17, 9, 5], 17


def with_signals(config: TrainConfig, **settings) -> TrainConfig:
    """``config`` with signal settings, bypassing validation (they are the maze's)."""
    return dataclasses.replace(config, signals={**config.signals, **settings})


def test_the_auxiliary_head_learns_its_targets_on_the_trials_own_steps_only():
    """``aux_coef``: a supervised loss on an extra head beside PPO (the maze uses it for
    the target offset). It must fit its targets and, like PPO, ignore a finished row's steps."""
    config = with_signals(tiny(bptt_length=4), aux_coef=1.0)
    signals = config.make_signals()
    assert [type(s) for s in signals] == [AuxiliaryTask]
    updated = []
    for padding_value in (0.0, 7.0):
        state = fresh_state(config)
        assert state.model.aux_size == 2 and "aux_size" in state.model.spec()
        batch = _uneven_trials(config, LENGTHS, STEPS, padding_value)
        # a target the GRU can read off its input: the first two numbers of x_t
        batch.signal_data = [{"targets": torch.where(
            batch.valid[..., None] > 0, batch.x[..., :2], torch.full((STEPS, len(LENGTHS), 2), padding_value))}]
        rng = np.random.default_rng(0)
        losses = [ppo_update(state.model, state.optimizer, batch, config, 0.01, rng, signals)["aux_loss"]
                  for _ in range(30)]
        assert losses[-1] < 0.5 * losses[0]
        updated.append(params(state.model))
    for k in updated[0]:
        assert torch.allclose(updated[0][k], updated[1][k], atol=1e-6), k
    # plain RL² has no such head, no such statistic and no such column in its log
    plain = fresh_state(tiny())
    assert plain.model.aux_head is None and "aux_size" not in plain.model.spec()
    assert "aux_loss" not in ppo_update(plain.model, plain.optimizer, _uneven_trials(tiny(), LENGTHS, STEPS, 0.0),
                                        tiny(), 0.01, np.random.default_rng(0))
    assert tiny().log_columns == LOG_COLUMNS and config.log_columns == LOG_COLUMNS + ("aux_loss",)


def test_aux_coef_is_for_mazes_and_a_warm_start_adds_or_drops_the_aux_head(tmp_path):
    with pytest.raises(UsageError, match="aux_coef"):
        train(tiny(updates=1, aux_coef=0.5), tmp_path / "bandit", progress=False)
    with pytest.raises(UsageError, match="aux_coef"):
        TrainConfig.for_maze("small", aux_coef=-1.0).validate()
    plain = train(tiny(updates=1), tmp_path / "plain", progress=False)
    with_aux = fresh_state(with_signals(tiny(init_from=str(plain.checkpoint_path)), aux_coef=0.5))
    for k, v in params(plain.model).items():        # every shared weight arrives; the head is new
        assert torch.equal(with_aux.model.state_dict()[k], v), k
    from rl2_course.agents.checkpoint import save_checkpoint

    aux_config = with_signals(tiny(), aux_coef=0.5)
    save_checkpoint(tmp_path / "aux.pt", with_aux.model, aux_config, aux_config.env_spec(), {})
    dropped = fresh_state(tiny(init_from=str(tmp_path / "aux.pt")))    # and back again
    assert dropped.model.aux_head is None
    assert_same_params(params(dropped.model), params(plain.model))
    model, _ = load_checkpoint(tmp_path / "aux.pt")     # an agent with the head loads and acts
    assert model.aux_size == 2
    # a head of another task (the "map" task's 8 numbers) starts fresh beside the shared weights
    mapping = fresh_state(with_signals(tiny(init_from=str(tmp_path / "aux.pt")), aux_coef=0.5,
                                       aux_task="map"))
    assert mapping.model.aux_size == 8
    assert_same_params({k: v for k, v in params(mapping.model).items() if not k.startswith("aux_head.")},
                       params(plain.model))


def test_aux_task_names_one_of_the_mazes_auxiliary_tasks():
    def head(config):
        return sum(s.head_size for s in config.make_signals())

    assert head(TrainConfig.for_maze("small", aux_coef=0.5)) == 2
    assert head(TrainConfig.for_maze("small", aux_coef=0.5, aux_task="map")) == 8
    assert head(TrainConfig.for_maze("small", aux_task="map")) == 0       # no loss, no head
    with pytest.raises(UsageError, match="aux_task must be one of target, map"):
        TrainConfig.for_maze("small", aux_coef=0.5, aux_task="compass").validate()
    assert parse_overrides(["aux_task=map"]) == {"aux_task": "map"}


def test_a_config_records_only_the_signal_settings_it_changes():
    assert TrainConfig.for_maze("small").signals == {}
    assert TrainConfig.for_maze("small", shaping_coef=0.1, teacher_coef=0.0).signals == {"shaping_coef": 0.1}
    assert make_signals({}, 0.99) == []
    with pytest.raises(UsageError, match="unknown training signal setting 'curiosity'"):
        dataclasses.replace(tiny(), signals={"curiosity": 1.0}).validate()


def test_reward_shaping_reaches_the_learner_only_and_only_mazes_take_it():
    """``shaping_coef``: the maze's shaping F_t is added to the rewards PPO learns from (the
    same update as if the env had paid r_t + F_t); a batch without it is plain RL²."""
    config = tiny(bptt_length=4)
    batch = _uneven_trials(config, LENGTHS, STEPS, 0.0)
    steps_closer = torch.randint(-1, 2, batch.rewards.shape, generator=torch.Generator().manual_seed(0))
    shaping = 0.1 * steps_closer.float() * batch.valid
    shaped = dataclasses.replace(batch, signal_data=[{"shaping": shaping}])
    paid = dataclasses.replace(batch, rewards=batch.rewards + shaping)
    results = []
    for b, signals in ((shaped, [RewardShaping(0.1, 1.0)]), (paid, []), (batch, [])):
        state = fresh_state(config)
        ppo_update(state.model, state.optimizer, b, config, 0.01, np.random.default_rng(0), signals)
        results.append(params(state.model))
    assert_same_params(results[0], results[1])
    assert any(not torch.allclose(results[0][k], results[2][k]) for k in results[0])
    with pytest.raises(UsageError, match="shaping_coef"):
        tiny(shaping_coef=0.1).validate()
    with pytest.raises(UsageError, match="shaping_coef"):
        TrainConfig.for_maze("small", shaping_coef=-0.1).validate()
    assert parse_overrides(["shaping_coef=0.1"]) == {"shaping_coef": 0.1}
    assert TrainConfig.for_maze("small", shaping_coef=0.1).log_columns == LOG_COLUMNS + ("shaping",)


def test_teacher_loss_pulls_the_policy_towards_the_teachers_actions_where_its_mask_says():
    """``teacher_coef``: −log π(a*_t) on the masked steps joins PPO's loss. A mask of zeros
    changes nothing; a mask of ones makes the teacher's actions likelier than PPO alone does."""
    config = tiny(bptt_length=4)
    batch = _uneven_trials(config, LENGTHS, STEPS, 0.0)
    teacher = torch.full_like(batch.actions, 2)     # a teacher who always pulls arm 2
    unmasked = dataclasses.replace(batch, signal_data=[{"actions": teacher, "mask": torch.zeros_like(batch.valid)}])
    taught = dataclasses.replace(batch, signal_data=[{"actions": teacher, "mask": batch.valid.clone()}])
    results, agreement = [], []
    for b, signals in ((batch, []), (unmasked, [Teacher(1.0, None)]), (taught, [Teacher(1.0, None)])):
        state = fresh_state(config)
        ppo_update(state.model, state.optimizer, b, config, 0.01, np.random.default_rng(0), signals)
        results.append(params(state.model))
        with torch.no_grad():
            logits, _, _ = state.model.forward_sequence(batch.x, state.model.initial_hidden(len(LENGTHS)))
            logp = torch.log_softmax(logits, -1).gather(-1, teacher[..., None]).squeeze(-1)
        agreement.append(float((logp * batch.valid).sum() / batch.valid.sum()))
    assert_same_params(results[0], results[1])
    assert agreement[2] > agreement[0] + 0.01
    with pytest.raises(UsageError, match="teacher_coef"):
        TrainConfig.for_mdp(10, teacher_coef=0.1).validate()
    with pytest.raises(UsageError, match="teacher_coef"):
        TrainConfig.for_maze("small", teacher_coef=-1.0).validate()
    assert parse_overrides(["teacher_coef=0.1"]) == {"teacher_coef": 0.1}
    assert TrainConfig.for_maze("small", teacher_coef=0.1).log_columns == LOG_COLUMNS + ("teacher_loss",)


def test_a_bandits_teacher_is_the_gittins_index_read_on_the_trials_own_pulls():
    """``teacher_coef`` on a bandit run: at every pull the target is the finite-horizon Gittins
    choice (ties shared) given the pulls the policy itself made so far in the trial; the loss
    makes those choices likelier than PPO alone does, and the checkpoint's config says the
    agent had a Gittins teacher (tables label it, never "RL²")."""
    from rl2_course.baselines.gittins import GittinsIndexPolicy

    config = tiny(teacher_coef=1.0)
    config.validate()
    assert [type(s) for s in config.make_signals()] == [GittinsTeacher]
    state = fresh_state(config)
    batch = collect_trials(state.model, config.make_env(), 3, state.sampler,
                           signals=config.make_signals())
    targets = batch.signal_data[0]["targets"]                       # (T, B, k)
    steps, trials = batch.actions.shape
    gittins = GittinsIndexPolicy(3, 5)
    belief = gittins.initial_state(trials)
    for t in range(steps):
        belief = gittins.observe(batch.x[t].numpy(), belief)
        index = gittins.table.index(belief.successes, belief.failures, 5 - belief.step)
        best = index == index.max(axis=1, keepdims=True)
        np.testing.assert_allclose(targets[t].numpy(), best / best.sum(axis=1, keepdims=True))
    assert torch.equal(targets[0], torch.full((trials, 3), 1 / 3))   # nothing pulled yet: a tie

    agreement = []
    for signals in ([], [GittinsTeacher(10.0, None)]):
        state = fresh_state(config)
        for _ in range(10):
            ppo_update(state.model, state.optimizer, batch, config, 0.01, np.random.default_rng(0), signals)
        with torch.no_grad():
            logits, _, _ = state.model.forward_sequence(batch.x, state.model.initial_hidden(trials))
        agreement.append(float((torch.log_softmax(logits, -1) * targets).sum(-1).mean()))
    assert agreement[1] > agreement[0] + 0.005      # measured: +0.013 (uniform is -1.099)
    assert privileged_aids(dataclasses.asdict(config)) == ("a Gittins teacher",)
    assert privileged_aids(dataclasses.asdict(TrainConfig.for_maze("small", teacher_coef=0.1))) == (
        "a teacher",)


def test_teacher_weight_decays_to_teacher_coef_final_and_an_update_uses_the_progress_it_is_given():
    """``teacher_coef_final`` (kickstarting): the teacher's weight falls linearly from
    teacher_coef to it over the schedule, by updates or by the minutes budget; None holds it.
    `ppo_update` weighs the teacher at the progress it is handed."""
    def weight(config, update, elapsed):
        teacher, = config.make_signals()
        return teacher.weight(schedule(config, update, elapsed)[2])

    by_updates = TrainConfig.for_maze("small", teacher_coef=0.2, teacher_coef_final=0.0, schedule_updates=10)
    assert [round(weight(by_updates, u, 0.0), 6) for u in (0, 5, 10, 20)] == [0.2, 0.1, 0.0, 0.0]
    by_minutes = with_signals(dataclasses.replace(by_updates, minutes=10), teacher_coef_final=0.05)
    assert [round(weight(by_minutes, 0, s), 6) for s in (0.0, 300.0, 600.0)] == [0.2, 0.125, 0.05]
    held = with_signals(by_updates, teacher_coef_final=None)
    assert {weight(held, u, 0.0) for u in (0, 5, 10)} == {0.2}

    config = tiny(bptt_length=4)
    batch = _uneven_trials(config, LENGTHS, STEPS, 0.0)
    taught = dataclasses.replace(batch, signal_data=[{"actions": torch.full_like(batch.actions, 2),
                                                      "mask": batch.valid.clone()}])
    results = []
    for b, signals, progress in ((batch, [], 0.0), (taught, [Teacher(1.0, 0.0)], 1.0),
                                 (taught, [Teacher(1.0, 0.0)], 0.0)):
        state = fresh_state(config)
        ppo_update(state.model, state.optimizer, b, config, 0.01, np.random.default_rng(0), signals,
                   progress)
        results.append(params(state.model))
    assert_same_params(results[0], results[1])         # weight 0 at the end: PPO alone
    assert any(not torch.allclose(results[0][k], results[2][k]) for k in results[0])

    for final in (0.3, -0.1):
        with pytest.raises(UsageError, match="teacher_coef_final"):
            with_signals(by_updates, teacher_coef_final=final).validate()
    assert parse_overrides(["teacher_coef_final=0"]) == {"teacher_coef_final": 0.0}
    assert parse_overrides(["teacher_coef_final=none"]) == {"teacher_coef_final": None}


def test_count_bonus_pays_one_over_the_root_of_each_arms_pulls_so_far_and_fades_by_its_until():
    """``count_bonus``: pulls 0, 0, 1, 0 earn 1, 1/√2, 1, 1/√3 times the weight; the weight falls
    linearly to zero at ``count_bonus_until`` of the schedule and stays there."""
    class TwoArmedRows:
        num_envs, num_actions = 2, 2

    bonus = CountBonus(0.5, until=0.4)
    bonus.start(TwoArmedRows())
    for pulls in ([0, 1], [0, 1], [1, 1], [0, 0]):
        bonus.after_step(TwoArmedRows(), np.array(pulls), {})
    recorded = bonus.recorded(torch.device("cpu"))
    expected = torch.tensor([[1, 1], [2 ** -0.5, 2 ** -0.5], [1, 3 ** -0.5], [3 ** -0.5, 1]])
    assert torch.allclose(recorded["inverse_sqrt_pulls"], expected)
    assert [round(bonus.weight(p), 6) for p in (0.0, 0.2, 0.4, 1.0)] == [0.5, 0.25, 0.0, 0.0]
    assert torch.allclose(bonus.reward_bonus(recorded, 0.2), 0.25 * expected)
    assert bonus.rollout_stats(recorded)["count_bonus"] == pytest.approx(0.5 * float(expected.sum(0).mean()))


def test_count_bonus_reaches_the_learner_only_vanishes_after_until_and_only_bandits_take_it():
    """A real bandit rollout records the bonus beside the env's own rewards (the policy's
    inputs and the logged return are the env's); once the bonus has faded, an update is plain
    RL²'s to the bit; before, it is not. Other families and bad fractions are refused."""
    config = tiny(bptt_length=None)
    signals = [CountBonus(0.5, until=0.5)]
    batches = []
    for with_bonus in (signals, []):
        state = fresh_state(config)
        batches.append(collect_trials(state.model, config.make_env(), 3, torch.Generator().manual_seed(0),
                                      None, with_bonus))
    noted, plain = batches
    assert torch.equal(noted.rewards, plain.rewards) and torch.equal(noted.x, plain.x)
    assert noted.signal_data[0]["inverse_sqrt_pulls"].shape == noted.rewards.shape
    results = []
    for batch, sigs, progress in ((noted, signals, 0.5), (plain, [], 0.0), (noted, signals, 0.1)):
        state = fresh_state(config)
        ppo_update(state.model, state.optimizer, batch, config, 0.01, np.random.default_rng(0),
                   sigs, progress)
        results.append(params(state.model))
    assert_same_params(results[0], results[1])
    assert any(not torch.allclose(results[2][k], results[1][k]) for k in results[1])
    assert with_signals(config, count_bonus=0.5).log_columns == LOG_COLUMNS + ("count_bonus",)
    assert parse_overrides(["count_bonus=0.5", "count_bonus_until=0.3"]) == {
        "count_bonus": 0.5, "count_bonus_until": 0.3}
    with pytest.raises(UsageError, match="count_bonus"):
        TrainConfig.for_mdp(10, count_bonus=0.5).validate()
    with pytest.raises(UsageError, match="count_bonus_until"):
        tiny(count_bonus=0.5, count_bonus_until=0.0).validate()


def test_an_evaluation_notes_an_agent_trained_with_a_teacher_never_as_plain_rl2(tmp_path):
    """`evaluate bandit` on a checkpoint trained with a teacher says so under its table; a plain
    RL² agent, and the baselines, get no note."""
    from rl2_course.evaluate import evaluate_bandit

    notes = {}
    for name, settings in (("taught", dict(teacher_coef=1.0)), ("plain", {})):
        result = train(tiny(updates=1, **settings), tmp_path / name, progress=False)
        evaluation = evaluate_bandit(3, 5, ["rl2", "random"], 20, 0, checkpoint=result.checkpoint_path)
        notes[name] = [line for line in evaluation.table().splitlines() if line.startswith("note")]
    assert notes == {"taught": ["note: rl2 was trained with a Gittins teacher: not plain RL²"],
                     "plain": []}

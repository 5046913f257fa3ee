"""The plumbing of a training run, kept out of the algorithm (`rl2_course.train`).

* `TrainingLog` / `read_log`: ``log.csv``, one row per update, safe to resume;
* `RunState` and `save_run` / `restore_run`: everything a checkpoint must hold to continue a
  run bit for bit (weights, optimizer, update counter, both random streams), and
  `warm_start`: copying only the weights of another run;
* `task_config`, `check_config`, `parse_settings`: a run's settings from the defaults table,
  checked, and from ``--set FIELD=VALUE``;
* `run_lock` and `GracefulStop`: one run per ``--out`` at a time, and Ctrl-C or SIGTERM that
  finish the update under way and save it, so ``--resume`` loses nothing.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from rl2_course.agents.cells import CELLS
from rl2_course.agents.checkpoint import MAX_SIZE, read_checkpoint, save_checkpoint
from rl2_course.agents.recurrent import VALUE_NETWORKS, RecurrentActorCritic
from rl2_course.errors import UsageError
from rl2_course.families import FAMILIES, family
from rl2_course.files import atomic_write_text
from rl2_course.limits import check_memory, check_seed, training_bytes
from rl2_course.envs import TrialEnv
from rl2_course.signals import (SIGNAL_FIELDS, SignalSettings, TrainingSignal, check_signals,
                                make_signals)
from rl2_course.threads import deterministic_torch

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.csv"
#: the log's columns (the extra training signals add theirs)
LOG_COLUMNS = ("update", "trials_seen", "mean_return", "first_episode_return",
               "last_episode_return", "entropy", "value_loss", "approx_kl", "clip_frac",
               "adam_steps", "wall_seconds")


# -- the run's settings -------------------------------------------------------------------------

class RunConfig:
    """The methods of a training config (`rl2_course.train.TrainConfig` holds the fields)."""

    #: fields that may change on --resume without changing what is being trained
    BUDGET_FIELDS = ("updates", "minutes", "checkpoint_every", "device")
    #: fields ``--set`` may not change: what is learned (env, its setting), the run's own flags
    #: and the signals' settings (set by their own names)
    NOT_SETTABLE = ("env", "task", "seed", "signals", "device", "init_from", "updates", "minutes")

    @classmethod
    def for_task(cls, env: str, *setting: Any, **overrides: Any) -> Any:
        """Family ``env``'s defaults for ``setting`` (its arguments, e.g. k and n; settings.py),
        with ``overrides`` of any field, family option or signal setting."""
        return cls(**task_config(env, setting, overrides))

    @classmethod
    def for_bandit(cls, arms: int, episodes: int, **overrides: Any) -> Any:
        return cls.for_task("bandit", arms, episodes, **overrides)

    @classmethod
    def for_mdp(cls, episodes: int, **overrides: Any) -> Any:
        return cls.for_task("mdp", episodes, **overrides)

    @classmethod
    def for_maze(cls, size: str, **overrides: Any) -> Any:
        return cls.for_task("maze", size, **overrides)

    @classmethod
    def parse_overrides(cls, items: list[str]) -> dict[str, Any]:
        """``["hidden_size=256", "bptt_length=none"]`` -> ``{"hidden_size": 256, "bptt_length":
        None}`` (`parse_settings`)."""
        return parse_settings(items, cls)

    def budget_updates(self) -> int | None:
        """The update budget: ``updates``, or the schedule length when no budget was given."""
        return self.schedule_updates if self.updates is None and self.minutes is None else self.updates

    def validate(self) -> None:
        """Refuse impossible configurations with a one-line `UsageError` (`check_config`)."""
        check_config(self)

    def env_spec(self) -> dict[str, Any]:
        """The task family as the checkpoint records it."""
        return family(self.env).env_spec(self.task)

    def make_env(self, num_trials: int | None = None) -> TrialEnv:
        return family(self.env).make_env(self.task, num_trials or self.trials_per_update)

    def attention_shape(self) -> dict[str, int]:
        """The attention core's shape (`agents.attention`); all zeros-and-defaults for a GRU,
        so a GRU checkpoint's spec does not mention it."""
        if self.cell != "attention":
            return {}
        context = self.context or family(self.env).trial_steps(self.task)
        return {"context": int(context), "attention_layers": self.attention_layers,
                "attention_heads": self.attention_heads, "episode_clock": self.episode_clock}

    def make_signals(self) -> list[TrainingSignal]:
        return make_signals(self.signals, self.gamma, self.env)

    @property
    def log_columns(self) -> tuple[str, ...]:
        adaptive = ("learning_rate",) if self.lr_schedule == "kl" else ()
        return LOG_COLUMNS + adaptive + tuple(c for s in self.make_signals() for c in s.log_columns)


def task_config(env: str, setting: tuple, overrides: dict[str, Any]) -> dict[str, Any]:
    """A training config's fields for task family ``env``'s ``setting`` (its arguments): the
    defaults table's row (settings.py), with ``overrides`` of fields, family options and
    signal settings sorted into their places."""
    fam, overrides = family(env), dict(overrides)
    task = fam.task(*setting, **{k: overrides.pop(k) for k in list(overrides) if k in fam.options})
    fam.check(task)
    signals = {k: overrides.pop(k) for k in list(overrides) if k in SIGNAL_FIELDS}
    for other in FAMILIES.values():
        for name in set(other.options) & set(overrides):
            raise UsageError(f"--set {name}: not a setting of {env} runs (it is one of {other.name}'s)")
    setting = dataclasses.asdict(fam.training_defaults(task))
    for name in ("actions", "episodes"):        # the setting's own, already in the task
        setting.pop(name)
    setting["schedule_updates"] = setting.pop("updates")
    if overrides.get("cell") == "attention":
        # GRU defaults that attention does not take: gates (MDP_RECIPE) and truncated BPTT, since
        # a segment would read keys and values of its trial's start computed by the rollout's
        # weights, with no gradient; one causal pass over a whole trial costs little
        setting.update(update_gate_bias=0.0, bptt_length=None)
    return {"env": env, "task": task, **setting,
            "signals": SignalSettings.from_dict(signals).changed(), **overrides}


def check_config(config: Any) -> None:
    """Refuse an impossible training config with a one-line `UsageError`."""
    family(config.env).check(config.task)
    check_seed(config.seed)
    if config.updates is not None and config.minutes is not None:
        raise UsageError("give either --updates or --minutes, not both")
    if config.updates is not None and config.updates < 1:
        raise UsageError(f"--updates must be at least 1, got {config.updates}")
    if config.minutes is not None and not 0 < config.minutes < math.inf:
        raise UsageError(f"--minutes must be positive and finite, got {config.minutes}")
    # values torch would take and then train on silently wrongly (or not at all)
    for name, low, low_allowed in (("learning_rate", 0.0, False), ("clip_coef", 0.0, False),
                                   ("max_grad_norm", 0.0, False), ("reward_scale", 0.0, False),
                                   ("value_coef", 0.0, True), ("entropy_coef", 0.0, True),
                                   ("entropy_coef_final", 0.0, True)):
        value = getattr(config, name)
        if not (math.isfinite(value) and (value >= low if low_allowed else value > low)):
            raise UsageError(f"{name} must be a finite number {'≥' if low_allowed else '>'} {low:g}, "
                             f"got {value}")
    if not 0.0 <= config.lr_final_fraction <= 1.0:
        raise UsageError(f"lr_final_fraction is a share of the learning rate in [0, 1], "
                         f"got {config.lr_final_fraction}")
    if config.num_threads > (os.cpu_count() or 1):
        raise UsageError(f"num_threads={config.num_threads} is more than this machine's "
                         f"{os.cpu_count()} CPUs")
    for name in ("hidden_size", "trials_per_update", "ppo_epochs", "minibatches",
                 "schedule_updates", "num_threads", "checkpoint_every"):
        if getattr(config, name) < 1:
            raise UsageError(f"{name} must be at least 1, got {getattr(config, name)}")
    for name in ("minibatch_size", "target_kl"):
        if getattr(config, name) is not None and not getattr(config, name) > 0:
            raise UsageError(f"{name} must be positive or None, got {getattr(config, name)}")
    if config.lr_schedule not in ("linear", "kl"):
        raise UsageError(f"lr_schedule must be linear or kl, got {config.lr_schedule!r}")
    if config.lr_schedule == "kl" and config.target_kl is None:
        raise UsageError("lr_schedule=kl adapts the learning rate to target_kl: set target_kl too")
    if not 0 < config.lr_max <= 1:
        raise UsageError(f"lr_max (the kl schedule's learning-rate ceiling) must lie in (0, 1]; "
                         f"got {config.lr_max}")
    if not 0.0 <= config.entropy_hold < 1.0:
        raise UsageError(f"entropy_hold is a share of the schedule in [0, 1), got {config.entropy_hold}")
    if config.init_parts not in ("all", "encoder"):
        raise UsageError(f"init_parts must be all or encoder, got {config.init_parts!r}")
    if config.cell not in CELLS or config.value_network not in VALUE_NETWORKS:
        raise UsageError(f"cell must be one of {', '.join(CELLS)} and value_network one of "
                         f"{', '.join(VALUE_NETWORKS)}; got {config.cell!r}, {config.value_network!r}")
    for name in ("attention_layers", "attention_heads"):
        if getattr(config, name) < 1:
            raise UsageError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.episode_clock < 0 or (config.episode_clock and config.cell != "attention"):
        raise UsageError(f"episode_clock is an attention memory's number of within-episode "
                         f"positions (0: none; cell=attention), got {config.episode_clock} "
                         f"with cell={config.cell}")
    if config.cell == "attention":
        steps = family(config.env).trial_steps(config.task)
        if config.context is not None and config.context < steps:
            raise UsageError(f"context={config.context} is shorter than the trial "
                             f"({steps} steps): attention reads the whole trial")
        if config.hidden_size % config.attention_heads:
            raise UsageError(f"hidden_size={config.hidden_size} must be a multiple of "
                             f"attention_heads={config.attention_heads}")
        if config.value_network != "shared" or config.update_gate_bias:
            raise UsageError("an attention memory takes neither value_network=separate nor "
                             "update_gate_bias (it has no update gates)")
    if config.bptt_length is not None and config.bptt_length < 1:
        raise UsageError(f"bptt_length must be at least 1 or None, got {config.bptt_length}")
    if not 0.0 <= config.gamma <= 1.0 or not 0.0 <= config.gae_lambda <= 1.0:
        raise UsageError("gamma and gae_lambda must lie in [0, 1]")
    check_signals(config.signals, config.env)
    if config.device != "cpu" and not config.device.startswith("cuda"):
        raise UsageError(f"--device must be cpu or cuda[:N], got {config.device!r}")
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {config.device}: this torch sees no CUDA GPU "
                         f"(torch {torch.__version__}); train with --device cpu")
    check_training_fits(config)


def check_training_fits(config: Any) -> None:
    """Refuse, before the network is built, a training config whose one update would need
    more memory than the machine has (`limits.training_bytes`): a huge GRU, batch or trial."""
    fam = family(config.env)
    shape = config.attention_shape()
    observation_size, actions = fam.layout(config.task)
    needed = training_bytes(
        input_size=observation_size + actions + 2, actions=actions,
        hidden_size=config.hidden_size, trials_per_update=config.trials_per_update,
        steps_per_trial=fam.trial_steps(config.task), segment_length=config.bptt_length,
        minibatches=config.minibatches, minibatch_size=config.minibatch_size,
        cores=2 if config.value_network == "separate" else 1,
        attention=shape or None)
    context = f", an attention context of {shape['context']:,} steps" if shape else ""
    check_memory(needed, f"training on {fam.describe(config.task)} with hidden_size="
                         f"{config.hidden_size:,}, trials_per_update={config.trials_per_update:,}"
                         + context)


def parse_settings(items: list[str], config_type: type) -> dict[str, Any]:
    """``--set FIELD=VALUE`` items -> values of the type of the field's default (int or float;
    ``none`` where None is allowed). FIELD is a field of ``config_type`` but its
    ``NOT_SETTABLE``, a task family's option or a training signal's setting; anything else is
    a one-line `UsageError`."""
    types = {f.name: str(f.type) for f in dataclasses.fields(config_type)
             if f.name not in config_type.NOT_SETTABLE}
    types.update({k: t for fam in FAMILIES.values() for k, (_, t) in fam.options.items()})
    types.update({k: str(t) for k, t in SIGNAL_FIELDS.items()})
    overrides: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in types:
            raise UsageError(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(types)}")
        kind = types[name]
        if "None" in kind and text.strip().lower() == "none":
            overrides[name] = None
        elif kind.startswith("str"):
            overrides[name] = text.strip()
        else:
            try:
                overrides[name] = int(text) if kind.startswith("int") else float(text)
            except ValueError:
                raise UsageError(f"--set {item!r}: {text!r} is not a valid "
                                 f"{'integer' if kind.startswith('int') else 'number'}") from None
    return overrides


# -- the run's state ----------------------------------------------------------------------------

@dataclass
class RunState:
    """Everything a checkpoint must hold to continue a run bit for bit."""

    model: RecurrentActorCritic
    optimizer: torch.optim.Optimizer
    update: int
    trials_seen: int
    wall_seconds: float
    sampler: torch.Generator           # action sampling in the rollout
    shuffler: np.random.Generator      # minibatch order
    last_return: float | None = None


def save_run(path: Path, state: RunState, config: Any, env_spec: dict[str, Any]) -> None:
    """Write the run's checkpoint (atomically): weights, config, task family, training state."""
    extra = {"update": state.update, "trials_seen": state.trials_seen,
             "wall_seconds": state.wall_seconds, "last_return": state.last_return,
             "optimizer": state.optimizer.state_dict(),
             "rng": {"sampler": state.sampler.get_state(),
                     "shuffler": state.shuffler.bit_generator.state}}
    save_checkpoint(path, state.model, config, env_spec, extra)


def restore_run(path: Path, config: Any, env_spec: dict[str, Any], budget_fields: tuple[str, ...],
                fresh: Callable[[], RunState]) -> RunState:
    """The state saved at ``path``, refusing a checkpoint of other settings than ``config``
    (except ``budget_fields``); ``fresh()`` builds the objects the saved state is loaded into."""
    if not path.exists():
        raise UsageError(f"--resume: no checkpoint at {path} to resume from")
    payload = read_checkpoint(path, expected_env_spec=env_spec)
    saved = payload["config"]
    for field in dataclasses.fields(config):
        if field.name in budget_fields or field.name not in saved:
            continue
        if field.name == "task" and _set_options(saved["task"]) == _set_options(config.task):
            continue   # a family option added since the run began reads None: the same task
        if saved[field.name] != getattr(config, field.name):
            raise UsageError(f"{path} was trained with {field.name}={saved[field.name]!r}, not "
                             f"{getattr(config, field.name)!r}; resume with the same settings")
    extra = payload["extra"]
    if "optimizer" not in extra or "rng" not in extra:
        raise UsageError(f"{path} holds no training state (optimizer, RNG); it cannot be resumed")
    state = fresh()
    state.model.load_state_dict(payload["state_dict"])
    state.optimizer.load_state_dict(extra["optimizer"])
    state.sampler.set_state(extra["rng"]["sampler"])
    state.shuffler.bit_generator.state = extra["rng"]["shuffler"]
    state.update, state.trials_seen = int(extra["update"]), int(extra["trials_seen"])
    state.wall_seconds, state.last_return = float(extra["wall_seconds"]), extra.get("last_return")
    return state


def _set_options(task: dict[str, Any]) -> dict[str, Any]:
    """A task without its options left at None (the family's own default)."""
    return {k: v for k, v in task.items() if v is not None}


def warm_start(model: RecurrentActorCritic, path: Path, parts: str = "all") -> None:
    """Copy the weights of checkpoint ``path`` into ``model`` (same architecture required).

    ``parts="encoder"`` copies only the observation encoder φ (same encoder required): a new
    memory (a GRU for an attention core, say) and new heads learn over eyes another run trained.

    Only the weights travel: the optimizer, the schedules and the random streams start fresh,
    and the checkpoint's task family may differ (that is the point: a shorter trial length).
    The auxiliary head may differ: a new one keeps its fresh weights, an unused one is dropped.
    An attention memory may grow its context (a curriculum n = 25 → 50 → 100, or a larger
    maze): the positions the checkpoint never saw take the embeddings of its last episode's
    positions, repeated, so a new episode looks like a late one, not like a trial's start.
    It may also gain an episode clock (`agents.attention`), whose embedding starts at zero.
    """
    payload = read_checkpoint(path)
    theirs, ours = payload["model_spec"], model.spec()
    if parts == "encoder":
        if (theirs.get("encoder"), theirs.get("observation_size")) != (
                ours.get("encoder"), ours.get("observation_size")):
            raise UsageError(f"--init-from {path} with init_parts=encoder: its encoder "
                             f"{theirs.get('encoder')} does not fit this run's {ours.get('encoder')}")
        encoder = {k[len("encoder."):]: v for k, v in payload["state_dict"].items()
                   if k.startswith("encoder.")}
        if not encoder:
            raise UsageError(f"--init-from {path} with init_parts=encoder: it has no trained "
                             f"encoder to copy (its observations feed the memory directly)")
        model.encoder.load_state_dict(encoder)
        return
    # an initial value (the gates' bias) is no part of the shape: the copied weights replace it;
    # a clock may be added to a network without one (its embedding starts at zero)
    clock_added = not theirs.get("episode_clock") and ours.get("episode_clock")
    ignored = ("aux_size", "context", "update_gate_bias") + (("episode_clock",) if clock_added else ())
    their_shape, our_shape = ({k: v for k, v in spec.items() if k not in ignored}
                              for spec in (theirs, ours))
    longer = (ours.get("cell") == "attention" and theirs.get("context", 0) <= ours["context"])
    differing = [k for k in dict.fromkeys([*their_shape, *our_shape])
                 if their_shape.get(k) != our_shape.get(k)]
    if theirs.get("context") != ours.get("context") and not longer:
        differing.append("context")
    if differing:
        raise UsageError(f"--init-from {path}: its network does not fit this run's: "
                         + "; ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here"
                                     for k in differing))
    state = dict(payload["state_dict"])
    if theirs.get("context") != ours.get("context"):
        state["gru.position.weight"] = _repeat_last_positions(
            state["gru.position.weight"], model.gru.position.weight.detach(),
            _episode_steps(theirs, payload["env_spec"]), path)
    if clock_added:
        state["gru.episode_position.weight"] = model.gru.episode_position.weight.detach().clone()
    if theirs.get("aux_size", 0) == model.aux_size:
        model.load_state_dict(state)
    else:
        shared = {k: v for k, v in state.items() if not k.startswith("aux_head.")}
        model.load_state_dict(shared, strict=False)


def grow_context(source: Path, destination: Path, episodes: int) -> Path:
    """Write ``source``'s agent, made to play trials of ``episodes`` episodes of the same
    family, to ``destination``: the weights of a curriculum's next stage before any training
    there. An attention memory's context grows (`warm_start`'s growth: the new positions
    repeat the last episode's); a GRU has no context, so its weights are copied unchanged.

    The file records the longer task as its task family, so `evaluate` plays it there, and
    ``extra["grown_from"]`` says what it was trained on; its training config is the source's.
    """
    from rl2_course.agents.checkpoint import load_checkpoint, refuse_overwriting_source, release_extra

    refuse_overwriting_source(source, destination)
    model, metadata = load_checkpoint(source)
    spec, env_spec = model.spec(), dict(metadata["env_spec"])
    trained = int(env_spec.get("episodes") or 0)
    if env_spec.get("env") not in ("bandit", "mdp") or trained < 1:
        raise UsageError(f"export --episodes: {source} was not trained on bandit or MDP trials")
    if int(episodes) < trained:
        raise UsageError(f"export --episodes {episodes}: {source} plays {trained} episodes per "
                         f"trial; a context can grow, not shrink")
    grown = model
    if spec.get("cell") == "attention":
        period = _episode_steps(spec, env_spec)
        grown = _with_context(model, period * int(episodes), period, source,
                              f"export --episodes {episodes}")
    extra = release_extra(metadata)
    extra["grown_from"] = {"checkpoint": Path(source).name, "episodes": trained}
    return save_checkpoint(destination, grown, metadata["config"],
                           {**env_spec, "episodes": int(episodes)}, extra)


def play_on_maze_size(source: Path, destination: Path, size: str) -> Path:
    """Write ``source``'s maze agent, made to play mazes of ``size`` with no training there, to
    ``destination`` (the first author also played his small-maze agent on the large maze).

    The sizes differ only in the layout and the time limit (the same image, actions, rewards
    per decision and start protocol), so the weights are copied; an attention context grows to
    the new size's trial, its new positions repeating the last episode's (`warm_start`'s
    growth), and is kept where the new trial is shorter. The file records ``size`` as its task,
    so `evaluate` plays it there, and ``extra["grown_from"]["size"]`` the size it was trained
    on, so that evaluations and Table 3 say so; its training config is the source's.
    """
    from rl2_course.agents.checkpoint import load_checkpoint, refuse_overwriting_source, release_extra
    from rl2_course.envs.maze import maze_size

    refuse_overwriting_source(source, destination)
    model, metadata = load_checkpoint(source)
    spec, env_spec = model.spec(), dict(metadata["env_spec"])
    if env_spec.get("env") != "maze":
        raise UsageError(f"export --size: {source} was not trained on mazes")
    try:
        time_limit = maze_size(size).time_limit
    except ValueError as err:
        raise UsageError(f"export --size: {err}") from None
    grown_from = metadata["extra"].get("grown_from") or {}
    trained = str(grown_from.get("size", env_spec["size"]))
    if size == env_spec["size"]:
        raise UsageError(f"export --size {size}: {source} plays {size} mazes already")
    grown = model
    context = int(env_spec["episodes"]) * time_limit
    if spec.get("cell") == "attention" and context > spec["context"]:
        grown = _with_context(model, context, _episode_steps(spec, env_spec), source,
                              f"export --size {size}")
    extra = release_extra(metadata)
    extra.pop("grown_from", None)
    if trained != size:                 # (an agent sent back to the size it learned is plain)
        extra["grown_from"] = {"checkpoint": Path(source).name, "size": trained}
    return save_checkpoint(destination, grown, metadata["config"], {**env_spec, "size": size},
                           extra)


def _episode_steps(spec: dict[str, Any], env_spec: dict[str, Any]) -> int:
    """Steps of one episode in an attention network's context (``spec``, trained on the task
    family ``env_spec``): what a grown context repeats."""
    return int(spec["context"]) // max(1, int(env_spec.get("episodes") or 1))


def _with_context(model: RecurrentActorCritic, context: int, period: int, source: Path,
                  command: str) -> RecurrentActorCritic:
    """``model`` (an attention network) with ``context`` positions, the new ones repeating its
    last ``period`` positions' embeddings; a context too large to save is refused, naming
    ``command``."""
    if context > MAX_SIZE:
        raise UsageError(f"{command}: a context of {context:,} steps is more than a checkpoint "
                         f"may hold ({MAX_SIZE:,})")
    grown = RecurrentActorCritic.from_spec({**model.spec(), "context": int(context)})
    state = dict(model.state_dict())
    state["gru.position.weight"] = _repeat_last_positions(
        state["gru.position.weight"], grown.gru.position.weight.detach(), period, source)
    grown.load_state_dict(state)
    return grown


def _repeat_last_positions(old: torch.Tensor, fresh: torch.Tensor, period: int,
                           path: Path) -> torch.Tensor:
    """Position embeddings (C_new, H): ``old``'s C_old rows, then its last ``period`` rows
    repeated to fill the new positions."""
    known, period = old.shape[0], int(period)
    if not 1 <= period <= known:
        raise UsageError(f"--init-from {path}: its context of {known} steps is shorter than "
                         f"one episode ({period} steps)")
    grown = fresh.clone()
    grown[:known] = old
    grown[known:] = old[known - period + torch.arange(grown.shape[0] - known) % period]
    return grown


# -- one run per directory, and stopping without losing work ------------------------------------

@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` while a run trains there: a second run on the same ``--out`` is
    refused in one line instead of writing its checkpoint beside the first run's log. Leftover
    temporary files of an interrupted save (`files.atomic_write`) are removed once it is ours."""
    import fcntl

    with open(out / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{out} is being trained by another process; wait for it, or "
                             f"choose another --out") from None
        for stale in out.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class GracefulStop:
    """Ctrl-C or SIGTERM during training: finish the update under way, save it, then stop.

    The first signal only sets ``requested``; the training loop checks it between updates,
    saves the run at the last completed update and raises `KeyboardInterrupt`. A second
    signal interrupts at once (the last saved checkpoint stands). Signal handlers live in the
    main thread only; elsewhere this does nothing.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nstopping after this update, which will be saved (interrupt again to stop at once)",
              file=sys.stderr, flush=True)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


# -- the CSV log --------------------------------------------------------------------------------

class TrainingLog:
    """``log.csv``: one row per update, flushed as it is written.

    On resume the rows after the checkpoint's update are dropped (those updates will be redone),
    a truncated last line (a crash mid-write) is dropped with a note, and anything else that
    does not parse is refused rather than silently mixed with new rows.
    """

    def __init__(self, path: Path, resume_after: int | None, columns: tuple[str, ...]) -> None:
        self.path, self.columns = path, tuple(columns)
        rows: list[str] = []
        if resume_after is not None and path.exists():
            rows = self._rows_until(resume_after)
        elif resume_after is not None:
            print(f"note: {path} was missing; starting a new log", file=sys.stderr)
        atomic_write_text(path, ",".join(self.columns) + "\n" + "".join(r + "\n" for r in rows))
        self._file = open(path, "a", newline="")

    def _rows_until(self, update: int) -> list[str]:
        text = self.path.read_text()
        lines = text.split("\n")
        if text and not text.endswith("\n"):
            print(f"note: dropped a truncated last line of {self.path}: {lines[-1]!r}",
                  file=sys.stderr)
        lines = lines[:-1]                      # the part after the last newline
        header = lines[0].split(",") if lines else []
        if not header or not set(header) <= set(self.columns) or header[0] != self.columns[0]:
            raise UsageError(f"{self.path} is not a training log (expected the header "
                             f"{','.join(self.columns)}); move it away to resume")
        if header != list(self.columns):        # a log from before a column was added
            print(f"note: {self.path}: the columns the log did not have are nan in its earlier "
                  f"rows ({', '.join(c for c in self.columns if c not in header)})", file=sys.stderr)
        kept = []
        for number, line in enumerate(lines[1:], start=2):
            fields = next(csv.reader([line]), [])
            try:
                if len(fields) != len(header):
                    raise ValueError
                row_update = int(fields[0])
                [float(f) for f in fields[1:]]
            except ValueError:
                raise UsageError(f"{self.path} line {number} is malformed ({line[:60]!r}); fix "
                                 f"or move the log away to resume") from None
            if row_update <= update:
                values = dict(zip(header, fields))
                kept.append(",".join(values.get(c, "nan") for c in self.columns))
        return kept

    def append(self, row: dict[str, float]) -> None:
        self._file.write(",".join(_fmt(row[c]) for c in self.columns) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_log(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The log as columns of floats (for plots): {"update": array, "mean_return": array, ...};
    a run with extra training signals has their columns too (`rl2_course.signals`)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    return {c: np.array([float(r[c]) for r in rows]) for c in reader.fieldnames or ()}


def _fmt(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6g}"


__all__ = ["CHECKPOINT_NAME", "GracefulStop", "LOG_COLUMNS", "LOG_NAME", "RunConfig", "RunState", "TrainingLog", "check_config",
           "check_training_fits",
           "parse_settings", "read_log", "restore_run", "run_lock", "save_run", "task_config",
           "warm_start"]

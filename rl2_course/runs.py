"""The plumbing of a training run, kept out of the algorithm (`rl2_course.train`).

* `TrainingLog` / `read_log`: ``log.csv``, one row per update, safe to resume;
* `RunState` and `save_run` / `restore_run`: everything a checkpoint must hold to continue a
  run bit for bit (weights, optimizer, update counter, both random streams), and
  `warm_start`: copying only the weights of another run;
* `task_config`, `check_config`, `parse_settings`: a run's settings from the defaults table,
  checked, and from ``--set FIELD=VALUE``;
* `deterministic_torch` (from `rl2_course.threads`): the same numbers on every CPU run.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from rl2_course.agents.checkpoint import read_checkpoint, save_checkpoint
from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.errors import UsageError
from rl2_course.families import FAMILIES, family
from rl2_course.files import atomic_write_text
from rl2_course.signals import SIGNAL_FIELDS, SignalSettings, check_signals
from rl2_course.threads import deterministic_torch

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "log.csv"


# -- the run's settings -------------------------------------------------------------------------

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
    s = fam.training_defaults(task)
    defaults = dict(
        hidden_size=s.hidden_size, trials_per_update=s.trials_per_update,
        learning_rate=s.learning_rate, gamma=s.gamma, gae_lambda=s.gae_lambda,
        entropy_coef=s.entropy_coef, entropy_coef_final=s.entropy_coef_final,
        ppo_epochs=s.ppo_epochs, minibatches=s.minibatches, bptt_length=s.bptt_length,
        reward_scale=s.reward_scale, schedule_updates=s.updates,
        signals=SignalSettings.from_dict(signals).changed())
    return {"env": env, "task": task, **defaults, **overrides}


def check_config(config: Any) -> None:
    """Refuse an impossible training config with a one-line `UsageError`."""
    family(config.env).check(config.task)
    if config.updates is not None and config.minutes is not None:
        raise UsageError("give either --updates or --minutes, not both")
    if config.updates is not None and config.updates < 1:
        raise UsageError(f"--updates must be at least 1, got {config.updates}")
    if config.minutes is not None and not config.minutes > 0:
        raise UsageError(f"--minutes must be positive, got {config.minutes}")
    for name in ("hidden_size", "trials_per_update", "ppo_epochs", "minibatches",
                 "schedule_updates", "num_threads", "checkpoint_every"):
        if getattr(config, name) < 1:
            raise UsageError(f"{name} must be at least 1, got {getattr(config, name)}")
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


def parse_settings(items: list[str], config_type: type) -> dict[str, Any]:
    """``--set FIELD=VALUE`` items -> values of the type of the field's default (int or float;
    ``none`` where None is allowed). FIELD is one of ``config_type.SETTABLE``, a task family's
    option or a training signal's setting; anything else is a one-line `UsageError`."""
    types = {f.name: str(f.type) for f in dataclasses.fields(config_type)
             if f.name in config_type.SETTABLE}
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


def warm_start(model: RecurrentActorCritic, path: Path) -> None:
    """Copy the weights of checkpoint ``path`` into ``model`` (same architecture required).

    Only the weights travel: the optimizer, the schedules and the random streams start fresh,
    and the checkpoint's task family may differ (that is the point: a shorter trial length).
    The auxiliary head may differ: a new one keeps its fresh weights, an unused one is dropped.
    """
    payload = read_checkpoint(path)
    without_aux = lambda spec: {k: v for k, v in spec.items() if k != "aux_size"}  # noqa: E731
    if without_aux(payload["model_spec"]) != without_aux(model.spec()):
        theirs, ours = payload["model_spec"], model.spec()
        raise UsageError(f"--init-from {path}: its network ({theirs.get('num_actions')} actions, "
                         f"{theirs.get('hidden_size')} GRU units) does not fit this run's "
                         f"({ours['num_actions']} actions, {ours['hidden_size']} GRU units)")
    if payload["model_spec"].get("aux_size", 0) == model.aux_size:
        model.load_state_dict(payload["state_dict"])
    else:
        shared = {k: v for k, v in payload["state_dict"].items() if not k.startswith("aux_head.")}
        model.load_state_dict(shared, strict=False)


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
        if not lines or lines[0] != ",".join(self.columns):
            raise UsageError(f"{self.path} is not a training log (expected the header "
                             f"{','.join(self.columns)}); move it away to resume")
        kept = []
        for number, line in enumerate(lines[1:], start=2):
            fields = next(csv.reader([line]), [])
            try:
                if len(fields) != len(self.columns):
                    raise ValueError
                row_update = int(fields[0])
                [float(f) for f in fields[1:]]
            except ValueError:
                raise UsageError(f"{self.path} line {number} is malformed ({line[:60]!r}); fix "
                                 f"or move the log away to resume") from None
            if row_update <= update:
                kept.append(line)
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


__all__ = ["CHECKPOINT_NAME", "LOG_NAME", "RunState", "TrainingLog", "check_config",
           "parse_settings", "read_log", "restore_run", "save_run", "task_config",
           "warm_start"]

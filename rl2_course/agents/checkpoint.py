"""Saving and loading RL² checkpoints safely.

A checkpoint is one ``torch.save`` file holding only tensors and plain Python values (dict,
list, tuple, str, int, float, bool, None), so it loads with ``torch.load(weights_only=True)``:
opening a checkpoint someone sent you cannot run their code. The layout:

    {"format": "rl2_course.checkpoint", "format_version": 1,
     "env_spec": {"env": "bandit", "arms": 5, "episodes": 10},
     "model_spec": {...RecurrentActorCritic.spec()...},
     "state_dict": {...weights...},
     "config": {...TrainConfig as a dict...},
     "extra": {...training state: optimizer, update index, RNG states...}}

Writes are atomic (`rl2_course.files.atomic_write`), so a crash or Ctrl-C while saving leaves
the previous checkpoint intact instead of a truncated one. ``env_spec`` is what the task
family's environment module writes (``task_spec`` in `rl2_course.envs.bandit`, ``.mdp``,
``.maze``; `rl2_course.families` names them).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.envs import describe_task, task_layout
from rl2_course.errors import UsageError
from rl2_course.files import atomic_write

FORMAT = "rl2_course.checkpoint"
FORMAT_VERSION = 1
_KEYS = ("env_spec", "model_spec", "state_dict", "config", "extra")


def save_checkpoint(path: str | os.PathLike, model: RecurrentActorCritic, config: Any,
                    env_spec: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (+ its config, task family and ``extra`` state) atomically to ``path``.

    ``config`` is a dataclass or a dict; everything must be tensors or plain Python values
    (checked here, so that a bad value fails at save time and not when someone loads it).
    """
    path = Path(path)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "env_spec": dict(env_spec),
               "model_spec": model.spec(), "state_dict": model.state_dict(),
               "config": dict(config), "extra": dict(extra or {})}
    _check_plain(payload, "checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: str | os.PathLike,
                    expected_env_spec: dict[str, Any] | list[dict[str, Any]] | None = None
                    ) -> dict[str, Any]:
    """The raw checkpoint dict, validated; every problem is a one-line `UsageError`.

    ``expected_env_spec`` is the task family the checkpoint must have been trained on, or a
    list of those it may have been (e.g. a maze under either start protocol, for an evaluation
    asked to play an agent on the other one); a mismatch is worded against the first."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"no checkpoint at {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not a checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "weights_only" in str(err).lower():
            raise UsageError(f"refusing to load {path}: it contains arbitrary Python objects, "
                             f"and checkpoints may hold only tensors and plain values "
                             f"(torch.load weights_only=True)") from None
        raise UsageError(f"{path} is not a readable checkpoint (corrupt or truncated file)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            IndexError, TypeError, AttributeError):
        raise UsageError(f"{path} is not a readable checkpoint (corrupt or truncated file)") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UsageError(f"{path} is not an rl2_course checkpoint (no {FORMAT!r} format marker)")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise UsageError(f"{path} has checkpoint format version {version!r}; this rl2_course "
                         f"reads version {FORMAT_VERSION}")
    missing = [k for k in _KEYS if k not in payload]
    if missing:
        raise UsageError(f"{path} is an incomplete checkpoint (missing {', '.join(missing)})")
    problem = _schema_problem(payload)
    if problem:
        raise UsageError(f"{path} is not a valid checkpoint: {problem}")
    accepted = ([] if expected_env_spec is None else [expected_env_spec]
                if isinstance(expected_env_spec, dict) else list(expected_env_spec))
    if accepted and all(dict(payload["env_spec"]) != dict(spec) for spec in accepted):
        expected_env_spec = accepted[0]
        saved, wanted = describe_task(payload["env_spec"]), describe_task(expected_env_spec)
        family = f"{payload['env_spec'].get('env')} "
        if payload["env_spec"].get("env") == expected_env_spec.get("env") and wanted.startswith(family):
            wanted = wanted[len(family):]       # "... bandit k=5, n=10, not k=10, n=10"
        raise UsageError(f"checkpoint {path} was trained on {saved}, not {wanted}")
    return payload


def load_checkpoint(path: str | os.PathLike,
                    expected_env_spec: dict[str, Any] | list[dict[str, Any]] | None = None
                    ) -> tuple[RecurrentActorCritic, dict[str, Any]]:
    """Rebuild the model of a checkpoint; returns ``(model, metadata)``.

    ``metadata`` holds ``env_spec``, ``config``, ``extra`` and ``format_version``. With
    ``expected_env_spec`` a checkpoint trained on another task family is refused.
    """
    payload = read_checkpoint(path, expected_env_spec)
    try:
        model = RecurrentActorCritic.from_spec(payload["model_spec"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError(f"{path} does not describe a usable model ({first})") from None
    if not all(bool(torch.isfinite(t).all()) for t in model.state_dict().values()
               if t.is_floating_point()):
        raise UsageError(f"{path} holds weights that are not finite (NaN or infinity): a diverged "
                         f"run; resume it from an earlier checkpoint or train it again")
    layout = task_layout(payload["env_spec"])
    if layout is not None and layout != (model.layout.observation_size, model.num_actions):
        raise UsageError(f"{path} does not describe a usable model (its network reads "
                         f"{model.layout.observation_size} observation numbers and has "
                         f"{model.num_actions} actions; {describe_task(payload['env_spec'])} "
                         f"needs {layout[0]} and {layout[1]})")
    metadata = {k: payload[k] for k in ("format_version", "env_spec", "config", "extra")}
    return model, metadata


#: the largest network a checkpoint may ask for (units and numbers per observation): the
#: course's are 64 to 256 units; this bound keeps a crafted spec from allocating gigabytes
MAX_SIZE = 65_536


def _schema_problem(payload: dict[str, Any]) -> str | None:
    """What is wrong with the metadata's types and ranges, or None."""
    for key in ("env_spec", "model_spec", "state_dict", "config", "extra"):
        if not isinstance(payload[key], dict):
            return f"{key} is a {type(payload[key]).__name__}, not a mapping"
    env_spec, spec = payload["env_spec"], payload["model_spec"]
    if not isinstance(env_spec.get("env"), str) or not all(
            isinstance(v, (str, int)) and not isinstance(v, bool) for v in env_spec.values()):
        return "env_spec must name its env and hold only names and whole numbers"
    for key in ("observation_size", "num_actions", "hidden_size"):
        value = spec.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_SIZE:
            return f"model_spec[{key!r}] must be a whole number in [1, {MAX_SIZE}], got {value!r}"
    for key in ("context", "attention_layers", "attention_heads", "episode_clock"):
        value = spec.get(key, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_SIZE:
            return f"model_spec[{key!r}] must be a whole number in [0, {MAX_SIZE}], got {value!r}"
    if not isinstance(spec.get("encoder"), dict):
        return "model_spec['encoder'] must be a mapping"
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in payload["state_dict"].items()):
        return "state_dict must map names to tensors"
    return None


def _check_plain(value: Any, where: str) -> None:
    """Refuse anything ``torch.load(weights_only=True)`` would refuse to read back."""
    if value is None or isinstance(value, (bool, int, float, str, torch.Tensor)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
            _check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    raise TypeError(f"{where} is a {type(value).__name__}; checkpoints hold only tensors and "
                    f"plain Python values")


#: training-only state that a released (pretrained) checkpoint does not need
_TRAINING_ONLY = ("optimizer", "rng")


def export_checkpoint(source: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Copy a training checkpoint without its optimizer and RNG state (a small, release-ready
    file that evaluates exactly like the original but can no longer be resumed). Refuses to
    write over ``source`` itself: the run could never be resumed again."""
    refuse_overwriting_source(source, destination)
    payload = read_checkpoint(source)
    model, metadata = load_checkpoint(source)
    return save_checkpoint(destination, model, payload["config"], payload["env_spec"],
                           release_extra(metadata))


def refuse_overwriting_source(source: str | os.PathLike, destination: str | os.PathLike) -> None:
    """An export writes a copy that cannot be resumed: never over the run's own checkpoint."""
    destination = Path(destination)
    if destination.exists() and destination.resolve() == Path(source).resolve():
        raise UsageError(f"export would overwrite its source {source} with a copy that cannot "
                         f"be resumed; give another destination")


def release_extra(metadata: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's ``extra`` without the training-only state (optimizer, random streams)."""
    return {k: v for k, v in (metadata["extra"] or {}).items() if k not in _TRAINING_ONLY}

"""The trained network behind the `Policy` protocol: what evaluation, widgets and analysis run.

`RecurrentActorCritic` is the network; `RL2Agent` turns it into an agent that plays trials:
it creates a zero hidden state once per trial (never at an episode boundary), samples actions
with its own seeded dice, and keeps the last action probabilities and value for the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rl2_course.agents.checkpoint import load_checkpoint
from rl2_course.agents.recurrent import RecurrentActorCritic
from rl2_course.envs.bandit import task_spec as bandit_task_spec


@dataclass
class RL2State:
    """What `RL2Agent` carries from one step to the next (one batch of trials)."""

    # (B, S) the memory, the agent's "belief": a GRU state, or an attention key/value cache
    # that `RL2Agent.act` extends in place (so a state is consumed by the act() it is passed to)
    hidden: torch.Tensor
    generator: torch.Generator              # the agent's own dice (seeded per trial batch)
    probs: np.ndarray | None = None         # (B, A) π(·|x_{≤t}) of the last step, for widgets
    value: np.ndarray | None = None         # (B,) V(x_{≤t}) of the last step, for widgets


class RL2Agent:
    """A trained `RecurrentActorCritic` behind the `Policy` protocol (name ``"rl2"``).

    By default actions are *sampled* from π, as in training and in the paper's evaluation;
    ``greedy=True`` takes the most likely action instead.

    ``forget_between_episodes=True`` is an ablation, not RL²: at the first step of every
    episode after the first, the GRU state of that row is zeroed and the previous action,
    reward and done flag are hidden, exactly as at the start of a trial. What the agent then
    does in episode 2 is what it would do without any memory of episode 1, so comparing it
    with the intact agent on the same tasks measures what that memory is worth. ``dice`` names
    whose dice an evaluation gives the agent (default: its own name); an ablation that rolls
    the intact agent's dice plays episode 1 move for move like it, so the two differ only in
    episode 2.
    """

    def __init__(self, model: RecurrentActorCritic, *, greedy: bool = False,
                 forget_between_episodes: bool = False, name: str = "rl2",
                 dice: str | None = None) -> None:
        self.model = model.eval()
        self.greedy = bool(greedy)
        self.forget_between_episodes = bool(forget_between_episodes)
        self.name = name
        self.dice = name if dice is None else dice
        # the task family its checkpoint records and the file (set by `from_checkpoint`): an
        # evaluation reads the maze's start protocol from it to label the agent's numbers
        self.trained_on: dict[str, Any] | None = None
        self.source: Path | None = None
        # episodes per trial its weights were trained on, where its file was made for longer
        # trials without training there (`export --episodes`, ``extra["grown_from"]``)
        self.trained_episodes: int | None = None
        # the maze size its weights were trained on, where its file was made to play another
        # size without training there (`export --size`, ``extra["grown_from"]``)
        self.trained_size: str | None = None
        # the training config its checkpoint records (set by `from_checkpoint`): tables read
        # from it whether the agent learned with privileged aids (`signals.privileged_aids`)
        self.training_config: dict[str, Any] | None = None

    def initial_state(self, num_tasks: int,
                      seed: int | np.random.SeedSequence | None = None) -> RL2State:
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(_torch_seed(seed))
        return RL2State(self.model.initial_hidden(num_tasks), generator)

    def act(self, x: np.ndarray, state: RL2State) -> tuple[np.ndarray, RL2State]:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.model.input_size:
            raise ValueError(f"expected RL² inputs of shape (B, {self.model.input_size}), "
                             f"got {x.shape}: was the model trained for another task family?")
        hidden = state.hidden
        if self.forget_between_episodes:
            x, hidden = self._forget_at_episode_starts(x, hidden)
        with torch.no_grad():
            # an attention cache is extended in place: a state is used by one act() only
            logits, value, hidden = self.model.step(torch.from_numpy(x), hidden, in_place=True)
            probs = torch.softmax(logits, dim=-1)
            if self.greedy:
                actions = probs.argmax(dim=-1)
            else:
                actions = torch.multinomial(probs, 1, generator=state.generator).squeeze(-1)
        return actions.numpy().astype(np.int64), RL2State(hidden, state.generator,
                                                          probs.numpy(), value.numpy())

    def _forget_at_episode_starts(self, x: np.ndarray, hidden: torch.Tensor
                                  ) -> tuple[np.ndarray, torch.Tensor]:
        """Rows whose previous step ended an episode start over as if a new trial began."""
        starts = self.model.layout.split(x).prev_done > 0.5
        if not starts.any():
            return x, hidden
        x, hidden = x.copy(), hidden.clone()
        x[starts, self.model.layout.observation_size:] = 0.0   # no previous action, reward, done
        hidden[torch.from_numpy(starts)] = 0.0
        return x, hidden

    @classmethod
    def from_checkpoint(cls, path: str | Path, arms: int | None = None, episodes: int | None = None,
                        *, expected_env_spec: dict[str, Any] | list[dict[str, Any]] | None = None,
                        **kwargs: Any) -> RL2Agent:
        """Load a checkpoint, refusing one trained for another task family when told which:
        a bandit's (k, n) as ``arms, episodes``, or any ``expected_env_spec`` (one spec, or a
        list of the specs it may have)."""
        expected = expected_env_spec
        if expected is None and arms is not None and episodes is not None:
            expected = bandit_task_spec(arms, episodes)
        model, metadata = load_checkpoint(path, expected_env_spec=expected)
        agent = cls(model, **kwargs)
        agent.trained_on, agent.source = dict(metadata["env_spec"]), Path(path)
        agent.training_config = dict(metadata["config"])
        grown = metadata["extra"].get("grown_from")
        if isinstance(grown, dict) and isinstance(grown.get("episodes"), int):
            agent.trained_episodes = grown["episodes"]
        if isinstance(grown, dict) and isinstance(grown.get("size"), str):
            agent.trained_size = grown["size"]
        return agent

    def __repr__(self) -> str:
        forget = ", forget_between_episodes=True" if self.forget_between_episodes else ""
        return f"RL2Agent(hidden_size={self.model.hidden_size}, greedy={self.greedy}{forget})"


def _torch_seed(seed: int | np.random.SeedSequence) -> int:
    """A 63-bit torch seed from an int or a numpy SeedSequence (the evaluator passes those)."""
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return int(seed)

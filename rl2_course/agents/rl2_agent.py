"""The trained network behind the `Policy` protocol: what evaluation, widgets and analysis run.

`RecurrentActorCritic` is the network; `RL2Agent` turns it into an agent that plays trials:
it creates a zero hidden state once per trial (never at an episode boundary), samples actions
with its own seeded dice, and keeps the last action probabilities and value for the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rl2_course.agents.checkpoint import bandit_env_spec, load_checkpoint
from rl2_course.agents.recurrent import RecurrentActorCritic



@dataclass
class RL2State:
    """What `RL2Agent` carries from one step to the next (one batch of trials)."""

    hidden: torch.Tensor                    # (B, H) the GRU memory: the agent's "belief"
    generator: torch.Generator              # the agent's own dice (seeded per trial batch)
    probs: np.ndarray | None = None         # (B, A) π(·|x_{≤t}) of the last step, for widgets
    value: np.ndarray | None = None         # (B,) V(x_{≤t}) of the last step, for widgets


class RL2Agent:
    """A trained `RecurrentActorCritic` behind the `Policy` protocol (name ``"rl2"``).

    By default actions are *sampled* from π, as in training and in the paper's evaluation;
    ``greedy=True`` takes the most likely action instead.
    """

    def __init__(self, model: RecurrentActorCritic, *, greedy: bool = False,
                 name: str = "rl2") -> None:
        self.model = model.eval()
        self.greedy = bool(greedy)
        self.name = name

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
        with torch.no_grad():
            logits, value, hidden = self.model.step(torch.from_numpy(x), state.hidden)
            probs = torch.softmax(logits, dim=-1)
            if self.greedy:
                actions = probs.argmax(dim=-1)
            else:
                actions = torch.multinomial(probs, 1, generator=state.generator).squeeze(-1)
        return actions.numpy().astype(np.int64), RL2State(hidden, state.generator,
                                                          probs.numpy(), value.numpy())

    @classmethod
    def from_checkpoint(cls, path, arms: int | None = None, episodes: int | None = None,
                        *, expected_env_spec: dict[str, Any] | None = None, **kwargs: Any) -> RL2Agent:
        """Load a checkpoint, refusing one trained for another task family when told which:
        a bandit's (k, n) as ``arms, episodes``, or any ``expected_env_spec``."""
        expected = expected_env_spec
        if expected is None and arms is not None and episodes is not None:
            expected = bandit_env_spec(arms, episodes)
        model, _ = load_checkpoint(path, expected_env_spec=expected)
        return cls(model, **kwargs)

    def __repr__(self) -> str:
        return f"RL2Agent(hidden_size={self.model.hidden_size}, greedy={self.greedy})"


def _torch_seed(seed: int | np.random.SeedSequence) -> int:
    """A 63-bit torch seed from an int or a numpy SeedSequence (the evaluator passes those)."""
    if isinstance(seed, np.random.SeedSequence):
        return int(seed.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return int(seed)

"""The RL² agent: a recurrent actor-critic whose hidden state is the "fast" learner.

Duan et al. (2016), Section 2.2: the policy is a recurrent network that reads, at step t,

    x_t = [ s_t | one_hot(a_{t-1}) | r_{t-1} | d_{t-1} ]                      (RL² input)

and keeps a hidden state h_t that is carried across the episodes of a trial. The slow outer
loop (PPO here, TRPO in the paper; see `rl2_course.train`) tunes the weights; the fast inner
loop, learning *within* a task, is nothing but the GRU update

    h_t = GRU(φ(x_t), h_{t-1})                                                  (paper Eq. 1)
    π(a_t | x_{≤t}) = softmax(W_π h_t + b_π),    V(x_{≤t}) = w_V · h_t + b_V

Pieces, top to bottom:

* `ObservationEncoder` / `IdentityEncoder`: φ, applied to the observation part of x only. The
  bandit and tabular MDP observations are small vectors, so φ is the identity; the maze's
  pixels go through `ConvEncoder`, a small CNN, and nothing else changes.
* `RecurrentActorCritic`: φ → GRU → (policy logits, value), and optionally an auxiliary
  head that reads the same h_t (a training-time prediction task, never an input).
* `RL2Agent` (in `rl2_agent.py`) wraps a model in the course's `Policy` protocol, so the
  evaluator, the widgets and the analysis run it exactly like a baseline.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rl2_course.agents.cells import init_gru, make_cell, run_cell, state_size, update_gates
from rl2_course.envs.trial import TrialInputLayout


# --------------------------------------------------------------------------------------------
# Observation encoders φ
# --------------------------------------------------------------------------------------------

class ObservationEncoder(nn.Module):
    """φ: maps the observation part of x, shape (N, observation_size), to (N, output_size).

    The input is always a flat batch of observation vectors (the trial wrapper flattens
    observations), so an image encoder reshapes them itself, e.g. to (N, C, H, W). ``spec()``
    returns plain data from which `build_encoder` rebuilds the same encoder (checkpoints store
    it instead of pickling the module).
    """

    #: registry key used in ``spec()["name"]``
    kind: str = "abstract"
    output_size: int

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError


class IdentityEncoder(ObservationEncoder):
    """φ(s) = s, for vector observations (bandits, tabular MDPs)."""

    kind = "identity"

    def __init__(self, observation_size: int) -> None:
        super().__init__()
        self.observation_size = int(observation_size)
        self.output_size = self.observation_size

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return observation

    def spec(self) -> dict[str, Any]:
        return {"name": self.kind, "observation_size": self.observation_size}


def conv_output_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Length of one side after a convolution: ⌊(size + 2·padding − kernel) / stride⌋ + 1."""
    return (int(size) + 2 * int(padding) - int(kernel)) // int(stride) + 1


class ConvEncoder(ObservationEncoder):
    """φ for pixels (the maze's 40×30 RGB view): two strided convolutions and a dense layer.

    conv 16 × 5×5 stride 2 → ReLU → conv 32 × 3×3 stride 2 → ReLU → flatten → dense
    ``output_size`` → ReLU. On a (3, 30, 40) input the feature maps are (16, 13, 18) and
    (32, 6, 8), so the dense layer reads 1536 numbers (`conv_output_size` does the arithmetic).
    The observation arrives flat, channel-first, as the maze env writes it.
    """

    kind = "cnn"

    def __init__(self, channels: int = 3, height: int = 30, width: int = 40,
                 output_size: int = 256) -> None:
        super().__init__()
        self.shape = (int(channels), int(height), int(width))
        self.output_size = int(output_size)
        h, w = self.shape[1:]
        for kernel, stride in ((5, 2), (3, 2)):
            h, w = conv_output_size(h, kernel, stride), conv_output_size(w, kernel, stride)
        if h < 1 or w < 1:
            raise ValueError(f"a {height}×{width} image is too small for this encoder")
        self.conv = nn.Sequential(
            nn.Conv2d(self.shape[0], 16, 5, stride=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten())
        self.dense = nn.Sequential(nn.Linear(32 * h * w, self.output_size), nn.ReLU())

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.dense(self.conv(observation.reshape(-1, *self.shape)))

    def spec(self) -> dict[str, Any]:
        channels, height, width = self.shape
        return {"name": self.kind, "channels": channels, "height": height, "width": width,
                "output_size": self.output_size}


#: name -> encoder class (`build_encoder` rebuilds a checkpoint's encoder from its spec)
ENCODERS: dict[str, type[ObservationEncoder]] = {"identity": IdentityEncoder, "cnn": ConvEncoder}


def build_encoder(spec: dict[str, Any]) -> ObservationEncoder:
    """Rebuild an encoder from its ``spec()``."""
    spec = dict(spec)
    name = spec.pop("name")
    if name not in ENCODERS:
        raise ValueError(f"unknown observation encoder {name!r}; known: {', '.join(ENCODERS)}")
    return ENCODERS[name](**spec)


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------

#: ``value_network``: the value reads the policy's memory, or has a core of its own
VALUE_NETWORKS = ("shared", "separate")
#: the memory options and their defaults (the course's first network); a spec names the others
MEMORY_DEFAULTS = {"cell": "gru", "update_gate_bias": 0.0, "value_network": "shared",
                   "context": 0, "attention_layers": 2, "attention_heads": 4, "episode_clock": 0}
#: the options that shape an attention core (`agents.attention`)
ATTENTION_OPTIONS = ("context", "attention_layers", "attention_heads", "episode_clock")

class RecurrentActorCritic(nn.Module):
    """φ → recurrent core → policy logits and value, over RL² inputs x = [obs | a | r | d].

    Shapes: one step takes x (B, D) and h (B, S); a whole trial takes x (T, B, D) and h0 (B, S),
    where S = `state_size`: the core's H units, or 2H with a separate value network.

    Memory options (`agents.cells`): ``cell`` "gru" (torch's fused GRU) or "lngru" (layer
    norm, ReLU candidate); ``update_gate_bias`` starts every update gate holding;
    ``value_network="separate"`` gives the value its own core (the paper's first author and
    pytorch_rl2 do so), so the value loss's gradients never reach the policy's memory.
    ``cell="attention"`` replaces the GRU by a causal transformer over the trial's steps
    (`agents.attention`; ``context`` steps at most, ``attention_layers`` and
    ``attention_heads``; ``episode_clock`` > 0 adds an embedding of the step within its
    episode): its outputs have H numbers, its state is its key/value cache.
    """

    def __init__(self, observation_size: int, num_actions: int, hidden_size: int = 128,
                 encoder: ObservationEncoder | None = None, aux_size: int = 0, *,
                 cell: str = "gru", update_gate_bias: float = 0.0,
                 value_network: str = "shared", context: int = 0, attention_layers: int = 2,
                 attention_heads: int = 4, episode_clock: int = 0) -> None:
        super().__init__()
        if value_network not in VALUE_NETWORKS:
            raise ValueError(f"unknown value network {value_network!r}; known: {', '.join(VALUE_NETWORKS)}")
        self.layout = TrialInputLayout(int(observation_size), int(num_actions))
        self.hidden_size = int(hidden_size)
        self.cell, self.update_gate_bias = cell, float(update_gate_bias)
        self.value_network = value_network
        self.context, self.attention_layers = int(context), int(attention_layers)
        self.attention_heads, self.episode_clock = int(attention_heads), int(episode_clock)
        shape = {k: getattr(self, k) for k in ATTENTION_OPTIONS}
        self.encoder = encoder if encoder is not None else IdentityEncoder(observation_size)
        # core input: φ(obs) followed by the untouched [one_hot(a_{t-1}) | r_{t-1} | d_{t-1}].
        core_input = self.encoder.output_size + self.layout.num_actions + 2
        self.gru = make_cell(cell, core_input, self.hidden_size, self.update_gate_bias, **shape)
        self.policy_head = nn.Linear(self.hidden_size, self.layout.num_actions)
        self.value_head = nn.Linear(self.hidden_size, 1)
        # Optional auxiliary head (UNREAL / Mirowski et al. 2017 style): predicts ``aux_size``
        # numbers from h_t, trained by a supervised loss beside PPO (`rl2_course.signals`).
        # Acting never reads it; it only shapes what the memory keeps.
        self.aux_size = int(aux_size)
        self.aux_head = nn.Linear(self.hidden_size, self.aux_size) if self.aux_size else None
        self.value_gru = (make_cell(cell, core_input, self.hidden_size, self.update_gate_bias,
                                    **shape) if value_network == "separate" else None)
        self._init_weights()

    def _init_weights(self) -> None:
        # CleanRL's choices: orthogonal recurrent weights, zero biases (`cells.init_gru`), a
        # tiny policy head so the first policy is (almost) uniform, a unit-scale value head.
        for core in (self.gru, self.value_gru):
            if isinstance(core, nn.GRU):
                init_gru(core, self.update_gate_bias)
        nn.init.orthogonal_(self.policy_head.weight, gain=0.01)
        nn.init.zeros_(self.policy_head.bias)
        nn.init.orthogonal_(self.value_head.weight, gain=1.0)
        nn.init.zeros_(self.value_head.bias)

    # -- shapes and rebuilding ---------------------------------------------------------------

    @property
    def input_size(self) -> int:
        return self.layout.size

    @property
    def num_actions(self) -> int:
        return self.layout.num_actions

    @property
    def state_size(self) -> int:
        """Numbers in the recurrent state: H, or 2H with a separate value network (an
        attention core's state is its key/value cache, `agents.attention`)."""
        return sum(state_size(core) for core in (self.gru, self.value_gru) if core is not None)

    def spec(self) -> dict[str, Any]:
        """Plain data that rebuilds this architecture (the weights travel separately). Options
        at their defaults are left out, so the first checkpoints' specs still match."""
        spec = {"class": "RecurrentActorCritic", "observation_size": self.layout.observation_size,
                "num_actions": self.layout.num_actions, "hidden_size": self.hidden_size,
                "encoder": self.encoder.spec()}
        if self.aux_size:
            spec["aux_size"] = self.aux_size
        for name, default in MEMORY_DEFAULTS.items():
            if getattr(self, name) != default:
                spec[name] = getattr(self, name)
        return spec

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> RecurrentActorCritic:
        if spec.get("class") != "RecurrentActorCritic":
            raise ValueError(f"not a RecurrentActorCritic spec: {spec.get('class')!r}")
        return cls(spec["observation_size"], spec["num_actions"], spec["hidden_size"],
                   encoder=build_encoder(spec["encoder"]), aux_size=spec.get("aux_size", 0),
                   **{name: spec.get(name, default) for name, default in MEMORY_DEFAULTS.items()})

    def initial_hidden(self, batch: int) -> torch.Tensor:
        """h_0 = 0 for ``batch`` fresh trials (the only place RL² ever clears the memory)."""
        return torch.zeros(batch, self.state_size, device=self.device)

    @property
    def device(self) -> torch.device:
        return self.policy_head.weight.device

    # -- forward passes ----------------------------------------------------------------------

    def _gru_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """[φ(obs) | a | r | d] for x of shape (T, B, D)."""
        steps, batch, _ = x.shape
        obs_size = self.layout.observation_size
        features = self.encoder(x[..., :obs_size].reshape(steps * batch, obs_size))
        return torch.cat([features.reshape(steps, batch, -1), x[..., obs_size:]], dim=-1)

    def forward_sequence(self, x: torch.Tensor, h0: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run T steps: x (T, B, D), h0 (B, H) -> logits (T, B, A), values (T, B), h_T (B, H).

        One `nn.GRU` call covers the whole sequence because the hidden state is NEVER reset
        inside a trial: an episode boundary reaches the network only through the done flag
        d_{t-1} in x_t. This is the RL² difference from CleanRL's ``ppo_atari_lstm``, which
        zeroes the LSTM state at every episode start (``(1 - done) * h``) and therefore has
        to loop step by step; RL² must remember the previous episodes, that is the point.
        """
        outputs, h_last = self.hidden_sequence(x, h0)
        return (*self.heads(outputs), h_last)

    def hidden_sequence(self, x: torch.Tensor, h0: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """The memory alone: x (T, B, D), h0 (B, S) -> every state (T, B, S) and the last (B, S),
        for callers that apply several heads to the same states (the trainer's signals)."""
        inputs = self._gru_inputs(x)
        if self.value_gru is None:
            return run_cell(self.gru, inputs, h0)
        S = state_size(self.gru)
        policy_states, policy_last = run_cell(self.gru, inputs, h0[:, :S])
        value_states, value_last = run_cell(self.value_gru, inputs, h0[:, S:])
        return (torch.cat([policy_states, value_states], -1),
                torch.cat([policy_last, value_last], -1))

    def policy_memory(self, states: torch.Tensor) -> torch.Tensor:
        """The policy's part of the recurrent states (all of them without a value network)."""
        return states[..., :self.hidden_size]

    def heads(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy logits (..., A) and values (...) of recurrent states (..., S)."""
        if self.value_gru is None:
            return self.policy_head(states), self.value_head(states).squeeze(-1)
        H = self.hidden_size
        return self.policy_head(states[..., :H]), self.value_head(states[..., H:]).squeeze(-1)

    def update_gates(self, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        """The policy core's update gates z_t (T, B, H) over x (T, B, D) from h0 (B, S)."""
        return update_gates(self.gru, self._gru_inputs(x), h0[:, :state_size(self.gru)])

    def step(self, x: torch.Tensor, h: torch.Tensor, *, in_place: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: x (B, D), h (B, H) -> logits (B, A), value (B,), next h (B, H).

        ``in_place`` (rollouts under ``torch.no_grad()``, when ``h`` is not needed afterwards)
        lets an attention memory write the step into its cache ``h`` instead of copying the
        whole cache each step; a GRU makes a new state either way.
        """
        if in_place and self.cell == "attention":
            outputs, h_next = self.gru(self._gru_inputs(x.unsqueeze(0)), h, in_place=True)
            logits, values = self.heads(outputs)
            return logits.squeeze(0), values.squeeze(0), h_next
        logits, values, h_next = self.forward_sequence(x.unsqueeze(0), h)
        return logits.squeeze(0), values.squeeze(0), h_next

    forward = step

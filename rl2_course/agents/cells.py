"""Recurrent cores for the RL² network: the memory that has to hold a whole trial.

Both are GRUs, h' = (1 − z) ⊙ n + z ⊙ h: the update gate z decides, unit by unit, how much of
the old state survives a step. Over k steps a unit keeps ∏ z of its content, so a unit whose
gate sits at σ(0) = 0.5 (zero biases, the usual initialisation) halves its content every
step; ``update_gate_bias`` b starts every gate at σ(b) instead (b = 3: 95 % a step, a
half-life of 14 steps; b = 5: 99.3 %, 100 steps), so the memory starts out holding and
training decides what to overwrite. That is the GRU form of the LSTM's forget-gate bias
(Gers et al. 2000; Jozefowicz et al. 2015).

* ``"gru"``: `torch.nn.GRU`, a fused C++ loop (fast on a CPU); the course's first cell, and
  the one every earlier checkpoint has.
* ``"lngru"``: `LayerNormGRU`, a GRU with layer normalisation of each gate's input and a ReLU
  candidate, as in lucaslingle/pytorch_rl2 (after Ba et al. 2016): normalised pre-activations
  keep the gates away from saturation however large the inputs (a reward of 3, a one-hot
  state) or the state grow, and the ReLU candidate can count up (visits, sums of rewards)
  instead of squashing into [−1, 1]. It steps in Python, a few times slower than "gru".

Each core takes x (T, B, D) and h0 (B, H) and returns every h_t (T, B, H) and h_T (B, H);
``update_gates`` gives z_t (T, B, H) for the same inputs (`rl2_course.analysis.memory`).
"""

from __future__ import annotations

import torch
from torch import nn


def init_gru(gru: nn.GRU, update_gate_bias: float = 0.0) -> None:
    """CleanRL's choices (orthogonal recurrent weights, zero biases), plus the update gate's
    bias: torch orders each bias as (r, z, n), so the middle third is z's."""
    hidden = gru.hidden_size
    for name, param in gru.named_parameters():
        if name.startswith("weight"):
            nn.init.orthogonal_(param)
        else:
            nn.init.zeros_(param)
    if update_gate_bias:
        with torch.no_grad():
            gru.bias_hh_l0[hidden:2 * hidden].fill_(float(update_gate_bias))


def gru_update_gates(gru: nn.GRU, x: torch.Tensor, hidden: torch.Tensor,
                     h0: torch.Tensor) -> torch.Tensor:
    """z_t of an `nn.GRU` that read x (T, B, D) from h0 and produced ``hidden`` (T, B, H)."""
    H = gru.hidden_size
    previous = torch.cat([h0[None], hidden[:-1]])
    w_iz, w_hz = gru.weight_ih_l0[H:2 * H], gru.weight_hh_l0[H:2 * H]
    b = gru.bias_ih_l0[H:2 * H] + gru.bias_hh_l0[H:2 * H]
    return torch.sigmoid(x @ w_iz.T + previous @ w_hz.T + b)


class LayerNormGRU(nn.Module):
    """A layer-normalised GRU with a ReLU candidate (one layer, time-major).

        z = σ(LN(W_z x) + LN(U_z h) + b_z),    r = σ(LN(W_r x) + LN(U_r h))
        n = ReLU(LN(W_n x) + r ⊙ LN(U_n h)),   h' = (1 − z) ⊙ n + z ⊙ h

    The input projections and their normalisation run for all T steps at once; only the
    recurrent half steps in a loop. b_z starts at ``update_gate_bias``.
    """

    def __init__(self, input_size: int, hidden_size: int, update_gate_bias: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        H = self.hidden_size
        self.input_proj = nn.Linear(self.input_size, 3 * H, bias=False)
        self.hidden_proj = nn.Linear(H, 3 * H, bias=False)
        self.input_norm = nn.ModuleList([nn.LayerNorm(2 * H), nn.LayerNorm(H)])
        self.hidden_norm = nn.ModuleList([nn.LayerNorm(2 * H), nn.LayerNorm(H)])
        self.update_bias = nn.Parameter(torch.full((H,), float(update_gate_bias)))
        nn.init.xavier_normal_(self.input_proj.weight)
        nn.init.orthogonal_(self.hidden_proj.weight)

    def _inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        projected = self.input_proj(x)
        H = self.hidden_size
        return self.input_norm[0](projected[..., :2 * H]), self.input_norm[1](projected[..., 2 * H:])

    def _step(self, gates_x: torch.Tensor, candidate_x: torch.Tensor, h: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
        H = self.hidden_size
        projected = self.hidden_proj(h)
        gates = gates_x + self.hidden_norm[0](projected[:, :2 * H])
        z = torch.sigmoid(gates[:, :H] + self.update_bias)
        r = torch.sigmoid(gates[:, H:])
        n = torch.relu(candidate_x + r * self.hidden_norm[1](projected[:, 2 * H:]))
        return n + z * (h - n), z

    def forward(self, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gates_x, candidate_x = self._inputs(x)
        h, outputs = h0, []
        for t in range(x.shape[0]):
            h, _ = self._step(gates_x[t], candidate_x[t], h)
            outputs.append(h)
        return torch.stack(outputs), h

    def update_gates(self, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        gates_x, candidate_x = self._inputs(x)
        h, zs = h0, []
        for t in range(x.shape[0]):
            h, z = self._step(gates_x[t], candidate_x[t], h)
            zs.append(z)
        return torch.stack(zs)


#: the cores `RecurrentActorCritic` can use (``cell``); "attention" is
#: `rl2_course.agents.attention.CausalAttentionCore`, whose state is its key/value cache
CELLS = ("gru", "lngru", "attention")


def make_cell(cell: str, input_size: int, hidden_size: int, update_gate_bias: float = 0.0, *,
              context: int = 0, attention_layers: int = 2, attention_heads: int = 4,
              episode_clock: int = 0) -> nn.Module:
    """A recurrent core of kind ``cell`` (`CELLS`). An `nn.GRU` comes with torch's default
    initialisation: `init_gru` sets the course's, after the other layers are made (the order
    in which layers draw their first weights is part of a seeded run). ``context`` (the
    longest trial, in steps), ``attention_layers``, ``attention_heads`` and
    ``episode_clock`` (positions of a within-episode clock, 0: none) shape an attention core
    and are ignored by the GRUs."""
    if cell == "gru":
        return nn.GRU(input_size, hidden_size)
    if cell == "lngru":
        return LayerNormGRU(input_size, hidden_size, update_gate_bias)
    if cell == "attention":
        from rl2_course.agents.attention import CausalAttentionCore
        if context < 1:
            raise ValueError("an attention core needs its context: the longest trial, in steps")
        return CausalAttentionCore(input_size, hidden_size, context, attention_layers,
                                   attention_heads, episode_clock)
    raise ValueError(f"unknown recurrent cell {cell!r}; known: {', '.join(CELLS)}")


def state_size(core: nn.Module) -> int:
    """Numbers in ``core``'s recurrent state: H for a GRU, the key/value cache for attention."""
    return int(getattr(core, "state_size", core.hidden_size))


def run_cell(core: nn.Module, x: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every output h_t (T, B, H) and the last state (B, S) of ``core`` over x (T, B, D) from
    h0 (B, S); for a GRU the outputs are its states and S = H."""
    if isinstance(core, nn.GRU):
        outputs, h_last = core(x, h0.unsqueeze(0).contiguous())
        return outputs, h_last.squeeze(0)
    return core(x, h0)


def update_gates(core: nn.Module, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """z_t (T, B, H) of ``core`` over x (T, B, D) from h0."""
    if isinstance(core, nn.GRU):
        hidden, _ = run_cell(core, x, h0)
        return gru_update_gates(core, x, hidden, h0)
    if not hasattr(core, "update_gates"):
        raise ValueError(f"a {type(core).__name__} has no update gates: its memory is the "
                         f"trial's steps themselves")
    return core.update_gates(x, h0)


__all__ = ["CELLS", "LayerNormGRU", "init_gru", "make_cell", "run_cell", "state_size",
           "update_gates"]

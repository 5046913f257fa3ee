"""Where an attention memory looks: its weights over one MDP trial, against what the task asks.

A tabular MDP asks its fast learner for an associative memory (chapter 03): to act well in
state s it must recall what followed each earlier visit of s, the action taken there and the
reward it paid. A GRU has to build that lookup into its gates. The attention memory of
`rl2_course.agents.attention` reads the trial's past steps directly, and its weights say which
ones: w[t, j], the share of step t's read-out taken from step j ≤ t, per layer and head. This
module records those weights and asks whether they go where the lookup would.

Which step holds a visit's outcome? Step j's token is built from x_j and x_{j−1}, and
x_j = (s_j, a_{j−1}, r_{j−1}, d_{j−1}): the action taken at step j−1 and the reward it paid
arrive one step later. So the token that holds "in state s, action a paid r" is step j + 1
for a visit of s at step j, its *outcome step*; the visit's own token j shows only that s was
reached. Three sets of earlier steps, for a query at step t in state s_t:

* **earlier visits**: the steps j < t in the same state, s_j = s_t;
* **outcomes of earlier visits**: j + 1 for each such j (the tokens that hold (s_t, a_j, r_j));
* **outcomes of the same pair**: those of them whose action a_j is the one the agent now
  takes, a_t.

A memory that ignored content would spread its weight uniformly over the t + 1 steps it may
read (the causal mask), so a set M gets |M| / (t + 1) of it; `attention_to_earlier_visits`
sets each head's mean weight on M beside that uniform share, over every step whose state was
visited before in the trial. A ratio far above 1 is a head that looks things up by state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from rl2_course.agents.cells import state_size
from rl2_course.agents.recurrent import RecurrentActorCritic

#: the sets of earlier steps `attention_to_earlier_visits` measures, in report order
TARGETS = {"visits": "earlier visits of the state",
           "outcomes": "outcomes of those visits",
           "same pair": "outcomes of the same (state, action)"}


def attention_weights(model: RecurrentActorCritic, inputs: np.ndarray) -> np.ndarray:
    """The policy memory's attention weights over whole trials: (layers, B, heads, T, T).

    ``inputs`` are time-major RL² inputs (T, B, D) of trials from their first step (an
    `MDPTrace`'s ``inputs``), read in one pass from the empty cache, which gives exactly the
    weights of the rollout. Row t of each (T, T) matrix is a distribution over steps 0 … t.
    """
    if model.cell != "attention":
        raise ValueError(f"a {model.cell} memory has no attention weights: its memory is its "
                         "state, not the trial's steps")
    x = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=model.device)
    h0 = model.initial_hidden(x.shape[1])[:, :state_size(model.gru)]     # the policy's core
    with torch.no_grad():
        _, _, weights = model.gru(model._gru_inputs(x), h0, return_weights=True)
    return torch.stack(weights).cpu().numpy()


def queries_keys_values(model: RecurrentActorCritic, inputs: np.ndarray, layer: int = 0
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The queries, keys and values one attention layer of the policy memory computes over
    whole trials, each (B, heads, T, d) with d = hidden_size / heads.

    Caught from the core's own projection (a forward hook on its ``qkv`` layer) while it reads
    ``inputs`` (T, B, D) from the empty cache, so they are exactly the numbers its attention
    weights come from: softmax(q kᵀ / √d) under the causal mask (chapter 06, exercise 6.2).
    """
    if model.cell != "attention":
        raise ValueError(f"a {model.cell} memory has no queries, keys or values")
    core = model.gru
    if not 0 <= layer < core.layers:
        raise ValueError(f"layer must be in 0 … {core.layers - 1}, got {layer}")
    caught: list[torch.Tensor] = []
    hook = core.qkv[layer].register_forward_hook(lambda module, args, out: caught.append(out))
    try:
        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=model.device)
        with torch.no_grad():
            core(model._gru_inputs(x), model.initial_hidden(x.shape[1])[:, :state_size(core)])
    finally:
        hook.remove()
    B, T, _ = caught[0].shape                          # (B, T, 3H): q | k | v, heads side by side
    q, k, v = (part.reshape(B, T, core.heads, -1).transpose(1, 2).cpu().numpy()
               for part in caught[0].chunk(3, dim=-1))
    return q, k, v


def earlier_visits(states: np.ndarray) -> np.ndarray:
    """(B, T) states -> (B, T, T) bool: [b, t, j] when j < t and s_j = s_t."""
    states = np.asarray(states)
    T = states.shape[-1]
    same = states[..., :, None] == states[..., None, :]
    return same & np.tri(T, k=-1, dtype=bool)


def outcome_mask(states: np.ndarray, actions: np.ndarray | None = None) -> np.ndarray:
    """(B, T) -> (B, T, T) bool: [b, t, j] when step j's token holds the outcome of an earlier
    visit of s_t (j = i + 1 for an i < t with s_i = s_t). With ``actions``, only the outcomes
    of the pair (s_t, a_t): those with a_i = a_t."""
    visits = earlier_visits(states)
    if actions is not None:
        actions = np.asarray(actions)
        visits = visits & (actions[..., :, None] == actions[..., None, :])
    out = np.zeros_like(visits)
    out[..., 1:] = visits[..., :-1]                     # visit i -> its outcome step i + 1
    return out


def outcome_steps(states: np.ndarray, t: int) -> np.ndarray:
    """For one trial's states (T,), the outcome steps of the earlier visits of s_t, ascending:
    the steps j ≤ t whose token reports what the agent did in s_t and what it paid."""
    states = np.asarray(states)
    visits = np.nonzero(states[:t] == states[t])[0]
    return visits + 1


@dataclass
class AttentionReadout:
    """Where the heads look, per layer and head, at every step whose state was seen before.

    ``mass[target]`` (layers, heads) is the mean attention weight on that set of earlier steps
    (`TARGETS`), ``uniform[target]`` what uniform causal attention, 1/(t + 1) per readable step,
    would give on the same queries; ``queries`` counts those (trial, step) pairs.
    """

    mass: dict[str, np.ndarray]
    uniform: dict[str, float]
    queries: int

    @property
    def layers(self) -> int:
        return next(iter(self.mass.values())).shape[0]

    @property
    def heads(self) -> int:
        return next(iter(self.mass.values())).shape[1]

    def lift(self, target: str) -> np.ndarray:
        """mass / uniform, (layers, heads): 1 is content-blind, more is a lookup."""
        return self.mass[target] / self.uniform[target]

    def table(self) -> str:
        lines = [f"mean attention weight at {self.queries:,} steps in a state seen before "
                 "(× what uniform causal attention gives)",
                 f"{'layer, head':<13}" + "".join(f"{what:>40}" for what in TARGETS.values())]
        for layer in range(self.layers):
            for head in range(self.heads):
                cells = [f"{self.mass[k][layer, head]:.3f} (×{self.lift(k)[layer, head]:.1f})"
                         for k in TARGETS]
                lines.append(f"{f'{layer + 1}, {head + 1}':<13}" + "".join(f"{c:>40}" for c in cells))
        lines.append(f"{'uniform':<13}" + "".join(f"{self.uniform[k]:>40.3f}" for k in TARGETS))
        return "\n".join(lines)


def attention_to_earlier_visits(weights: np.ndarray, states: np.ndarray,
                                actions: np.ndarray) -> AttentionReadout:
    """Each head's weight on the earlier visits of the current state, their outcomes and the
    outcomes of the same (state, action), against uniform causal attention.

    ``weights`` (layers, B, heads, T, T) from `attention_weights`; ``states`` and ``actions``
    (B, T) of the same trials. Only steps whose state was visited earlier in the trial count.
    """
    weights = np.asarray(weights)
    states, actions = np.asarray(states), np.asarray(actions)
    if weights.ndim != 5 or weights.shape[1] != states.shape[0] or weights.shape[-1] != states.shape[1]:
        raise ValueError(f"expected weights (layers, B, heads, T, T) for states {states.shape}, "
                         f"got {weights.shape}")
    masks = {"visits": earlier_visits(states), "outcomes": outcome_mask(states),
             "same pair": outcome_mask(states, actions)}
    query = masks["visits"].any(-1)                                 # (B, T): seen before
    if not query.any():
        raise ValueError("no step of these trials is in a state visited before")
    readable = np.arange(states.shape[1]) + 1.0                    # t + 1 steps to read from
    mass, uniform = {}, {}
    for name, mask in masks.items():
        on_set = np.einsum("lbhtj,btj->lhbt", weights, mask.astype(weights.dtype))
        mass[name] = on_set[:, :, query].astype(np.float64).mean(-1)   # (layers, heads)
        uniform[name] = float((mask.sum(-1) / readable)[query].mean())
    return AttentionReadout(mass, uniform, int(query.sum()))


__all__ = ["AttentionReadout", "TARGETS", "attention_to_earlier_visits", "attention_weights",
           "earlier_visits", "outcome_mask", "outcome_steps", "queries_keys_values"]

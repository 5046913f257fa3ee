"""A causal-attention memory for the RL² network: the fast learner reads the trial's past steps.

A GRU must squeeze a whole trial into H numbers and learn, through its gates, what to keep.
A tabular MDP asks it for an associative memory: what followed (state, action) each time it
was tried. Attention over the trial's past steps has that lookup built in: the current step's
query is compared with a key of every earlier step of the trial and reads back their values
(SNAIL, Mishra et al. 2018, ran the paper's bandits and MDPs this way; lucaslingle/pytorch_rl2
ships a Transformer policy). The slow learner (PPO in `rl2_course.train`) and the RL² inputs
are unchanged; only the memory differs, and it is still cleared only when a trial begins.

`CausalAttentionCore`, a small GPT-style decoder (pre-layer-norm blocks, Radford et al. 2019):

    e_t = W_in [x_t | x_{t−1}] + p_t                (a step and the one before it, a position)
    e   ← e + Attn(LN(e))   (causal: step t reads steps ≤ t of this trial)   × ``layers``
    e   ← e + MLP(LN(e))
    o_t = LN(e_t)                                    (what the policy and value heads read)

Reading the step before beside each step lets one key hold a whole transition: x_t carries
the reward and action *of* step t−1 while x_{t−1} carries the state they came from. p_t is a
learned embedding of t, the step's index in the trial (the GRU has to count; here the count
is given), so ``context``, the number of positions, must cover the trial's length.

An optional **episode clock** (``episode_clock`` = N > 0) adds a second learned embedding, of
the step's index *within its episode* (0 at a trial's start and wherever the RL² input's done
flag, its last number, says a new episode began; positions past N − 1 share the last one):

    e_t = W_in [x_t | x_{t−1}] + p_t + q_{u_t}      (u_t: steps since the episode began)

Trial positions alone make "the step of episode 1 that matches my step u of episode 2" a
lookup whose offset, episode 1's length, changes from trial to trial; with the clock it is
the same lookup in every trial. Nothing privileged: u_t is counted from the done flags the
agent is given. Its embedding starts at zero, so adding a clock to a trained network
(`runs.warm_start`) leaves what it computes unchanged until training moves it.

The recurrent state of the course's interface is the *key/value cache*: per row, the step
counter (and, with a clock, the episode's), the previous input, and each layer's keys and
values of the steps so far, flat in one vector of ``state_size`` numbers. A rollout step
therefore costs O(t) (one query against t cached keys) instead of recomputing the prefix,
O(t²); a whole trial costs O(T²) and its cache holds 2 · layers · context · hidden_size numbers
per trial. All zeros is the empty cache, so ``initial_hidden`` and the memory-wipe ablation
work as they do for a GRU. A truncated-BPTT segment starts from the cache the rollout recorded
(as Transformer-XL does, no gradient flows into it).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class CausalAttentionCore(nn.Module):
    """A causal transformer over the trial so far, with the `cells` interface:
    ``forward(x (T, B, D), h0 (B, S)) -> (outputs (T, B, H), h_T (B, S))``."""

    def __init__(self, input_size: int, hidden_size: int, context: int, layers: int = 2,
                 heads: int = 4, episode_clock: int = 0) -> None:
        super().__init__()
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.context, self.layers, self.heads = int(context), int(layers), int(heads)
        self.episode_clock = int(episode_clock)
        if self.context < 1 or self.layers < 1 or self.heads < 1:
            raise ValueError("an attention core needs context, layers and heads ≥ 1")
        if self.episode_clock < 0:
            raise ValueError(f"episode_clock is a number of positions (0: none), got {episode_clock}")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not a multiple of the "
                             f"{self.heads} attention heads")
        H = self.hidden_size
        self.embed = nn.Linear(2 * self.input_size, H)
        self.position = nn.Embedding(self.context, H)
        if self.episode_clock:
            self.episode_position = nn.Embedding(self.episode_clock, H)
            nn.init.zeros_(self.episode_position.weight)
        self.attn_norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(self.layers))
        self.qkv = nn.ModuleList(nn.Linear(H, 3 * H) for _ in range(self.layers))
        self.attn_out = nn.ModuleList(nn.Linear(H, H) for _ in range(self.layers))
        self.mlp_norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(self.layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(H, 4 * H), nn.GELU(), nn.Linear(4 * H, H))
                                 for _ in range(self.layers))
        self.out_norm = nn.LayerNorm(H)
        nn.init.normal_(self.position.weight, std=0.02)
        for layer in range(self.layers):   # GPT-2: residual branches start small
            for linear in (self.attn_out[layer], self.mlp[layer][2]):
                nn.init.normal_(linear.weight, std=0.02 / math.sqrt(2 * self.layers))
                nn.init.zeros_(linear.bias)

    # -- the flat state: [count | (episode count) | x_{t−1} | K_1 | V_1 | … | K_L | V_L],
    # K/V of (context, H); the episode count only with a clock --------------------------------

    @property
    def _counters(self) -> int:
        return 2 if self.episode_clock else 1

    @property
    def state_size(self) -> int:
        return self._counters + self.input_size + 2 * self.layers * self.context * self.hidden_size

    def _unpack(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        B, C, H = h.shape[0], self.context, self.hidden_size
        count = h[:, 0].round().long()
        start = self._counters
        previous = h[:, start:start + self.input_size]
        caches = h[:, start + self.input_size:].view(B, 2 * self.layers, C, H)
        return count, previous, [caches[:, i] for i in range(2 * self.layers)]

    def _write_counters(self, h: torch.Tensor, count: torch.Tensor,
                        episode_next: torch.Tensor | None, last_input: torch.Tensor) -> None:
        """Store the step counters and x_{T−1} of a state after T more steps, in place."""
        h[:, 0] = count.to(h.dtype)
        if episode_next is not None:
            h[:, 1] = episode_next.to(h.dtype)
        h[:, self._counters:self._counters + self.input_size] = last_input

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, N, H) -> (B, heads, N, H / heads)."""
        B, N, _ = t.shape
        return t.reshape(B, N, self.heads, -1).transpose(1, 2)

    def _embed_steps(self, x: torch.Tensor, h0: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The steps' positions (B, T), x batch-major (B, T, D), their embeddings
        e_t = W_in [x_t | x_{t−1}] + p_t (+ q_{u_t} with a clock) (B, T, H), and the episode
        count after them (B,) or None; refuses a trial past the context."""
        T = x.shape[0]
        count, previous, _ = self._unpack(h0)
        if int(count.max()) + T > self.context:
            raise ValueError(f"the trial is longer than the attention context of "
                             f"{self.context} steps")
        steps = torch.arange(T, device=x.device)[None]                       # (1, T)
        positions = count[:, None] + steps                                   # (B, T)
        x = x.transpose(0, 1)                                                # (B, T, D)
        shifted = torch.cat([previous[:, None], x[:, :-1]], dim=1)           # x_{t−1}
        e = self.embed(torch.cat([x, shifted], -1)) + self.position(positions)
        if not self.episode_clock:
            return positions, x, e, None
        # u_t: steps since the last done flag (the input's last number) within these T steps,
        # else the stored count carried on; a state's count is 0 at a trial's start
        began = torch.where(x[..., -1] > 0.5, steps, torch.full_like(steps, -1)).cummax(1).values
        episode = torch.where(began >= 0, steps - began, h0[:, 1].round().long()[:, None] + steps)
        e = e + self.episode_position(episode.clamp(max=self.episode_clock - 1))
        return positions, x, e, episode[:, -1] + 1

    def forward(self, x: torch.Tensor, h0: torch.Tensor, *, return_weights: bool = False,
                in_place: bool = False):
        """x (T, B, D), h0 (B, S) -> outputs (T, B, H), h_T (B, S); with ``return_weights``
        also each layer's attention weights, a list of (B, heads, T, used + T), where ``used``
        is the longest cache of the batch (T × T from the empty cache).

        ``in_place`` writes the new keys and values into ``h0`` itself and returns it as h_T:
        a rollout step then costs what its attention costs, O(t), instead of also copying the
        whole cache, O(context). Only without autograd (rollouts, evaluation), and the caller
        must not need ``h0`` afterwards (`collect_trials` clones the states it records).
        """
        if in_place:
            if return_weights or (torch.is_grad_enabled() and h0.requires_grad):
                raise ValueError("in_place is for rollouts: no autograd, no weights")
            return self._step_in_place(x, h0)
        T, B, _ = x.shape
        count, _, caches = self._unpack(h0)
        steps = torch.arange(T, device=x.device)
        positions, x, e, episode_next = self._embed_steps(x, h0)
        used = int(count.max())               # cache slots past every row's count are empty
        fresh = used == 0                     # a whole trial from its start: no cache to read
        if not fresh:
            caches = [cache[:, :used] for cache in caches]
            cached = torch.arange(used, device=x.device)[None, :] < count[:, None]
            causal = steps[None, :] <= steps[:, None]                        # (T, T)
            mask = torch.cat([cached[:, None, :].expand(B, T, used),
                              causal[None].expand(B, T, T)], -1)[:, None]   # (B, 1, T, C + T)
        index = positions[..., None].expand(B, T, self.hidden_size)
        # h_T: one copy of h0, the new steps' keys and values written into it in place
        h_last = h0.clone()
        self._write_counters(h_last, count + T, episode_next, x[:, -1])
        new_caches = h_last[:, self._counters + self.input_size:].view(
            B, 2 * self.layers, self.context, self.hidden_size)
        weights = []
        if return_weights:      # where each query may look, for the explicit softmax below
            allowed = (mask if not fresh else
                       torch.ones(T, T, dtype=torch.bool, device=x.device).tril())
        for layer in range(self.layers):
            q, k, v = self.qkv[layer](self.attn_norm[layer](e)).chunk(3, dim=-1)
            new_caches[:, 2 * layer].scatter_(1, index, k)      # a fresh view for each write
            new_caches[:, 2 * layer + 1].scatter_(1, index, v)
            if not fresh:
                k = torch.cat([caches[2 * layer], k], 1)
                v = torch.cat([caches[2 * layer + 1], v], 1)
            q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
            if return_weights:
                scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
                w = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
                weights.append(w)
                read = w @ v
            elif fresh:
                read = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                read = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            e = e + self.attn_out[layer](read.transpose(1, 2).reshape(B, T, self.hidden_size))
            e = e + self.mlp[layer](self.mlp_norm[layer](e))
        outputs = self.out_norm(e).transpose(0, 1)                            # (T, B, H)
        return (outputs, h_last, weights) if return_weights else (outputs, h_last)

    def _step_in_place(self, x: torch.Tensor, h: torch.Tensor
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward` that writes each layer's new keys and values into the cache ``h`` first
        and then reads the cache's used slots as views: nothing of size ``context`` is copied."""
        T, B, _ = x.shape
        count, _, caches = self._unpack(h)
        end = int(count.max()) + T
        positions, x, e, episode_next = self._embed_steps(x, h)
        self._write_counters(h, count + T, episode_next, x[:, -1])
        # query i of row b (at position count_b + i) reads slots 0 … count_b + i
        mask = (torch.arange(end, device=x.device)[None, None, :]
                <= positions[:, :, None])[:, None]                           # (B, 1, T, end)
        index = positions[..., None].expand(B, T, self.hidden_size)
        for layer in range(self.layers):
            q, k, v = self.qkv[layer](self.attn_norm[layer](e)).chunk(3, dim=-1)
            keys, values = caches[2 * layer], caches[2 * layer + 1]
            keys.scatter_(1, index, k)
            values.scatter_(1, index, v)
            q, k, v = (self._split_heads(t) for t in (q, keys[:, :end], values[:, :end]))
            read = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            e = e + self.attn_out[layer](read.transpose(1, 2).reshape(B, T, self.hidden_size))
            e = e + self.mlp[layer](self.mlp_norm[layer](e))
        return self.out_norm(e).transpose(0, 1), h


__all__ = ["CausalAttentionCore"]

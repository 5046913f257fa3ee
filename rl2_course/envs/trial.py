"""The RL² trial wrapper: what the recurrent policy sees at every step.

RL² (Duan et al. 2016, Section 2.2) feeds the policy, at step t, the tuple

    x_t = (s_t, a_{t-1}, r_{t-1}, d_{t-1})

the current observation, the previous action, the previous reward and a flag that the previous
step ended an episode. A *trial* is n episodes in one task; the policy's hidden state is carried
across the episode boundaries of a trial, so (a, r, d) are all it needs to learn the task.

`TrialEnv` turns any `TaskVectorEnv` into a vector env whose episodes are whole trials:

* ``reset(seed=...)`` draws B new tasks; the first input has a_{-1} = "none" (an all-zero
  one-hot), r_{-1} = 0, d_{-1} = 0;
* when an inner episode ends, the next episode starts in the *same* task and the next input
  carries d = 1;
* ``terminated`` is true when the n-th episode of the trial ends.

Every later environment (MDPs, mazes) goes through this same wrapper, and so do the baselines:
they read their statistics from the same inputs the RL² policy gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import gymnasium
import numpy as np
from gymnasium.vector.utils import batch_space

from rl2_course.envs.base import TaskVectorEnv


class TrialInput(NamedTuple):
    """The four parts of an RL² input, as views into the batch array."""

    observation: np.ndarray      # (B, observation_size)
    prev_action: np.ndarray      # (B, num_actions) one-hot; all zeros at the first step of a trial
    prev_reward: np.ndarray      # (B,)
    prev_done: np.ndarray        # (B,) 1.0 when the previous step ended an episode


@dataclass(frozen=True)
class TrialInputLayout:
    """Where each part of x_t sits in the flat input vector: [obs | one-hot a | r | d]."""

    observation_size: int
    num_actions: int

    @property
    def size(self) -> int:
        return self.observation_size + self.num_actions + 2

    def split(self, x: np.ndarray) -> TrialInput:
        o, a = self.observation_size, self.num_actions
        return TrialInput(x[..., :o], x[..., o:o + a], x[..., o + a], x[..., o + a + 1])


def encode_trial_input(observation: np.ndarray, prev_action: np.ndarray, prev_reward: np.ndarray,
                       prev_done: np.ndarray, num_actions: int) -> np.ndarray:
    """Build the RL² input x = [obs | one_hot(prev_action) | prev_reward | prev_done].

    ``prev_action`` holds integers, with -1 meaning "no previous action" (the first step of a
    trial), which encodes as an all-zero one-hot. Shapes: observation (B, O), the rest (B,).
    Returns float32 of shape (B, O + num_actions + 2).
    """
    observation = np.asarray(observation, dtype=np.float32)
    batch, obs_size = observation.shape
    prev_action = np.asarray(prev_action)
    x = np.zeros((batch, obs_size + num_actions + 2), dtype=np.float32)
    x[:, :obs_size] = observation
    rows = np.nonzero(prev_action >= 0)[0]
    x[rows, obs_size + prev_action[rows]] = 1.0
    x[:, obs_size + num_actions] = prev_reward
    x[:, obs_size + num_actions + 1] = prev_done
    return x


def trial_input_sequence(observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                         episode_done: np.ndarray, num_actions: int) -> np.ndarray:
    """The RL² inputs x_0 … x_{T-1} of whole recorded trials, time-major: (T, B, D) float32.

    ``observations`` (T, B, O) holds s_t, the observation the policy saw at step t;
    ``actions``, ``rewards`` and ``episode_done`` (T, B) hold a_t, r_t and d_t of that step. The
    inputs are those shifted by one step: x_0 = [s_0 | 0 | 0 | 0] (no previous action) and
    x_t = [s_t | one_hot(a_{t-1}) | r_{t-1} | d_{t-1}]. For trials played by a `TrialEnv` this is
    exactly the sequence of inputs the env produced, i.e. what the trainer feeds the GRU.
    (A `TrialRecord` stores (B, T) arrays: pass ``record.actions.T`` and so on.)
    """
    observations = np.asarray(observations, dtype=np.float32)
    steps, batch, _ = observations.shape
    actions = np.asarray(actions)
    if actions.shape != (steps, batch):
        raise ValueError(f"expected actions of shape {(steps, batch)}, got {actions.shape}")
    prev_action = np.concatenate([np.full((1, batch), -1), actions[:-1]])
    prev_reward = np.concatenate([np.zeros((1, batch)), np.asarray(rewards, dtype=np.float64)[:-1]])
    prev_done = np.concatenate([np.zeros((1, batch)), np.asarray(episode_done, dtype=np.float64)[:-1]])
    if steps == 0:
        return np.zeros((0, batch, observations.shape[2] + num_actions + 2), dtype=np.float32)
    return np.stack([encode_trial_input(observations[t], prev_action[t], prev_reward[t],
                                        prev_done[t], num_actions) for t in range(steps)])


class TrialEnv(gymnasium.vector.VectorEnv):
    """B trials of ``episodes_per_trial`` episodes each, over a batch of tasks.

    The trial ends for all tasks at once in the fixed-length families (bandits, MDPs). After a
    trial has terminated, call ``reset`` to draw new tasks.
    """

    metadata = {"render_modes": [], "autoreset_mode": None}

    def __init__(self, task_env: TaskVectorEnv, episodes_per_trial: int) -> None:
        if int(episodes_per_trial) < 1:
            raise ValueError(f"a trial needs at least 1 episode, got {episodes_per_trial}")
        self.task_env = task_env
        self.episodes_per_trial = int(episodes_per_trial)
        self.num_envs = task_env.num_envs
        self.num_actions = task_env.num_actions
        self.layout = TrialInputLayout(task_env.observation_size, task_env.num_actions)
        obs_space = task_env.single_observation_space
        low = np.concatenate([np.broadcast_to(obs_space.low, obs_space.shape).ravel(),
                              np.zeros(self.num_actions), [task_env.reward_bounds[0], 0.0]]).astype(np.float32)
        high = np.concatenate([np.broadcast_to(obs_space.high, obs_space.shape).ravel(),
                               np.ones(self.num_actions), [task_env.reward_bounds[1], 1.0]]).astype(np.float32)
        self.single_observation_space = gymnasium.spaces.Box(low, high, dtype=np.float32)
        self.single_action_space = task_env.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.episode_index = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = True

    @property
    def num_tasks(self) -> int:
        return self.num_envs

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.task_env.reset(seed=seed, options=options)
        self.episode_index[:] = 0
        self._needs_reset = False
        none = np.full(self.num_envs, -1)
        zeros = np.zeros(self.num_envs, dtype=np.float32)
        return encode_trial_input(obs, none, zeros, zeros, self.num_actions), {
            "episode": self.episode_index.copy(), **info}

    def close_extras(self, **kwargs: Any) -> None:
        """Closing the trials closes the task env (for the maze: its Doom processes)."""
        self.task_env.close(**kwargs)

    def step(self, actions: np.ndarray):
        if self._needs_reset:
            raise RuntimeError("the trial has ended (or never began): call reset() first")
        actions = np.asarray(actions)
        obs, reward, terminated, truncated, info = self.task_env.step(actions)
        episode_done = terminated | truncated
        self.episode_index += episode_done
        trial_done = self.episode_index >= self.episodes_per_trial
        restart = episode_done & ~trial_done
        if restart.any():
            # Same task, fresh episode: the RL² hidden state is *not* reset here.
            obs = np.where(restart[:, None], self.task_env.start_episodes(restart), obs)
        if trial_done.all():
            self._needs_reset = True
        x = encode_trial_input(obs, actions, reward, episode_done, self.num_actions)
        info = {**info, "reward": reward, "episode_done": episode_done,
                "episode": self.episode_index.copy()}
        return x, reward, trial_done, np.zeros(self.num_envs, dtype=bool), info


class SingleTaskEnv(gymnasium.Env):
    """A plain `gymnasium.Env` view of a batched env with one task (for `check_env`, for users)."""

    metadata = {"render_modes": []}

    def __init__(self, vector_env: gymnasium.vector.VectorEnv) -> None:
        if vector_env.num_envs != 1:
            raise ValueError(f"SingleTaskEnv needs a batch of one task, got {vector_env.num_envs}")
        self.vector_env = vector_env
        self.observation_space = vector_env.single_observation_space
        self.action_space = vector_env.single_action_space

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, info = self.vector_env.reset(seed=seed, options=options)
        return obs[0], _first(info)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.vector_env.step(np.array([int(action)]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), _first(info)


def _first(info: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[0] if isinstance(v, np.ndarray) and v.ndim else v) for k, v in info.items()}

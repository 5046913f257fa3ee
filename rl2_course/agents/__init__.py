"""The RL² agent: recurrent actor-critic, its `Policy` wrapper and safe checkpoints."""

from rl2_course.agents.checkpoint import (load_checkpoint, read_checkpoint,
                                          save_checkpoint)
from rl2_course.agents.recurrent import (ENCODERS, IdentityEncoder, ObservationEncoder,
                                         RecurrentActorCritic)
from rl2_course.agents.rl2_agent import RL2Agent, RL2State

__all__ = ["ENCODERS", "IdentityEncoder", "ObservationEncoder", "RL2Agent", "RL2State",
           "RecurrentActorCritic", "load_checkpoint", "read_checkpoint",
           "save_checkpoint"]

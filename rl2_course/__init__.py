"""rl2_course: meta-reinforcement learning by rebuilding RL² end to end."""

__version__ = "0.1.0"

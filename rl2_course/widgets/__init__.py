"""Notebook widgets of the course (ipywidgets + matplotlib).

Every widget runs the same rollout code as evaluation (`rl2_course.rollout.TrialStepper`), so
what a learner steps through by hand is exactly what the tables average over.
"""

from rl2_course.widgets.bandit import (ArmMeansError, BanditTrialStepper, parse_arm_means,
                                       show_bandit_trial)

__all__ = ["ArmMeansError", "BanditTrialStepper", "parse_arm_means", "show_bandit_trial"]

"""Notebook widgets of the course (ipywidgets + matplotlib).

Every widget runs the same rollout code as evaluation (`rl2_course.rollout.TrialStepper`), so
what a learner steps through by hand is exactly what the tables average over.
"""

from rl2_course.widgets.bandit import (ArmMeansError, BanditTrialStepper, parse_arm_means,
                                       show_bandit_trial)

from rl2_course.widgets.maze import MazeTrialStepper
from rl2_course.widgets.mdp import MDPTrialStepper, show_mdp_trial
from rl2_course.widgets.play import PlayBanditWidget, score_decisions
from rl2_course.widgets.stepper import TaskInputError, TrialStepperWidget

__all__ = ["ArmMeansError", "BanditTrialStepper", "MDPTrialStepper", "MazeTrialStepper",
           "PlayBanditWidget", "TaskInputError", "TrialStepperWidget", "parse_arm_means",
           "score_decisions", "show_bandit_trial", "show_mdp_trial"]

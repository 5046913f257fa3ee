"""pytest hooks for the chapters' nbval run (`make test`'s second stage: solutions/ and notebooks/).

nbval runs every cell and fails on an error, except in cells tagged ``raises-exception``,
which it accepts whether they raise or not. A learner's test cell (nbgrader ``grade``
metadata) carries that tag and must raise NotImplementedError on the unsolved stub
(`course.unsolved_check_problem`); this hook
makes nbval's run of notebooks/ fail otherwise, so the chapters run once per folder and no
separate execution of the learner's copies is needed.
"""

from __future__ import annotations

import pytest
from nbval.plugin import IPyNbCell

from rl2_course.course import unsolved_check_problem


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    result = yield
    if isinstance(item, IPyNbCell):                # a notebook cell that ran (skipped ones raise)
        problem = unsolved_check_problem(item.cell, item.test_outputs)
        if problem:
            item.raise_cell_error(problem)        # nbval's own failure report, with the cell's source
    return result

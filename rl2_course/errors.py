"""Errors that mean "the request was wrong", as opposed to a bug in the course.

The CLI prints these as one line and exits with status 2; anything else is a bug and keeps
its traceback.
"""


class UsageError(ValueError):
    """Bad input from the user: a wrong size, an unknown agent, a missing or foreign checkpoint."""

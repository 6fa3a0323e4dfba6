"""Errors a user can act on. The CLI prints them as one line, never as a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake or a missing prerequisite that the user can fix; the message says how."""

    exit_code = 2


class MissingPrerequisite(UserError):
    """A program the command needs is not installed."""

    exit_code = 3

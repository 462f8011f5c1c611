"""Errors raised by the rules package."""


class RuleError(Exception):
    """A rule cannot run on the tables or settings it was given."""

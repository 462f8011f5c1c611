"""Errors raised by the linkage package."""


class LinkageError(Exception):
    """A linkage step cannot run on the tables or settings it was given."""

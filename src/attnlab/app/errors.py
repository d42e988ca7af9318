"""The error every command raises for a mistake in its command line or inputs."""

from __future__ import annotations


class UsageError(Exception):
    """A mistake in the command line or its inputs; printed as one line."""

"""The two kinds of expected failure. Every module's own error classes derive from one of them, so the
commands' error boundary (cli.run) turns each into a readable message and an exit code without importing
the layers above it."""

from __future__ import annotations


class ExpectedError(Exception):
    """A failure the message explains (bad input, a refused check, a source that failed): exit 1."""


class ConfigurationError(ExpectedError):
    """Configuration is missing or wrong (params.yaml, the environment): exit 2."""

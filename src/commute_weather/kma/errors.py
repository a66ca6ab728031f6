"""Errors raised for KMA input: each names the source (file, station, month) at fault."""

from __future__ import annotations


class KmaFormatError(ValueError):
    """A KMA response or export does not have the documented shape."""


class KmaApiError(RuntimeError):
    """The KMA API answered with an error (JSON error body, HTTP status) instead of data."""


class KmaTruncatedError(KmaFormatError):
    """A typ01 body without its #7777END terminator: the transfer stopped early."""


class MissingAuthKeyError(RuntimeError):
    """No KMA API key in the environment."""

"""Errors raised for KMA input: each names the source (file, station, month) at fault."""

from __future__ import annotations

from commute_weather.errors import ConfigurationError, ExpectedError


class KmaFormatError(ExpectedError, ValueError):
    """A KMA response or export does not have the documented shape."""


class KmaApiError(ExpectedError, RuntimeError):
    """The KMA API answered with an error (JSON error body, HTTP status) instead of data."""


class KmaTruncatedError(KmaFormatError):
    """A typ01 body without its #7777END terminator: the transfer stopped early."""


class MissingAuthKeyError(ConfigurationError, RuntimeError):
    """No KMA API key in the environment."""

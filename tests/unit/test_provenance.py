"""What the model metadata records about the environment it was trained in."""

from __future__ import annotations

import sys

from commute_weather.provenance import LIBRARIES, library_versions


def test_the_interpreter_is_recorded_to_its_minor_version_only() -> None:
    # A patch release trains the same bytes; recording it made dvc.lock differ between machines.
    versions = library_versions()
    assert versions["python"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert set(versions) == {"python", *LIBRARIES}
    assert all(versions[name][0].isdigit() for name in LIBRARIES)

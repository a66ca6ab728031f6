"""commute-weather: forecast next-commute comfort from KMA hourly observations.

Subpackages by concern, each importing only the layers below it (ARCHITECTURE.md; tests/unit/
test_architecture.py enforces it):

    reporting   the pull-request report
    pipeline    the five DVC stage CLIs and the run summary
    serving     the BentoML app, its request logic, packaging  (pipeline and serving never import each other)
    forecast    label, features, models, split, comparison, gate
    sources     KMA readers and client, the synthetic sample, normalization, merging exports
    contracts   pandera schemas of the normalized observations
    (top level) plumbing: params (config), paths, atomic io, provenance, stations, the clock, errors, cli
"""

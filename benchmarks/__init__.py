"""`make bench`: the figures in BENCHMARKS.md. Benchmarks print tables and write JSON; never fail on speed."""

"""The forecasting core, free of I/O and CLIs where it can be: the comfort label, features as of issue time,
candidate models, the time split, the paired comparison of two models and the quality gate."""

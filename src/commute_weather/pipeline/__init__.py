"""The DVC stages (ingest, validate, featurize, train, evaluate), each a thin CLI over the layers below, and
the summary `make run` prints."""

"""Readers and the client for the KMA formats described in shared/kma/FORMAT.md."""

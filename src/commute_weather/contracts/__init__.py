"""Data contracts: pandera schemas of the normalized observations that every stage after ingest relies on."""

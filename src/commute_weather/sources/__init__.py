"""Where observations come from: the KMA API client and file readers, the synthetic sample and its
calibration against the real record, normalization into the contract's columns, and merging exports."""

"""The store's schema revisions, oldest first: `rNNNN_<what>.py` holds revision "NNNN" (see docs/migrations.md)."""

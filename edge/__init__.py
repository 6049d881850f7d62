"""The composition root: config, store, single writer, relays, runtime and CLI."""

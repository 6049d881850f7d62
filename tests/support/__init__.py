"""Test infrastructure: real brokers, processes and deadline-based waits."""

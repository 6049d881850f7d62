"""FloorGate's domain: pure rules for the warehouse floor, with no I/O."""

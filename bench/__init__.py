"""FloorGate's benchmark: the design's targets measured on this machine, by one command."""

"""Device simulators that speak the real wire formats over real transports, and simulated operators."""

"""Device wiring: builds the scanner and scale adapters the site file's stations name."""

"""podfleet.network."""

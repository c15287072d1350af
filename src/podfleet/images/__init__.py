"""podfleet.images."""

"""podfleet.scheduler."""

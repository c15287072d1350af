"""podfleet.runtime."""

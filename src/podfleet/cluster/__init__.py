"""Whole clusters on one machine: `podfleet up` runs server, scheduler, controllers and node agents."""

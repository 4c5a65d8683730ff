"""A launch module called name."""

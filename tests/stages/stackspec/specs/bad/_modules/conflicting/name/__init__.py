"""A support package called name."""

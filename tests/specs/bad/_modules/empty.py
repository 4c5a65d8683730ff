"""An empty launch module."""

"""A support module."""

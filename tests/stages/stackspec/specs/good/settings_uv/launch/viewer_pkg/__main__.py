"""Runs the viewer."""

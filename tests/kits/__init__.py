"""Helpers the test folders share, importable as ``kits.<name>`` (``pythonpath = ["tests"]``)."""

"""A package without __main__.py."""

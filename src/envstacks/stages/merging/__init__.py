"""Merging: several publish folders (one per platform) combined into one folder and index."""

"""The floor: files, folder locks, OS errors, workers, subprocesses, uv, platforms, errors.

Also reporting and the hook specifications. The floor imports nothing above it.
"""

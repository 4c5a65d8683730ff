"""The Hatch plugins: the ``venvstacks`` build target and environment type, and their entry point.

Each module here is a leaf: it translates the host's options into calls on the core and the
core's results and errors back. Only these modules import hatch, hatchling or pdm, and only
when the host loads them.
"""

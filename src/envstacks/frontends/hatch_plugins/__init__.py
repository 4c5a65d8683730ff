"""Front-ends that host envstacks inside other tools: the Hatch build target and environment, PDM.

Each module here is a leaf: it translates the host's options into calls on the core and the
core's results and errors back. Only these modules import hatch, hatchling or pdm, and only
when the host loads them.
"""

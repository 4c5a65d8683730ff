"""The front-ends that run inside a host tool: the Hatch plugins and the PDM command group.

Only the modules under this package import hatch, hatchling or pdm (``tests/test_core_isolation.py``
checks it), and only when their host loads them through its entry points.
"""

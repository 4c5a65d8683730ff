"""The front-ends: the ``envstacks`` command line, the Hatch plugins and the PDM command group.

A front-end turns its host's options into a request for the orchestrator and the results and
errors back into its host's output; nothing else.
"""

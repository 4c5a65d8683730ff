"""The stages: spec, lock, runtime, build, pack, deploy, merge and the registry client.

A stage imports only the stages before it, the published format and the floor.
"""

"""The orchestrator: the one door every verb enters through.

Plans, sessions, lifecycle hooks, the plugin manager and the folders a run holds.
"""

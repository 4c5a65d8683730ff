"""Front-end test fixtures: PDM's own plugin-testing fixtures (``pdm``, ``project``, ``core``...).

They come from ``pdm.pytest``; importing them here keeps them (and their autouse
``temp_env``) to the front-end tests.
"""

from __future__ import annotations

from pdm.pytest import (  # noqa: F401 - fixtures
    build_env,
    build_env_wheels,
    build_test_session,
    core,
    pdm,
    project,
    project_no_init,
    pypi_indexes,
    temp_env,
)

"""``python -m pdm_app``."""

from pdm_app import main

main()

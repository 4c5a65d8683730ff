"""``python -m hatch_app``."""

from hatch_app import main

main()

"""Run the envstacks command line as ``python -m envstacks``."""

from envstacks.cli import main

raise SystemExit(main())

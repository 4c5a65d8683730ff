"""Run the envstacks command line as ``python -m envstacks``."""

from envstacks.frontends.cli import main

raise SystemExit(main())

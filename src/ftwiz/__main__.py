"""`python -m ftwiz` is the same as the `ftwiz` command."""

from ftwiz.cli import main

raise SystemExit(main())

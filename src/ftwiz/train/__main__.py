"""`python -m ftwiz.train RUN_DIR`: the training worker."""

import sys

from ftwiz.train.worker import main

raise SystemExit(main(sys.argv[1:]))

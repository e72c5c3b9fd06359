"""`python -m k8sfs.cli`: the `k8sfs` command."""

import sys

from k8sfs.cli import main

sys.exit(main())

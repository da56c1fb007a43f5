"""Entry point for `spark-submit deploy/spark_driver.py run --resume RUN_ID --master …`: the `reconciler` command."""

import sys

from reconciler.cli import main

sys.exit(main(sys.argv[1:]))

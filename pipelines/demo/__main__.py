"""Write the offline demo feeds: `python -m pipelines.demo [OUT_DIR]`."""

import logging
import sys
from pathlib import Path

from pipelines.demo import generate

logging.basicConfig(level=logging.INFO, format="%(message)s")
for path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else None):
    logging.info("%s", path)

"""``python -m bench [--smoke] [--only NAME] [--output PATH]``: run the benchmarks, report, write RESULTS.md."""

from __future__ import annotations

import sys

from bench.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

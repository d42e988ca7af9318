"""Dense attention backends vs direct SDPA (same as ``attnlab bench attention``).

python benchmarks/attention.py --memory
"""

import sys

from attnlab.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "attention", *sys.argv[1:]]))

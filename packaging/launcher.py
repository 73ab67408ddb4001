"""Entry point of the single-file binary: the desktop, on the demo when asked or by default.

With no arguments the binary opens the built-in demo, so a first run shows
something without a cluster; any argument is passed on to `netsight` as is.
"""

import sys

from netsight.cli.main import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["--demo"]))

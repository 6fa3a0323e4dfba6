import sys

from fitpipe.cli import main

sys.exit(main())

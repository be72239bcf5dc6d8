"""Run the command line as ``python -m gambitts.cli``."""

from gambitts.cli.main import main

main()

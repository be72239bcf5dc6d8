"""The ``gambitts`` command line (click)."""

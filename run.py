#!/usr/bin/env python3
"""Content Jumpstart API: `python run.py --help`."""
import sys

from service.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

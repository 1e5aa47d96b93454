"""Kept only so that ``python -m services.cli`` keeps working in scripts written before the operator
tools moved: the ``canopee`` command is tools/cli.py (``python -m tools.cli``)."""

from __future__ import annotations

import sys

from tools.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())

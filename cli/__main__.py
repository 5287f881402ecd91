"""`python -m cli`: the `georeg` command without the installed entry point."""

from cli import run

run()

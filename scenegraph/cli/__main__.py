"""`python -m scenegraph.cli`: the same command as `scenegraph`."""

from . import main

main()

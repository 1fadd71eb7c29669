"""``python -m wattprint`` runs the CLI."""

from wattprint.cli import main

main()

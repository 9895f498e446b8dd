"""Command-line subcommands; ``main.py`` wires them to argparse."""

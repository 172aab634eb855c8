"""The `feeds` command (the console script and `python -m feeds`).

`feeds --version` is what packagers, scripts and health checks run to see that feeds is
installed; it answers here, before the command-line library loads, in about the time Python
itself takes to start. Every other command line goes to `feeds.cli`.
"""

from __future__ import annotations

import sys

from feeds import __version__

VERSION_LINE = f"feeds, version {__version__}"  # as click's version option prints it


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(VERSION_LINE)
        return
    from feeds.cli import main as command_line

    command_line(prog_name="feeds")


if __name__ == "__main__":
    main()

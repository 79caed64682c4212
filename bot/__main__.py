"""The one entry point: `python -m bot` (see bot/cli.py for the sub-commands)."""

import gc
import sys

if __name__ == "__main__":
    # A start imports about a thousand modules: objects that live as long as the process,
    # next to no garbage. The cyclic collector, run again and again over them as they pile
    # up (a tenth of a second of a `python -m bot import`), waits until the command has
    # loaded what it uses (bot.cli.modules_loaded), and never scans those again.
    gc.disable()
    from bot.cli import main

    sys.exit(main())

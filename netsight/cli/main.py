"""The `netsight` command: the desktop app, and headless subcommands for scripting."""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys

logger = logging.getLogger(__name__)

# Each module registers one or more subcommands with `register(subparsers)`
# and sets `func` on its parser to a callable taking the parsed args.
SUBCOMMAND_MODULES = (
    "netsight.cli.sim_cmd",
    "netsight.cli.agent_cmd",
    "netsight.cli.collector_cmd",
    "netsight.cli.connections_cmd",
    "netsight.cli.export_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netsight",
        description=__doc__,
        epilog="Without a subcommand, netsight opens the desktop app: "
        "netsight [--demo] [--kubeconfig FILE] [--context NAME] [--db FILE] "
        "[--screenshot PNG [--screenshot-after SECONDS]].",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            # TODO: drop once every subcommand module has landed.
            if error.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def _subcommand_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _no_display_problem() -> str | None:
    """Why the desktop cannot open a window here, before Qt aborts the process over it."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "the desktop needs a display, and neither DISPLAY nor WAYLAND_DISPLAY is set; "
        "nothing was started. Run it in a desktop session (or `ssh -X`), or use the "
        "headless commands (`netsight --help`); for a screenshot without a display, set "
        "QT_QPA_PLATFORM=offscreen."
    )


def _configure_logging(verbose: bool, headless: bool) -> None:
    """Headless commands print their own results, so their log shows only trouble unless -v."""
    if verbose:
        level = logging.DEBUG
    else:
        level = logging.WARNING if headless else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not verbose:
        # urllib3 warns once per retry; our own message says what failed.
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def _run_desktop(argv: list[str]) -> int:
    problem = _no_display_problem()
    if problem:
        print(f"netsight: {problem}", file=sys.stderr)
        return 1
    from netsight.ui.app import run_app  # Qt only when the desktop is asked for

    return run_app(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(arg in ("-v", "--verbose") for arg in argv)
    first = next((arg for arg in argv if arg not in ("-v", "--verbose")), None)
    # Options alone (or nothing) are for the desktop app, whose options
    # (`--screenshot PATH`) argparse here cannot know; it starts without
    # importing the subcommands (DuckDB, the store) first.
    if first is None or (first.startswith("-") and first not in ("-h", "--help")):
        _configure_logging(verbose, headless=False)
        return _run_desktop([arg for arg in argv if arg not in ("-v", "--verbose")])
    parser = build_parser()
    commands = _subcommand_names(parser)
    _configure_logging(verbose, headless=first in commands)
    if not first.startswith("-") and first not in commands:
        # The desktop takes options only, so a bare word is a mistyped command.
        close = difflib.get_close_matches(first, sorted(commands), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        parser.error(
            f"{first!r} is not a netsight command (choose from {', '.join(sorted(commands))}){hint}"
        )
    args, rest = parser.parse_known_args(argv)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        # The reader went away (`netsight connections | head`): not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("netsight: interrupted.", file=sys.stderr)
        return 130
    except Exception:
        # A bug of ours: the whole story goes to the log, a sentence to the user.
        logger.exception("netsight %s failed unexpectedly.", args.command)
        print(
            f"netsight: {args.command} failed because of an internal error (details above); "
            "nothing was changed after the failure.",
            file=sys.stderr,
        )
        return 70


if __name__ == "__main__":
    sys.exit(main())

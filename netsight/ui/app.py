"""Starting the desktop: arguments, QApplication, logging, excepthooks, demo and screenshot.

`netsight` with no subcommand lands here (see netsight/cli/main.py). Qt's
own warnings go to the `qt` logger; uncaught exceptions from any thread go
to the one error banner and the log. `--demo` runs the simulated cluster in
process; `--screenshot` renders the window to a PNG and exits, which is how
the UI is looked at under Xvfb.

The window is shown first (target: start to first window < 1.5 s, see
bench/bench_startup.py); reading the kubeconfig (which loads the Kubernetes
client) and starting the demo cluster happen on a worker thread after that.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMessageLogContext, QSettings, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from netsight.ui.main_window import MainWindow, SessionFactory
from netsight.ui.messages import install_excepthooks, notifier
from netsight.ui.workers import Outcome

logger = logging.getLogger(__name__)
qt_logger = logging.getLogger("qt")

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
# Set (to anything) by bench/bench_startup.py: print "shown <epoch seconds>" once the
# window has drawn its first frame, "ready <epoch seconds>" once it can be used, and
# quit, so start-up can be timed from outside.
STARTUP_PROBE_ENV = "NETSIGHT_STARTUP_PROBE"
ICON_NAMES = ("netsight.svg", "netsight.png")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="netsight", description="NetSight desktop")
    parser.add_argument("--demo", action="store_true", help="run the built-in demo cluster")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    parser.add_argument("--context", help="context to open first")
    parser.add_argument("--db", help="DuckDB file to use for the context")
    parser.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window and exit")
    parser.add_argument(
        "--screenshot-after",
        type=float,
        default=4.0,
        metavar="SECONDS",
        help="wait this long before the screenshot (default 4)",
    )
    parser.add_argument("--deploy", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(list(argv))


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    level = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }.get(kind, logging.WARNING)
    qt_logger.log(level, "%s", message)


def app_icon() -> QIcon:
    for name in ICON_NAMES:
        if (RESOURCES / name).exists():
            return QIcon(str(RESOURCES / name))
    return QIcon()


class _ContextError:
    """A context entry for the picker when the kubeconfig itself cannot be read."""

    def __init__(self, name: str, error: str) -> None:
        self.name, self.error, self.is_current = name, error, False


def load_context_entries(kubeconfig: str | None) -> list[Any]:
    from netsight.kube.contexts import load_contexts
    from netsight.kube.errors import KubeError

    try:
        return list(load_contexts(kubeconfig))
    except KubeError as error:
        notifier().warning(
            f"Could not read the kubeconfig: {error}. Start with --demo to try NetSight."
        )
        return []


def run_app(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("NetSight")
    app.setOrganizationName("NetSight")
    app.setWindowIcon(app_icon())
    restore_hooks = install_excepthooks()
    started: dict[str, Any] = {}  # what the start-up worker made: the demo cluster
    window: MainWindow | None = None
    workdir = tempfile.TemporaryDirectory(prefix="netsight-demo-") if args.demo else None
    try:
        window = _empty_window(args.demo)
        if os.environ.get(STARTUP_PROBE_ENV):
            _probe_startup(window, app)
        window.show()
        _start_in_background(window, args, workdir, started)
        if args.screenshot:
            path = args.screenshot
            QTimer.singleShot(int(args.screenshot_after * 1000), lambda: _screenshot(window, path))
        return int(app.exec())
    finally:
        if window is not None:
            window.shutdown()
        if started.get("demo") is not None:
            started["demo"].stop()
        if workdir is not None:
            workdir.cleanup()
        restore_hooks()
        qInstallMessageHandler(None)


def _settings(demo: bool) -> QSettings:
    return QSettings("NetSight", "NetSight-demo" if demo else "NetSight")


def _empty_window(demo: bool) -> MainWindow:
    """The window before any context is known (they load after it is shown)."""
    window = MainWindow(None, None, _settings(demo))
    window.setWindowIcon(app_icon())
    if demo:
        window.setWindowTitle("NetSight — demo cluster")
    return window


def _start_in_background(
    window: MainWindow,
    args: argparse.Namespace,
    workdir: tempfile.TemporaryDirectory[str] | None,
    started: dict[str, Any],
) -> None:
    """Start the demo (if asked) and read the kubeconfig off the GUI thread, then open."""

    def work() -> tuple[str | None, str | None, str | None, list[Any]]:
        kubeconfig, context, db = args.kubeconfig, args.context, args.db
        if args.demo:
            from netsight.sim.demo import start_demo

            assert workdir is not None
            demo = started["demo"] = start_demo(workdir.name)
            kubeconfig, context = str(demo.kubeconfig), demo.context
            db = db or str(Path(workdir.name) / "demo.duckdb")
        return kubeconfig, context, db, load_context_entries(kubeconfig)

    def done(outcome: Outcome) -> None:
        if outcome.channel != "startup":
            return
        window.runner.finished.disconnect(done)
        if outcome.error is not None:
            notifier().error(f"NetSight could not start: {outcome.error}.", outcome.details)
            return
        kubeconfig, context, db, entries = outcome.value
        window.set_session_factory(session_factory(kubeconfig, context, db))
        if args.demo and args.deploy:

            def deploy_once(_session: Any) -> None:
                window.session_changed.disconnect(deploy_once)
                QTimer.singleShot(500, lambda: _auto_deploy(window))

            window.session_changed.connect(deploy_once)
        window.set_contexts(entries, context)

    window.runner.finished.connect(done)
    window.runner.submit("startup", work)


def session_factory(kubeconfig: str | None, context: str | None, db: str | None) -> SessionFactory:
    """Makes the LiveSession of a context; `db` is the file of `context` only."""

    def factory(name: str) -> Any:
        from netsight.ui.session import LiveSession

        # --db names the file of the first context only; others use their own.
        path = db if (db and (context is None or name == context)) else None
        return LiveSession(name, kubeconfig, path)

    return factory


def build_window(
    kubeconfig: str | None, context: str | None, db: str | None, demo: bool = False
) -> MainWindow:
    """A window with its contexts read now (tests and scripts; the app reads them later)."""
    window = MainWindow(
        load_context_entries(kubeconfig),
        session_factory(kubeconfig, context, db),
        _settings(demo),
        initial_context=context,
    )
    window.setWindowIcon(app_icon())
    if demo:
        window.setWindowTitle("NetSight — demo cluster")
    return window


def _probe_startup(window: MainWindow, app: QApplication) -> None:
    """Print "shown T" at the first frame and "ready T" once the window is usable
    (canvas built, contexts read, the first context's database open), then quit."""
    import time

    window.first_painted.connect(lambda: print(f"shown {time.time():.6f}", flush=True))
    timer = QTimer(window)
    timer.setInterval(10)

    def check() -> None:
        session = window.session
        if (
            window.topology.view_built
            and window.contexts_loaded
            and (session is None or session.source is not None)
        ):
            timer.stop()
            print(f"ready {time.time():.6f}", flush=True)
            app.quit()

    timer.timeout.connect(check)
    timer.start()


def _auto_deploy(window: MainWindow) -> None:
    from netsight.ui.deploy_dialog import DeployDialog

    if window.session is not None:
        dialog = DeployDialog(window.session, remove=False, parent=window)
        dialog.start()


def _screenshot(window: MainWindow, path: str) -> None:
    # Show a filled details panel: select the busiest node, then grab once it loaded.
    view = window.topology.view
    if view.scene_data is not None and view.scene_data.node_count and view.selected is None:
        busiest = view.scene_data.ids[int(view.scene_data.node_weights.argmax())]
        view.select(busiest, emit=True)
        QTimer.singleShot(1500, lambda: _save_and_quit(window, path))
        return
    _save_and_quit(window, path)


def _save_and_quit(window: MainWindow, path: str) -> None:
    window.grab().save(path)
    logger.info("Saved a screenshot of the window to %s.", path)
    window.close()
    app = QApplication.instance()
    if app is not None:
        app.quit()

"""UI test fixtures: isolated settings, the demo cluster, a window, and no leftover threads.

Settings: Qt reads XDG_CONFIG_HOME once, when the first QSettings is made,
so it is pointed at a throw-away folder here, at import, before pytest-qt
creates the QApplication; every test then gets its own QSettings path too.
Nothing a test does may land in the user's ~/.config.
"""

import os
import tempfile
import threading
import time

import pytest

_CONFIG_ROOT = tempfile.mkdtemp(prefix="netsight-ui-tests-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_ROOT

GRACE_S = 5.0
# Threads the desktop starts (sessions, informers, deploys) carry these names.
OUR_PREFIXES = ("session-", "inventory-", "collector-")


def _ours(thread: threading.Thread) -> bool:
    # NB: Qt pool threads that ran Python show up as _DummyThread and never
    # leave threading's table; QueryRunner.close() waits for them instead.
    if isinstance(thread, threading._DummyThread):
        return False
    return not thread.daemon or thread.name.startswith(OUR_PREFIXES)


@pytest.fixture(autouse=True)
def no_leftover_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + GRACE_S
    while True:
        extra = [t for t in threading.enumerate() if t not in before and t.is_alive() and _ours(t)]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Every QSettings of a test lives in the test's own folder."""
    from PySide6.QtCore import QSettings

    folder = tmp_path / "settings"
    folder.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    yield folder
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, _CONFIG_ROOT)


@pytest.fixture
def demo(tmp_path):
    from netsight.sim.demo import start_demo

    cluster = start_demo(tmp_path, change_interval_s=None)
    yield cluster
    cluster.stop()


@pytest.fixture
def window(qtbot, demo, tmp_path):
    from netsight.ui.app import build_window

    win = build_window(str(demo.kubeconfig), demo.context, str(tmp_path / "demo.duckdb"), demo=True)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.session is None
    assert not win.runner.busy

"""The main window: pickers, search and time range on top, three tabs, details, status.

It owns no data. A Session (one per kubeconfig context) provides the
DataSource the tabs query and reports its live status; the window turns the
user's choices (context, namespace, level, time range, search) into
immutable queries and hands them to the tabs, which run them off the GUI
thread. Layout, last context and filters persist through QSettings.

Start-up is part of the design: the window is shown before anything heavy
is loaded. The context list may arrive after it (`contexts=None` shows a
placeholder until `set_contexts`), a session opens its database on its own
thread and says `opened`, and the topology canvas (pyqtgraph) is built just
after the first show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from typing import Any, Protocol

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QObject,
    QSettings,
    QStringListModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QCompleter,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from netsight.ui.clipboard import put_text, selected_cells_text
from netsight.ui.connections_tab import ConnectionsTab
from netsight.ui.details import Details, DetailsPanel, Peer
from netsight.ui.empty_state import ACTION_CLEAR_SEARCH, ACTION_DEPLOY
from netsight.ui.lookup_tab import LookupTab
from netsight.ui.messages import ErrorBanner, notifier
from netsight.ui.preload import GRAPH_MODULES, SESSION_MODULES, VIEW_MODULES, preload
from netsight.ui.queries import LEVEL_TITLES, LEVELS, ConnectionQuery, DataSource, GraphQuery
from netsight.ui.search import SearchFilter, Vocabulary, complete, parse_search
from netsight.ui.status import SessionStatus, StatusPanel
from netsight.ui.time_dialog import TimeRangeDialog, describe
from netsight.ui.timerange import CUSTOM, PRESETS, TimeRange
from netsight.ui.topology_tab import TopologyTab
from netsight.ui.workers import Outcome, QueryRunner

logger = logging.getLogger(__name__)

# Typing in the search box re-queries once the user pauses this long.
SEARCH_DELAY_MS = 300
# Live data changes re-query at most this often.
REFRESH_COALESCE_MS = 1500
# While a context's previous session still stops, its reopening is retried this often.
CLOSING_POLL_MS = 100
ALL_NAMESPACES = "All namespaces"
LOADING_CONTEXTS = "Reading kubeconfig…"
# The worker job that imports pyqtgraph before the GUI thread builds the canvas.
WARM_UP_VIEW = "warm-up-view"
TAB_TOPOLOGY, TAB_CONNECTIONS, TAB_LOOKUP = 0, 1, 2


class ContextEntry(Protocol):
    name: str
    is_current: bool
    error: str | None


class Session(Protocol):
    """What a window needs from the live connection to one context (see session.py)."""

    context: str
    source: DataSource

    def start(self) -> None: ...

    def close(self, wait: bool = True) -> Any: ...


SessionFactory = Callable[[str], Any]  # returns a Session-like QObject


class MainWindow(QMainWindow):
    session_changed = Signal(object)
    first_painted = Signal()  # the window's first frame is drawn (start-up is over)

    def __init__(
        self,
        contexts: Sequence[ContextEntry] | None,
        session_factory: SessionFactory | None,
        settings: QSettings | None = None,
        initial_context: str | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("NetSight")
        self.setObjectName("mainWindow")
        self.settings = settings or QSettings("NetSight", "NetSight")
        self._factory = session_factory
        self.session: Any = None
        self.runner = QueryRunner(self)
        self.runner.finished.connect(self._on_outcome)
        self.filter = SearchFilter()
        self.vocabulary = Vocabulary()
        self.custom_range = TimeRange(CUSTOM)
        self.time_dialog: TimeRangeDialog | None = None
        self._time_index = 1
        # Sessions still stopping in the background, by context (see switch_context).
        self._closing: dict[str, Any] = {}
        self._pending_context: str | None = None
        self._closing_timer = QTimer(self)
        self._closing_timer.setInterval(CLOSING_POLL_MS)
        self._closing_timer.timeout.connect(self._open_pending_context)

        self._build_toolbar()
        self.banner = ErrorBanner(self)
        notifier().posted.connect(self.banner.show_message)
        self.topology = TopologyTab(self.runner)
        self.connections = ConnectionsTab(self.runner)
        self.lookup = LookupTab(self.runner)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.topology, "Topology")
        self.tabs.addTab(self.connections, "Connections")
        self.tabs.addTab(self.lookup, "IP lookup")
        self.details = DetailsPanel()
        self.details.setMinimumWidth(260)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.tabs)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 320])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status_panel = StatusPanel(self.statusBar())
        self._build_menus()
        self._connect_signals()

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_COALESCE_MS)
        self._refresh_timer.timeout.connect(self.refresh)

        self.resize(1360, 860)
        self._restore_settings()
        self._shown_once = False
        self.shortcuts_dialog: QWidget | None = None
        self.contexts_loaded = False
        if contexts is None:
            self.context_box.addItem(LOADING_CONTEXTS, None)
        else:
            self.set_contexts(contexts, initial_context)

    # -- construction ----------------------------------------------------------------------

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main")
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        self.context_box = QComboBox()
        self.context_box.setObjectName("contextPicker")
        self.context_box.setMinimumWidth(180)
        self.context_box.setToolTip("Kubeconfig context (each has its own database)")
        self.namespace_box = QComboBox()
        self.namespace_box.setObjectName("namespaceFilter")
        self.namespace_box.setMinimumWidth(150)
        self.namespace_box.addItem(ALL_NAMESPACES, "")
        self.level_box = QComboBox()
        self.level_box.setObjectName("levelPicker")
        for level in LEVELS:
            self.level_box.addItem(LEVEL_TITLES[level], level)
        self.level_box.setCurrentIndex(LEVELS.index("workload"))
        self.time_box = QComboBox()
        self.time_box.setObjectName("timeRange")
        for key, label, _length in PRESETS:
            self.time_box.addItem(label, key)
        self.time_box.addItem("Custom…", CUSTOM)
        self.time_box.setItemData(
            len(PRESETS), "Pick a start and end time", Qt.ItemDataRole.ToolTipRole
        )
        self.time_box.setCurrentIndex(1)
        self.search = QLineEdit()
        self.search.setObjectName("searchBox")
        self.search.setClearButtonEnabled(True)
        self.search.setPlaceholderText(
            "Search (Ctrl+K): IP, CIDR, name, ns:payments app:shop port:5432 external"
        )
        self.search.setMinimumWidth(360)
        self._completion_model = QStringListModel(self)
        self.completer = QCompleter(self._completion_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.search.setCompleter(self.completer)

        for label, widget in (
            ("Context", self.context_box),
            ("Namespace", self.namespace_box),
            ("Level", self.level_box),
            ("Time", self.time_box),
        ):
            caption = QLabel(f" {label} ")
            caption.setStyleSheet("color:#555;")
            bar.addWidget(caption)
            bar.addWidget(widget)
        bar.addSeparator()
        bar.addWidget(self.search)

    def _build_menus(self) -> None:
        # NB: keys are spelled out rather than taken from QKeySequence.StandardKey,
        # whose lists hold keys few keyboards have (F16, Copy) that Help would list.
        def action(text: str, slot: Any, *keys: str) -> QAction:
            item = QAction(text, self)
            item.setShortcuts([QKeySequence(key) for key in keys])
            item.triggered.connect(lambda _=False: slot())
            return item

        file_menu = self.menuBar().addMenu("&File")
        file_menu.addActions(
            [
                action("Export connections…", self.connections.export_dialog, "Ctrl+E"),
                action("Export graph…", self.topology.export_dialog, "Ctrl+Shift+E"),
            ]
        )
        file_menu.addSeparator()
        file_menu.addAction(action("Quit", self.close, "Ctrl+Q"))

        edit = self.menuBar().addMenu("&Edit")
        self.copy_action = action("Copy", self.copy_selection, "Ctrl+C")
        self.copy_action.setToolTip("Copy the selected cells, or the selected node's name")
        edit.addAction(self.copy_action)
        edit.addAction(action("Search…", self.focus_search, "Ctrl+K"))

        cluster = self.menuBar().addMenu("&Cluster")
        self.deploy_action = action("Deploy collector…", self.deploy_collector, "Ctrl+D")
        self.remove_action = action("Remove collector…", self.remove_collector, "Ctrl+Shift+D")
        cluster.addActions([self.deploy_action, self.remove_action])

        view = self.menuBar().addMenu("&View")
        view.addAction(action("Refresh", self.refresh, "F5"))
        view.addSeparator()
        for i, level in enumerate(LEVELS):
            view.addAction(
                action(
                    f"{LEVEL_TITLES[level]} level", partial(self.set_level, level), f"Ctrl+{i + 1}"
                )
            )
        view.addSeparator()
        for i, title in enumerate(("Topology", "Connections", "IP lookup")):
            view.addAction(
                action(f"{title} tab", partial(self.tabs.setCurrentIndex, i), f"Alt+{i + 1}")
            )

        graph = self.menuBar().addMenu("&Graph")
        graph.addActions(
            [
                action("Re-layout", self.topology.relayout, "Ctrl+L"),
                action("Fit to window", self.topology.fit, "Ctrl+0"),
                action(
                    "Zoom in",
                    partial(self.topology.zoom, 1),
                    "Ctrl++",
                    "Ctrl+=",
                ),
                action("Zoom out", partial(self.topology.zoom, -1), "Ctrl+-"),
            ]
        )

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(action("Keyboard shortcuts", self.show_shortcuts, "Ctrl+/", "F1"))
        help_menu.addAction(action("About NetSight", self.show_about))
        self.menus = [file_menu, edit, cluster, view, graph, help_menu]

    def _connect_signals(self) -> None:
        self.context_box.activated.connect(lambda _i: self.switch_context(self.current_context()))
        self.namespace_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.level_box.currentIndexChanged.connect(lambda _i: self.refresh())
        self.time_box.currentIndexChanged.connect(self._on_time_changed)
        self.search.textEdited.connect(self._on_search_edited)
        self.search.returnPressed.connect(self.apply_search)
        self.topology.node_selected.connect(self._on_node_selected)
        self.connections.lookup_requested.connect(self.look_up)
        self.connections.focus_requested.connect(self.focus_in_topology)
        self.connections.row_selected.connect(self._on_row_selected)
        self.details.lookup_requested.connect(self.look_up)
        self.details.peer_requested.connect(self.focus_peer)
        self.topology.node_context_menu.connect(self._node_menu)
        self.topology.level_requested.connect(self.set_level)
        self.topology.empty.action_requested.connect(self._on_empty_action)
        self.connections.empty.action_requested.connect(self._on_empty_action)

    # -- contexts and sessions -------------------------------------------------------------

    def set_contexts(self, contexts: Sequence[ContextEntry], initial: str | None = None) -> None:
        """Fill the picker (current first, broken ones disabled with their error) and open one."""
        self.contexts_loaded = True
        self.context_box.clear()
        if not contexts:
            self.context_box.addItem("No contexts", None)
        ordered = sorted(contexts, key=lambda c: (not c.is_current, c.name))
        model = self.context_box.model()
        for entry in ordered:
            label = entry.name + (" (current)" if entry.is_current else "")
            if entry.error:
                label += " — unavailable"
            self.context_box.addItem(label, entry.name)
            row = self.context_box.count() - 1
            if entry.error:
                self.context_box.setItemData(row, entry.error, Qt.ItemDataRole.ToolTipRole)
                item = model.item(row) if hasattr(model, "item") else None
                if item is not None:
                    item.setEnabled(False)
        usable = [c.name for c in ordered if not c.error]
        remembered = self.settings.value("context", "", type=str)
        chosen = next(
            (name for name in (initial, remembered) if name and name in usable),
            usable[0] if usable else None,
        )
        if chosen is None:
            if ordered:
                notifier().warning(
                    "No kubeconfig context can be used: "
                    + "; ".join(f"{c.name}: {c.error}" for c in ordered)
                    + ". Fix the kubeconfig or start with --demo."
                )
            return
        self.context_box.setCurrentIndex(self.context_box.findData(chosen))
        self.switch_context(chosen)

    def set_session_factory(self, factory: SessionFactory) -> None:
        """How sessions are made, when that is known only after the window was built."""
        self._factory = factory

    def current_context(self) -> str | None:
        data = self.context_box.currentData()
        return None if data is None else str(data)

    def switch_context(self, name: str | None) -> None:
        if name is None or self._factory is None:
            return
        if self.session is not None and self.session.context == name:
            return
        self._close_session(wait=False)
        closer = self._closing.get(name)
        if closer is not None and closer.is_alive():
            # Its database is still held by the stopping session: open it once released.
            self._pending_context = name
            self._closing_timer.start()
            return
        self._open_context(name)

    def _open_pending_context(self) -> None:
        self._closing = {c: t for c, t in self._closing.items() if t.is_alive()}
        name = self._pending_context
        if name is None or name not in self._closing:
            self._closing_timer.stop()
            self._pending_context = None
            if name is not None and self.current_context() == name:
                self._open_context(name)

    def _open_context(self, name: str) -> None:
        if self._factory is None:
            return
        try:
            session = self._factory(name)
        except Exception as error:  # noqa: BLE001 - a context that cannot open is told, not fatal
            logger.debug("Opening context %s failed.", name, exc_info=True)
            notifier().error(f"Could not open context {name}: {error}. Pick another context.")
            return
        self.session = session
        self.settings.setValue("context", name)
        session.opened.connect(self._on_session_opened)
        session.status_changed.connect(self.status_panel.show)
        session.status_changed.connect(self._on_status)
        session.data_changed.connect(self.schedule_refresh)
        session.vocabulary_changed.connect(self._on_vocabulary)
        self.details.show_nothing()
        # Its database opens on the session's thread; the views follow on `opened`.
        session.start()
        self.session_changed.emit(session)

    def _on_session_opened(self, session: Any) -> None:
        if session is not self.session:
            return  # a context the user has left already
        for tab in (self.topology, self.connections, self.lookup):
            tab.set_source(session.source)
        self.refresh()

    def _close_session(self, wait: bool = True) -> None:
        """Stop the current session; without `wait` it finishes in the background."""
        self._pending_context = None
        if self.session is None:
            return
        session, self.session = self.session, None
        for tab in (self.topology, self.connections, self.lookup):
            tab.set_source(None)
        self.runner.cancel("details")
        try:
            session.opened.disconnect(self._on_session_opened)
            session.status_changed.disconnect(self.status_panel.show)
            session.status_changed.disconnect(self._on_status)
            session.data_changed.disconnect(self.schedule_refresh)
            session.vocabulary_changed.disconnect(self._on_vocabulary)
        except (RuntimeError, TypeError):
            pass
        closer = session.close(wait=wait)
        if closer is not None:
            self._closing[session.context] = closer

    # -- queries ---------------------------------------------------------------------------

    @property
    def level(self) -> str:
        return str(self.level_box.currentData())

    def time_range(self) -> TimeRange:
        key = str(self.time_box.currentData())
        return TimeRange(key) if key != CUSTOM else self.custom_range

    def _on_time_changed(self, index: int) -> None:
        if self.time_box.itemData(index) != CUSTOM:
            self._time_index = index
            self.refresh()
            return
        # Custom: ask for the bounds first; cancelling goes back to the last choice.
        if self.time_dialog is not None:
            return
        dialog = TimeRangeDialog(self.custom_range, self)
        dialog.finished.connect(lambda result: self._on_time_dialog(dialog, result))
        self.time_dialog = dialog
        dialog.open()

    def _on_time_dialog(self, dialog: TimeRangeDialog, result: int) -> None:
        self.time_dialog = None
        dialog.deleteLater()
        if result != TimeRangeDialog.DialogCode.Accepted:
            self.time_box.setCurrentIndex(self._time_index)
            return
        self.set_custom_range(dialog.time_range())

    def set_custom_range(self, time_range: TimeRange) -> None:
        """Show exactly [since, until] in every view."""
        self.custom_range = time_range
        index = self.time_box.findData(CUSTOM)
        self.time_box.setItemText(index, f"Custom: {describe(time_range)}")
        self._time_index = index
        self.time_box.blockSignals(True)
        self.time_box.setCurrentIndex(index)
        self.time_box.blockSignals(False)
        self.refresh()

    def _on_status(self, status: SessionStatus) -> None:
        for tab in (self.topology, self.connections):
            tab.set_collector_deployed(status.collector_deployed)

    def _on_empty_action(self, action: str) -> None:
        if action == ACTION_DEPLOY:
            self.deploy_collector()
        elif action == ACTION_CLEAR_SEARCH:
            self.search.clear()
            self.namespace_box.setCurrentIndex(0)
            self.apply_search()
            if len(self.topology.crumbs) > 1:
                self.topology.go_up(0)

    def effective_filter(self) -> SearchFilter:
        namespace = str(self.namespace_box.currentData() or "")
        return self.filter.with_namespaces([namespace]) if namespace else self.filter

    def refresh(self) -> None:
        """Re-run every view's query with the current context, level, time and filter."""
        if self.session is None or self.session.source is None:
            return
        since, until = self.time_range().resolve()
        search = self.effective_filter()
        self.connections.refresh(ConnectionQuery(self.level, since, until, search))
        self.topology.set_base(GraphQuery(self.level, since, until, search))
        self.topology.refresh()
        self.lookup.set_since(since)
        self._save_filters()

    def schedule_refresh(self) -> None:
        """Live data changed: refresh soon, once for a whole burst of changes."""
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def _on_search_edited(self, text: str) -> None:
        self._completion_model.setStringList(complete(text, self.vocabulary))
        self._search_timer.start()

    def apply_search(self) -> None:
        self._search_timer.stop()
        parsed = parse_search(self.search.text())
        if parsed.problems:
            notifier().warning(
                "Not understood in the search and ignored: " + ", ".join(parsed.problems) + "."
            )
        if parsed == self.filter:
            return
        self.filter = parsed
        # A lone IP also fills the lookup tab, so "who is this" is one step away.
        if len(parsed.ips) == 1 and parsed.is_empty is False and len(parsed.to_text().split()) == 1:
            self.lookup.lookup(parsed.ips[0])
        self.refresh()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _on_vocabulary(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        current = str(self.namespace_box.currentData() or "")
        known = [str(self.namespace_box.itemData(i)) for i in range(1, self.namespace_box.count())]
        if list(vocabulary.namespaces) == known:
            return
        self.namespace_box.blockSignals(True)
        self.namespace_box.clear()
        self.namespace_box.addItem(ALL_NAMESPACES, "")
        for namespace in vocabulary.namespaces:
            self.namespace_box.addItem(namespace, namespace)
        index = self.namespace_box.findData(current)
        self.namespace_box.setCurrentIndex(max(index, 0))
        self.namespace_box.blockSignals(False)

    # -- selection, details and cross-tab actions ------------------------------------------

    def _on_node_selected(self, node: Hashable | None, attrs: dict[str, Any]) -> None:
        if node is None or self.session is None or self.session.source is None:
            self.details.show_nothing()
            return
        source = self.session.source
        since, until = self.time_range().resolve()
        self.details.show_details(
            Details(
                title=str(attrs.get("label") or attrs.get("name") or node),
                kind=str(attrs.get("kind", "")),
                note="Loading…",
            )
        )
        self.runner.submit("details", lambda: source.details(node, attrs, since, until))

    def _on_row_selected(self, record: dict[str, Any]) -> None:
        self.focus_in_topology(
            str(record.get("dst_namespace") or ""), str(record.get("dst_name")), switch=False
        )

    def _on_outcome(self, outcome: Outcome) -> None:
        if outcome.channel == WARM_UP_VIEW:
            # pyqtgraph is loaded (or failed to, which building it will tell).
            self._build_deferred()
            return
        if outcome.channel != "details":
            return
        if outcome.error is not None:
            notifier().error(f"Could not load details: {outcome.error}.", outcome.details)
            return
        self.details.show_details(outcome.value)

    def look_up(self, ip: str) -> None:
        self.tabs.setCurrentIndex(TAB_LOOKUP)
        self.lookup.lookup(ip)

    def show_connections_of(self, namespace: str | None, name: str) -> None:
        self.search.setText(f"name:{name}" + (f" ns:{namespace}" if namespace else ""))
        self.apply_search()
        self.tabs.setCurrentIndex(TAB_CONNECTIONS)

    def focus_in_topology(self, namespace: str | None, name: str, switch: bool = True) -> bool:
        found = self.topology.focus_on(namespace or None, name)
        if switch:
            self.tabs.setCurrentIndex(TAB_TOPOLOGY)
            if not found:
                notifier().info(f"{name} is not drawn at this level or in this filter.")
        return found

    def focus_peer(self, peer: Peer) -> bool:
        """Select a peer from the details panel in the topology (its group when folded)."""
        self.tabs.setCurrentIndex(TAB_TOPOLOGY)
        if self.topology.focus_on(peer.namespace, peer.name):
            return True
        if peer.group and self.topology.focus_on(None, peer.group):
            return True
        notifier().info(f"{peer.label} is not drawn at this level or in this filter.")
        return False

    def set_level(self, level: str) -> None:
        if level in LEVELS:
            self.level_box.setCurrentIndex(LEVELS.index(level))

    # -- edit and help ---------------------------------------------------------------------

    def copy_selection(self) -> bool:
        """Copy what is selected where the focus is: table cells, text, or the selected node."""
        focus = QApplication.focusWidget()
        if isinstance(focus, QLineEdit | QTextBrowser):
            focus.copy()
            return True
        if isinstance(focus, QAbstractItemView) and put_text(selected_cells_text(focus)):
            return True
        if self.tabs.currentIndex() == TAB_TOPOLOGY and self.topology.view_built:
            node = self.topology.view.selected_id()
            attrs = self.topology.node_attrs(node)
            return put_text(str(attrs.get("label") or attrs.get("name") or ""))
        return False

    def show_shortcuts(self) -> None:
        from netsight.ui.help import ShortcutsDialog

        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = ShortcutsDialog(self.menus, self)
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()

    def show_about(self) -> None:
        from netsight.ui.help import about_html

        box = QMessageBox(QMessageBox.Icon.NoIcon, "About NetSight", about_html(), parent=self)
        box.setObjectName("aboutBox")
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _node_menu(self, node: Hashable, global_pos: Any) -> None:
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QMenu

        attrs = self.topology.node_attrs(node)
        name = str(attrs.get("name") or node)
        namespace = attrs.get("namespace")
        menu = QMenu(self)
        menu.addAction(f"Copy name “{name}”", lambda: QGuiApplication.clipboard().setText(name))
        for ip in [str(ip) for ip in list(attrs.get("ips") or [])[:5]]:
            menu.addAction(f"Look up {ip}", partial(self.look_up, ip))
        menu.addAction("Show connections", lambda: self.show_connections_of(namespace, name))
        menu.addAction("Drill down", lambda: self.topology.drill_down(node))
        menu.popup(global_pos.toPoint())

    # -- collector -------------------------------------------------------------------------

    def deploy_collector(self) -> None:
        if self.session is None:
            notifier().warning("Open a context first; the collector is deployed to its cluster.")
            return
        from netsight.ui.deploy_dialog import DeployDialog

        DeployDialog(self.session, remove=False, parent=self).open()

    def remove_collector(self) -> None:
        if self.session is None:
            return
        from netsight.ui.deploy_dialog import DeployDialog

        DeployDialog(self.session, remove=True, parent=self).open()

    # -- persistence -----------------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray | bytes):
            self.restoreGeometry(geometry)
        state = self.settings.value("splitter")
        if isinstance(state, QByteArray | bytes):
            self.splitter.restoreState(state)
        lookup_state = self.settings.value("lookupSplitter")
        if isinstance(lookup_state, QByteArray | bytes):
            self.lookup.splitter.restoreState(lookup_state)
        level = self.settings.value("level", "", type=str)
        if level in LEVELS:
            self.level_box.setCurrentIndex(LEVELS.index(level))
        time_key = self.settings.value("timeRange", "", type=str)
        since = self.settings.value("customSince", None)
        until = self.settings.value("customUntil", None)
        if time_key == CUSTOM and since is not None and until is not None:
            self.custom_range = TimeRange(CUSTOM, float(str(since)), float(str(until)))
            index = self.time_box.findData(CUSTOM)
            self.time_box.setItemText(index, f"Custom: {describe(self.custom_range)}")
            self.time_box.blockSignals(True)
            self.time_box.setCurrentIndex(index)
            self.time_box.blockSignals(False)
            self._time_index = index
        elif time_key != CUSTOM and self.time_box.findData(time_key) >= 0:
            self.time_box.setCurrentIndex(self.time_box.findData(time_key))
            self._time_index = self.time_box.currentIndex()
        text = str(self.settings.value("search", "", type=str) or "")
        if text:
            self.search.setText(text)
            self.filter = parse_search(text)

    def _save_filters(self) -> None:
        self.settings.setValue("level", self.level)
        self.settings.setValue("timeRange", str(self.time_box.currentData()))
        if self.custom_range.since_s is not None and self.custom_range.until_s is not None:
            self.settings.setValue("customSince", self.custom_range.since_s)
            self.settings.setValue("customUntil", self.custom_range.until_s)
        self.settings.setValue("search", self.search.text())

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("splitter", self.splitter.saveState())
        self.settings.setValue("lookupSplitter", self.lookup.splitter.saveState())
        self._save_filters()
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop every timer, worker and session; safe to call twice."""
        self._search_timer.stop()
        self._refresh_timer.stop()
        self._closing_timer.stop()
        if self.time_dialog is not None:
            self.time_dialog.reject()
        self.topology.close_down()
        self._close_session()
        for closer in self._closing.values():
            closer.join()
        self._closing.clear()
        self.runner.close()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            self.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self and event.type() == QEvent.Type.Paint:
            # The window has its first frame: now the canvas (and pyqtgraph).
            # NB: a zero timer started earlier would run before the first paint.
            self.removeEventFilter(self)
            self.first_painted.emit()
            self.runner.submit(WARM_UP_VIEW, _import_view)
            self.runner.submit("warm-up", _warm_up)
        return False

    def _build_deferred(self) -> None:
        self.topology.ensure_view()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        try:
            notifier().posted.disconnect(self.banner.show_message)
        except (RuntimeError, TypeError):
            pass
        super().closeEvent(event)


def _import_view() -> None:
    """Import pyqtgraph (a third of a second) on a worker, not the GUI thread.

    NB: importing pyqtgraph creates no QObject; the canvas itself is built on
    the GUI thread once this is done."""
    preload(*VIEW_MODULES)


def _warm_up() -> None:
    """Import, on a worker, what the first graph and database need, so that the
    GUI thread later finds these modules loaded instead of loading them itself."""
    preload(*SESSION_MODULES, *GRAPH_MODULES)

"""Scripted cluster history: steps that add, change and delete objects.

Tests and the demo replay a history (a pod deleted, its IP reused, a Job
finishing, a StatefulSet pod recreated, a delete delivered late) with
explicit virtual timestamps, so what identity code concludes from the
timestamps is deterministic however fast the replay runs. The YAML format is
documented in docs/sim-timeline.md.

Run it step by step (`advance()`), all at once (`run_all()`), or in real
time in the background (`play()`, honouring each step's `at` offset).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from netsight.sim.loading import load_yaml_documents
from netsight.sim.objects import ObjectStore, iso_time, meta
from netsight.sim.patching import merge_patch

logger = logging.getLogger(__name__)

ACTIONS = ("add", "modify", "patch", "delete")
_TIME_RE = re.compile(r"^\$time(?:\s*([+-])\s*(\d+(?:\.\d+)?))?$")


class TimelineError(ValueError):
    """A timeline file or step that cannot be understood."""


def parse_time(value: object) -> float:
    """Epoch seconds from an ISO 8601 string (UTC if no zone) or a number."""
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.timestamp()
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise TimelineError(f"not an ISO 8601 time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class Step:
    """One change: action, object (or reference + patch), wall offset, virtual time."""

    index: int
    action: str
    obj: dict
    at: float  # seconds after play() starts
    time: float  # virtual seconds after the timeline's start
    patch: dict | None = None


def _substitute(value: object, moment: float) -> object:
    """Replace "$time", "$time+N" and "$time-N" strings by ISO timestamps."""
    if isinstance(value, dict):
        return {k: _substitute(v, moment) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, moment) for v in value]
    if isinstance(value, str):
        match = _TIME_RE.match(value.strip())
        if match:
            sign, amount = match.groups()
            offset = float(amount or 0) * (-1 if sign == "-" else 1)
            return iso_time(moment + offset)
    return value


class Timeline:
    """Steps applied to a store (bound by SimServer) in order."""

    def __init__(self, steps: list[Step], start: float | None = None) -> None:
        self.steps = steps
        self.start = start if start is not None else time.time()
        self._store: ObjectStore | None = None
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        if not steps:
            self._finished.set()

    # -- building ---------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Timeline:
        try:
            documents = load_yaml_documents(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise TimelineError(f"{path}: cannot read: {error}") from None
        except yaml.YAMLError as error:
            raise TimelineError(f"{path}: not valid YAML: {error}") from None
        document = documents[0] if len(documents) == 1 else None
        try:
            return cls.from_document(document)
        except TimelineError as error:
            raise TimelineError(f"{path}: {error}") from None

    @classmethod
    def from_document(cls, document: object) -> Timeline:
        if not isinstance(document, dict) or not isinstance(document.get("steps"), list):
            raise TimelineError("a timeline is a mapping with a 'steps' list")
        start = parse_time(document["start"]) if document.get("start") is not None else None
        steps: list[Step] = []
        last_at = 0.0
        for index, raw in enumerate(document["steps"]):
            steps.append(cls._parse_step(index, raw, last_at))
            last_at = steps[-1].at
        return cls(steps, start)

    @staticmethod
    def _parse_step(index: int, raw: object, last_at: float) -> Step:
        if not isinstance(raw, dict):
            raise TimelineError(f"step {index + 1} is not a mapping")
        actions = [a for a in ACTIONS if a in raw]
        if len(actions) != 1:
            raise TimelineError(f"step {index + 1} needs exactly one of {', '.join(ACTIONS)}")
        action = actions[0]
        obj = raw[action]
        if not isinstance(obj, dict) or not obj.get("kind"):
            raise TimelineError(f"step {index + 1}: '{action}' needs an object with a kind")
        try:
            at = float(raw.get("at", last_at))
            virtual = float(raw.get("time", at))
        except (TypeError, ValueError):
            raise TimelineError(f"step {index + 1}: 'at' and 'time' are seconds") from None
        if at < last_at:
            raise TimelineError(f"step {index + 1}: 'at' goes back in time ({at} < {last_at})")
        patch = raw.get("with")
        if action == "patch" and not isinstance(patch, dict):
            raise TimelineError(f"step {index + 1}: 'patch' needs a 'with' mapping")
        return Step(index, action, obj, at, virtual, patch)

    # -- running -----------------------------------------------------------------

    def bind(self, store: ObjectStore) -> None:
        self._store = store

    @property
    def position(self) -> int:
        """How many steps have been applied."""
        return self._next

    @property
    def done(self) -> bool:
        return self._next >= len(self.steps)

    def virtual_time(self, step: Step) -> float:
        return self.start + step.time

    def advance(self) -> Step | None:
        """Apply the next step now; None when all steps are applied."""
        with self._lock:
            if self._next >= len(self.steps):
                return None
            step = self.steps[self._next]
            self._apply(step)
            self._next += 1
            if self._next >= len(self.steps):
                self._finished.set()
            return step

    def run_all(self) -> int:
        """Apply every remaining step at once; returns how many were applied."""
        count = 0
        while self.advance() is not None:
            count += 1
        return count

    def play(self) -> None:
        """Apply the remaining steps in a background thread at their `at` offsets."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._play, name="sim-timeline", daemon=True)
        self._thread.start()

    def _play(self) -> None:
        began = time.monotonic()
        while not self._stop.is_set() and not self.done:
            step = self.steps[self._next]
            delay = began + step.at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                self.advance()
            except Exception:
                logger.exception(
                    "Timeline step %d (%s) failed; stopping the timeline.",
                    step.index + 1,
                    step.action,
                )
                return
        logger.info("Timeline finished after %d steps.", self._next)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every step is applied; False on timeout."""
        return self._finished.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    # -- applying -----------------------------------------------------------------

    def _complete(self, ref: dict) -> dict:
        obj = copy.deepcopy(ref)
        if self._store is not None and not obj.get("apiVersion"):
            resource = self._store.registry.find_kind(str(obj.get("kind")))
            if resource is None:
                raise TimelineError(f"unknown kind {obj.get('kind')!r}; give its apiVersion")
            obj["apiVersion"] = resource.api_version
        # References may name namespace/name at the top level for brevity.
        metadata = obj.setdefault("metadata", {})
        for field in ("name", "namespace", "uid"):
            if field in obj:
                metadata[field] = obj.pop(field)
        return obj

    def _apply(self, step: Step) -> None:
        store = self._store
        if store is None:
            raise TimelineError("the timeline is not bound to a simulated server")
        moment = self.virtual_time(step)
        obj = self._complete(_substitute(step.obj, moment))  # type: ignore[arg-type]
        metadata = obj["metadata"]
        logger.debug(
            "Timeline step %d: %s %s %s/%s at %s.",
            step.index + 1,
            step.action,
            obj.get("kind"),
            metadata.get("namespace"),
            metadata.get("name"),
            iso_time(moment),
        )

        if step.action == "add":
            metadata.setdefault("creationTimestamp", iso_time(moment))
            if obj.get("kind") == "Pod":
                obj.setdefault("status", {}).setdefault("startTime", iso_time(moment))
            store.apply("ADDED", obj)
        elif step.action == "modify":
            store.apply("MODIFIED", obj)
        elif step.action == "patch":
            resource = store.registry.for_object(obj)
            current = store.get(resource, str(metadata.get("namespace") or ""), metadata["name"])
            if current is None:
                raise TimelineError(f"step {step.index + 1}: nothing to patch at {metadata}")
            patched = merge_patch(current, _substitute(step.patch, moment))
            assert isinstance(patched, dict)
            store.apply("MODIFIED", patched)
        else:
            metadata.setdefault("deletionTimestamp", iso_time(moment))
            store.apply("DELETED", obj)


def load_timeline(path: str | Path) -> Timeline:
    return Timeline.load(path)


def step_object(step: Step) -> dict:
    """The object or reference a step names (for logs and tests)."""
    return meta(step.obj) or step.obj

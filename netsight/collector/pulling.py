"""Pull every agent's records through the API server's pod proxy into the store.

Each agent numbers its records; the store keeps, per node, the agent
generation and the last sequence number it holds. A pull asks for what comes
after that. A new generation means the agent restarted and its numbering
began again, so the cursor starts over; records the agent had to drop before
we asked for them are stored as a gap, so the user sees that something is
missing instead of a quiet hole.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from netsight.collector import manifests
from netsight.collector.deploy import AgentPod, CollectorDeployer
from netsight.kube import rawapi
from netsight.kube.errors import KubeError
from netsight.store.database import Cursor

logger = logging.getLogger(__name__)

# Records per request: big enough to drain a busy node in a few calls, small
# enough that one answer stays a few MiB through the API server.
PAGE_SIZE = 5000
# A pull stops after this many pages per agent so one node cannot starve the rest.
MAX_PAGES_PER_PULL = 40


@dataclass(slots=True)
class PullResult:
    """What one pull over all agents brought in."""

    records: int = 0
    gaps: int = 0
    dropped: int = 0
    agents: int = 0
    errors: dict[str, str] = field(default_factory=dict)


class AgentPuller:
    """Pulls agents' records into a store, resuming from the store's cursors."""

    def __init__(self, api_client: Any, store: Any):
        self._api = api_client
        self._store = store
        self._deployer = CollectorDeployer(api_client)

    def pull_all(self) -> PullResult:
        result = PullResult()
        for pod in self._deployer.agent_pods():
            if not pod.ready:
                continue
            result.agents += 1
            try:
                self._pull_agent(pod, result)
            except KubeError as error:
                # One unreachable agent must not stop the others; it is retried next pull.
                result.errors[pod.node] = str(error)
                logger.warning(
                    "Pulling the agent on %s failed: %s; retrying next pull.", pod.node, error
                )
        return result

    def _pull_agent(self, pod: AgentPod, result: PullResult) -> None:
        saved = self._store.cursor(pod.node)
        generation = saved.generation if saved is not None else None
        after = saved.last_seq if saved is not None else 0
        for _ in range(MAX_PAGES_PER_PULL):
            page = self._fetch(pod, after)
            if page["generation"] != generation:
                if generation is not None:
                    logger.info(
                        "Agent on %s restarted (generation %s -> %s); reading it from its start.",
                        pod.node,
                        generation,
                        page["generation"],
                    )
                generation = page["generation"]
                if after != 0:
                    after = 0
                    continue
            records = page["records"]

            # Anything between our cursor and the agent's oldest record is gone.
            oldest = page.get("oldest_seq")
            if isinstance(oldest, int) and oldest > after + 1:
                lost = oldest - 1 - after
                self._store.record_gap(pod.node, generation, after + 1, oldest - 1, lost)
                result.gaps += 1
                result.dropped += lost
                logger.warning(
                    "Agent on %s dropped records %d..%d before they were pulled.",
                    pod.node,
                    after + 1,
                    oldest - 1,
                )
                after = oldest - 1

            last_seq = max((r.get("seq", 0) for r in records), default=after)
            self._store.append_records(records, cursor=Cursor(pod.node, generation, last_seq))
            result.records += len(records)
            after = last_seq
            if len(records) < PAGE_SIZE:
                return

    def _fetch(self, pod: AgentPod, after: int) -> dict[str, Any]:
        path = (
            f"/api/v1/namespaces/{manifests.NAMESPACE}/pods/"
            f"{pod.name}:{manifests.AGENT_PORT}/proxy/v1/records"
        )
        body = rawapi.request_json(
            self._api, "GET", path, query={"after": str(after), "limit": str(PAGE_SIZE)}
        )
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise KubeError(
                f"the agent on {pod.node} answered with something that is not a "
                f"record page: {json.dumps(body)[:200]}"
            )
        return body

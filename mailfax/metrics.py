"""A Prometheus text endpoint: ``GET /metrics`` on a loopback port (config ``metrics.listen``).

What does it do?  Calls placed and answered, calls refused by reason, active calls, pages
sent, received faxes, failed jobs by T.30/call completion code, queue depth by job state,
received-fax deliveries by state, trunk registration, and the media clock's DSP load
(fraction of real time spent in the 20 ms ticks) and wake-up lateness.

How does it work?  `render()` is a pure function of the status snapshot and the queue
summary (`mailfax.status`), in the text exposition format 0.0.4.  `start_server()` is a
tiny asyncio HTTP/1.0 responder (no dependency): one request per connection, the queue
summary read in a thread so SQLite never blocks the media clock's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("mailfax.metrics")

JOB_STATES = ("queued", "converting", "ready", "scheduled", "dialling", "sending", "retry-wait", "done", "failed", "cancelled")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, kind: str, help_text: str, samples: list[tuple[dict, float]]) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            tag = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{tag}}} {value}" if tag else f"{name} {value}")


def render(snap: dict[str, Any], queue: dict[str, Any]) -> str:
    """The exposition text for one snapshot and queue summary."""
    w = _Writer()
    counters = snap.get("counters", {})
    calls = snap.get("calls", [])
    media = snap.get("media", {})
    w.metric("mailfax_up", "gauge", "1 while the gateway runs", [({}, 1 if snap.get("state") == "running" else 0)])
    w.metric("mailfax_calls_total", "counter", "fax calls placed (out) and answered (in)",
             [({"direction": "out"}, counters.get("placed", 0)), ({"direction": "in"}, counters.get("answered", 0))])
    w.metric("mailfax_calls_refused_total", "counter", "incoming calls refused, by reason",
             [({"reason": k}, v) for k, v in sorted(counters.get("refused", {}).items())])
    w.metric("mailfax_calls_active", "gauge", "calls in progress",
             [({"direction": d}, sum(1 for c in calls if c["direction"] == d)) for d in ("out", "in")])
    w.metric("mailfax_pages_sent_total", "counter", "pages confirmed by receivers (MCF)", [({}, queue.get("pages_sent", 0))])
    w.metric("mailfax_received_faxes_total", "counter", "faxes received and stored", [({}, queue.get("received", 0))])
    w.metric("mailfax_job_failures_total", "counter", "jobs given up, by completion code",
             [({"completion": k}, v) for k, v in sorted(queue.get("failures", {}).items())])
    jobs = queue.get("jobs", {})
    w.metric("mailfax_queue_jobs", "gauge", "fax jobs by state", [({"state": s}, jobs.get(s, 0)) for s in JOB_STATES])
    w.metric("mailfax_received_deliveries", "gauge", "received-fax deliveries by state",
             [({"state": k}, v) for k, v in sorted(queue.get("deliveries", {}).items())])
    w.metric("mailfax_trunk_registered", "gauge", "1 when the trunk's registration is current (registering trunks)",
             [({"trunk": t["name"]}, 1 if t["registration"] == "registered" else 0) for t in snap.get("trunks", [])
              if t["registration"] != "not registering"])
    w.metric("mailfax_dsp_load", "gauge", "share of real time spent in media ticks (1 = one core busy)",
             [({}, media.get("load", 0))])
    w.metric("mailfax_media_lateness_seconds", "gauge", "media clock wake-up lateness",
             [({"quantile": "0.99"}, round(media.get("p99_ms", 0) / 1000, 6)),
              ({"quantile": "1"}, round(media.get("max_ms", 0) / 1000, 6))])
    return "\n".join(w.lines) + "\n"


async def collect(ops) -> str:
    from mailfax.status import queue_summary

    queue = await asyncio.to_thread(queue_summary, ops.config.storage.queue_db)
    return render(ops.current(), queue)


async def _handle(ops, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        request = await asyncio.wait_for(reader.readline(), 5)
        while (await asyncio.wait_for(reader.readline(), 5)).strip():
            pass  # headers: not needed
        parts = request.decode("latin-1").split()
        if len(parts) >= 2 and parts[0] in ("GET", "HEAD") and parts[1].split("?")[0] == "/metrics":
            body = (await collect(ops)).encode()
            head = f"HTTP/1.0 200 OK\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + (body if parts[0] == "GET" else b""))
        else:
            writer.write(b"HTTP/1.0 404 Not Found\r\nContent-Type: text/plain\r\n\r\ntry /metrics\n")
        await writer.drain()
    except (asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    except Exception:
        log.exception("metrics request failed")
        writer.write(b"HTTP/1.0 500 Internal Server Error\r\n\r\n")
    finally:
        writer.close()


async def start_server(ops, host: str, port: int) -> asyncio.AbstractServer:
    server = await asyncio.start_server(lambda r, w: _handle(ops, r, w), host, port)
    from mailfax.netaddr import hostport

    log.info("metrics on http://%s/metrics", hostport(host, server.sockets[0].getsockname()[1]))
    return server

"""``mailfax status``: the gateway at a glance, like HylaFAX's ``faxstat -s``.

Reads the running server's snapshot (``<data_dir>/status.json``, `mailfax.status`) and the
queue database: server state, trunks and their registration, active calls with T.30
phase, page and speed, queue counts, recent failures.  ``--json`` prints both as one JSON
object instead.  Works without a running server (then it says so and shows the queue).
Exit status 0 when the server runs, 3 when it does not (as ``systemctl status``).
"""

from __future__ import annotations

import json
import sys
import time

from mailfax.commands._common import add_config_argument, config_or_exit
from mailfax.netaddr import hostport

NAME = "status"
HELP = "show trunks, active calls, queue counts and recent failures"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object (snapshot + queue)")


def _when(t: float | None, now: float) -> str:
    if not t:
        return "-"
    age = max(0, now - t)
    ago = f"{age:.0f}s" if age < 120 else f"{age / 60:.0f}m" if age < 7200 else f"{age / 3600:.0f}h"
    return f"{time.strftime('%H:%M:%S', time.localtime(t))} ({ago} ago)"


def format_status(snap: dict | None, queue: dict, now: float) -> str:
    """The human-readable report (pure: tested on its own)."""
    out = []
    if snap is None:
        out.append("Server: not running (no status snapshot)")
    else:
        iax = snap.get("iax")
        where = f", IAX2 {hostport(iax[0], iax[1])}" if iax else ""
        out.append(f"Server: {snap['state']} (pid {snap.get('pid')}, since {_when(snap.get('started_at'), now)}, "
                   f"updated {_when(snap.get('updated_at'), now)}{where})")
        media = snap.get("media") or {}
        if media.get("wakeups"):
            out.append(f"Media clock: DSP load {100 * media.get('load', 0):.1f}% of one core, "
                       f"lateness p99 {media.get('p99_ms', 0):.1f} ms, max {media.get('max_ms', 0):.1f} ms")
        c = snap.get("counters") or {}
        refused = ", ".join(f"{k} {v}" for k, v in sorted((c.get("refused") or {}).items())) or "none"
        out.append(f"Calls: {c.get('placed', 0)} placed, {c.get('answered', 0)} answered, refused: {refused}")
        out.append("")
        out.append("Trunk            Address                 Lines  Active  Registration")
        for t in snap.get("trunks", []):
            out.append(f"{t['name']:<16} {hostport(t['host'], t['port']):<23} {t['channels']:>5}  "
                       f"{t['active']:>6}  {t['registration']}")
        if not snap.get("trunks"):
            out.append("(no trunks)")
        out.append("")
        calls = snap.get("calls", [])
        out.append(f"Active calls: {len(calls)}")
        if calls:
            out.append("Dir Trunk            Remote               Phase  Page  Speed  Modem  ECM  Time")
            for x in calls:
                remote = x.get("remote_ident") or x.get("peer") or "?"
                speed = f"{x['bit_rate']}" if x.get("bit_rate") else "-"
                phase = x.get("t30_phase") or x.get("line")
                out.append(f"{x['direction']:<3} {x['trunk']:<16} {remote[:20]:<20} {phase:<6} {x['page']:>4}  "
                           f"{speed:>5}  {(x.get('modem') or '-'):<5}  {'yes' if x.get('ecm') else 'no':<3}  "
                           f"{x['seconds']:.0f}s")
    out.append("")
    jobs = queue.get("jobs", {})
    order = ("queued", "converting", "ready", "dialling", "sending", "retry-wait", "done", "failed", "cancelled")
    scheduled = f", {jobs['scheduled']} scheduled (send --at)" if jobs.get("scheduled") else ""
    out.append("Queue: " + ", ".join(f"{jobs.get(s, 0)} {s}" for s in order) + scheduled)
    for a in queue.get("active", []):
        out.append(f"  job {a['id']} to {a['number']}: {a['state']}, page {a['pages_confirmed']}/{a['pages_total']}"
                   + (f" at {a['bit_rate']} bit/s" if a.get("bit_rate") else ""))
    deliveries = queue.get("deliveries", {})
    out.append(f"Received: {queue.get('received', 0)} faxes; deliveries "
               + (", ".join(f"{v} {k}" for k, v in sorted(deliveries.items())) or "none"))
    failures = queue.get("recent_failures", [])
    if failures:
        out.append("Recent failures:")
        for f in failures:
            out.append(f"  job {f['id']} to {f['number']} {_when(f['updated_at'], now)}: "
                       f"{f['completion'] or '?'} {('- ' + f['reason']) if f['reason'] else ''}".rstrip())
            if f.get("session_log"):
                out.append(f"    session log {f['session_log']}")
    return "\n".join(out)


def run(args) -> int:
    from mailfax.status import queue_summary, read_snapshot, snapshot_path

    config = config_or_exit(args)
    if config is None:
        return 1
    now = time.time()
    snap = read_snapshot(snapshot_path(config), now=now)
    queue = queue_summary(config.storage.queue_db)
    if args.json:
        print(json.dumps({"server": snap, "queue": queue}, indent=1, sort_keys=True))
    else:
        print(format_status(snap, queue, now))
    sys.stdout.flush()
    return 0 if snap is not None and snap.get("state") == "running" else 3

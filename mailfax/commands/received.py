"""``mailfax received``: received faxes and the delivery state of each target (like faxstat -r)."""

from __future__ import annotations

import time

from mailfax.commands._common import add_config_argument, config_or_exit

NAME = "received"
HELP = "list received faxes and their delivery state"


def add_arguments(parser) -> None:
    add_config_argument(parser)
    parser.add_argument("--limit", "-n", type=int, default=50, help="show the last N faxes (default 50)")


def delivery_text(d) -> str:
    text = f"{d.label}: {d.state.value}"
    if d.state.value == "pending" and d.attempts:
        nxt = time.strftime("%H:%M:%S", time.localtime(d.next_try_at)) if d.next_try_at else "?"
        text += f" (try {d.attempts + 1} at {nxt}: {d.error[:60]})"
    elif d.state.value == "failed":
        text += f" ({d.error[:60]})"
    return text


def table(store, limit: int) -> str:
    rows = [("ID", "RECEIVED", "FROM", "PAGES", "DELIVERY")]
    for f in store.faxes()[-limit:]:
        m = f.meta
        sender = (m.get("tsi") or "").strip() or m.get("caller_id") or "unknown"
        pages = str(m.get("pages_received", 0)) + (f"/{m['pages_expected']}" if m.get("pages_expected") else "")
        if m.get("completion", "OK").upper() != "OK":
            pages += "!"
        targets = [delivery_text(d) for d in store.deliveries(f.id)] or ["(no targets)"]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.received_at))
        rows.append((str(f.id), when, sender[:24], pages, targets[0]))
        rows += [("", "", "", "", t) for t in targets[1:]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def run(args) -> int:
    from mailfax.received import ReceivedStore

    config = config_or_exit(args)
    if config is None:
        return 1
    print(table(ReceivedStore.open(config.storage), args.limit))
    return 0

"""SMTP acceptance speed: messages/s accepted *durably* by mailfax's listener versus aiosmtpd
with a no-op handler, in the same run, on loopback.

Each message carries a ~100 KB PDF attachment; several clients (aiosmtplib) send at once
over persistent connections.  Each server runs in its own process (one core for the
server, the clients in this one).  Ours checks the recipient against the rules, checks the
MIME structure and every attachment's base64 (`mailfax.mime.check_message`, the full
parser's verdict) and fsyncs the message file, its directory and the job rows (group
commit) before its 250; the reference accepts and discards.  Ours is the listener as
`mailfax serve` runs it (`smtp_factory`: aiosmtpd with `mailfax.smtp_data`'s chunked DATA
reader, which replaces aiosmtpd's await per line); ``--stock-data`` runs our handler on
aiosmtpd's own DATA instead, which shows what the durable handler costs on its own.
Runs alternate (reference, ours, reference, ours) and the best of each counts.  Besides
wall-clock rates, the server process's own CPU time gives messages per CPU second, a
figure that a busy machine disturbs less.
Last line: one JSON object; ratio = ours / reference (higher is better, target >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import json
import multiprocessing as mp
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoOp:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def serve(kind: str, port: int, data_dir: str, ready, stop, cpu, stock_data: bool = False) -> None:
    from aiosmtpd.smtp import SMTP

    if kind == "reference":
        handler, kw = NoOp(), dict(data_size_limit=50 * 1024 * 1024)
        factory = lambda: SMTP(handler, **kw)  # noqa: E731
    else:
        from mailfax.config import load_config
        from mailfax.rules import load_rules
        from mailfax.smtp_in import FaxHandler, smtp_factory
        from mailfax.store import Store

        cfg = Path(data_dir) / "mailfax.yaml"
        cfg.write_text(f"smtp: {{listen: 127.0.0.1:{port}}}\nfax: {{domains: [fax.test]}}\nstorage: {{data_dir: {data_dir}}}\n")
        config = load_config(cfg)
        handler = FaxHandler(config, load_rules(None, config), Store.open(config.storage))
        factory = smtp_factory(handler, config)
        if stock_data:
            from mailfax.smtp_in import smtp_kwargs

            factory = lambda: SMTP(handler, **smtp_kwargs(config))  # noqa: E731

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(factory, "127.0.0.1", port)
        start = os.times()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()
        # CPU of this server process (all its threads): less sensitive to machine load than wall time
        end = os.times()
        cpu.put((end.user - start.user, end.system - start.system))

    asyncio.run(main())


def make_messages(n: int) -> list[bytes]:
    from tests.support import mailfax_samples as samples

    pdf = samples.pdf(seed=9, noise_kb=100)
    out = []
    for i in range(n):
        m = samples.message(body=f"bench {i}\n", message_id=f"<bench-{i}-{time.time_ns()}@example.com>",
                            extra={"doc.pdf": pdf})
        out.append(m.as_bytes(policy=email.policy.SMTP))
    return out


async def blast(port: int, messages: list[bytes], clients: int) -> float:
    import aiosmtplib

    queue = list(messages)

    async def client():
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=60)
        await smtp.connect()
        while queue:
            msg = queue.pop()
            await smtp.sendmail("alice@example.com", ["+4930123456@fax.test"], msg)
        await smtp.quit()

    t = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - t


def run_one(kind: str, messages: list[bytes], clients: int, stock_data: bool = False) -> tuple[float, float, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        ready, stop, cpu = mp.Event(), mp.Event(), mp.Queue()
        proc = mp.Process(target=serve, args=(kind, port, d, ready, stop, cpu, stock_data), daemon=True)
        proc.start()
        assert ready.wait(30), f"{kind} server did not start"
        asyncio.run(blast(port, messages[:5], 1))  # warm up (imports, first connection)
        elapsed = asyncio.run(blast(port, messages[5:], clients))
        stop.set()
        user, system = cpu.get(timeout=30)
        cpu_s = user + system
        proc.join()
        if kind == "mailfax":
            from mailfax.store import Store

            s = Store(Path(d) / "queue.sqlite", Path(d) / "spool")
            assert s.message_count() == len(messages), "every message must be queued"
    return (len(messages) - 5) / elapsed, len(messages) / cpu_s, system / cpu_s


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--stock-data", action="store_true", help="ours on aiosmtpd's line-by-line DATA reader")
    args = ap.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {"reference": [], "mailfax": []}
    for _ in range(args.rounds):
        for kind in ("reference", "mailfax"):
            rate, per_cpu, sys_share = run_one(kind, make_messages(args.messages + 5), args.clients, args.stock_data)
            results[kind].append((rate, per_cpu, sys_share))
            print(f"{kind:9s}: {rate:7.1f} messages/s wall, {per_cpu:7.1f} messages per server CPU second"
                  f" ({1000 / per_cpu:.2f} ms/message, {100 * sys_share:.0f}% of it in the kernel)", flush=True)
    ours, ref = max(r[0] for r in results["mailfax"]), max(r[0] for r in results["reference"])
    ours_cpu, ref_cpu = max(r[1] for r in results["mailfax"]), max(r[1] for r in results["reference"])
    print(json.dumps({
        "benchmark": "smtp", "messages": args.messages, "clients": args.clients, "attachment_kb": 100,
        "mailfax_msgs_per_s": round(ours, 1), "aiosmtpd_noop_msgs_per_s": round(ref, 1),
        "ratio": round(ours / ref, 3),
        "mailfax_msgs_per_cpu_s": round(ours_cpu, 1), "aiosmtpd_noop_msgs_per_cpu_s": round(ref_cpu, 1),
        "cpu_ratio": round(ours_cpu / ref_cpu, 3),
        "mailfax_cpu_ms_per_msg": round(1000 / ours_cpu, 2), "aiosmtpd_noop_cpu_ms_per_msg": round(1000 / ref_cpu, 2),
        "target_ratio": 0.8, "durable": True, "data_reader": "aiosmtpd" if args.stock_data else "chunked",
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Soak driver for bench/soak.sh: one `lvsd serve`, for a fixed time,

- AGENTS agents long-polling `GET /v1/clusters/web/desired?after=N&wait=50s`
  (each on its own keep-alive connection, re-polling as soon as answered);
- WRITERS writers committing small specs back to back;
- a prober timing `GET /healthz` every 20 ms on its own connection;
- with --hostile: IDLE plain TCP connections to the gRPC port that never
  send a byte (reopened as soon as the server closes one), and OVERSIZED
  requests in flight at all times, each a ~26 MB commit of 1.2 million
  tiny services.

Prints p50/p99 of /healthz and of commits, the server's peak RSS (VmHWM),
and the revisions acknowledged (201) against those present afterwards.
Standard library only.
"""

import argparse
import asyncio
import json
import statistics
import time


class Http:
    """One HTTP/1.1 keep-alive connection; reconnects after an error."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method, path, body=b"", timeout=90):
        try:
            return await asyncio.wait_for(self._request(method, path, body), timeout)
        except Exception:
            self.close()
            raise

    async def _request(self, method, path, body):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: lvsd\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length, chunked, close = 0, False, False
        while True:
            line = (await self.reader.readline()).decode().strip()
            if not line:
                break
            name, _, value = line.partition(":")
            name, value = name.lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value.lower() == "close":
                close = True
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                if size == 0:
                    await self.reader.readline()
                    break
                data += await self.reader.readexactly(size)
                await self.reader.readline()
        else:
            data = await self.reader.readexactly(length)
        if close:
            self.close()
        return status, data

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def spec(weight, services=10):
    return {
        "services": [
            {
                "id": f"tcp:192.168.31.{100 + s}:80",
                "scheduler": "wrr",
                "servers": [
                    {"address": f"172.25.{s}.{31 + r}", "forwarding": "nat",
                     "weight": weight if r == 0 else 1}
                    for r in range(4)
                ],
            }
            for s in range(services)
        ]
    }


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--grpc", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--agents", type=int, default=600)
    ap.add_argument("--writers", type=int, default=4)
    ap.add_argument("--hostile", action="store_true")
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--oversized", type=int, default=8)
    args = ap.parse_args()
    host, port = args.api.removeprefix("http://").rsplit(":", 1)
    port = int(port)
    ghost, gport = args.grpc.rsplit(":", 1)
    gport = int(gport)

    setup = Http(host, port)
    status, _ = await setup.request("POST", "/v1/clusters", json.dumps({"name": "web"}).encode())
    assert status == 201, status
    status, data = await setup.request(
        "POST", "/v1/clusters/web/revisions",
        json.dumps({"message": "soak start", "spec": spec(1)}).encode())
    assert status == 201, (status, data)
    first = json.loads(data)["revision"]["number"]

    stop = asyncio.Event()
    healthz, commits, acked = [], [], set()
    errors = {"agents": 0, "writers": 0, "healthz": 0, "oversized_answers": {}}
    polls = [0]
    peak_rss = [0]

    async def agent(i):
        conn, after = Http(host, port), first
        while not stop.is_set():
            try:
                status, data = await conn.request(
                    "GET", f"/v1/clusters/web/desired?director=a{i}&after={after}&wait=50s")
                polls[0] += 1
                if status == 200:
                    after = json.loads(data).get("revision") or after
                else:
                    errors["agents"] += 1
                    await asyncio.sleep(0.5)
            except Exception:
                errors["agents"] += 1
                await asyncio.sleep(0.5)

    async def writer(w):
        conn, n = Http(host, port), 0
        while not stop.is_set():
            n += 1
            body = json.dumps({"message": f"soak w{w} #{n}", "spec": spec(2 + (n * 7 + w) % 90)}).encode()
            start = time.perf_counter()
            try:
                status, data = await conn.request("POST", "/v1/clusters/web/revisions", body)
            except Exception:
                errors["writers"] += 1
                continue
            if status == 201:
                commits.append(time.perf_counter() - start)
                acked.add(json.loads(data)["revision"]["number"])
            else:
                errors["writers"] += 1
            await asyncio.sleep(0.05)

    async def prober():
        conn = Http(host, port)
        while not stop.is_set():
            start = time.perf_counter()
            try:
                status, _ = await conn.request("GET", "/healthz", timeout=120)
                if status == 200:
                    healthz.append(time.perf_counter() - start)
                else:
                    errors["healthz"] += 1
            except Exception:
                errors["healthz"] += 1
            await asyncio.sleep(0.02)

    async def sampler():
        while not stop.is_set():
            peak_rss[0] = max(peak_rss[0], rss_kib(args.pid, "VmRSS"))
            await asyncio.sleep(0.2)

    idle_open = [0]

    async def idle_connection():
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(ghost, gport)
            except Exception:
                await asyncio.sleep(0.2)
                continue
            idle_open[0] += 1
            try:
                # Wait, silent, until the server closes it (or the end).
                read = asyncio.ensure_future(reader.read(1))
                ended = asyncio.ensure_future(stop.wait())
                await asyncio.wait({read, ended}, return_when=asyncio.FIRST_COMPLETED)
                read.cancel()
                ended.cancel()
            finally:
                idle_open[0] -= 1
                writer.close()

    tiny = b'{"id":"fwmark:12345"}'
    huge = (b'{"message":"oversized","spec":{"services":['
            + b",".join([tiny] * 1_200_000) + b"]}}")

    async def oversized():
        conn = Http(host, port)
        while not stop.is_set():
            try:
                status, _ = await conn.request("POST", "/v1/clusters/web/revisions", huge, timeout=120)
                errors["oversized_answers"][status] = errors["oversized_answers"].get(status, 0) + 1
            except Exception:
                errors["oversized_answers"]["error"] = errors["oversized_answers"].get("error", 0) + 1

    tasks = [asyncio.create_task(agent(i)) for i in range(args.agents)]
    await asyncio.sleep(2)  # every agent waiting before the clock starts
    tasks.append(asyncio.create_task(sampler()))
    if args.hostile:
        tasks += [asyncio.create_task(idle_connection()) for _ in range(args.idle)]
        tasks += [asyncio.create_task(oversized()) for _ in range(args.oversized)]
        await asyncio.sleep(2)
    tasks += [asyncio.create_task(writer(w)) for w in range(args.writers)]
    tasks.append(asyncio.create_task(prober()))
    idle_seen = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(1)
        idle_seen.append(idle_open[0])
    stop.set()
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    present, before = set(), None
    check = Http(host, port)
    while True:
        path = "/v1/clusters/web/revisions?limit=500" + (f"&before={before}" if before else "")
        status, data = await check.request("GET", path)
        page = json.loads(data)["revisions"]
        if not page:
            break
        present.update(r["number"] for r in page)
        before = min(r["number"] for r in page)
    lost = acked - present

    ms = lambda v: f"{v * 1000:.1f}"
    result = {
        "mode": "hostile" if args.hostile else "baseline",
        "healthz_p50_ms": ms(percentile(healthz, 50)),
        "healthz_p99_ms": ms(percentile(healthz, 99)),
        "healthz_count": len(healthz),
        "commit_p50_ms": ms(percentile(commits, 50)),
        "commit_p99_ms": ms(percentile(commits, 99)),
        "commits_acknowledged": len(acked),
        "revisions_present": len(present),
        "acknowledged_lost": len(lost),
        "peak_rss_mib": round(max(peak_rss[0], rss_kib(args.pid, "VmHWM")) / 1024, 1),
        "long_poll_answers": polls[0],
        "idle_grpc_open_median": int(statistics.median(idle_seen)) if idle_seen else 0,
        "errors": errors,
    }
    print(json.dumps(result))


asyncio.run(main())

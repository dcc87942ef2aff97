#!/usr/bin/python3
"""A stand-in psctl.control.v1 server for psctl top's tests.

Replays STATUS snapshots from files (tests/data/snap-*.json), in order, as
"snapshot" events after a subscribe; after the last file it keeps sending
the last one with uptime, model version and norm moving, so a console has
something live to draw.  Answers status, subscribe, unsubscribe,
checkpoint, reset and stop the way control.h says.  Prints its port on the
first line of stdout.

    fake-control.py [--port N] [--token T] [--close-after N]
                    [--rate R] snap.json ...
"""
import argparse
import asyncio
import copy
import http
import json
import sys

import websockets

PROTOCOL = "psctl.control.v1"


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token", help="require Authorization: Bearer TOKEN")
    p.add_argument("--close-after", type=int, default=0,
                   help="close each connection after N snapshots")
    p.add_argument("--rate", type=float, default=40.0,
                   help="model versions per second once the files run out")
    p.add_argument("snapshots", nargs="+")
    return p.parse_args()


class Fake:
    def __init__(self, args):
        self.args = args
        self.snaps = []
        for path in args.snapshots:
            with open(path) as f:
                self.snaps.append(json.load(f))
        self.ckpts = 0

    def snapshot(self, i, since_last):
        """The i-th snapshot sent; past the files, the last one moved on."""
        if i < len(self.snaps):
            return self.snaps[i]
        s = copy.deepcopy(self.snaps[-1])
        extra = i - len(self.snaps) + 1
        s["uptime_s"] = s["uptime_s"] + extra * since_last
        s["model_version"] = int(s["model_version"] +
                                 self.args.rate * extra * since_last)
        s["model_l2"] = s["model_l2"] * (1 + 0.002 * (extra % 17))
        return s

    def check_token(self, path, headers):
        if self.args.token is None:
            return None
        if headers.get("Authorization") == "Bearer " + self.args.token:
            return None
        return (http.HTTPStatus.UNAUTHORIZED, [], b"token refused\n")

    async def handler(self, ws, path=None):
        if ws.subprotocol != PROTOCOL:
            await ws.close(1002, "psctl.control.v1 only")
            return
        state = {"interval": 1.0, "task": None, "sent": 0}

        async def stream():
            while True:
                snap = self.snapshot(state["sent"], state["interval"])
                state["sent"] += 1
                await ws.send(json.dumps({"event": "snapshot",
                                          "seq": state["sent"],
                                          "snapshot": snap}))
                if (self.args.close_after and
                        state["sent"] >= self.args.close_after):
                    await ws.close(1001, "going away")
                    return
                await asyncio.sleep(state["interval"])

        try:
            async for text in ws:
                req = json.loads(text)
                rid, cmd = req.get("id"), req.get("cmd")
                cur = self.snapshot(max(state["sent"] - 1, 0),
                                    state["interval"])
                if cmd == "subscribe":
                    state["interval"] = float(req.get("interval", 1.0))
                    await ws.send(json.dumps({"id": rid, "ok": True,
                        "result": {"interval": state["interval"]}}))
                    if state["task"] is not None:
                        state["task"].cancel()
                    state["task"] = asyncio.ensure_future(stream())
                elif cmd == "unsubscribe":
                    if state["task"] is not None:
                        state["task"].cancel()
                        state["task"] = None
                    await ws.send(json.dumps({"id": rid, "ok": True,
                                              "result": None}))
                elif cmd == "status":
                    await ws.send(json.dumps({"id": rid, "ok": True,
                                              "result": cur}))
                elif cmd == "checkpoint":
                    self.ckpts += 1
                    await ws.send(json.dumps({"id": rid, "ok": True,
                        "result": {"path": "/var/lib/psctl/ckpt-%06d"
                                   ".safetensors" % cur["model_version"],
                                   "model_version": cur["model_version"],
                                   "bytes": cur["bytes"] + 128,
                                   "seconds": 0.021}}))
                elif cmd == "reset":
                    await ws.send(json.dumps({"id": rid, "ok": True,
                        "result": {"from": "initial",
                                   "model_version":
                                   cur["model_version"] + 1}}))
                elif cmd == "stop":
                    await ws.send(json.dumps({"id": rid, "ok": True,
                        "result": {"stopping": True, "checkpoint": None}}))
                    await ws.close(1001, "stopping")
                    asyncio.get_event_loop().call_later(0.1, sys.exit, 0)
                else:
                    await ws.send(json.dumps({"id": rid, "ok": False,
                        "error": {"code": "unknown_command",
                                  "message": "no command %r" % cmd}}))
        except websockets.ConnectionClosed:
            pass
        finally:
            if state["task"] is not None:
                state["task"].cancel()


async def main():
    args = parse_args()
    fake = Fake(args)
    async with websockets.serve(fake.handler, "127.0.0.1", args.port,
                                subprotocols=[PROTOCOL],
                                process_request=fake.check_token) as server:
        port = server.sockets[0].getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass

#!/usr/bin/env python3
"""A tiny chat backend for edge's stream hooks, with the standard library only.

edge POSTs JSON events to it (connect, message, close) and applies its answers;
it also calls edge's control API (POST /api/publish) on its own. Run:

    hooks_chat.py --unix /run/chat.sock --admin http://127.0.0.1:9090 --token s3cret
    hooks_chat.py --listen 127.0.0.1:9001 ...

with, in edge's config:

    stream: {mode: hooks, hooks: {url: "unix:/run/chat.sock:/hooks", headers: [Authorization, Cookie]}}

Clients connect to /chat?room=lobby&name=ann with "Authorization: Bearer good"
or the cookie sid=good (anything else is rejected with 401: close code 4401).
A message goes to the room as "ann: text"; "/admin text" is published through
the control API; "/quit" closes the client; a client joining (a presence event)
or leaving (its close event) is announced.
It prints "ready" once it listens.
"""

import argparse
import json
import socketserver
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADMIN = ""
TOKEN = ""
clients = {}  # client ID -> {"name", "room"}
lock = threading.Lock()


def api(path, body):
    """POST body to edge's control API and return the decoded answer."""
    req = urllib.request.Request(
        ADMIN + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + TOKEN},
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def on_connect(ev):
    q = urllib.parse.parse_qs(ev["query"])
    name = q.get("name", ["anon"])[0]
    room = q.get("room", ["lobby"])[0]
    auth = ev["headers"].get("Authorization", "")
    sid = (ev.get("cookies") or {}).get("sid", "")
    if auth != "Bearer good" and sid != "good":
        return {"accept": False, "status": 401, "reason": "bad token"}
    with lock:
        clients[ev["client"]] = {"name": name, "room": room}
    return {
        "accept": True,
        "tags": ["room:" + room, "user:" + name],
        "data": {"name": name, "room": room},
        "reply": "welcome " + name,
    }


def on_message(ev):
    answers = []
    for m in ev["messages"]:
        with lock:
            c = clients.get(m["client"])
        text = m.get("data")
        if c is None or text is None:  # binary messages are ignored
            answers.append(None)
        elif text.startswith("/admin "):
            r = api("/api/publish", {"tag": "room:" + c["room"], "data": "admin: " + text[7:]})
            answers.append({"reply": "queued %d" % r["queued"]})
        elif text == "/quit":
            answers.append({"close": {"code": 4000, "reason": "bye"}})
        else:
            answers.append({"publish": [{"tag": "room:" + c["room"], "data": c["name"] + ": " + text}]})
    return answers


def on_join(ev):
    # With presence: ["room:"]: the client joined a room (its data is the
    # connect answer's); the answer is applied as a message's would be.
    name = (ev.get("data") or {}).get("name", "?")
    return {"publish": [{"tag": t, "data": name + " joined"} for t in ev["tags"]]}


def on_leave(ev):
    return None  # the close event announces it


def on_close(ev):
    with lock:
        c = clients.pop(ev["client"], None)
    if c is not None:
        api("/api/publish", {"tag": "room:" + c["room"], "data": c["name"] + " left"})
    return None


EVENTS = {"connect": on_connect, "message": on_message, "join": on_join, "leave": on_leave, "close": on_close}


class Hooks(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: edge reuses its connections

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        ev = json.loads(self.rfile.read(n))
        ans = EVENTS[ev["event"]](ev)
        body = b"" if ans is None else json.dumps(ans).encode()
        self.send_response(200 if body else 204)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = super().get_request()
        return conn, ("unix", 0)


def main():
    global ADMIN, TOKEN
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", help="host:port")
    p.add_argument("--unix", help="Unix socket path")
    p.add_argument("--admin", required=True, help="edge's admin listener, http://host:port")
    p.add_argument("--token", default="", help="the control API's bearer token")
    a = p.parse_args()
    ADMIN, TOKEN = a.admin.rstrip("/"), a.token
    if a.unix:
        srv = UnixHTTPServer(a.unix, Hooks)
    else:
        host, port = a.listen.rsplit(":", 1)
        srv = ThreadingHTTPServer((host, int(port)), Hooks)
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

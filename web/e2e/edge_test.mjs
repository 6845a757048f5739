// Unit tests of web/site/edge.js in node, without a browser or a server:
// a fake WebSocket, a fake clock and a fixed Math.random. Run by
// web/edgejs_test.go (node web/e2e/edge_test.mjs); needs no npm package.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

// The fake clock: timers run only when advance() passes their time.
let now = 1_000_000;
let timers = [];
let nextTimer = 1;
function advance(ms) {
  const end = now + ms;
  for (;;) {
    timers.sort((a, b) => a.at - b.at || a.id - b.id);
    const t = timers[0];
    if (!t || t.at > end) break;
    timers.shift();
    now = t.at;
    t.f();
  }
  now = end;
}

// FakeWebSocket records what edge.js does; the test drives its events.
class FakeWebSocket {
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.protocol = "";
    this.sent = [];
    this.closedWith = null;
    sockets.push(this);
  }
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }
  close(code, reason) {
    if (this.readyState >= 2) return;
    this.closedWith = [code, reason];
    this.readyState = 2;
    timers.push({ id: nextTimer++, at: now, f: () => this.serverClose(code ?? 1005, reason ?? "") });
  }
  // Test side.
  open(protocol = "") {
    this.readyState = 1;
    this.protocol = protocol;
    this.onopen({});
  }
  message(data) { this.onmessage({ data }); }
  serverClose(code, reason = "") {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
}
let sockets = [];

// load runs edge.js in a fresh context (as a classic script, the way
// <script src="/edge.js"> does) and returns its EdgeStream.
const source = readFileSync(fileURLToPath(new URL("../site/edge.js", import.meta.url)), "utf8");
let random = 0.5;
let thrown = [];
function load(href = "https://example.com/chat/page.html?room=x#top") {
  sockets = [];
  timers = [];
  thrown = [];
  const window = {
    location: { href },
    WebSocket: FakeWebSocket,
    URL,
    setTimeout: (f, ms = 0) => {
      const id = nextTimer++;
      timers.push({ id, at: now + ms, f: () => { try { f(); } catch (e) { thrown.push(e); } } });
      return id;
    },
    clearTimeout: (id) => { timers = timers.filter((t) => t.id !== id); },
    Date: { now: () => now },
    Math: Object.assign(Object.create(Math), { random: () => random }),
    atob,
  };
  window.window = window;
  vm.runInNewContext(source, window);
  assert.equal(typeof window.EdgeStream, "function", "edge.js defines window.EdgeStream");
  return window.EdgeStream;
}

let checks = 0;
function test(name, f) {
  try {
    f();
    checks++;
  } catch (e) {
    e.message = `${name}: ${e.message}`;
    throw e;
  }
}

test("URLs resolve against the page", () => {
  let S = load();
  assert.equal(new S("/chat?room=a").url, "wss://example.com/chat?room=a");
  assert.equal(new S("ws?x=1").url, "wss://example.com/chat/ws?x=1");
  assert.equal(new S("ws://other:8089/ws").url, "ws://other:8089/ws");
  S = load("http://localhost:8089/");
  assert.equal(new S("/chat").url, "ws://localhost:8089/chat");
  assert.equal(new S("https://h/x").url, "wss://h/x");
  assert.throws(() => new S("ftp://h/x"), (e) => e.name === "SyntaxError"); // the context's own SyntaxError
  assert.throws(() => new S("/x", { minDelai: 1 }), (e) => e.name === "TypeError" && /minDelai/.test(e.message));
});

test("protocols and binaryType reach the WebSocket", () => {
  const S = load();
  const s = new S("/ws", { protocols: ["v2", "v1"], binaryType: "blob" });
  assert.deepEqual(sockets[0].protocols, ["v2", "v1"]);
  assert.equal(sockets[0].binaryType, "blob");
  sockets[0].open("v1");
  assert.equal(s.protocol, "v1");
  new S("/ws");
  assert.equal(sockets[1].protocols, undefined);
  assert.equal(sockets[1].binaryType, "arraybuffer");
});

test("exponential backoff with full jitter, capped", () => {
  const S = load();
  const delays = [];
  random = 0.999999;
  new S("/ws", { onReconnect: (attempt, delay) => delays.push([attempt, delay]) });
  for (let i = 0; i < 9; i++) {
    sockets[i].serverClose(1006); // refused: never opened
    advance(delays[i][1]);
    assert.equal(sockets.length, i + 2, "a new attempt once the delay passed");
  }
  assert.deepEqual(delays.map((d) => d[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(delays.map((d) => d[1]), [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
  // The jitter spans from 0: random() = 0 retries at once.
  random = 0;
  sockets[9].serverClose(1006);
  assert.equal(delays[9][1], 0);
  advance(0);
  // No retry before its delay.
  random = 0.5;
  sockets[10].serverClose(1006);
  assert.equal(delays[10][1], 15000);
  advance(14999);
  assert.equal(sockets.length, 11);
  advance(1);
  assert.equal(sockets.length, 12);
});

test("a connection that lasted minUptime resets the backoff", () => {
  const S = load();
  random = 0.999999;
  const delays = [];
  new S("/ws", { minDelay: 100, maxDelay: 10000, minUptime: 5000, onReconnect: (a, d) => delays.push([a, d]) });
  sockets[0].serverClose(1006);
  advance(1000);
  sockets[1].serverClose(1006);
  advance(1000);
  sockets[2].open();
  advance(4999); // not long enough
  sockets[2].serverClose(1001);
  assert.deepEqual(delays.at(-1), [3, 399]);
  advance(1000);
  sockets[3].open();
  advance(5000);
  sockets[3].serverClose(1001);
  assert.deepEqual(delays.at(-1), [1, 99]);
});

test("send queues while disconnected, bounded, after onOpen's own", () => {
  const S = load();
  const s = new S("/ws", { maxQueue: 2, onOpen() { this.send("subscribe"); } });
  assert.equal(s.connected, false);
  assert.equal(s.send("a"), true);
  const buf = new Uint8Array([1, 2]).buffer;
  assert.equal(s.send(buf), true);
  assert.equal(s.send("c"), false, "queue full");
  sockets[0].open();
  assert.deepEqual(sockets[0].sent, ["subscribe", "a", buf]);
  assert.equal(s.send("d"), true);
  assert.deepEqual(sockets[0].sent.at(-1), "d");
  assert.equal(s.connections, 1);
  // Lost: queued again, sent on the next connection, onOpen first again.
  sockets[0].serverClose(1006);
  assert.equal(s.send("e"), true);
  advance(1000);
  assert.equal(sockets.length, 2);
  sockets[1].open();
  assert.deepEqual(sockets[1].sent, ["subscribe", "e"]);
  assert.equal(s.connections, 2);
});

test("messages, text and binary; onClose on every loss", () => {
  const S = load();
  const got = [];
  const closes = [];
  new S("/ws", { onMessage: (d, bin) => got.push([d, bin]), onClose: (c, r) => closes.push([c, r]) });
  sockets[0].open();
  const ab = new ArrayBuffer(3);
  sockets[0].message("hi");
  sockets[0].message(ab);
  assert.deepEqual(got, [["hi", false], [ab, true]]);
  sockets[0].serverClose(1001, "server shutting down");
  advance(1000);
  sockets[1].serverClose(1006);
  assert.deepEqual(closes, [[1001, "server shutting down"], [1006, ""]]);
});

test("close stops reconnecting", () => {
  const S = load();
  const closes = [];
  const s = new S("/ws", { onClose(c) { closes.push([c, this.closed]); } });
  sockets[0].open();
  s.send("x");
  s.close(4000, "bye");
  assert.deepEqual(sockets[0].closedWith, [4000, "bye"]);
  assert.equal(s.closed, true);
  assert.equal(s.send("y"), false);
  advance(120000);
  assert.equal(sockets.length, 1);
  assert.deepEqual(closes, [[4000, true]]);
  // While waiting for a retry: the retry is cancelled.
  const s2 = new S("/ws");
  sockets[1].serverClose(1006);
  s2.close();
  advance(120000);
  assert.equal(sockets.length, 2);
  // Default code.
  const s3 = new S("/ws");
  sockets[2].open();
  s3.close();
  assert.deepEqual(sockets[2].closedWith, [1000, ""]);
});

test("shouldReconnect can stop it", () => {
  const S = load();
  const seen = [];
  const s = new S("/ws", {
    shouldReconnect: (code, reason) => !(code === 1008 && reason.startsWith("bad room")),
    onClose(code) { seen.push([code, this.closed]); },
  });
  sockets[0].open();
  sockets[0].serverClose(1008, "send queue full");
  advance(1000);
  sockets[1].open();
  sockets[1].serverClose(1008, "bad room name");
  advance(120000);
  assert.equal(sockets.length, 2);
  assert.equal(s.closed, true);
  assert.deepEqual(seen, [[1008, false], [1008, true]]);
});

test("a connection that does not open in connectTimeout is retried", () => {
  const S = load();
  let retries = 0;
  new S("/ws", { connectTimeout: 3000, onReconnect: () => retries++ });
  advance(2999);
  assert.equal(sockets[0].closedWith, null);
  advance(1);
  assert.notEqual(sockets[0].closedWith, null, "closed at the timeout");
  assert.equal(retries, 1);
  // An opened connection is not timed out.
  advance(1000);
  assert.equal(sockets.length, 2);
  sockets[1].open();
  advance(60000);
  assert.equal(sockets[1].readyState, 1);
});

test("events of a replaced socket are ignored", () => {
  const S = load();
  const opened = [];
  const got = [];
  const s = new S("/ws", { connectTimeout: 1000, onOpen: () => opened.push(sockets.length), onMessage: (d) => got.push(d) });
  advance(1000); // timed out: closed, a retry follows
  advance(1000);
  assert.equal(sockets.length, 2);
  sockets[0].open(); // too late: that one is gone
  sockets[0].message("stale");
  assert.deepEqual(opened, []);
  assert.equal(s.connected, false);
  sockets[1].open();
  sockets[1].message("fresh");
  assert.deepEqual(opened, [2]);
  assert.deepEqual(got, ["fresh"]);
});

test("a throwing callback does not break the stream", () => {
  const S = load();
  const got = [];
  new S("/ws", { onMessage(d) { got.push(d); if (d === "boom") throw new Error("callback failed"); } });
  sockets[0].open();
  sockets[0].message("boom");
  sockets[0].message("after");
  assert.deepEqual(got, ["boom", "after"]);
  advance(0);
  assert.equal(thrown.length, 1, "the exception is reported asynchronously");
  assert.equal(thrown[0].message, "callback failed");
});

test("resume: envelopes unwrapped, since= on reconnect, duplicates dropped, gaps", () => {
  const S = load();
  const got = [];
  const gaps = [];
  new S("/chat?room=a", {
    resume: true,
    onMessage: (d, bin, meta) => got.push([bin ? Array.from(new Uint8Array(d)) : d, bin, meta && meta.seq]),
    onGap: (tag, first, last) => gaps.push([tag, first, last]),
  });
  assert.equal(sockets[0].url, "wss://example.com/chat?room=a&seq=1");
  sockets[0].open();
  sockets[0].message('{"tag":"room:a","seq":1,"data":"one"}');
  sockets[0].message('{"tag":"room:a","seq":2,"base64":"AAH/"}');
  sockets[0].message('{"tag":"room:b","seq":7,"data":""}');
  sockets[0].message('{"not":"an envelope"}');
  assert.deepEqual(got, [["one", false, 1], [[0, 1, 255], true, 2], ["", false, 7], ['{"not":"an envelope"}', false, undefined]]);
  sockets[0].serverClose(1006);
  advance(1000);
  assert.equal(sockets[1].url, "wss://example.com/chat?room=a&seq=1&since=room%3Aa%3A2&since=room%3Ab%3A7");
  sockets[1].open();
  got.length = 0;
  sockets[1].message('{"tag":"room:a","seq":2,"data":"dup"}'); // already seen
  sockets[1].message('{"tag":"room:a","gap":true,"first":5,"last":6}');
  sockets[1].message('{"tag":"room:a","seq":5,"data":"five"}');
  assert.deepEqual(gaps, [["room:a", 5, 6]]);
  assert.deepEqual(got, [["five", false, 5]]);
  sockets[1].serverClose(1006);
  advance(1000);
  assert.match(sockets[2].url, /since=room%3Aa%3A5/);
  // Without resume, envelopes are not touched and the URL is as given.
  const T = load();
  const raw = [];
  new T("/chat?room=a", { onMessage: (d) => raw.push(d) });
  assert.equal(sockets[0].url, "wss://example.com/chat?room=a");
  sockets[0].open();
  sockets[0].message('{"tag":"room:a","seq":1,"data":"one"}');
  assert.deepEqual(raw, ['{"tag":"room:a","seq":1,"data":"one"}']);
});

console.log(`ok: ${checks} checks of edge.js`);

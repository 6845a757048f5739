/*
 * edge.js: a WebSocket that reconnects, for pages served by edge.
 * No dependencies. Load it either way:
 *
 *   <script src="/edge.js"></script>            then window.EdgeStream
 *   import { EdgeStream } from "/edge.mjs";     as an ES module
 *
 *   const s = new EdgeStream("/chat?room=lobby", {
 *     onOpen() { s.send("hello"); },             // every (re)connection
 *     onMessage(data, isBinary) { ... },
 *     onClose(code, reason) { ... },             // every lost connection
 *     onReconnect(attempt, delay) { ... },       // a retry is scheduled
 *   });
 *
 *   // With a chat stream that keeps history (history: in edge's config):
 *   const r = new EdgeStream("/chat?room=lobby", {
 *     resume: true,                              // numbered messages, resumed
 *     onMessage(data, isBinary, meta) { ... },   // meta: {tag, seq}
 *     onGap(tag, first, last) { ... },           // messages were lost: resync
 *   });
 *   s.send("text") or s.send(arrayBuffer); s.close();
 *
 * Read-only state: s.connected (open now), s.closed (stopped for good),
 * s.connections (opened so far), s.attempt (retries since the last stable
 * connection), s.protocol (the subprotocol the server chose), s.url.
 * Callbacks run with the stream as this. The other options, with their
 * defaults, are listed in `defaults` below.
 *
 * Reconnecting: after a connection is lost (or could not be made) the next
 * attempt waits a random delay between 0 and min(maxDelay, minDelay * 2^n),
 * n counting the attempts since the last connection that lasted minUptime
 * ("full jitter": clients that lost the same server do not all come back at
 * once). onOpen runs on every connection: it is the place to resubscribe.
 *
 * Resuming (resume: true): the URL gets seq=1, and the server sends each
 * message as a JSON envelope {"tag", "seq", "data" or "base64"}, which
 * onMessage receives unwrapped (data, isBinary, {tag, seq}). The stream
 * remembers the last sequence number of each tag (s.lastSeq, tag -> seq)
 * and reconnects with since=TAG:SEQ for each, so the server first sends
 * what was missed, in order, then the live messages. When it cannot (the
 * messages were dropped from its history, or the server restarted), it
 * sends a gap marker first: onGap(tag, first, last) runs, then the kept
 * messages from first follow. Messages that are not envelopes (a server
 * without history) pass through as they are, with no meta.
 *
 * Sending: while disconnected, send() queues up to maxQueue messages and
 * returns true; they go out in order right after onOpen on the next
 * connection. When the queue is full, or after close(), send() returns
 * false and the message is dropped.
 */
(function (global) {
  "use strict";

  var defaults = {
    protocols: undefined,       // a subprotocol or a list of them
    binaryType: "arraybuffer",  // or "blob": what binary messages arrive as
    minDelay: 500,              // ms: the first retry waits up to this
    maxDelay: 30000,            // ms: no retry waits longer than this
    minUptime: 5000,            // ms: a connection that lasted this resets the backoff
    connectTimeout: 10000,      // ms: give up on a connection not open by then
    maxQueue: 100,              // messages send() may queue while disconnected
    shouldReconnect: null,      // function (code, reason): false stops reconnecting (default: always retry)
    onOpen: null,               // function (): connected (first time or again)
    onMessage: null,            // function (data, isBinary): string, or ArrayBuffer/Blob
    onClose: null,              // function (code, reason): a connection ended
    onReconnect: null,          // function (attempt, delay): retrying in delay ms
    resume: false,              // true: numbered messages, resumed after a reconnection (see above)
    onGap: null,                // function (tag, first, last): missed messages were lost
  };

  // resolve makes url absolute against the page: http -> ws, https -> wss.
  function resolve(url) {
    var base = global.location ? global.location.href : undefined;
    var u = new URL(url, base);
    if (u.protocol === "http:") u.protocol = "ws:";
    else if (u.protocol === "https:") u.protocol = "wss:";
    if (u.protocol !== "ws:" && u.protocol !== "wss:") {
      throw new SyntaxError("EdgeStream: not a WebSocket URL: " + url);
    }
    u.hash = "";
    return u.href;
  }

  function EdgeStream(url, options) {
    if (!(this instanceof EdgeStream)) return new EdgeStream(url, options);
    var o = {};
    for (var k in defaults) o[k] = defaults[k];
    for (k in options || {}) {
      if (!(k in defaults)) throw new TypeError("EdgeStream: unknown option " + k);
      o[k] = options[k];
    }
    this.url = resolve(url);
    this.options = o;
    this.attempt = 0;        // retries since the last stable connection
    this.connections = 0;    // connections opened so far
    this.lastSeq = {};       // resume: the last sequence number seen, per tag
    this._ws = null;
    this._queue = [];
    this._timer = null;      // the pending retry, or the connect timeout
    this._openedAt = 0;
    this._closed = false;    // stopped for good: close(), or shouldReconnect said no
    this._connect();
  }

  EdgeStream.prototype = {
    // connected is true while a connection is open.
    get connected() {
      return !!this._ws && this._ws.readyState === 1;
    },

    // closed is true once the stream stopped for good: close() was called
    // or shouldReconnect said no.
    get closed() {
      return this._closed;
    },

    // protocol is the subprotocol the server chose ("" for none).
    get protocol() {
      return this.connected ? this._ws.protocol : "";
    },

    // send sends a string (a text message) or an ArrayBuffer, typed array
    // or Blob (a binary message). See the queueing rules above.
    send: function (data) {
      if (this._closed) return false;
      if (this.connected) {
        this._ws.send(data);
        return true;
      }
      if (this._queue.length >= this.options.maxQueue) return false;
      this._queue.push(data);
      return true;
    },

    // close ends the connection with code (1000, the default, or 3000 to
    // 4999, as browsers allow) and reason, and stops reconnecting; queued
    // messages are dropped. onClose still runs for the connection it ends.
    close: function (code, reason) {
      if (this._closed) return;
      this._closed = true;
      this._queue = [];
      clearTimeout(this._timer);
      if (this._ws) this._ws.close(code || 1000, reason || "");
    },

    _connect: function () {
      var self = this, o = this.options, ws;
      try {
        var url = o.resume ? this._resumeURL() : this.url;
        ws = o.protocols ? new WebSocket(url, o.protocols) : new WebSocket(url);
      } catch (e) {
        // A bad URL or protocol: retrying would not help.
        this._closed = true;
        throw e;
      }
      ws.binaryType = o.binaryType;
      this._ws = ws;
      this._timer = setTimeout(function () {
        if (ws.readyState === 0) ws.close(); // onclose follows: retry
      }, o.connectTimeout);

      // Events of a socket that was replaced (timed out) are ignored.
      ws.onopen = function () {
        if (self._ws !== ws) return;
        clearTimeout(self._timer);
        self._openedAt = Date.now();
        self.connections++;
        call(self, o.onOpen);
        // Whatever waited for the connection goes out after onOpen's own.
        var q = self._queue;
        self._queue = [];
        for (var i = 0; i < q.length && ws.readyState === 1; i++) ws.send(q[i]);
      };
      ws.onmessage = function (ev) {
        if (self._ws !== ws) return;
        if (o.resume && typeof ev.data === "string" && self._envelope(ev.data)) return;
        call(self, o.onMessage, ev.data, typeof ev.data !== "string");
      };
      ws.onerror = function () {}; // onclose follows with the details
      ws.onclose = function (ev) {
        if (self._ws !== ws) return;
        clearTimeout(self._timer);
        self._ws = null;
        var opened = self._openedAt;
        self._openedAt = 0;
        if (!self._closed && o.shouldReconnect && o.shouldReconnect.call(self, ev.code, ev.reason) === false) {
          self._closed = true;
          self._queue = [];
        }
        call(self, o.onClose, ev.code, ev.reason); // this.closed: no retry follows
        if (self._closed) return;
        if (opened && Date.now() - opened >= o.minUptime) self.attempt = 0;
        self._retry();
      };
    },

    // _resumeURL is the URL with seq=1 and a since=TAG:SEQ per known tag.
    _resumeURL: function () {
      var u = new URL(this.url);
      u.searchParams.set("seq", "1");
      u.searchParams.delete("since");
      for (var tag in this.lastSeq) u.searchParams.append("since", tag + ":" + this.lastSeq[tag]);
      return u.href;
    },

    // _envelope handles text that is an envelope or a gap marker, and
    // reports whether it was one.
    _envelope: function (text) {
      if (text.lastIndexOf('{"tag":', 0) !== 0) return false;
      var e;
      try { e = JSON.parse(text); } catch (err) { return false; }
      var o = this.options;
      if (typeof e.tag !== "string") return false;
      if (e.gap === true) {
        // What follows numbers from first: anything before is lost.
        if (typeof e.first === "number" && e.first > 0) this.lastSeq[e.tag] = e.first - 1;
        call(this, o.onGap, e.tag, e.first, e.last);
        return true;
      }
      if (typeof e.seq !== "number") return false;
      var last = this.lastSeq[e.tag];
      if (last !== undefined && e.seq <= last) return true; // already seen
      this.lastSeq[e.tag] = e.seq;
      var meta = { tag: e.tag, seq: e.seq };
      if (typeof e.base64 === "string") {
        var bin = atob(e.base64), buf = new Uint8Array(bin.length);
        for (var i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
        call(this, o.onMessage, o.binaryType === "blob" ? new Blob([buf]) : buf.buffer, true, meta);
      } else {
        call(this, o.onMessage, typeof e.data === "string" ? e.data : "", false, meta);
      }
      return true;
    },

    _retry: function () {
      var o = this.options, self = this;
      var ceiling = Math.min(o.maxDelay, o.minDelay * Math.pow(2, this.attempt));
      var delay = Math.floor(Math.random() * ceiling);
      this.attempt++;
      call(this, o.onReconnect, this.attempt, delay);
      this._timer = setTimeout(function () {
        if (!self._closed) self._connect();
      }, delay);
    },
  };

  // call runs callback f with the stream as this. An exception in it is
  // reported, not thrown into the stream's own event handling.
  function call(stream, f) {
    if (!f) return;
    try {
      f.apply(stream, Array.prototype.slice.call(arguments, 2));
    } catch (e) {
      setTimeout(function () { throw e; });
    }
  }

  global.EdgeStream = EdgeStream;
})(typeof window !== "undefined" ? window : globalThis);

// Interop client for edge's WebSocket streams, run by interop_test.go:
//
//	node client.mjs <base-url> <mode>
//
// base-url is ws://127.0.0.1:PORT or wss://127.0.0.1:PORT (then EDGE_CA
// names a PEM file to trust and EDGE_SERVERNAME the TLS server name, also
// sent as Host). mode is
//
//	plain     no permessage-deflate, against /echo
//	deflate   permessage-deflate with client_no_context_takeover, /deflate
//	takeover  permessage-deflate with client context takeover (the server
//	          must keep a decompression window across messages), /deflate
//	windowbits  like takeover, offering every parameter with a value:
//	          server_no_context_takeover, server_max_window_bits=15,
//	          client_max_window_bits=10 (a 1 KiB client window)
//
// The server echoes every message with its opcode, answers "close-me" with a
// close 4000 "as you wish", and closes with 1009 on /small and
// /small-deflate beyond 1000 bytes.
//
// Prints one JSON line {"ok":true,...} and exits 0, or prints
// {"ok":false,"error":...} and exits 1 on the first mismatch.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
const wsVersion = require('ws/package.json').version;

const [base, mode] = process.argv.slice(2);
const deflateModes = {
  plain: false,
  // threshold 0: compress every message, however small.
  deflate: { clientNoContextTakeover: true, threshold: 0 },
  takeover: { clientNoContextTakeover: false, threshold: 0 },
  windowbits: {
    clientNoContextTakeover: false,
    serverNoContextTakeover: true,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 10,
    threshold: 0,
  },
};
if (!base || !(mode in deflateModes)) {
  console.error('usage: node client.mjs <base-url> plain|deflate|takeover|windowbits');
  process.exit(2);
}
const perMessageDeflate = deflateModes[mode];
const echoPath = mode === 'plain' ? '/echo' : '/deflate';
const smallPath = mode === 'plain' ? '/small' : '/small-deflate';

const tlsOptions = {};
if (process.env.EDGE_CA) {
  tlsOptions.ca = readFileSync(process.env.EDGE_CA);
  tlsOptions.servername = process.env.EDGE_SERVERNAME;
  tlsOptions.headers = { Host: process.env.EDGE_SERVERNAME };
}

const failTimer = setTimeout(() => fail(new Error('timed out')), 25000);
let checks = 0;
const done = [];

function fail(err) {
  console.log(JSON.stringify({ ok: false, mode, ws: wsVersion, error: String(err && err.stack || err), done }));
  process.exit(1);
}

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  checks++;
}

// connect opens a WebSocket with a queue of received messages: next()
// returns the next one, closed resolves to {code, reason}.
function connect(path, protocols = []) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, protocols, {
      perMessageDeflate,
      maxPayload: 8 << 20,
      handshakeTimeout: 5000,
      ...tlsOptions,
    });
    const queue = [];
    const waiters = [];
    let closeInfo = null;
    ws.on('upgrade', (res) => {
      ws.responseExtensions = res.headers['sec-websocket-extensions'] || '';
    });
    ws.closed = new Promise((res) => {
      ws.on('close', (code, reason) => {
        closeInfo = { code, reason: reason.toString() };
        for (const w of waiters.splice(0)) w.reject(new Error(`closed ${code} ${closeInfo.reason} while waiting for a message`));
        res(closeInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      const m = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data), isBinary };
      const w = waiters.shift();
      if (w) w.resolve(m);
      else queue.push(m);
    });
    ws.next = () => {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closeInfo) return Promise.reject(new Error(`closed ${closeInfo.code} while waiting for a message`));
      return new Promise((res, rej) => waiters.push({ resolve: res, reject: rej }));
    };
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function send(ws, data, opts) {
  return new Promise((resolve, reject) => ws.send(data, opts, (err) => (err ? reject(err) : resolve())));
}

// text returns n bytes of valid UTF-8 with two- and three-byte characters.
function text(n) {
  const unit = Buffer.from('héllo wörld €uro ');
  const b = Buffer.alloc(n);
  let i = 0;
  while (i + unit.length <= n) i += unit.copy(b, i);
  b.fill(0x61, i); // ASCII 'a' for the rest: still valid
  return b;
}

// binary returns n bytes, half random, half repeated (so both compressible
// and not).
function binary(n) {
  const b = Buffer.alloc(n);
  randomBytes(n >> 1).copy(b);
  for (let i = n >> 1; i < n; i++) b[i] = i % 251;
  return b;
}

async function echo(ws, data, isBinary, what) {
  await send(ws, data, { binary: isBinary });
  const m = await ws.next();
  check(m.isBinary === isBinary, `${what}: opcode (binary ${m.isBinary})`);
  check(m.data.equals(data), `${what}: echo of ${data.length} bytes came back as ${m.data.length} different bytes`);
}

async function main() {
  const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];

  // Handshake: subprotocol and extensions.
  const ws = await connect(echoPath, ['chat.v1', 'chat.v2']);
  check(ws.protocol === 'chat.v1', `subprotocol ${JSON.stringify(ws.protocol)}, want chat.v1`);
  // ws.extensions lists the names of the extensions in use; the response
  // header has their parameters.
  const ext = ws.responseExtensions;
  check(ws.extensions === (mode === 'plain' ? '' : 'permessage-deflate'), `ws.extensions ${JSON.stringify(ws.extensions)}`);
  if (mode === 'plain') {
    check(ext === '', `extensions ${JSON.stringify(ext)}, want none`);
  } else {
    check(ext.includes('permessage-deflate'), `extensions ${JSON.stringify(ext)} lack permessage-deflate`);
    check(ext.includes('server_no_context_takeover'), `extensions ${JSON.stringify(ext)} lack server_no_context_takeover`);
    check(ext.includes('client_no_context_takeover') === (mode === 'deflate'), `extensions ${JSON.stringify(ext)}: client_no_context_takeover in mode ${mode}`);
    check(ext.includes('server_max_window_bits=15') === (mode === 'windowbits'), `extensions ${JSON.stringify(ext)}: server_max_window_bits in mode ${mode}`);
  }
  done.push('handshake');

  // Text and binary of every size.
  for (const n of sizes) await echo(ws, text(n), false, `text ${n}`);
  for (const n of sizes) await echo(ws, binary(n), true, `binary ${n}`);
  done.push('sizes');

  // The same random message again and again: with context takeover the
  // later ones compress to back-references into the earlier ones, which the
  // server can only inflate with the window it kept.
  const rnd = randomBytes(4096);
  for (let i = 0; i < 4; i++) await echo(ws, rnd, true, `repeated random ${i}`);
  for (let i = 0; i < 20; i++) await echo(ws, text(300 + i), false, `repeated text ${i}`);
  done.push('repeated');

  // A burst: 300 messages of mixed kinds and sizes sent without waiting,
  // so frames straddle the server's reads; the echoes come back in order.
  {
    const sent = [];
    for (let i = 0; i < 300; i++) {
      const n = (i * 7919) % 5000;
      const isBinary = i % 3 === 0;
      const data = isBinary ? binary(n) : text(n);
      sent.push({ data, isBinary });
      ws.send(data, { binary: isBinary });
    }
    for (let i = 0; i < sent.length; i++) {
      const m = await ws.next();
      check(m.isBinary === sent[i].isBinary && m.data.equals(sent[i].data), `burst message ${i} (${sent[i].data.length} bytes)`);
    }
  }
  done.push('burst');

  // Fragmented messages (fin: false), with a ping between two fragments and
  // a three-byte character split across fragments.
  {
    const whole = text(3000);
    // The unit is 21 bytes: 1002 and 1003 fall inside its '€' (offsets
    // 14-16), 1997 inside its 'é' (offsets 1-2).
    const cuts = [0, 1002, 1003, 1997, 3000];
    let pong = new Promise((res) => ws.once('pong', res));
    for (let i = 0; i + 1 < cuts.length; i++) {
      await send(ws, whole.subarray(cuts[i], cuts[i + 1]), { binary: false, fin: i + 2 === cuts.length });
      if (i === 1) ws.ping(Buffer.from('mid'));
    }
    const p = await pong;
    check(p.toString() === 'mid', `pong in a fragmented message: ${JSON.stringify(p.toString())}`);
    const m = await ws.next();
    check(!m.isBinary && m.data.equals(whole), `fragmented text echo (${m.data.length} bytes)`);

    const bin = binary(200000);
    for (let off = 0; off < bin.length; off += 50000) {
      await send(ws, bin.subarray(off, off + 50000), { binary: true, fin: off + 50000 >= bin.length });
    }
    const mb = await ws.next();
    check(mb.isBinary && mb.data.equals(bin), `fragmented binary echo (${mb.data.length} bytes)`);

    // A fragmented message with an empty first and last fragment.
    await send(ws, Buffer.alloc(0), { binary: false, fin: false });
    await send(ws, Buffer.from('middle'), { binary: false, fin: false });
    await send(ws, Buffer.alloc(0), { binary: false, fin: true });
    const me = await ws.next();
    check(me.data.toString() === 'middle', `fragmented with empty fragments: ${JSON.stringify(me.data.toString())}`);
  }
  done.push('fragmented');

  // Ping with a payload: pong with the same payload.
  {
    const pong = new Promise((res) => ws.once('pong', res));
    ws.ping(Buffer.from('are you there'));
    const p = await pong;
    check(p.toString() === 'are you there', `pong payload ${JSON.stringify(p.toString())}`);
  }
  done.push('ping');

  // Client close with a code: the server echoes it.
  ws.close(4001, 'done here');
  const c = await ws.closed;
  check(c.code === 4001, `echoed close code ${c.code}, want 4001`);
  done.push('close');

  // Server-initiated close.
  {
    const w = await connect(echoPath);
    await send(w, 'close-me');
    const cc = await w.closed;
    check(cc.code === 4000 && cc.reason === 'as you wish', `server close ${cc.code} ${JSON.stringify(cc.reason)}`);
  }
  done.push('server close');

  // A message over the limit: 1009. Zeros compress to a few bytes, so in
  // the deflate modes this is also a check that the server bounds what it
  // inflates.
  {
    const w = await connect(smallPath);
    await echo(w, text(1000), false, 'at the limit');
    await send(w, Buffer.alloc(64 << 10), { binary: true });
    const cc = await w.closed;
    check(cc.code === 1009, `too big: close ${cc.code}, want 1009`);
  }
  done.push('too big');

  // Invalid UTF-8 in a text message (ws does not check what it sends): 1007.
  {
    const w = await connect(echoPath);
    await send(w, Buffer.from([0x68, 0x69, 0xff, 0xfe]), { binary: false });
    const cc = await w.closed;
    check(cc.code === 1007, `invalid UTF-8: close ${cc.code}, want 1007`);
  }
  {
    // Split across fragments: the first fragment ends inside a character
    // the second one does not complete.
    const w = await connect(echoPath);
    await send(w, Buffer.from([0x68, 0xe2, 0x82]), { binary: false, fin: false });
    await send(w, Buffer.from([0x41]), { binary: false, fin: true });
    const cc = await w.closed;
    check(cc.code === 1007, `invalid UTF-8 across fragments: close ${cc.code}, want 1007`);
  }
  done.push('invalid utf8');

  clearTimeout(failTimer);
  console.log(JSON.stringify({ ok: true, mode, ws: wsVersion, node: process.version, extensions: ext, checks, done }));
}

main().catch(fail);

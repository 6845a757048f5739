// The chat demo in headless Chromium, against a running edge. Run by
// cmd/edge/browser_test.go, which owns the edge process:
//
//   node chat.mjs https://127.0.0.1:PORT SCREENSHOT.png
//
// It talks to the Go test in lines: it prints JSON events on stdout
// ({"event":"stop"}: stop edge now; {"event":"start"}: start it again;
// {"event":"done",...}: passed, with timings) and reads "stopped" and
// "started" on stdin. Any failure exits 1 with the reason on stderr.
//
// Three pages: A1 and A2 in room a, B1 in room b.
//   1. A1 sends: A1 and A2 show it, B1 does not.
//   2. edge stops: every page notices and schedules reconnects; A1 sends
//      while offline (edge.js queues it).
//   3. edge starts again: every page reconnects by itself; A1's queued
//      message arrives; A2 sends: A1 shows it, B1 does not.

import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

const [base, screenshot] = process.argv.slice(2);
if (!base || !screenshot) {
  console.error("usage: node chat.mjs BASE_URL SCREENSHOT.png");
  process.exit(2);
}
const t0 = Date.now();
const since = () => Date.now() - t0;
const timings = {};
const mark = (name) => { timings[name] = since(); };
const emit = (event, extra) => console.log(JSON.stringify({ event, t: since(), ...extra }));

// Everything is bounded: the Go test allows more, and kills us after.
const WAIT = 20000;
const overall = setTimeout(() => fail("timed out after 70 s"), 70000);

// Lines from the Go test, in order.
const lines = createInterface({ input: process.stdin });
const pending = [];
const waiters = [];
lines.on("line", (l) => (waiters.length ? waiters.shift()(l) : pending.push(l)));
function nextLine(want) {
  return new Promise((resolve, reject) => {
    const check = (l) => (l === want ? resolve() : reject(new Error(`got "${l}" from the test, want "${want}"`)));
    if (pending.length) check(pending.shift());
    else waiters.push(check);
  });
}

const userDataDir = mkdtempSync(join(tmpdir(), "edge-chromium-"));
let context = null;

async function fail(msg) {
  console.error("FAIL: " + msg);
  try {
    if (context) await context.close();
  } catch (e) { /* exiting anyway */ }
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}

// openChat opens the chat page in room, as name, and waits until it is
// connected. It records every state the status indicator goes through.
async function openChat(room, name) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => fail(`${name}: page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") console.error(`${name} console: ${m.text()}`); });
  await page.goto(`${base}/chat?room=${room}`);
  await page.fill("#name", name);
  await page.waitForSelector('#status[data-state="open"]');
  await page.evaluate(() => {
    const st = document.getElementById("status");
    window.__states = [st.dataset.state];
    new MutationObserver(() => {
      const s = st.dataset.state;
      if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    }).observe(st, { attributes: true, attributeFilter: ["data-state"] });
  });
  return page;
}

async function say(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

// shows waits until page lists a chat message containing text.
async function shows(page, text) {
  await page.locator("#messages li.msg", { hasText: text }).first().waitFor({ state: "attached" });
}

async function count(page, text) {
  return page.locator("#messages li", { hasText: text }).count();
}

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    timeout: 30000,
    ignoreHTTPSErrors: true, // edge's self-signed certificate
    viewport: { width: 900, height: 720 },
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic",
      "--no-first-run", "--ignore-certificate-errors",
    ],
  });
  mark("launched");

  const a1 = await openChat("a", "A1");
  const a2 = await openChat("a", "A2");
  const b1 = await openChat("b", "B1");
  mark("connected");

  // 1. Room a hears A1; room b does not.
  await say(a1, "hello from A1");
  await shows(a2, "hello from A1");
  await shows(a1, "hello from A1");
  await say(b1, "hello from B1");
  await shows(b1, "hello from B1");
  if (await count(b1, "hello from A1")) throw new Error("B1, in room b, shows room a's message");
  if (await count(a1, "hello from B1") || await count(a2, "hello from B1")) throw new Error("room a shows room b's message");
  mark("exchanged");

  // 2. edge goes away: every page notices.
  emit("stop");
  await nextLine("stopped");
  mark("stopped");
  for (const [p, n] of [[a1, "A1"], [a2, "A2"], [b1, "B1"]]) {
    await p.waitForSelector('#status:not([data-state="open"])').catch(() => { throw new Error(`${n} did not notice edge stopping`); });
  }
  await say(a1, "queued while offline");
  await a1.locator("#messages li.sys", { hasText: "Offline" }).first().waitFor({ state: "attached" });
  mark("noticed");
  emit("start");
  await nextLine("started");
  mark("restarted");

  // 3. Back by themselves.
  for (const [p, n] of [[a1, "A1"], [a2, "A2"], [b1, "B1"]]) {
    await p.waitForSelector('#status[data-state="open"][data-reconnects="1"]').catch(() => { throw new Error(`${n} did not reconnect`); });
  }
  mark("reconnected");
  await shows(a1, "queued while offline"); // edge.js sent it on reconnecting
  await say(a2, "back from A2");
  await shows(a1, "back from A2");
  await shows(a2, "back from A2");
  await say(b1, "back from B1");
  await shows(b1, "back from B1");
  if (await count(b1, "back from A2")) throw new Error("B1 shows room a's message after reconnecting");
  if (await count(a1, "back from B1")) throw new Error("A1 shows room b's message after reconnecting");
  mark("exchangedAgain");

  const states = {};
  for (const [p, n] of [[a1, "A1"], [a2, "A2"], [b1, "B1"]]) states[n] = await p.evaluate(() => window.__states);
  const status = await a1.textContent("#status");
  const log = await a1.$$eval("#messages li", (lis) => lis.map((li) => li.textContent));
  await a1.screenshot({ path: screenshot, fullPage: true });
  mark("screenshot");
  clearTimeout(overall);
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
  emit("done", { browser: "chromium", timings, states, status, log });
  process.exit(0);
} catch (e) {
  await fail(e && e.stack ? e.stack : String(e));
}

// The demo page in a real browser: Debian's headless Chromium driven by playwright-core, two
// browser contexts as two users of the real local server (`demo = true`).
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { after, before, test } from "node:test";

import { type Browser, type Page, chromium } from "playwright-core";

import { type Server, startServer } from "./harness.js";

const PACKAGE = resolve(import.meta.dirname, "../..");
const CHROMIUM = process.env.MESSAGING_TEST_CHROMIUM ?? "/usr/bin/chromium";
/** Where the screenshots go; the README's are copies of these. */
const SHOTS = resolve(PACKAGE, "build/screenshots");
const missing = !existsSync(CHROMIUM);
if (missing && process.env.CI === "true") throw new Error(`CI=true and no Chromium at ${CHROMIUM}`);

let server: Server;
let browser: Browser;
before(async () => {
  if (missing) return;
  server = await startServer({ MESSAGING_DEMO: "true", MESSAGING_DEMO_DIR: PACKAGE });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // This machine's network is closed: Chromium's own background traffic would only fail.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function join(name: string): Promise<{ page: Page; id: string }> {
  const context = await browser.newContext({ viewport: { width: 900, height: 560 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => assert.fail(`${name}'s page: ${error.message}`));
  await page.goto(`${server.url}/demo/`);
  await page.fill("#name", name);
  await page.click("#join");
  await page.locator("#status", { hasText: "live" }).waitFor();
  return { page, id: (await page.textContent("#my-id"))! };
}

test("two users chat on the demo page: live delivery, unread badges, read receipts", { skip: missing && `no Chromium at ${CHROMIUM}` }, async () => {
  const alice = await join("alice");
  const bob = await join("bob");

  // Alice opens a conversation with Bob's id and sends twice.
  await alice.page.fill("#peer", bob.id);
  await alice.page.click("#open");
  for (const text of ["hi bob", "are you there?"]) {
    await alice.page.fill("#text", text);
    await alice.page.click("#send");
    await alice.page.locator("#messages .message.mine", { hasText: text }).waitFor();
  }

  // Bob's page shows it live, without a reload: the conversation, its preview, two unread.
  const row = bob.page.locator(`#inbox .conversation[data-id="${alice.id}"]`);
  await row.locator(".badge", { hasText: "2" }).waitFor();
  assert.equal(await row.locator(".preview").textContent(), "are you there?");
  mkdirSync(SHOTS, { recursive: true });
  await bob.page.screenshot({ path: resolve(SHOTS, "demo-bob-unread.png") });

  // Bob opens it: he sees both messages, his badge clears, and Alice sees that he read them.
  await row.click();
  await bob.page.locator("#messages .message", { hasText: "hi bob" }).waitFor();
  assert.deepEqual(await bob.page.locator("#messages .message .text").allTextContents(), ["hi bob", "are you there?"]);
  await row.locator(".badge:empty").waitFor({ state: "attached" });
  await alice.page.locator("#receipt", { hasText: "Read by bob" }).waitFor();

  // Bob answers; it arrives at Alice's open conversation live.
  await bob.page.fill("#text", "here!");
  await bob.page.click("#send");
  await alice.page.locator("#messages .message:not(.mine)", { hasText: "here!" }).waitFor();
  await alice.page.screenshot({ path: resolve(SHOTS, "demo-alice.png") });
  await bob.page.screenshot({ path: resolve(SHOTS, "demo-bob.png") });
});

// The client against the Lambda path: the AWS WebSocket API's protocol (connect, resume,
// `messages` frames, pushes after each send, ping, reauth, the connection closed by API Gateway)
// through the same harness the Rust Lambda push test uses — the runtime binary under
// `cargo lambda watch` over moto — behind the API Gateway stand-in.
import assert from "node:assert/strict";
import { test } from "node:test";

import { type FeedPage, MemoryCursorStore } from "../src/index.js";
import { client, eventually, idOf, lambdaPath, polled, startLambda } from "./harness.js";

const skip = !lambdaPath && "the Lambda path needs the emulators `cargo xtask test` starts";
if (skip && process.env.CI === "true") throw new Error(`CI=true: ${skip}`);

test("on AWS: resume, pushes, reauth and API Gateway's closes, every entry once and in order", { skip }, async (t) => {
  // Tokens live 6 s, so each connection is reauthed before it lasts 10 s (API Gateway's two hours,
  // shortened): an expired connection would get no pushes. (Shorter tokens leave the refresh too
  // little time on the emulator, which serves one invocation at a time.)
  const gateway = await startLambda(10, { MESSAGING_ACCESS_TOKEN_TTL_SECS: "6" });
  t.after(() => gateway.stop());
  const streamUrl = `${gateway.url.replace(/^http/, "ws")}/stream`;
  const options = { stream: "aws" as const, streamUrl, pingIntervalMs: 1_000 };
  let polls = 0;
  const counting: typeof fetch = (input, init) => {
    if (String(input).includes("/v1/messages?")) polls++;
    return fetch(input, init);
  };
  // The platform's WebSocket, recording every frame Bob's client is sent.
  const frames: { type: string; code?: string; message?: { kind?: string } }[] = [];
  class Recording extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener("message", (event) => frames.push(JSON.parse(String(event.data))));
    }
  }
  const bob = client(gateway.url, { ...options, fetch: counting, WebSocket: Recording });
  const alice = client(gateway.url, options);
  const b = await bob.register("bob");
  await alice.register("alice");
  // Bob's saved cursor, then a backlog after it: the feed starts from the cursor with a stream,
  // whose resume packs the backlog into a `messages` frame.
  const store = new MemoryCursorStore();
  const empty = await fetch(`${gateway.url}/v1/messages`, { headers: { authorization: `Bearer ${b.accessToken}` } });
  store.set(b.userId, ((await empty.json()) as FeedPage).next);
  for (let i = 0; i < 5; i++) await alice.sendDirect(b.userId, `before ${i}`);

  const received: string[] = [];
  const feed = bob.feed({ store });
  t.after(() => feed.stop());
  feed.on((entry) => void received.push(idOf(entry)));
  let streams = 0;
  feed.onStatus((status) => status === "live" && streams++);
  await feed.start();
  await eventually(() => feed.status === "live" && received.length === 5, 30_000, "the resumed backlog");

  // Sends for 14 s: pushed live, across API Gateway's closes and past several tokens.
  const group = await alice.createGroup("team");
  await alice.addMember(group.id, b.userId);
  const pollsBefore = polls;
  const until = Date.now() + 14_000;
  let last = "";
  for (let i = 0; Date.now() < until; i++) {
    const sent = i % 2 ? await alice.sendGroup(group.id, `live ${i}`) : await alice.sendDirect(b.userId, `live ${i}`);
    last = sent.message.id;
    await new Promise((r) => setTimeout(r, 150));
  }
  // The last one is pushed at once: the connection open now was reauthed, not left to expire.
  await eventually(() => received.includes(last), 2_500, "the last message, pushed");
  const expected = await polled(gateway.url, bob.sessions.current()!.accessToken);
  await eventually(() => received.length >= expected.length, 30_000, "every entry");
  assert.deepEqual(received, expected);
  assert.ok(streams >= 2, `reconnected after API Gateway's closes: ${streams} streams caught up`);
  // Each connection was extended before its token expired, and packed resumes were applied.
  assert.ok(frames.some((f) => f.type === "reauthed"), "reauthed");
  assert.ok(!frames.some((f) => f.type === "error"), `no error frame: ${JSON.stringify(frames.filter((f) => f.type === "error"))}`);
  assert.ok(frames.some((f) => f.type === "messages"), "the backlog came in messages frames");
  // Bob's being added was pushed too: the client connects with `include=membership`.
  assert.ok(frames.some((f) => f.type === "message" && f.message?.kind === "membership"), "the membership entry, pushed");
  console.log(`lambda path: ${expected.length} entries, ${streams} streams, ${polls - pollsBefore} polls while live`);
  // Pushes carried the live messages: polls came only with each stream's (re)start and gaps.
  const live = expected.length - 5;
  assert.ok(polls - pollsBefore < live / 2, `${polls - pollsBefore} polls for ${live} live entries`);
  for (const c of [alice, bob]) c.close();
});

// The client against faults injected between it and the real server: streams cut at random,
// responses dropped after the server acted, sessions expiring, the rate limit.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ApiError, type FeedEntry, SignedOutError } from "../src/index.js";
import { client, eventually, idOf, polled, startProxy, startServer, withProxiedSender } from "./harness.js";

test("a stream cut at random while others send: every entry once, in order, as polled", async (t) => {
  // Without the per-minute limits on sends and on streams opened, which this many sends and
  // reconnects would reach: the 429s they bring are the 429 test's subject, not this one's.
  const server = await startServer({ MESSAGING_LIMITS_SENDS_PER_USER: "0", MESSAGING_LIMITS_CONNECTS_PER_USER: "0" });
  const proxy = await startProxy(server.url);
  try {
    const bob = client(proxy.url, { pollIntervalMs: 200 });
    const b = await bob.register("bob");
    const senders = [client(server.url), client(server.url)];
    for (const [i, sender] of senders.entries()) await sender.register(`sender${i}`);
    const group = await senders[0]!.createGroup("team");
    await senders[0]!.addMember(group.id, b.userId);
    await senders[0]!.addMember(group.id, senders[1]!.userId!);

    const received: string[] = [];
    const feed = bob.feed();
    t.after(() => feed.stop());
    feed.on((entry) => void received.push(idOf(entry)));
    let streams = 0;
    feed.onStatus((status) => status === "live" && streams++);
    await feed.start();
    // Each sender sends at least 100 messages, half direct, half to the group, while the
    // connections between Bob and the server are cut every 10 to 100 ms. A cut in a handshake
    // sends Bob to polling for a while, so how many cuts land on an open stream is up to the
    // timing: the senders go on (up to 1,000 each) until five streams have caught up and been cut.
    let sending = true;
    const cutter = (async () => {
      while (sending) {
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 90));
        proxy.cutAll();
      }
    })();
    const sent = await Promise.all(
      senders.map(async (sender, s) => {
        let i = 0;
        for (; i < 1_000 && (i < 100 || streams < 6); i++) {
          if (i % 2) await sender.sendGroup(group.id, `s${s} ${i}`);
          else await sender.sendDirect(b.userId, `s${s} ${i}`);
          await new Promise((r) => setTimeout(r, Math.random() * 30));
        }
        return i;
      }),
    );
    sending = false;
    await cutter;
    const expected = await polled(server.url, bob.sessions.current()!.accessToken);
    assert.equal(expected.length, 1 + sent[0]! + sent[1]!, "Bob's membership entry and every message");
    await eventually(() => received.length >= expected.length, 30_000, "every entry");
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(received, expected);
    t.diagnostic(`${sent[0]! + sent[1]!} messages, cut ${proxy.cuts} times, ${streams} streams caught up`);
    assert.ok(proxy.cuts >= 5 && streams >= 5, `cut ${proxy.cuts} times, ${streams} streams caught up`);
    await feed.stop();
    bob.close();
  } finally {
    await proxy.close();
    await server.stop();
  }
});

test("sends whose answers are lost are retried with the same client_id and land once", () =>
  withProxiedSender(async ({ proxy, alice, bob, bobId }) => {
    proxy.dropChance = 0.4;
    const sent = [];
    for (let i = 0; i < 40; i++) sent.push(await alice.sendDirect(bobId, `text ${i}`));
    proxy.dropChance = 0;
    const texts = (await bob.history(alice.userId!, { limit: 500 })).messages.map((m) => m.text).reverse();
    assert.deepEqual(texts, Array.from({ length: 40 }, (_, i) => `text ${i}`));
    // Some answers were lost after the server had sent the message: the retry was a replay.
    assert.ok(proxy.dropped > 0, "responses were dropped");
    assert.ok(sent.some((s) => s.replayed), "a retry was answered with the original message");
    assert.equal(new Set(sent.map((s) => s.message.id)).size, 40);
  }));

test("503s are retried where that is safe, and handed back where it is not", () =>
  withProxiedSender(async ({ proxy, alice, bob, bobId }) => {
    proxy.unavailable = 3;
    const sent = await alice.sendDirect(bobId, "through three 503s");
    assert.equal(proxy.unavailable, 0);
    assert.deepEqual((await bob.history(alice.userId!)).messages.map((m) => m.id), [sent.message.id]);
    // A 503 may hide a group that was created: not retried, the caller decides.
    proxy.unavailable = 1;
    await assert.rejects(alice.createGroup("team"), (e: ApiError) => e.status === 503 && e.code === "unavailable");
  }));

test("sessions refresh before expiry and on token_expired, and the stream outlives its token", async (t) => {
  const server = await startServer({ MESSAGING_ACCESS_TOKEN_TTL_SECS: "2" });
  try {
    const sessions: (string | null)[] = [];
    const bob = client(server.url, { onSession: (s) => sessions.push(s && s.accessToken) });
    const b = await bob.register("bob");
    const alice = client(server.url);
    await alice.register("alice");
    const received: FeedEntry[] = [];
    const feed = bob.feed();
    t.after(() => feed.stop());
    feed.on((e) => void received.push(e));
    await feed.start();
    await eventually(() => feed.status === "live", 10_000, "the stream");
    // Past two lifetimes of the first token: the stream was reauthed, not closed (4003).
    await new Promise((r) => setTimeout(r, 4_500));
    await alice.sendDirect(b.userId, "after expiry");
    await eventually(() => received.length === 1, 10_000, "the message");
    assert.ok(sessions.length >= 3, `refreshed before expiry: ${sessions.length - 1} times`);
    assert.equal(feed.status, "live");
    await feed.stop();

    // A session the server considers expired while the client's clock does not: the request
    // meets token_expired, refreshes and succeeds.
    const current = bob.sessions.current()!;
    const skewed = client(server.url, { session: { ...current, expiresAt: Date.now() + 3_600_000 } });
    bob.close();
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal((await skewed.user(b.userId)).name, "bob");
    assert.notEqual(skewed.sessions.current()!.accessToken, current.accessToken);

    // A refresh token used elsewhere (copied): the server revokes the session, the client says
    // signed out.
    const signedOut: (string | null)[] = [];
    const copy = client(server.url, { session: skewed.sessions.current()!, onSession: (s) => signedOut.push(s && "in") });
    await copy.sessions.refresh();
    await assert.rejects(skewed.sessions.refresh(), SignedOutError);
    assert.equal(skewed.sessions.current(), null);
    await assert.rejects(copy.sessions.refresh(), SignedOutError);
    assert.deepEqual(signedOut.at(-1), null);
    for (const c of [alice, skewed, copy]) c.close();
  } finally {
    await server.stop();
  }
});

test("429s are retried no sooner than their Retry-After", async () => {
  const server = await startServer({ MESSAGING_RATE_LIMIT_PER_SECOND: "1", MESSAGING_RATE_LIMIT_BURST: "2" });
  try {
    const seen: { status: number; at: number; retryAfter: string | null }[] = [];
    const observed: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      seen.push({ status: response.status, at: Date.now(), retryAfter: response.headers.get("retry-after") });
      return response;
    };
    const bob = client(server.url, { fetch: observed });
    const b = await bob.register("bob");
    for (let i = 0; i < 4; i++) assert.equal((await bob.user(b.userId)).id, b.userId);
    const limited = seen.findIndex((s) => s.status === 429);
    assert.ok(limited > 0, `a 429 was met: ${JSON.stringify(seen)}`);
    const asked = Number(seen[limited]!.retryAfter);
    assert.ok(asked >= 1, "with a Retry-After");
    assert.ok(seen[limited + 1]!.at - seen[limited]!.at >= asked * 1000, "and the retry waited for it");
    assert.equal(seen.at(-1)!.status, 200);

    // A Retry-After beyond what the client is set to wait is the caller's to handle.
    const impatient = client(server.url, { fetch: observed, session: bob.sessions.current()!, retry: { maxRetryAfterMs: 10 } });
    const errors = await Promise.allSettled([1, 2, 3, 4].map(() => impatient.user(b.userId)));
    assert.ok(errors.some((e) => e.status === "rejected" && e.reason instanceof ApiError && e.reason.code === "rate_limited"));
    bob.close();
    impatient.close();
  } finally {
    await server.stop();
  }
});

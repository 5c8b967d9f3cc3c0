// The README's walkthrough, in TypeScript, against the real local server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ApiError, type FeedEntry, isMembership } from "../src/index.js";
import { type Server, client, eventually, startServer } from "./harness.js";

let server: Server;
before(async () => {
  server = await startServer();
});
after(() => server.stop());

test("the walkthrough: users, direct messages, blocks, groups, the feed, conversations", async (t) => {
  const alice = client(server.url);
  const bob = client(server.url);
  const carol = client(server.url);
  const [a, b, c] = [await alice.register("alice"), await bob.register("bob"), await carol.register("carol")];
  assert.deepEqual(await alice.user(b.userId), { id: b.userId, name: "bob" });

  // A send, and its retry with the same client_id: one message.
  const first = await alice.sendDirect(b.userId, "hi bob", "hello-1");
  assert.equal(first.replayed, false);
  const again = await alice.sendDirect(b.userId, "hi bob", "hello-1");
  assert.deepEqual([again.replayed, again.message.id], [true, first.message.id]);

  // Bob's feed, live.
  const received: FeedEntry[] = [];
  const feed = bob.feed();
  t.after(() => feed.stop());
  feed.on((entry) => void received.push(entry));
  await feed.start();
  await eventually(() => received.length === 1, 10_000, "bob's first message");
  assert.equal((received[0] as { text: string }).text, "hi bob");
  await eventually(() => feed.status === "live", 10_000, "the stream");

  // Blocks.
  await bob.block(a.userId);
  assert.deepEqual(await bob.blocked(), [a.userId]);
  await assert.rejects(alice.sendDirect(b.userId, "still there?"), (e: ApiError) => e.code === "blocked");
  await bob.unblock(a.userId);

  // A group: Alice adds Bob and Carol, Carol posts, Bob receives it live.
  const team = await alice.createGroup("team");
  await alice.addMember(team.id, b.userId);
  await alice.addMember(team.id, c.userId);
  assert.equal((await alice.group(team.id)).members.length, 3);
  await carol.sendGroup(team.id, "hello team");
  await eventually(() => received.some((e) => !isMembership(e) && e.text === "hello team"), 10_000, "group post");
  assert.ok(received.some((e) => isMembership(e) && e.group === team.id && e.change === "added"));
  await carol.removeMember(team.id, c.userId);
  await assert.rejects(carol.sendGroup(team.id, "bye"), (e: ApiError) => e.status === 403 && e.code === "not_a_member");

  // The inbox, a conversation's history, the read mark, the receipts.
  const inbox = await bob.inbox();
  assert.deepEqual(
    inbox.conversations.map((c) => [c.id, c.unread]),
    [
      [team.id, 1],
      [a.userId, 1],
    ],
  );
  const history = await bob.history(a.userId);
  assert.deepEqual(
    history.messages.map((m) => m.text),
    ["hi bob"],
  );
  await bob.markRead(a.userId, history.messages[0]!.id);
  const receipts = await alice.conversation(b.userId);
  assert.ok(receipts.members.every((m) => m.read_up_to === first.message.id));
  assert.equal((await bob.inbox()).conversations.find((c) => c.id === a.userId)?.unread, 0);

  await feed.stop();
  for (const each of [alice, bob, carol]) each.close();
});

test("history pages back to the conversation's start", async () => {
  const alice = client(server.url);
  const bob = client(server.url);
  await alice.register("alice");
  const b = await bob.register("bob");
  for (let i = 0; i < 7; i++) await alice.sendDirect(b.userId, `m${i}`);
  const older: string[] = [];
  for await (const message of bob.olderMessages(alice.userId!, 3)) older.push(message.text);
  assert.deepEqual(older, ["m6", "m5", "m4", "m3", "m2", "m1", "m0"]);
  const names: string[] = [];
  for await (const conversation of bob.conversations(1)) names.push(conversation.name);
  assert.deepEqual(names, ["alice"]);
  alice.close();
  bob.close();
});

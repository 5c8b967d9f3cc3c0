// What the tests run against: the real server binary on loopback, and a TCP proxy in front of it
// that cuts connections and drops responses on command (fault injection on top of the real
// server, not instead of it).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

import { type ClientOptions, type FeedEntry, type FeedPage, MessagingClient } from "../src/index.js";

/** The server binary `cargo xtask test` built (`MESSAGING_RUNTIME_BIN`, else the debug build). */
const BINARY = process.env.MESSAGING_RUNTIME_BIN ?? resolve(import.meta.dirname, "../../../../target/debug/runtime");

/** The API Gateway stand-in (tests/src/bin/api-gateway.rs) and the emulators it needs, when
 * `cargo xtask test` runs them. */
const GATEWAY = process.env.MESSAGING_TEST_API_GATEWAY_BIN;
const DYNAMODB = process.env.MESSAGING_TEST_DYNAMODB_ENDPOINT;
const LAMBDA = process.env.MESSAGING_TEST_LAMBDA_RUNTIME_API;
export const lambdaPath = GATEWAY && DYNAMODB && LAMBDA ? { gateway: GATEWAY, dynamodb: DYNAMODB, lambda: LAMBDA } : undefined;

export interface Server {
  url: string;
  stop(): Promise<void>;
}

/** `runtime serve` on a free loopback port over a fresh embedded store; `settings` are
 * `MESSAGING_*` variables (the README's configuration table). */
export async function startServer(settings: Record<string, string> = {}): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), "messaging-ts-"));
  const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir];
  return started(BINARY, args, settings, () => rmSync(dataDir, { recursive: true, force: true }));
}

/** The runtime as deployed: under the Lambda Runtime API emulator, over DynamoDB (moto), behind
 * the API Gateway stand-in — HTTP at `url`, the WebSocket API at `url/stream` — which closes
 * every connection after `maxConnectionSecs` as API Gateway does after two hours. */
export async function startLambda(maxConnectionSecs: number, settings: Record<string, string> = {}): Promise<Server> {
  const { gateway, dynamodb, lambda } = lambdaPath!;
  const args = ["--runtime", BINARY, "--dynamodb", dynamodb, "--lambda", lambda, "--max-connection-secs", String(maxConnectionSecs)];
  for (const [name, value] of Object.entries(settings)) args.push("--set", `${name}=${value}`);
  return started(gateway, args, {}, () => undefined);
}

async function started(program: string, args: string[], settings: Record<string, string>, cleanUp: () => void): Promise<Server> {
  const child: ChildProcess = spawn(program, args, {
    env: { ...process.env, RUST_LOG: "warn", ...settings },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const found = /^listening on (http:\/\/\S+)/.exec(line);
      if (found) resolveUrl(found[1]!);
    });
    child.once("exit", (code) => reject(new Error(`${program} exited at start (${code})`)));
    child.once("error", reject);
  });
  return {
    url,
    async stop() {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await exited;
      cleanUp();
    },
  };
}

export interface Proxy {
  url: string;
  /** `cutAll`s that cut something, and responses dropped. */
  cuts: number;
  dropped: number;
  /** Each response's first bytes are dropped (and its connection closed) with this chance. */
  dropChance: number;
  /** The next this many requests are answered 503 `unavailable` by the proxy itself. */
  unavailable: number;
  /** Closes every connection open now (a network that failed under everyone). */
  cutAll(): void;
  close(): Promise<void>;
}

/** A byte-for-byte TCP proxy on a free loopback port, for HTTP and WebSocket alike. A dropped
 * response is one the server sent after doing the request: the client sees a failed connection
 * and cannot tell whether the request was done. */
export async function startProxy(target: string): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<net.Socket>();
  const proxy: Proxy = {
    url: "",
    cuts: 0,
    dropped: 0,
    dropChance: 0,
    unavailable: 0,
    cutAll() {
      if (open.size > 0) proxy.cuts++;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    close: () => new Promise((done) => {
      proxy.cutAll();
      server.close(() => done());
    }),
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("data", (chunk) => {
      // A request refused here, as a server whose store failed refuses it: 503, never forwarded.
      if (proxy.unavailable > 0 && /^[A-Z]+ \//.test(chunk.toString("latin1", 0, 8))) {
        proxy.unavailable--;
        const body = '{"error":{"code":"unavailable","message":"injected"}}';
        client.write(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 0\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        return;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (Math.random() < proxy.dropChance) {
        proxy.dropped++;
        return end();
      }
      client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on("error", end);
      socket.on("close", end);
    }
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  proxy.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return proxy;
}

/** A client of `url` with quick retries (the tests' faults are many and short). */
export function client(url: string, options: Partial<ClientOptions> = {}): MessagingClient {
  return new MessagingClient({ baseUrl: url, retry: { baseDelayMs: 20, maxDelayMs: 200, attempts: 20 }, ...options });
}

/** Bob on the server directly and Alice through a fault-injecting proxy, both registered, for
 * `body`; the server, proxy and clients are stopped afterwards whatever `body` does. */
export async function withProxiedSender(
  body: (fixture: { proxy: Proxy; alice: MessagingClient; bob: MessagingClient; bobId: string }) => Promise<void>,
): Promise<void> {
  const server = await startServer();
  const proxy = await startProxy(server.url);
  const bob = client(server.url);
  const alice = client(proxy.url);
  try {
    const { userId: bobId } = await bob.register("bob");
    await alice.register("alice");
    await body({ proxy, alice, bob, bobId });
  } finally {
    alice.close();
    bob.close();
    await proxy.close();
    await server.stop();
  }
}

/** Waits until `check` holds, up to `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 20_000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An entry's identity: a message's id, or what makes a membership entry unique. */
export function idOf(entry: FeedEntry): string {
  return entry.kind === "membership" ? `${entry.group}:${entry.change}:${entry.at}` : entry.id;
}

/** Everything in the user's feed, polled from its beginning with plain `fetch`: the truth a
 * client's delivered entries are compared with. */
export async function polled(url: string, token: string): Promise<string[]> {
  const ids: string[] = [];
  for (let after = ""; ; ) {
    const query = `limit=500&include=membership${after && `&after=${after}`}`;
    const response = await fetch(`${url}/v1/messages?${query}`, { headers: { authorization: `Bearer ${token}` } });
    const page = (await response.json()) as FeedPage;
    ids.push(...(page.messages as FeedEntry[]).map(idOf));
    after = page.next;
    if (!page.has_more) return ids;
  }
}

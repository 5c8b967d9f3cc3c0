import { SignedOutError } from "./errors.js";
import { CLOSE_EXPIRED, CLOSE_SIGNED_OUT, EXPIRED_CODES, type Frame, entriesOf, parseFrame } from "./frames.js";
import type { Http } from "./http.js";
import type { SessionKeeper } from "./session.js";
import type { CursorStore } from "./store.js";
import { backoff, background, sleep } from "./timing.js";
import type { FeedEntry, FeedPage } from "./types.js";

/** Which stream the server offers: the local server's `GET /v1/stream`, the AWS WebSocket API
 * (connect, then `resume`), or none (poll only: a `runtime serve` on DynamoDB). */
export type StreamProtocol = "local" | "aws" | "none";

export type FeedStatus = "connecting" | "live" | "polling" | "stopped" | "signed_out";

/** The WebSocket constructor: the platform's (browsers, Node 22+, Node 20 with
 * `--experimental-websocket`) or a compatible one such as the `ws` package's. */
export type WebSocketConstructor = new (url: string, protocols?: string[]) => WebSocket;

export interface FeedOptions {
  protocol: StreamProtocol;
  /** The stream's address: `ws(s)://host/v1/stream` locally, the `wss://` API on AWS. */
  streamUrl?: string;
  WebSocket?: WebSocketConstructor;
  store: CursorStore;
  /** The cursor's key in the store (default: the user's id). */
  key?: string;
  /** Deliver membership entries too (default); without, only messages. */
  includeMembership?: boolean;
  /** Between polls while no stream is open. */
  pollIntervalMs?: number;
  /** Between `{"action":"ping"}`s on an open stream: API Gateway closes one idle for 10 min. */
  pingIntervalMs?: number;
}

type Listener = (entry: FeedEntry) => void | Promise<void>;

/** A stream's end: whether it ever opened, and whether it needs a fresh token. */
interface Closed {
  opened: boolean;
  needsRefresh: boolean;
}

/**
 * The user's feed, every entry exactly once and in order, whatever carries it. It keeps one
 * cursor and applies a frame only when its `after` is that cursor; otherwise it polls from the
 * cursor until `has_more` is false — which also covers a push that never came, frames arriving
 * out of order, and a stream cut anywhere. Frames and polls are applied one at a time, so the
 * two never interleave. The cursor is saved after its entries are handed over: a process that
 * dies in between gets them again at its next start, never loses one.
 */
export class Feed implements AsyncIterable<FeedEntry> {
  private cursor: string | null = null;
  private work: Promise<void> = Promise.resolve();
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<(status: FeedStatus) => void>();
  private readonly stopping = new AbortController();
  private socket: WebSocket | undefined;
  private running: Promise<void> | undefined;
  status: FeedStatus = "stopped";

  constructor(
    private readonly http: Http,
    private readonly sessions: SessionKeeper,
    private readonly options: FeedOptions,
  ) {}

  /** Each entry, in order; awaited before the next, so a slow listener slows the feed, not
   * loses from it. Returns the unsubscribe function. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: (status: FeedStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** The position just past the last entry delivered (`null` before the first poll). */
  position(): string | null {
    return this.cursor;
  }

  /** Starts receiving, from the stored cursor (the feed's beginning without one). */
  start(): Promise<void> {
    this.running ??= this.run();
    return Promise.resolve();
  }

  /** Stops receiving and ends every iterator; resolves once nothing more runs. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.socket?.close(1000);
    await this.running;
    await this.work;
    this.setStatus(this.status === "signed_out" ? "signed_out" : "stopped");
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedEntry> {
    const waiting: FeedEntry[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.on((entry) => {
      waiting.push(entry);
      wake?.();
    });
    const ended = () => this.stopping.signal.aborted || this.status === "signed_out";
    const done = () => {
      unsubscribe();
      return { done: true as const, value: undefined };
    };
    this.stopping.signal.addEventListener("abort", () => wake?.(), { once: true });
    return {
      next: async () => {
        while (waiting.length === 0) {
          if (ended()) return done();
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
        return { done: false, value: waiting.shift() as FeedEntry };
      },
      return: async () => done(),
    };
  }

  private get key(): string {
    return this.options.key ?? this.sessions.current()?.userId ?? "feed";
  }

  private setStatus(status: FeedStatus): void {
    if (this.status === status) return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }

  /** Runs `task` after everything queued before it: frames and polls apply one at a time. */
  private serially(task: () => Promise<void>): Promise<void> {
    const next = this.work.then(task);
    this.work = next.catch(() => undefined);
    return next;
  }

  private async deliver(entries: FeedEntry[], cursor: string): Promise<void> {
    for (const entry of entries) {
      for (const listener of [...this.listeners]) await listener(entry);
    }
    this.cursor = cursor;
    await this.options.store.set(this.key, cursor);
  }

  /** Polls from the cursor until nothing more is waiting. */
  private async catchUp(): Promise<void> {
    for (;;) {
      const page = await this.http.request<FeedPage>("GET", "/v1/messages", {
        query: {
          after: this.cursor ?? undefined,
          limit: 500,
          include: this.options.includeMembership === false ? undefined : "membership",
        },
        retry: "safe",
      });
      await this.deliver(page.body.messages as FeedEntry[], page.body.next);
      if (!page.body.has_more || this.stopping.signal.aborted) return;
    }
  }

  private async run(): Promise<void> {
    this.cursor = await this.options.store.get(this.key);
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      try {
        this.setStatus(failures > 0 || this.options.protocol === "none" ? "polling" : "connecting");
        const streaming = this.options.protocol !== "none" && this.WebSocket !== undefined;
        // A stream sends what is missed itself (from `?after=` locally, a `resume` on AWS); a
        // poll first only finds the cursor to start from, or is the fallback.
        if (this.cursor === null || !streaming) await this.serially(() => this.catchUp());
        if (!streaming) {
          await sleep(this.options.pollIntervalMs ?? 5_000, this.stopping.signal);
          continue;
        }
        const closed = await this.stream();
        if (closed.needsRefresh) await this.sessions.refresh(closed.token);
        if (closed.opened) {
          // Cut or closed after opening: back at once, from the cursor, with a little jitter so
          // clients cut together do not all return in the same instant.
          failures = 0;
          await sleep(Math.random() * 250, this.stopping.signal);
        } else {
          // Refused or unreachable: poll meanwhile, and try the stream again less and less often.
          failures++;
          await this.pollFor(backoff(failures, 1_000, 60_000));
        }
      } catch (error) {
        if (error instanceof SignedOutError) {
          this.setStatus("signed_out");
          this.stopping.abort();
          return;
        }
        failures++;
        this.setStatus("polling");
        await sleep(backoff(failures, 500, 30_000), this.stopping.signal);
      }
    }
  }

  private get WebSocket(): WebSocketConstructor | undefined {
    return this.options.WebSocket ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
  }

  /** Polls every interval for `ms`: the fallback while the stream cannot be opened. */
  private async pollFor(ms: number): Promise<void> {
    const until = Date.now() + ms;
    this.setStatus("polling");
    while (!this.stopping.signal.aborted && Date.now() < until) {
      await sleep(Math.min(this.options.pollIntervalMs ?? 5_000, until - Date.now()), this.stopping.signal);
      await this.serially(() => this.catchUp());
    }
  }

  /** One stream, from opening to its close. */
  private async stream(): Promise<Closed & { token: string }> {
    const token = await this.sessions.accessToken();
    const Socket = this.WebSocket as WebSocketConstructor;
    const local = this.options.protocol === "local";
    const url = new URL(this.options.streamUrl ?? this.http.url("/v1/stream").replace(/^http/, "ws"));
    if (local && this.cursor) url.searchParams.set("after", this.cursor);
    // Both servers take it in the URL; on AWS it also has membership entries pushed.
    if (this.options.includeMembership !== false) url.searchParams.set("include", "membership");
    const socket = new Socket(url.toString(), ["messaging.v1", `bearer.${token}`]);
    this.socket = socket;
    let opened = false;
    let needsRefresh = false;
    const send = (message: object) => socket.readyState === 1 && socket.send(JSON.stringify(message));
    const pinger = setInterval(() => send({ action: "ping" }), this.options.pingIntervalMs ?? 300_000);
    background(pinger);
    // A refreshed session extends the open stream instead of letting it expire.
    const unwatch = this.sessions.onChange((session) => {
      if (session) send({ action: "reauth", access_token: session.accessToken });
    });
    // Some WebSocket implementations (Node 20's) report a connection that fails during the
    // handshake with `error` alone, never `close`: either ends the stream.
    const closed = new Promise<{ code: number }>((resolve) => {
      socket.addEventListener("close", resolve);
      socket.addEventListener("error", () => resolve({ code: 1006 }));
    });
    // A handshake that neither opens nor fails (a black-holed network) is given up on.
    const handshake = background(setTimeout(() => opened || socket.close(), 15_000));
    socket.addEventListener("open", () => {
      opened = true;
      // Refreshed while connecting (when a reauth could not be sent yet): extend it now.
      const fresh = this.sessions.current()?.accessToken;
      if (fresh && fresh !== token) send({ action: "reauth", access_token: fresh });
      if (!local) {
        send({
          action: "resume",
          ...(this.cursor ? { after: this.cursor } : {}),
          ...(this.options.includeMembership === false ? {} : { include: "membership" }),
        });
      }
    });
    socket.addEventListener("message", (event: MessageEvent) => {
      const frame = parseFrame(event.data);
      if (!frame) return;
      if (frame.type === "error" && EXPIRED_CODES.has(frame.code)) needsRefresh = true;
      this.serially(() => this.apply(frame, socket)).catch(() => socket.close(4999));
    });
    const end = await closed;
    if (socket.readyState !== 3) socket.close();
    clearTimeout(handshake);
    clearInterval(pinger);
    unwatch();
    this.socket = undefined;
    needsRefresh ||= end.code === CLOSE_EXPIRED || end.code === CLOSE_SIGNED_OUT;
    return { opened, needsRefresh, token };
  }

  private async apply(frame: Frame, socket: WebSocket): Promise<void> {
    const carried = entriesOf(frame);
    if (carried) {
      if (carried.after === this.cursor) await this.deliver(carried.entries, carried.cursor);
      else await this.catchUp();
      return;
    }
    switch (frame.type) {
      case "caught_up":
        if (frame.cursor !== this.cursor) await this.catchUp();
        this.setStatus("live");
        return;
      case "behind":
        await this.catchUp();
        return;
      case "error":
        // An expired token or a connection the server forgot: a new stream (after a refresh).
        if (EXPIRED_CODES.has(frame.code) || frame.code === "unknown_connection") socket.close(4999);
        return;
      default:
        return;
    }
  }
}

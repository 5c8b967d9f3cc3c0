import { Feed, type FeedOptions, type StreamProtocol, type WebSocketConstructor } from "./feed.js";
import { type Answer, DEFAULT_RETRY, Http, type RetryPolicy } from "./http.js";
import { type Session, SessionKeeper, sessionFrom } from "./session.js";
import { type CursorStore, MemoryCursorStore } from "./store.js";
import type {
  Conversation,
  ConversationDetail,
  Group,
  HistoryPage,
  Inbox,
  Message,
  SessionView,
  User,
} from "./types.js";

export interface ClientOptions {
  /** The API's address, e.g. `http://127.0.0.1:8080` or the deployed `https://…` endpoint. */
  baseUrl: string;
  /** A session to start with: one the app's backend handed over, or one saved earlier. */
  session?: Session | SessionView;
  /** Told of every new session (to save it) and of `null` when the user is signed out. */
  onSession?: (session: Session | null) => void;
  /** `local` (default): the local server's `/v1/stream`; `aws`: the deployed WebSocket API,
   * whose `wss://` address is `streamUrl`; `none`: poll only. */
  stream?: StreamProtocol;
  streamUrl?: string;
  /** Where the feed's cursor is kept (default: memory). */
  cursorStore?: CursorStore;
  fetch?: typeof fetch;
  WebSocket?: WebSocketConstructor;
  retry?: Partial<RetryPolicy>;
  pollIntervalMs?: number;
  pingIntervalMs?: number;
}

/** A sent message, and whether the server had it already (a retry of an acknowledged send). */
export interface Sent {
  message: Message;
  replayed: boolean;
  clientId: string;
}

export interface HistoryQuery {
  before?: string;
  after?: string;
  limit?: number;
}

const path = encodeURIComponent;

/** A new idempotency key: 128 random bits in hex. `crypto.getRandomValues`, unlike
 * `crypto.randomUUID`, exists outside secure contexts too (a page served over plain http). */
export function newClientId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * One user's client of the messaging API. Sessions refresh themselves; sends carry an
 * idempotency key reused on every retry; `feed()` delivers the feed exactly once and in order.
 */
export class MessagingClient {
  readonly sessions: SessionKeeper;
  private readonly http: Http;

  constructor(private readonly options: ClientOptions) {
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.sessions = new SessionKeeper((refresh_token) =>
      this.http
        .request<SessionView>("POST", "/v1/sessions/refresh", { body: { refresh_token }, auth: false, retry: "refused" })
        .then((answer) => answer.body),
    );
    this.http = new Http(options.baseUrl, fetcher, this.sessions, { ...DEFAULT_RETRY, ...options.retry });
    if (options.onSession) this.sessions.onChange(options.onSession);
    if (options.session) {
      const given = options.session;
      this.sessions.set("access_token" in given ? sessionFrom(given) : given);
    }
  }

  /** The signed-in user's id, or `null`. */
  get userId(): string | null {
    return this.sessions.current()?.userId ?? null;
  }

  /** Open registration (`auth_mode = "open"`): a new user, signed in. */
  async register(name: string): Promise<Session> {
    return this.signedIn(
      await this.http.request<SessionView>("POST", "/v1/users", { body: { name }, auth: false, retry: "refused" }),
    );
  }

  /** Sign-in with an identity token of the app's identity provider. */
  async signIn(idToken: string): Promise<Session> {
    return this.signedIn(
      await this.http.request<SessionView>("POST", "/v1/sessions", {
        body: { id_token: idToken },
        auth: false,
        retry: "refused",
      }),
    );
  }

  /** Ends this session on the server (or every session of the user) and forgets it here. */
  async signOut(options: { everywhere?: boolean } = {}): Promise<void> {
    await this.http.request("DELETE", options.everywhere ? "/v1/sessions" : "/v1/sessions/current", {
      retry: "safe",
    });
    this.sessions.set(null);
  }

  async user(id: string): Promise<User> {
    return this.get(`/v1/users/${path(id)}`);
  }

  /** A direct message. `clientId` (default: a new random one) is sent on every retry, so the
   * message is sent once however often the network fails; pass the same one to retry a call
   * that threw. */
  async sendDirect(to: string, text: string, clientId: string = newClientId()): Promise<Sent> {
    return this.send(`/v1/users/${path(to)}/messages`, text, clientId);
  }

  async sendGroup(group: string, text: string, clientId: string = newClientId()): Promise<Sent> {
    return this.send(`/v1/groups/${path(group)}/messages`, text, clientId);
  }

  async createGroup(name: string): Promise<Group> {
    return (await this.http.request<Group>("POST", "/v1/groups", { body: { name }, retry: "refused" })).body;
  }

  async group(id: string): Promise<Group> {
    return this.get(`/v1/groups/${path(id)}`);
  }

  async addMember(group: string, user: string): Promise<void> {
    await this.http.request("PUT", `/v1/groups/${path(group)}/members/${path(user)}`, { retry: "safe" });
  }

  async removeMember(group: string, user: string): Promise<void> {
    await this.http.request("DELETE", `/v1/groups/${path(group)}/members/${path(user)}`, { retry: "safe" });
  }

  async block(user: string): Promise<void> {
    await this.http.request("PUT", `/v1/me/blocks/${path(user)}`, { retry: "safe" });
  }

  async unblock(user: string): Promise<void> {
    await this.http.request("DELETE", `/v1/me/blocks/${path(user)}`, { retry: "safe" });
  }

  async blocked(): Promise<string[]> {
    return (await this.get<{ blocked: string[] }>("/v1/me/blocks")).blocked;
  }

  /** One page of the inbox, most recent first; pass its `next` as `before` for the next. */
  async inbox(query: { before?: string; limit?: number } = {}): Promise<Inbox> {
    return this.get("/v1/conversations", query);
  }

  /** Every conversation, most recent first, page by page. */
  async *conversations(limit = 100): AsyncGenerator<Conversation> {
    let before: string | undefined;
    do {
      const page = await this.inbox({ before, limit });
      yield* page.conversations;
      before = page.next ?? undefined;
    } while (before);
  }

  /** One page of a conversation's messages: newest first (no cursor, or `before`), oldest
   * first (`after`). */
  async history(conversation: string, query: HistoryQuery = {}): Promise<HistoryPage> {
    return this.get(`/v1/conversations/${path(conversation)}/messages`, { ...query });
  }

  /** A conversation's messages from the newest back to its start, page by page. */
  async *olderMessages(conversation: string, limit = 100): AsyncGenerator<Message> {
    let before: string | undefined;
    do {
      const page = await this.history(conversation, { before, limit });
      yield* page.messages;
      before = page.next ?? undefined;
    } while (before);
  }

  /** Moves the caller's read position to `upTo` (a message id); never moves it back. */
  async markRead(conversation: string, upTo: string): Promise<void> {
    await this.http.request("PUT", `/v1/conversations/${path(conversation)}/read`, {
      body: { up_to: upTo },
      retry: "safe",
    });
  }

  /** The conversation with every member's read position (read receipts). */
  async conversation(id: string): Promise<ConversationDetail> {
    return this.get(`/v1/conversations/${path(id)}`);
  }

  /** The caller's feed; call `start()` on it. */
  feed(options: Partial<Omit<FeedOptions, "protocol" | "streamUrl">> = {}): Feed {
    return new Feed(this.http, this.sessions, {
      protocol: this.options.stream ?? "local",
      streamUrl: this.options.streamUrl,
      WebSocket: this.options.WebSocket,
      store: this.options.cursorStore ?? new MemoryCursorStore(),
      pollIntervalMs: this.options.pollIntervalMs,
      pingIntervalMs: this.options.pingIntervalMs,
      ...options,
    });
  }

  /** Stops refreshing the session in the background (the feeds are stopped on their own). */
  close(): void {
    this.sessions.close();
  }

  private signedIn(answer: Answer<SessionView>): Session {
    const session = sessionFrom(answer.body);
    this.sessions.set(session);
    return session;
  }

  private async send(route: string, text: string, clientId: string): Promise<Sent> {
    const answer = await this.http.request<Message>("POST", route, {
      body: { text, client_id: clientId },
      retry: "safe",
    });
    return { message: answer.body, replayed: answer.status === 200, clientId };
  }

  private async get<T>(route: string, query?: Record<string, string | number | undefined>): Promise<T> {
    return (await this.http.request<T>("GET", route, { query, retry: "safe" })).body;
  }
}

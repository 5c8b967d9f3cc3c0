import { ApiError, SignedOutError } from "./errors.js";
import { background } from "./timing.js";
import type { SessionView } from "./types.js";

/** A signed-in user, as the client keeps it. */
export interface Session {
  userId: string;
  name: string;
  accessToken: string;
  refreshToken: string;
  /** When the access token expires, in milliseconds since the epoch (this machine's clock). */
  expiresAt: number;
}

export function sessionFrom(view: SessionView, now = Date.now()): Session {
  return {
    userId: view.id,
    name: view.name,
    accessToken: view.access_token,
    refreshToken: view.refresh_token,
    expiresAt: now + view.expires_in * 1000,
  };
}

type Refresher = (refreshToken: string) => Promise<SessionView>;
type Listener = (session: Session | null) => void;

/** How long before expiry a token is refreshed: a fifth of its life, at most a minute, so a
 * short-lived token is not refreshed constantly and a long one is refreshed in time. */
function lead(session: Session, now: number): number {
  return Math.min(60_000, Math.max(0, (session.expiresAt - now) / 5));
}

/**
 * Holds the session: refreshes it before its access token expires and whenever the server says
 * `token_expired`, one refresh at a time (a refresh token works once: two refreshes racing with
 * one would sign the session out), and ends it when the refresh token is refused.
 */
export class SessionKeeper {
  private session: Session | null = null;
  private refreshing: Promise<Session> | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly refresher: Refresher) {}

  current(): Session | null {
    return this.session;
  }

  /** Replaces the session (`null`: signed out) and tells the listeners. */
  set(session: Session | null): void {
    this.session = session;
    clearTimeout(this.timer);
    if (session) {
      const now = Date.now();
      const due = Math.max(0, session.expiresAt - now - lead(session, now));
      this.timer = background(setTimeout(() => this.refreshInBackground(), due));
    }
    for (const listener of this.listeners) listener(session);
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A valid access token: refreshed first when the clock says it has expired. */
  async accessToken(): Promise<string> {
    const session = this.session;
    if (!session) throw new SignedOutError("no session: register or sign in first");
    if (Date.now() < session.expiresAt) return session.accessToken;
    return (await this.refresh(session.accessToken)).accessToken;
  }

  /**
   * A new session from the refresh token. `stale` is the access token the caller saw fail: when
   * the session has moved on since, that refresh already happened and is not repeated.
   */
  refresh(stale?: string): Promise<Session> {
    const session = this.session;
    if (!session) return Promise.reject(new SignedOutError());
    if (stale !== undefined && session.accessToken !== stale) return Promise.resolve(session);
    this.refreshing ??= this.refresher(session.refreshToken)
      .then((view) => {
        const fresh = sessionFrom(view);
        this.set(fresh);
        return fresh;
      })
      .catch((error: unknown) => {
        if (error instanceof ApiError && error.code === "invalid_refresh_token") {
          this.set(null);
          throw new SignedOutError(`signed out: ${error.message}`);
        }
        throw error;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  close(): void {
    clearTimeout(this.timer);
  }

  private refreshInBackground(): void {
    const token = this.session?.accessToken;
    this.refresh(token).catch((error: unknown) => {
      // Signed out is told to the listeners already; anything else (the network) is tried
      // again soon, and a request after expiry refreshes on its own anyway.
      if (!(error instanceof SignedOutError) && this.session?.accessToken === token) {
        this.timer = background(setTimeout(() => this.refreshInBackground(), 2_000));
      }
    });
  }
}

import { ApiError, NetworkError } from "./errors.js";
import type { SessionKeeper } from "./session.js";
import { backoff, sleep } from "./timing.js";
import type { ErrorBody } from "./types.js";

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A `Retry-After` longer than this is not waited for: the error goes to the caller. */
  maxRetryAfterMs: number;
  /** A request that has not answered by then is abandoned (and retried when it may be). */
  timeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 6,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  maxRetryAfterMs: 60_000,
  timeoutMs: 30_000,
};

/**
 * What may be tried again. `safe`: doing it twice is doing it once — reads, PUT and DELETE, and
 * sends carrying a `client_id` — so a lost answer, a 503 or a 429 is retried. `refused`: only
 * what the server refused before doing anything (429); a lost answer or a 503 may hide a
 * registration, a new group or a used refresh token, so it goes to the caller.
 */
export type Retry = "safe" | "refused";

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  /** Send the session's access token (default), refreshing it on `token_expired`. */
  auth?: boolean;
  retry: Retry;
}

/** A response: its status (200 and 201 differ for a replayed send) and parsed body. */
export interface Answer<T> {
  status: number;
  body: T;
}

function retryAfterMs(response: Response): number | undefined {
  const header = response.headers.get("retry-after");
  if (header === null) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

async function errorOf(response: Response): Promise<ApiError> {
  const after = retryAfterMs(response);
  try {
    const body = (await response.json()) as ErrorBody;
    return new ApiError(response.status, body.error.code, body.error.message, after && after / 1000);
  } catch {
    return new ApiError(response.status, "unexpected_response", `HTTP ${response.status}`, after && after / 1000);
  }
}

/** JSON over HTTP to one server, with the session's token, retries and backoff. */
export class Http {
  constructor(
    readonly baseUrl: string,
    private readonly fetcher: typeof fetch,
    private readonly sessions: SessionKeeper,
    private readonly policy: RetryPolicy,
  ) {}

  url(path: string, query?: RequestOptions["query"]): string {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url.toString();
  }

  async request<T>(method: string, path: string, options: RequestOptions): Promise<Answer<T>> {
    const url = this.url(path, options.query);
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= this.policy.attempts;
      const token = options.auth === false ? undefined : await this.sessions.accessToken();
      let response: Response;
      try {
        response = await this.fetcher(url, {
          method,
          headers: {
            ...(token ? { authorization: `Bearer ${token}` } : {}),
            ...(options.body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: options.body === undefined ? undefined : JSON.stringify(options.body),
          signal: AbortSignal.timeout(this.policy.timeoutMs),
        });
      } catch (cause) {
        const error = new NetworkError(`${method} ${path}: ${String(cause)}`, { cause });
        if (options.retry !== "safe" || last) throw error;
        await sleep(backoff(attempt, this.policy.baseDelayMs, this.policy.maxDelayMs));
        continue;
      }
      if (response.ok) {
        const text = await response.text();
        return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
      }
      const error = await errorOf(response);
      if (error.code === "token_expired" && token && !refreshed) {
        // Once per request: a server that keeps saying so after a refresh is not retried forever.
        refreshed = true;
        attempt--;
        await this.sessions.refresh(token);
        continue;
      }
      const retriable = error.status === 429 || (error.status === 503 && options.retry === "safe");
      if (!retriable || last) throw error;
      const asked = error.retryAfter === undefined ? undefined : error.retryAfter * 1000;
      if (asked !== undefined && asked > this.policy.maxRetryAfterMs) throw error;
      // At least what the server asked for, plus jitter so waiting clients do not return at once.
      const wait =
        asked === undefined
          ? backoff(attempt, this.policy.baseDelayMs, this.policy.maxDelayMs)
          : asked + Math.random() * this.policy.baseDelayMs;
      await sleep(wait);
    }
  }
}


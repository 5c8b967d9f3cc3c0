/** An answer of the server's with an error status: `code` is the stable `error.code` of its
 * JSON body (the README's "Errors"), what a program branches on. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds the server asked to wait (`Retry-After`), when it did. */
    readonly retryAfter?: number,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = "ApiError";
  }
}

/** The request may or may not have reached the server: the connection failed or timed out. */
export class NetworkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "NetworkError";
  }
}

/** The session is over (its refresh token was refused, or the client was signed out): sign in
 * again. */
export class SignedOutError extends Error {
  constructor(message = "signed out: sign in again") {
    super(message);
    this.name = "SignedOutError";
  }
}

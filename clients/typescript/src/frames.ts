import type { FeedEntry } from "./types.js";

/** A stream frame, locally or from the AWS WebSocket API (the README's "Streams"). */
export type Frame =
  | { type: "message"; message: FeedEntry; cursor: string; after: string }
  | { type: "messages"; messages: FeedEntry[]; cursor: string; after: string }
  | { type: "caught_up"; cursor: string }
  | { type: "behind"; cursor: string }
  | { type: "reauthed"; expires_in: number }
  | { type: "error"; code: string; message: string };

/** A frame, or `undefined` for anything this client does not know (ignored, so a newer server
 * can add frames). */
export function parseFrame(data: unknown): Frame | undefined {
  if (typeof data !== "string") return undefined;
  try {
    const frame = JSON.parse(data) as { type?: unknown };
    const known = ["message", "messages", "caught_up", "behind", "reauthed", "error"];
    return typeof frame.type === "string" && known.includes(frame.type) ? (frame as Frame) : undefined;
  } catch {
    return undefined;
  }
}

/** The entries a frame carries, and where they sit in the feed. */
export function entriesOf(frame: Frame): { entries: FeedEntry[]; after: string; cursor: string } | undefined {
  switch (frame.type) {
    case "message":
      return { entries: [frame.message], after: frame.after, cursor: frame.cursor };
    case "messages":
      return { entries: frame.messages, after: frame.after, cursor: frame.cursor };
    default:
      return undefined;
  }
}

/** The error codes of a frame or close after which the stream needs a fresh access token. */
export const EXPIRED_CODES = new Set(["token_expired", "session_expired", "invalid_token"]);

/** Close codes of the local stream (README "Streams"): 4003 the token expired, 4004 signed out. */
export const CLOSE_EXPIRED = 4003;
export const CLOSE_SIGNED_OUT = 4004;

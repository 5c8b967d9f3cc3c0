export { MessagingClient, newClientId, type ClientOptions, type Sent, type HistoryQuery } from "./client.js";
export { Feed, type FeedOptions, type FeedStatus, type StreamProtocol, type WebSocketConstructor } from "./feed.js";
export { ApiError, NetworkError, SignedOutError } from "./errors.js";
export { type Session, sessionFrom } from "./session.js";
export { type CursorStore, MemoryCursorStore, LocalStorageCursorStore } from "./store.js";
export { DEFAULT_RETRY, type RetryPolicy } from "./http.js";
export { isMembership } from "./types.js";
export type * from "./types.js";
export type { components, paths } from "./generated/api.js";

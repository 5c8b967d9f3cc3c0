// The API's shapes, named from the types generated out of the server's OpenAPI document
// (src/generated/api.ts, regenerated and compared by the test command), so a change of the
// server's contract breaks this package's build instead of its users.
import type { components } from "./generated/api.js";

type Schemas = components["schemas"];

export type Message = Schemas["MessageView"];
export type SessionView = Schemas["SessionView"];
export type User = Schemas["UserView"];
export type Group = Schemas["GroupView"];
export type FeedPage = Schemas["FeedView"];
export type Conversation = Schemas["ConversationView"];
export type ConversationDetail = Schemas["ConversationDetailView"];
export type Inbox = Schemas["InboxView"];
export type HistoryPage = Schemas["HistoryView"];
export type ErrorBody = Schemas["ErrorBody"];

/** A membership entry of the feed (the README's "Conversations"): not in the OpenAPI document,
 * which describes the feed's messages; polls and streams carry it with `include=membership`. */
export interface MembershipEntry {
  kind: "membership";
  group: string;
  change: "added" | "removed";
  by: string;
  at: string;
}

/** What a feed delivers, in order: messages and membership entries. */
export type FeedEntry = Message | MembershipEntry;

export function isMembership(entry: FeedEntry): entry is MembershipEntry {
  return entry.kind === "membership";
}

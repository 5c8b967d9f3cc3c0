// The demo chat page: everything goes through the TypeScript client (served at /demo/client/).
import { LocalStorageCursorStore, MessagingClient, SignedOutError, isMembership } from "/demo/client/index.js";

const $ = (id) => document.getElementById(id);
const saved = sessionStorage.getItem("messaging.session");
const client = new MessagingClient({
  baseUrl: location.origin,
  session: saved ? JSON.parse(saved) : undefined,
  onSession: (session) => {
    if (session) sessionStorage.setItem("messaging.session", JSON.stringify(session));
    else sessionStorage.removeItem("messaging.session");
  },
  cursorStore: new LocalStorageCursorStore(),
});
const names = new Map();
let open = null; // the open conversation: { id, kind, name }
let receipts;

if (client.userId) start();

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await client.register($("name").value.trim());
    start();
  } catch (error) {
    $("signin-error").textContent = error.message;
  }
});

$("new-chat").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("peer").value.trim();
  try {
    const user = await client.user(id);
    openConversation({ id, kind: "direct", name: user.name });
    $("peer").value = "";
  } catch (error) {
    $("send-error").textContent = error.message;
  }
});

$("compose").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("text").value;
  $("text").value = "";
  try {
    // The client retries with the same client_id: a flaky network never sends it twice.
    if (open.kind === "group") await client.sendGroup(open.id, text);
    else await client.sendDirect(open.id, text);
    $("send-error").textContent = "";
  } catch (error) {
    $("text").value = text;
    $("send-error").textContent = error.message;
  }
});

async function start() {
  const session = client.sessions.current();
  $("signin").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = session.name;
  $("my-id").textContent = session.userId;
  names.set(session.userId, session.name);
  const feed = client.feed();
  feed.onStatus((status) => {
    $("status").textContent = status;
    if (status === "signed_out") location.reload();
  });
  feed.on(receive);
  await feed.start();
  await refreshInbox();
}

/** Which conversation a feed message belongs to, for this user. */
function conversationOf(message) {
  if (message.kind === "group") return message.to;
  return message.from === client.userId ? message.to : message.from;
}

async function receive(entry) {
  if (!isMembership(entry) && open && conversationOf(entry) === open.id) {
    appendMessage(entry);
    // Seen as it arrives: the page is showing this conversation.
    await client.markRead(open.id, entry.id);
  }
  await refreshInbox();
}

async function refreshInbox() {
  const inbox = await client.inbox({ limit: 50 });
  $("inbox").replaceChildren(
    ...inbox.conversations.map((conversation) => {
      names.set(conversation.id, conversation.name);
      const item = document.createElement("li");
      item.className = "conversation" + (open?.id === conversation.id ? " open" : "");
      item.dataset.id = conversation.id;
      item.innerHTML = `<strong class="name"></strong><span class="badge"></span><span class="preview"></span>`;
      item.querySelector(".name").textContent = conversation.name;
      item.querySelector(".badge").textContent = conversation.unread > 0 ? String(conversation.unread) : "";
      item.querySelector(".preview").textContent = conversation.last_message?.text ?? "";
      item.addEventListener("click", () => openConversation(conversation));
      return item;
    }),
  );
}

async function openConversation(conversation) {
  open = { id: conversation.id, kind: conversation.kind, name: conversation.name };
  $("conversation").hidden = false;
  $("title").textContent = conversation.name;
  $("messages").replaceChildren();
  // A direct conversation starts with its first message: before it, there is no history.
  const page = await client.history(open.id, { limit: 50 }).catch((error) => {
    if (error.code === "conversation_not_found") return { messages: [] };
    throw error;
  });
  for (const message of page.messages.reverse()) appendMessage(message);
  const newest = page.messages.at(-1);
  if (newest) await client.markRead(open.id, newest.id);
  await refreshInbox();
  // Read receipts are not pushed: the page re-reads them while a conversation is open.
  clearInterval(receipts);
  showReceipts();
  receipts = setInterval(showReceipts, 1000);
}

function appendMessage(message) {
  const item = document.createElement("li");
  item.className = "message" + (message.from === client.userId ? " mine" : "");
  item.dataset.id = message.id;
  item.innerHTML = `<span class="from"></span><span class="text"></span>`;
  item.querySelector(".from").textContent = names.get(message.from) ?? message.from;
  item.querySelector(".text").textContent = message.text;
  $("messages").append(item);
}

async function showReceipts() {
  if (!open) return;
  try {
    const detail = await client.conversation(open.id);
    // Read up to my last message: its read position is that message or one shown after it.
    const shown = [...$("messages").querySelectorAll(".message")].map((item) => item.dataset.id);
    const mine = [...$("messages").querySelectorAll(".message.mine")].at(-1)?.dataset.id;
    const readers = detail.members.filter(
      (m) => m.id !== client.userId && mine && shown.indexOf(m.read_up_to) >= shown.indexOf(mine),
    );
    $("receipt").textContent = readers.length ? `Read by ${readers.map((m) => names.get(m.id) ?? m.id).join(", ")}` : "";
  } catch (error) {
    // A direct conversation with no message yet does not exist (404): nothing to show.
    if (error instanceof SignedOutError) location.reload();
    $("receipt").textContent = "";
  }
}

// The sandbox web chat: plain JavaScript, no build step, no network beyond this page's server.
"use strict";

// seen: how many of the bot's messages the page has shown each person (the unread badge).
const state = { people: [], current: null, version: -1, botUsername: "", seen: {} };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch("/sandbox/api/" + path, init);
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

function toast(text) {
  const el = document.createElement("div");
  el.className = "toast";
  el.textContent = text;
  document.body.appendChild(el);
  setTimeout(() => el.remove(), 3500);
}

function renderPeople() {
  const list = $("people-list");
  list.replaceChildren();
  for (const person of state.people) {
    const li = document.createElement("li");
    li.dataset.id = person.id;
    li.className = person.id === state.current ? "active" : "";
    const who = document.createElement("span");
    who.className = "who";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = person.name;
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = person.role + " · " + person.language;
    who.append(name, badge);
    li.append(who);
    const unread = person.id === state.current ? 0
      : (person.received || 0) - (state.seen[person.id] || 0);
    if (unread > 0) {
      const count = document.createElement("span");
      count.className = "unread";
      count.textContent = String(unread);
      count.setAttribute("aria-label", unread + " unread");
      li.appendChild(count);
    }
    li.addEventListener("click", () => choose(person.id));
    list.appendChild(li);
  }
}

function renderInvites(community, invites) {
  $("community-name").textContent = community;
  const list = $("invites");
  list.replaceChildren();
  for (const invite of invites) {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = invite.url;
    a.dataset.kind = invite.kind;
    a.textContent = invite.kind === "resident" ? "Join as a resident" : "Join as a coordinator";
    li.appendChild(a);
    list.appendChild(li);
  }
}

function keyboard(rows, message) {
  const box = document.createElement("div");
  box.className = "keyboard";
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "row";
    for (const button of row) {
      if (button.web_app !== undefined) {
        const el = document.createElement("button");
        el.type = "button";
        el.className = "web-app";
        el.textContent = button.text;
        el.addEventListener("click", () => openWebApp(button.web_app, button.text));
        line.appendChild(el);
        continue;
      }
      if (button.url) {
        const a = document.createElement("a");
        a.href = button.url;
        a.textContent = button.text;
        a.target = "_blank";
        line.appendChild(a);
        continue;
      }
      const el = document.createElement("button");
      el.type = "button";
      el.textContent = button.text;
      el.addEventListener("click", async () => {
        const result = await api("tap", {
          user_id: state.current, chat_id: message.chat_id,
          message_id: message.id, data: button.data,
        });
        if (result.answer && result.answer.text) toast(result.answer.text);
        refresh();
      });
      line.appendChild(el);
    }
    box.appendChild(line);
  }
  return box;
}

function renderChat(chat) {
  $("chat-title").textContent = chat.title;
  $("chat-lang").textContent = chat.language;
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.replaceChildren();
  list.dir = chat.rtl ? "rtl" : "ltr";  // mirrored for Persian and Hebrew, as in Telegram
  if (!chat.messages.length) list.appendChild(emptyHint(chat));
  for (const message of chat.messages) {
    const li = document.createElement("li");
    li.className = "msg" + (message.from_bot ? "" : " me");
    li.dir = message.rtl ? "rtl" : "ltr";
    li.dataset.id = message.id;
    if (message.photo) {
      const img = document.createElement("img");
      img.src = message.photo;
      img.alt = "photo";
      li.appendChild(img);
    }
    if (message.document) {
      const a = document.createElement("a");
      a.className = "doc";
      a.href = message.document.url;
      a.download = message.document.name;
      a.textContent = "📄 " + message.document.name;
      li.appendChild(a);
      li.appendChild(document.createElement("br"));
    }
    const body = document.createElement("span");
    body.className = "body";
    body.innerHTML = message.html; // sanitised by the server: Telegram's tag subset only
    li.appendChild(body);
    if (message.edited) {
      const mark = document.createElement("span");
      mark.className = "edited";
      mark.textContent = "edited";
      li.appendChild(mark);
    }
    if (message.keyboard && message.keyboard.length) li.appendChild(keyboard(message.keyboard, message));
    list.appendChild(li);
  }
  const reply = $("reply-keyboard");
  reply.replaceChildren();
  for (const label of (chat.reply_keyboard || []).flat()) {
    const el = document.createElement("button");
    el.type = "button";
    el.textContent = label;
    el.addEventListener("click", () => send(label));
    reply.appendChild(el);
  }
  const menu = $("menu-button");
  menu.hidden = !chat.menu_button;
  if (chat.menu_button) {
    menu.textContent = chat.menu_button.text;
    menu.onclick = (event) => {
      event.preventDefault();
      openWebApp(chat.menu_button.url, chat.menu_button.text);
    };
  }
  if (atBottom || list.dataset.user !== String(state.current)) list.scrollTop = list.scrollHeight;
  list.dataset.user = String(state.current);
}

// An empty chat says what to do: a person who has not joined opens an invitation link.
function emptyHint(chat) {
  const li = document.createElement("li");
  li.className = "msg empty";
  li.dir = "ltr";
  const person = state.people.find((p) => p.id === state.current);
  li.textContent = person && !person.joined
    ? chat.title + " has not joined the demo community yet. Click “Join as a resident” (or"
      + " “Join as a coordinator”) on the left to open the invitation link as them, or send"
      + " /start."
    : "No messages yet. Send /start or /help.";
  return li;
}

async function refresh() {
  if (state.current === null) return;
  const id = state.current;
  const chat = await api("chat/" + id);
  if (id !== state.current) return;  // another person was chosen meanwhile
  renderChat(chat);
  state.seen[id] = chat.received;
  renderPeople();
}

function choose(id) {
  if (id !== state.current) $("webapp").hidden = true;  // the panel belongs to one person
  state.current = id;
  location.hash = String(id);
  renderPeople();
  refresh();
  $("text").focus();
}

async function send(text) {
  if (!text.trim() || state.current === null) return;
  await api("send", { user_id: state.current, text });
  refresh();
}

// A Mini App (web_app button or menu button) opens in a panel beside the chat, launched as
// Telegram launches it: the server signs initData for the person chatting.
async function openWebApp(url, title) {
  const result = await api("webapp", { user_id: state.current, url });
  $("webapp-title").textContent = title;
  $("webapp-frame").src = result.url;
  $("webapp").hidden = false;
}

$("webapp-close").addEventListener("click", () => {
  $("webapp").hidden = true;
  $("webapp-frame").src = "about:blank";
});

// Invitation links (https://t.me/<bot>?start=CODE) open inside the sandbox as /start CODE.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a");
  if (!link) return;
  const match = link.href.match(/^https:\/\/t\.me\/([A-Za-z0-9_]+)(?:\?start=([A-Za-z0-9_-]+))?$/);
  if (!match) return;
  event.preventDefault();
  send(match[2] ? "/start " + match[2] : "/start");
});

// The message box is a text area, as in Telegram: Enter sends, Shift+Enter adds a line (so
// "the problems, one per line" arrive as one message); it grows with its text.
function fit(input) {
  input.style.height = "auto";
  input.style.height = input.scrollHeight + 2 + "px";
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text");
  const text = input.value;
  input.value = "";
  fit(input);
  send(text);
});

$("text").addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  $("composer").requestSubmit();
});

$("text").addEventListener("input", (event) => fit(event.target));

// Long-poll: the server answers when anything changed, so updates appear without reloading.
async function watch() {
  for (;;) {
    try {
      const result = await api("changes?since=" + state.version);
      if (result.version !== state.version) {
        state.version = result.version;
        state.people = result.people;
        renderPeople();
        const info = await api("people");
        renderInvites(info.community, info.invites);
        await refresh();
      }
    } catch (error) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

(async () => {
  const info = await api("people");
  state.people = info.people;
  state.botUsername = info.bot_username;
  renderInvites(info.community, info.invites);
  const wanted = Number(location.hash.slice(1));
  const first = state.people.find((p) => p.id === wanted) || state.people[0];
  if (first) choose(first.id);
  watch();
})();

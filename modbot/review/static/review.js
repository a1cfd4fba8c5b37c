// modbot review page: keyboard navigation, claims, verdicts and their undo.
// Comment text is rendered by the server, escaped; this script never builds HTML from data (no innerHTML),
// it only moves focus, toggles classes, sets textContent and swaps in an article from the server's own page.
"use strict";

(function () {
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  const list = document.getElementById("items");
  if (!list) {
    return; // the login page
  }
  const help = document.getElementById("help");
  const status = document.getElementById("status");
  let current = -1;
  let selecting = 0; // bumped by every select(); an older select that is still waiting on a claim gives up

  function items() {
    return Array.from(list.querySelectorAll("article.item"));
  }

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const text = await resp.text();
    let data = {};
    try {
      data = JSON.parse(text);
    } catch (e) {
      // A plain-text refusal (400: a note that is too long, 403: an expired CSRF token) says why: show it.
      data = { error: resp.status + " " + (text.trim().slice(0, 200) || resp.statusText) };
    }
    if (resp.status === 401) {
      window.location.assign("/login");
    }
    return { status: resp.status, data: data };
  }

  function holderOf(item) {
    return item.dataset.holder || "another moderator";
  }

  function markClaimed(item, holder) {
    item.classList.add("claimed");
    item.dataset.holder = holder;
    const badge = item.querySelector(".claim");
    if (badge) {
      badge.textContent = "claimed by " + holder;
    }
    item.querySelectorAll(".actions button").forEach(function (b) { b.disabled = true; });
  }

  async function claim(item) {
    const res = await post("/api/claim", { id: item.dataset.id });
    if (res.status === 409) {
      markClaimed(item, res.data.claimed_by || "another moderator");
      return false;
    }
    if (res.status !== 200) {
      say("could not claim this comment: " + (res.data.error || res.status));
      return false;
    }
    item.dataset.mine = "1";
    return true;
  }

  function release(item) {
    if (item && item.dataset.mine === "1") {
      delete item.dataset.mine;
      // keepalive: on pagehide (another filter, tab or link) a plain fetch is cancelled by the navigation and
      // the claim would stay until it expires. Not sendBeacon: it cannot send the X-CSRF-Token header.
      fetch("/api/release", {
        method: "POST",
        credentials: "same-origin",
        keepalive: true,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ id: item.dataset.id }),
      }).catch(function () { /* the claim expires on its own */ });
    }
  }

  // The index of the nearest item after `from` in direction `dir` that no one else holds, else in the other
  // direction; -1 when every other item is held.
  function nextFree(all, from, dir) {
    for (const d of [dir, -dir]) {
      for (let i = from + d; i >= 0 && i < all.length; i += d) {
        if (!all[i].classList.contains("claimed")) {
          return i;
        }
      }
    }
    return -1;
  }

  function highlight(all, index) {
    const previous = all[current];
    all.forEach(function (el) { el.classList.remove("current"); });
    current = index;
    const item = all[index];
    item.classList.add("current");
    item.focus({ preventScroll: true });
    // A comment taller than the screen (on a phone, most) is shown from its top, not scrolled to its end;
    // one whose top is already in the upper half stays put (its buttons are held at the bottom of the screen).
    const box = item.getBoundingClientRect();
    const tall = box.height > window.innerHeight;
    if (!(tall && box.top >= 0 && box.top < window.innerHeight / 2)) {
      item.scrollIntoView({ block: tall ? "start" : "nearest" });
    }
    if (previous && previous !== item) {
      release(previous);
    }
    return item;
  }

  // Select and claim the item at `index`. When another moderator holds it (known already, or learnt from the
  // claim), say so and go on in direction `step` to the next item that can be claimed, so keys never act on
  // (or silently ignore) someone else's comment. `note` starts the status message (e.g. "approve: done").
  async function select(index, step, note) {
    const dir = step < 0 ? -1 : 1;
    const mine = ++selecting;
    const prefix = note ? note + " · " : "";
    const skipped = [];
    let all = items();
    if (all.length === 0) {
      current = -1;
      return false;
    }
    index = Math.max(0, Math.min(all.length - 1, index));
    for (;;) {
      const item = highlight(all, index);
      const free = !item.classList.contains("claimed") && await claim(item);
      if (mine !== selecting) {
        return false; // the moderator moved on meanwhile
      }
      if (free) {
        if (skipped.length) {
          say(prefix + "skipped " + skipped.join(", "));
        } else if (note) {
          say(note);
        }
        return true;
      }
      if (!item.classList.contains("claimed")) {
        return false; // the claim failed for another reason; claim() said why
      }
      skipped.push("a comment held by " + holderOf(item));
      all = items();
      const next = nextFree(all, all.indexOf(item), dir);
      if (next < 0) {
        say(prefix + "this comment is held by " + holderOf(item) + "; every other one here is held too");
        return false;
      }
      index = next;
    }
  }

  function move(step) {
    const all = items();
    if (all.length === 0) {
      say("nothing to review here");
      return;
    }
    let i = current + step;
    // Skip items other moderators hold.
    while (i >= 0 && i < all.length && all[i].classList.contains("claimed")) {
      i += step;
    }
    if (i >= 0 && i < all.length) {
      select(i, step);
    } else {
      say(step > 0 ? "no more comments below" : "no more comments above");
    }
  }

  function updateCounts(counts, removed) {
    Object.keys(counts || {}).forEach(function (q) {
      const el = document.getElementById("count-" + q);
      if (el) {
        el.textContent = String(counts[q]);
      }
    });
    const shown = document.getElementById("shown");
    if (shown) {
      shown.textContent = String(items().length);
    }
    // "of M" counts the items matching the filters, which the tab counts do not give: take off what left.
    const total = document.getElementById("total");
    if (total && removed) {
      total.textContent = String(Math.max(items().length, Number(total.textContent) - removed));
    }
  }

  function byId(id) {
    return items().find(function (el) { return el.dataset.id === id; }) || null;
  }

  // Replace `item` with its current version from the server (the author edited it): the page is fetched
  // again and only that article is taken over, parsed by DOMParser (no scripts run, no innerHTML). Returns
  // false when the comment no longer waits here (the edit was decided otherwise); the item is then removed.
  async function refreshItem(item, message) {
    let fresh = null;
    try {
      const resp = await fetch(window.location.href, { credentials: "same-origin" });
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      fresh = Array.from(doc.querySelectorAll("article.item")).find(function (el) {
        return el.dataset.id === item.dataset.id;
      }) || null;
    } catch (e) {
      fresh = null;
    }
    delete item.dataset.mine;
    if (!fresh) {
      item.remove();
      return false;
    }
    const node = document.importNode(fresh, true);
    node.id = item.id;
    node.classList.add("stale");
    const note = document.createElement("p");
    note.className = "stale-notice error";
    note.setAttribute("role", "alert");
    note.textContent = message + " — this is the new text; read it again before you judge.";
    node.insertBefore(note, node.querySelector("blockquote.text"));
    item.replaceWith(node);
    return true;
  }

  // The note typed into an item's "Note for escalation" field ("" when it has none, e.g. in a batch).
  function noteOf(item) {
    const field = item && item.querySelector('textarea[name="note"]');
    return field ? field.value : "";
  }

  async function act(ids, action, note) {
    if (ids.length === 0) {
      say("no comment selected");
      return;
    }
    say(action + "…");
    // The version of each comment this page shows: the server refuses the verdict if the text changed since.
    const seen = {};
    ids.forEach(function (id) {
      const item = byId(id);
      if (item && item.dataset.sha256) {
        seen[id] = item.dataset.sha256;
      }
    });
    const body = { ids: ids, action: action, seen: seen };
    if (note) {
      body.note = note; // only ever an escalation's note: the item's field is labelled for that
    }
    const started = performance.now();
    const res = await post("/api/verdict", body);
    const results = (res.data && res.data.results) || {};
    let failed = 0;
    let removed = 0;
    const stale = [];
    const waiting = { action: action, due: 0, places: [] }; // verdicts in their undo window, for the toast
    items().forEach(function (item, index) {
      const r = results[item.dataset.id];
      if (r && r.ok) {
        delete item.dataset.mine;
        if (r.pending) {
          // Kept, with where it stood, so that an undo puts it back in its place.
          waiting.due = Date.now() + r.undo_s * 1000;
          waiting.places.push({ node: item, next: item.nextElementSibling, index: index });
          item.classList.remove("current");
        }
        item.remove();
        removed += 1;
      } else if (r && r.stale) {
        failed += 1;
        stale.push([item, r.error]);
      } else if (r && r.gone) {
        failed += 1;
        delete item.dataset.mine;
        item.remove();
        removed += 1;
      } else if (r) {
        failed += 1;
        if (/^claimed by /.test(r.error || "")) {
          markClaimed(item, r.error.replace(/^claimed by /, ""));
        }
      }
    });
    for (const [item, error] of stale) {
      if (!await refreshItem(item, error)) {
        removed += 1;
      }
    }
    updateCounts(res.data.counts, removed);
    const summary = res.data.results ? (failed ? failed + " not changed: " + Object.values(results)
      .filter(function (r) { return !r.ok; }).map(function (r) { return r.error; }).join("; ")
      : action + (waiting.places.length ? ": sent in a few seconds, u to undo" : ": done"))
      : action + " failed: " + (res.data.error || res.status);
    say(summary);
    if (waiting.places.length) {
      undoable.push(waiting);
      showToast();
    }
    const all = items();
    if (all.length === 0) {
      if (!list.querySelector(".empty")) {
        const empty = document.createElement("p");
        empty.className = "empty";
        empty.textContent = "Nothing to review here.";
        list.appendChild(empty);
      }
      current = -1;
    } else {
      // select() skips comments other moderators hold (and says so), keeping the summary in the status.
      select(Math.min(Math.max(current, 0), all.length - 1), 1, summary);
    }
    list.dataset.lastVerdictMs = String(Math.round(performance.now() - started));
  }

  // --- undo: the latest verdicts still inside their window, newest last; the toast shows the newest ---------
  const undoable = [];
  const toast = document.getElementById("toast");
  const toastText = document.getElementById("toast-text");
  const toastUndo = document.getElementById("toast-undo");
  let toastTimer = 0;
  let sent = 0; // verdicts of this page whose window has passed

  function live() {
    while (undoable.length && undoable[undoable.length - 1].due <= Date.now()) {
      sent += undoable.length; // the newest has passed, so have all older ones
      undoable.length = 0;
    }
    return undoable.length ? undoable[undoable.length - 1] : null;
  }

  function showToast() {
    if (!toast) {
      return;
    }
    window.clearTimeout(toastTimer);
    const entry = live();
    if (!entry) {
      toastUndo.hidden = true;
      toastText.textContent = "sent";
      toastTimer = window.setTimeout(function () { toast.hidden = true; }, 1500);
      return;
    }
    const n = entry.places.length;
    const left = Math.max(1, Math.ceil((entry.due - Date.now()) / 1000));
    toastText.textContent = entry.action + (n > 1 ? " · " + n + " comments" : "") + " · sent in " + left + " s";
    toastUndo.hidden = false;
    toast.hidden = false;
    toastTimer = window.setTimeout(showToast, 250);
  }

  // Put an undone item back where it stood: before the item that followed it, or at its old position.
  function restore(place) {
    const empty = list.querySelector(".empty");
    if (empty) {
      empty.remove();
    }
    if (place.next && place.next.parentNode === list) {
      list.insertBefore(place.node, place.next);
    } else {
      const all = items();
      list.insertBefore(place.node, all[place.index] || null);
    }
  }

  async function undo() {
    const entry = live();
    if (!entry) {
      say(sent ? "too late: already sent" : "nothing to undo");
      return;
    }
    undoable.pop();
    const started = performance.now();
    const res = await post("/api/undo", { ids: entry.places.map(function (p) { return p.node.dataset.id; }) });
    const results = (res.data && res.data.results) || {};
    let back = 0;
    const problems = [];
    let first = null;
    entry.places.forEach(function (place) {
      const r = results[place.node.dataset.id] || { ok: false, error: res.data.error || String(res.status) };
      if (r.ok && !r.edited) {
        restore(place);
        back += 1;
        first = first || place.node;
      } else if (!r.ok || r.edited) {
        problems.push(r.error);
      }
    });
    updateCounts(res.data.counts, -back);
    const summary = problems.length ? "undo: " + problems.join("; ") : entry.action + " undone";
    say(summary);
    showToast();
    if (first) {
      await select(items().indexOf(first), 1, summary);
    }
    list.dataset.lastUndoMs = String(Math.round(performance.now() - started));
  }

  if (toastUndo) {
    toastUndo.addEventListener("click", function () { undo(); });
  }

  // The page's list of pending verdicts (as the server had them when it sent the page): each leaves when sent.
  const pendingList = document.getElementById("pending");
  if (pendingList) {
    const tick = window.setInterval(function () {
      pendingList.querySelectorAll("li[data-due]").forEach(function (li) {
        if (Number(li.dataset.due) <= Date.now()) {
          li.remove();
        }
      });
      if (!pendingList.querySelector("li")) {
        pendingList.remove();
        window.clearInterval(tick);
      }
    }, 500);
  }

  function currentItem() {
    const all = items();
    return current >= 0 && current < all.length ? all[current] : null;
  }

  function actOnCurrent(action) {
    const item = currentItem();
    if (!item) {
      say(items().length ? "no comment selected: press j or k" : "nothing to review here");
    } else if (item.classList.contains("claimed")) {
      say(action + ": not possible, this comment is held by " + holderOf(item) + "; press j or k to move on");
    } else {
      act([item.dataset.id], action, action === "escalate" ? noteOf(item) : "");
    }
  }

  function toggleHelp(show) {
    if (help) {
      help.hidden = show === undefined ? !help.hidden : !show;
    }
  }

  const keys = {
    j: function () { move(1); },
    k: function () { move(-1); },
    a: function () { actOnCurrent("approve"); },
    r: function () { actOnCurrent("reject"); },
    s: function () { actOnCurrent("spam"); },
    e: function () {
      if (list.dataset.queue !== "escalated") {
        actOnCurrent("escalate");
      } else {
        say("already escalated: approve, reject or spam it");
      }
    },
    x: function () {
      const item = currentItem();
      const box = item && item.querySelector("input.select");
      if (box) {
        box.checked = !box.checked;
      } else {
        say("no comment selected");
      }
    },
    o: function () {
      const item = currentItem();
      const link = item && item.querySelector("a.thread");
      if (link) {
        window.open(link.href, "_blank", "noopener,noreferrer");
      } else {
        say(item ? "this comment has no thread link" : "no comment selected");
      }
    },
    u: function () { undo(); },
    "?": function () { toggleHelp(); },
    Escape: function () { toggleHelp(false); },
  };

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) {
      return;
    }
    const tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" && ev.target.type !== "checkbox" || tag === "SELECT" || tag === "TEXTAREA") {
      return;
    }
    const fn = keys[ev.key];
    if (fn) {
      ev.preventDefault();
      fn();
    }
  });

  // Buttons post through fetch so the page stays in place; without JavaScript the forms still work.
  list.addEventListener("submit", function (ev) {
    const form = ev.target;
    const item = form.closest("article.item");
    if (!item || !ev.submitter) {
      return;
    }
    ev.preventDefault();
    const all = items();
    current = all.indexOf(item);
    const action = ev.submitter.value;
    act([item.dataset.id], action, action === "escalate" ? noteOf(item) : "");
  });

  const batch = document.getElementById("batch");
  if (batch) {
    batch.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const ids = Array.from(document.querySelectorAll("input.select:checked")).map(function (b) { return b.value; });
      if (ids.length === 0) {
        say("select comments first (x or the checkboxes)");
        return;
      }
      act(ids, ev.submitter ? ev.submitter.value : "");
    });
  }
  const all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("article.item:not(.claimed) input.select").forEach(function (b) {
        b.checked = all.checked;
      });
    });
  }
  list.addEventListener("click", function (ev) {
    const item = ev.target.closest && ev.target.closest("article.item");
    if (item && !ev.target.closest("button, a, input")) {
      select(items().indexOf(item));
    }
  });
  window.addEventListener("pagehide", function () { release(currentItem()); });
  // Back from the browser's back/forward cache: pagehide gave the claim back, so take it again.
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted && currentItem()) {
      select(current);
    }
  });

  const first = items().findIndex(function (el) { return !el.classList.contains("claimed"); });
  if (first >= 0) {
    select(first);
  } else if (items().length) {
    say("every comment here is held by another moderator");
  }
})();

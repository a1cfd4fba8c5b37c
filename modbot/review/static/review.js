// modbot review page: keyboard navigation, claims and verdicts.
// Comment text is rendered by the server, escaped; this script never builds HTML from data (no innerHTML),
// it only moves focus, toggles classes and sets textContent.
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
    let data = {};
    try {
      data = await resp.json();
    } catch (e) {
      data = { error: resp.status + " " + resp.statusText };
    }
    if (resp.status === 401) {
      window.location.assign("/login");
    }
    return { status: resp.status, data: data };
  }

  function markClaimed(item, holder) {
    item.classList.add("claimed");
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
    item.dataset.mine = "1";
    return res.status === 200;
  }

  function release(item) {
    if (item && item.dataset.mine === "1") {
      delete item.dataset.mine;
      post("/api/release", { id: item.dataset.id });
    }
  }

  async function select(index) {
    const all = items();
    if (all.length === 0) {
      current = -1;
      return;
    }
    index = Math.max(0, Math.min(all.length - 1, index));
    const previous = all[current];
    all.forEach(function (el) { el.classList.remove("current"); });
    current = index;
    const item = all[index];
    item.classList.add("current");
    item.focus({ preventScroll: true });
    item.scrollIntoView({ block: "nearest" });
    if (previous && previous !== item) {
      release(previous);
    }
    if (!item.classList.contains("claimed")) {
      await claim(item);
    }
  }

  function move(step) {
    const all = items();
    let i = current + step;
    // Skip items other moderators hold.
    while (i >= 0 && i < all.length && all[i].classList.contains("claimed")) {
      i += step;
    }
    if (i >= 0 && i < all.length) {
      select(i);
    }
  }

  function updateCounts(counts) {
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
  }

  async function act(ids, action) {
    if (ids.length === 0) {
      return;
    }
    say(action + "…");
    const res = await post("/api/verdict", { ids: ids, action: action });
    const results = (res.data && res.data.results) || {};
    let failed = 0;
    items().forEach(function (item) {
      const r = results[item.dataset.id];
      if (r && r.ok) {
        delete item.dataset.mine;
        item.remove();
      } else if (r) {
        failed += 1;
        markClaimed(item, (r.error || "error").replace(/^claimed by /, ""));
      }
    });
    updateCounts(res.data.counts);
    say(failed ? failed + " not changed: " + Object.values(results).filter(function (r) { return !r.ok; })
      .map(function (r) { return r.error; }).join("; ") : action + ": done");
    const all = items();
    if (all.length === 0) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "Nothing to review here.";
      list.appendChild(empty);
      current = -1;
    } else {
      current = Math.min(current, all.length - 1);
      const next = all[current];
      if (next.classList.contains("claimed")) {
        move(1);
      } else {
        select(current);
      }
    }
  }

  function currentItem() {
    const all = items();
    return current >= 0 && current < all.length ? all[current] : null;
  }

  function actOnCurrent(action) {
    const item = currentItem();
    if (item && !item.classList.contains("claimed")) {
      act([item.dataset.id], action);
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
      }
    },
    x: function () {
      const item = currentItem();
      const box = item && item.querySelector("input.select");
      if (box) {
        box.checked = !box.checked;
      }
    },
    o: function () {
      const item = currentItem();
      const link = item && item.querySelector("a.thread");
      if (link) {
        window.open(link.href, "_blank", "noopener,noreferrer");
      }
    },
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
    act([item.dataset.id], ev.submitter.value);
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

  const first = items().findIndex(function (el) { return !el.classList.contains("claimed"); });
  if (first >= 0) {
    select(first);
  }
})();

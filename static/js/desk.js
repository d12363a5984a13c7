/* supportdesk: keyboard shortcuts and the macro picker's type-to-filter.
 *
 * Plain JavaScript, no build step, no dependencies; loaded with `defer` from base.html.
 * Every page works without it: shortcuts are only shortcuts, and the macro picker is a
 * plain <select> with an "Insert its text" button that the server answers.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  function typing(el) {
    if (!el) return false;
    const tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || el.isContentEditable;
  }

  /* ---- Ticket list: j/k/o/Enter/x/a ---------------------------------------------- */

  const rows = Array.from(document.querySelectorAll("table.tickets tbody tr"));
  let current = -1;

  function move(to) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("kb-current");
    current = Math.max(0, Math.min(rows.length - 1, to));
    const row = rows[current];
    row.classList.add("kb-current");
    const link = row.querySelector("td.num a");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function currentLink() {
    return current >= 0 ? rows[current].querySelector("td.num a") : null;
  }

  function toggleSelected() {
    if (current < 0) return;
    const box = rows[current].querySelector('input[type="checkbox"][name="ids"]');
    if (box) {
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));  // the bulk bar listens
    }
  }

  function assignToMe() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    let chosen = form.querySelectorAll('input[name="ids"]:checked');
    if (!chosen.length && current >= 0) {
      const box = rows[current].querySelector('input[name="ids"]');
      if (box) box.checked = true;
      chosen = form.querySelectorAll('input[name="ids"]:checked');
    }
    if (!chosen.length) return;
    const all = document.getElementById("select-all-matching");
    if (all) all.checked = false;
    document.getElementById("bulk-action").value = "assign";
    document.getElementById("bulk-value-person").value = "me";
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  }

  /* ---- Ticket page: r/n/s ---------------------------------------------------------- */

  function reply(internal) {
    const body = document.getElementById("body");
    const box = document.getElementById(internal ? "is_internal" : "kind-reply");
    if (!body) return;
    if (box) {
      box.checked = true;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    }
    body.focus();
    body.scrollIntoView({ block: "center" });
  }

  function focusStatus() {
    const select = document.querySelector("#quick-update select[name=status]");
    if (select) select.focus();
  }

  /* ---- Help overlay --------------------------------------------------------------- */

  function help() {
    const dialog = document.getElementById("shortcuts");
    if (dialog && !dialog.open && dialog.showModal) dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape" && event.target.blur) event.target.blur();
      return;
    }
    const dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) return; // the dialog handles Esc itself
    const onList = rows.length > 0;
    const handlers = {
      "?": help,
      "/": function () {
        const q = document.getElementById("q");
        if (q) { q.focus(); q.select(); }
      },
    };
    if (onList) {
      handlers.j = function () { move(current + 1); };
      handlers.k = function () { move(current < 0 ? 0 : current - 1); };
      handlers.o = function () { const a = currentLink(); if (a) a.click(); };
      handlers.x = toggleSelected;
      handlers.a = assignToMe;
    }
    if (document.getElementById("comment-form") || document.getElementById("quick-update")) {
      handlers.r = function () { reply(false); };
      handlers.n = function () { reply(true); };
      handlers.s = focusStatus;
    }
    if (event.key === "Enter" && onList && current >= 0 && document.activeElement === document.body) {
      event.preventDefault();
      const a = currentLink();
      if (a) a.click();
      return;
    }
    const handler = handlers[event.key];
    if (handler) {
      event.preventDefault();
      handler();
    }
  });

  /* ---- Macro picker: type to filter, choosing inserts the text ---------------------- */

  document.querySelectorAll("[data-macro-picker]").forEach(function (picker) {
    const select = picker.querySelector("select");
    const body = document.getElementById("body");
    const internal = document.getElementById("is_internal");
    if (!select || !body) return;
    const filter = document.createElement("input");
    filter.type = "search";
    filter.id = "macro-filter";
    filter.placeholder = "Type to filter macros…";
    filter.setAttribute("aria-label", "Filter macros");
    filter.setAttribute("aria-controls", select.id);
    filter.autocomplete = "off";
    select.parentNode.insertBefore(filter, select);
    let inserted = "";

    function visible() {
      return Array.from(select.options).filter(function (o) { return o.value && !o.hidden; });
    }

    filter.addEventListener("input", function () {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.from(select.options).forEach(function (option) {
        if (!option.value) return;
        const name = option.textContent.toLowerCase();
        option.hidden = !words.every(function (w) { return name.includes(w); });
      });
      select.size = filter.value ? Math.min(8, Math.max(2, visible().length + 1)) : 0;
    });

    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault(); // never submit the reply from the filter box
        const first = visible()[0];
        if (first) { select.value = first.value; choose(); }
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        select.focus();
      }
    });

    function choose() {
      const option = select.options[select.selectedIndex];
      select.size = 0;
      if (!option || !option.value) return;
      const text = option.dataset.body;
      if (text) {
        let value = body.value;
        if (inserted && value.endsWith(inserted)) value = value.slice(0, value.length - inserted.length);
        value = value.replace(/\s+$/, "");
        body.value = value ? value + "\n\n" + text : text;
        inserted = text;
      }
      if (internal && option.dataset.internal) {
        internal.checked = true;
        internal.dispatchEvent(new Event("change", { bubbles: true }));  // the tabs follow
      }
      body.focus();
    }

    select.addEventListener("change", choose);
  });
})();

/* The bulk bar shows only the value select that belongs to the chosen action. */
(function () {
  "use strict";
  const action = document.getElementById("bulk-action");
  if (!action) return;
  function sync() {
    document.querySelectorAll(".bulk-value").forEach(function (span) {
      span.hidden = !span.dataset.for.split(" ").includes(action.value);
    });
  }
  action.addEventListener("change", sync);
  sync();
})();

/* Requester and CC type-ahead: existing customers as the staff member types (the fields
   are plain text without JavaScript: "Name <email>", several separated by commas). */
(function () {
  "use strict";
  const fields = ["requester", "cc"].map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  if (!fields.length) return;
  const list = document.createElement("datalist");
  list.id = "customer-options";
  document.body.appendChild(list);
  let timer = null;
  let asked = "";

  function lastPart(field) {
    const parts = field.value.split(",");
    return { head: parts.slice(0, -1).join(","), tail: parts[parts.length - 1].trim() };
  }

  function suggest(field) {
    const part = lastPart(field);
    if (part.tail.length < 2 || part.tail === asked) return;
    asked = part.tail;
    fetch("/customers/lookup?q=" + encodeURIComponent(part.tail), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    }).then(function (response) { return response.ok ? response.json() : { customers: [] }; })
      .then(function (data) {
        list.replaceChildren();
        data.customers.forEach(function (customer) {
          const option = document.createElement("option");
          option.value = (part.head ? part.head + ", " : "") + customer.value;
          option.textContent = customer.name ? customer.email : "";
          list.appendChild(option);
        });
      }).catch(function () { /* no suggestions: typing still works */ });
  }

  fields.forEach(function (field) {
    field.setAttribute("list", list.id);
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { suggest(field); }, 200);
    });
  });
})();

/* The workspace: the bulk bar appears once a ticket is selected; on a narrow screen the
   views sidebar starts folded (without JavaScript both stay open). */
(function () {
  "use strict";
  const bar = document.getElementById("bulk-bar");
  const form = document.getElementById("bulk-form");
  if (bar && form) {
    const sync = function () {
      bar.hidden = !form.querySelector("input[name=ids]:checked");
    };
    form.addEventListener("change", sync);
    sync();
  }
  const sidebar = document.getElementById("sidebar");
  if (sidebar) {
    if (window.matchMedia("(max-width: 900px)").matches) sidebar.open = false;
    // On a phone the open views are a drawer: a tap beside it or Escape closes it.
    const summary = sidebar.querySelector("summary");
    sidebar.addEventListener("click", function (event) {
      if (event.target === sidebar) sidebar.open = false;
    });
    sidebar.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && sidebar.open) {
        sidebar.open = false;
        if (summary) summary.focus();
      }
    });
  }
})();

/* The reply box: Reply and Internal note as two tabs (the radios underneath), the send
   button named after the tab, a note's yellow; Ctrl+Enter (⌘+Enter) sends. */
(function () {
  "use strict";
  const form = document.getElementById("comment-form");
  if (!form) return;
  const send = document.getElementById("add-comment");
  function sync() {
    const note = document.getElementById("is_internal");
    const internal = !!(note && note.checked);
    form.classList.toggle("note", internal);
    if (send) send.textContent = internal ? send.dataset.note : send.dataset.reply;
  }
  form.addEventListener("change", function (event) {
    if (event.target.name === "is_internal") sync();
  });
  form.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && send) {
      event.preventDefault();
      if (form.requestSubmit) form.requestSubmit(send);
      else send.click();
    }
  });
  sync();
})();

/* The side panel's tag picker: the chosen tags as removable tokens, the others found by
   typing. The multi-select underneath is what is sent (and what works without JS). */
(function () {
  "use strict";
  document.querySelectorAll("[data-tag-picker]").forEach(function (field) {
    const select = field.querySelector("select[multiple]");
    if (!select) return;
    const tokens = document.createElement("div");
    tokens.className = "tag-tokens";
    const input = document.createElement("input");
    input.type = "search";
    input.id = select.id + "-find";
    input.placeholder = "Add a tag…";
    input.autocomplete = "off";
    input.setAttribute("aria-label", "Add a tag: type to find it");
    const matches = document.createElement("div");
    matches.className = "tag-matches";
    select.classList.add("sr-only");
    select.tabIndex = -1;
    select.setAttribute("aria-hidden", "true");
    field.append(tokens, input, matches);
    function changed() {
      select.dispatchEvent(new Event("change", { bubbles: true }));
      render();
    }
    function button(text, label, onClick) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = text;
      b.setAttribute("aria-label", label);
      b.addEventListener("click", onClick);
      return b;
    }
    function render() {
      tokens.replaceChildren();
      matches.replaceChildren();
      const words = input.value.toLowerCase().trim();
      Array.from(select.options).forEach(function (option) {
        if (option.selected) {
          tokens.append(button(option.text + " ×", "Remove the tag " + option.text, function () {
            option.selected = false;
            changed();
            input.focus();
          }));
        } else if (words && option.text.toLowerCase().includes(words)) {
          matches.append(button("+ " + option.text, "Add the tag " + option.text, function () {
            option.selected = true;
            input.value = "";
            changed();
            input.focus();
          }));
        }
      });
    }
    input.addEventListener("input", render);
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();  // Enter adds the first match instead of sending the form
        const first = matches.querySelector("button");
        if (first) first.click();
      }
    });
    render();
  });
})();

/* The side panel saves as it is changed (a select, a tag, the due time once left), without
   reloading the page: a half-written reply below stays as it is. The post is the form's
   own (same CSRF token, version check and rulebook); the page it redirects to gives the
   new facts, history, versions and message, swapped in here. A conflict or an error is
   said in the panel, and its Save button then submits the usual way (the merge page). */
(function () {
  "use strict";
  const form = document.getElementById("quick-update");
  const status = document.getElementById("quick-status");
  if (!form || !status || !window.fetch || !window.DOMParser) return;
  const due = document.getElementById("quick-due");
  let running = null;
  let again = false;
  let failed = false;  // the last save did not go through: Save then posts the usual way
  let savedDue = due ? due.value : "";

  function replace(doc, selector) {
    const now = document.querySelector(selector);
    const fresh = doc.querySelector(selector);
    if (now && fresh) now.replaceWith(document.importNode(fresh, true));
  }

  function adopt(doc) {
    ["#timeline", ".facts-strip", ".ticket-side > dl.facts", "#quick-due-hint"].forEach(function (s) {
      replace(doc, s);
    });
    // Every form on the page posts the ticket's version: all move to the saved one.
    document.querySelectorAll("form").forEach(function (f) {
      const twin = f.id && doc.getElementById(f.id);
      if (!twin) return;
      ["version", "original"].forEach(function (name) {
        const mine = f.querySelector("input[type=hidden][name=" + name + "]");
        const theirs = twin.querySelector("input[type=hidden][name=" + name + "]");
        if (mine && theirs) mine.value = theirs.value;
      });
    });
    const messages = Array.from(doc.querySelectorAll(".flashes .flash"));
    status.textContent = messages.map(function (m) { return m.textContent.trim(); }).join(" ");
    status.classList.toggle("error", messages.some(function (m) {
      return m.classList.contains("flash-error");
    }));
  }

  function save() {
    if (running) { again = true; return; }
    failed = false;
    if (due) savedDue = due.value;
    status.classList.remove("error");
    status.textContent = "Saving…";
    running = fetch(form.action, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
    }).then(function (response) {
      return response.text().then(function (html) {
        const doc = new DOMParser().parseFromString(html, "text/html");
        const closedNow = !!document.querySelector(".flash-info.closed-note");
        const closedThen = !!doc.querySelector(".flash-info.closed-note");
        if (response.ok && !doc.getElementById("comment-form") && !doc.querySelector(".closed-note")) {
          // Not the ticket page back (signed out meanwhile, say): nothing here was saved.
          failed = true;
          status.classList.add("error");
          status.textContent = "Not saved: " + (doc.title || "the desk sent another page") +
            ". Press Save to go there.";
        } else if (response.ok && response.redirected && closedNow === closedThen) {
          adopt(doc);
        } else if (response.ok && response.redirected) {
          // Closed or reopened: the page changes shape. Keep a typed reply: say so instead.
          const body = document.getElementById("body");
          if (body && body.value.trim()) {
            adopt(doc);
            status.textContent += " Reload the page to see it " +
              (closedThen ? "closed" : "reopened") + " (copy your reply first).";
          } else {
            window.location.replace(response.url);
          }
        } else {
          const reason = doc.querySelector("#conflict h2, .flash-error, .field-errors");
          failed = true;
          status.classList.add("error");
          status.textContent = "Not saved: " +
            (reason ? reason.textContent.trim() : "the desk answered " + response.status) +
            (doc.getElementById("conflict") ? ". Press Save to see both versions and merge."
              : " Press Save to correct it on the edit page.");
        }
      });
    }).catch(function () {
      failed = true;
      status.classList.add("error");
      status.textContent = "Not saved: the desk could not be reached. Press Save to try again.";
    }).finally(function () {
      running = null;
      if (again) { again = false; save(); }
    });
  }

  form.addEventListener("change", function (event) {
    if (event.target.tagName === "SELECT") save();
  });
  // The due time saves once left (typing it fires a change per part of the date).
  if (due) {
    due.addEventListener("blur", function () {
      if (due.value !== savedDue && (due.value === "" || due.checkValidity())) save();
    });
  }
  // Save (or Enter) saves in place too; after a failed save it posts the usual way, to the
  // conflict or error page that explains it.
  form.addEventListener("submit", function (event) {
    if (failed) return;
    event.preventDefault();
    if (!running) save();
  });
})();

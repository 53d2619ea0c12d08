// Live updates for the workspace: one EventSource on /workspace/events per page.
// Each notification is announced in the polite live region #notifications, and every region of
// the page that asked for its kind (data-live-kinds="assigned,queued" data-live-fragment="<url>")
// is fetched again and replaced in place; on a ticket page, [data-live-ticket="<ticket id>"] too
// when the notification is about that ticket. No inline script, no build step.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch) return;

  var KINDS = ["assigned", "customer_message", "sla_warning", "sla_breached", "escalation",
    "group_escalation", "queued", "wait_exceeded"];
  var STORE = "ticketloop.live.lastEventId";
  var SHOWN = 5; // notifications kept on screen
  var loadedAt = Date.now();
  var seen = [];
  var region = document.getElementById("notifications");
  if (!region) {
    region = document.createElement("div");
    region.id = "notifications";
    region.className = "notifications";
    document.body.appendChild(region);
  }
  if (!region.hasAttribute("aria-live")) region.setAttribute("aria-live", "polite");

  function remember(id) {
    try { sessionStorage.setItem(STORE, id); } catch (e) { /* private mode: no resume across pages */ }
  }
  function recalled() {
    try { return sessionStorage.getItem(STORE); } catch (e) { return null; }
  }

  function announce(note) {
    var item = document.createElement("p");
    item.className = "notification notification-" + note.kind;
    var template = region.getAttribute("data-ticket-url"); // e.g. "/workspace/tickets/{id}"
    if (note.ticket_id && template) {
      var link = document.createElement("a");
      link.href = template.replace("{id}", encodeURIComponent(note.ticket_id));
      link.textContent = note.title;
      item.appendChild(link);
    } else {
      item.textContent = note.title;
    }
    region.appendChild(item);
    while (region.children.length > SHOWN) region.removeChild(region.firstElementChild);
  }

  // A region is fetched again at most once at a time; a notification arriving meanwhile
  // asks for one more fetch after it (bursts become one or two requests, not one each).
  // The workspace hears an event at the same moment as the services behind it, so a fragment
  // fetched at once may not show it yet: an unchanged answer is fetched again, a little later
  // each time (0.4, 0.8, 1.6, 3.2 s), until it changes or the tries run out.
  var RETRIES = 4;
  var pending = new Map();
  var deferred = new WeakSet();
  function comparable(html) {
    // What countdown.js rewrites every second is not a change of the region.
    return html.replace(/<time\b[^>]*>[\s\S]*?<\/time>/g, "<time>").replace(/\s+/g, " ").trim();
  }
  function refresh(el, url, tries) {
    tries = tries || 0;
    var state = pending.get(el);
    if (state) { state.again = true; return; }
    if (editing(el)) { // never swap a form out from under someone writing in it: try again later
      if (!deferred.has(el)) {
        deferred.add(el);
        setTimeout(function () { deferred.delete(el); refresh(el, url); }, 5000);
      }
      return;
    }
    state = { again: false, retry: false };
    pending.set(el, state);
    el.setAttribute("aria-busy", "true");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Live-Fragment": "1" } })
      .then(function (response) {
        if (!response.ok) throw new Error("fragment " + response.status);
        return response.text();
      })
      .then(function (html) {
        var before = comparable(el.innerHTML);
        if (el.hasAttribute("data-live-fragment")) replace(el, html);
        else replaceFromPage(el, html);
        if (comparable(el.innerHTML) === before && tries < RETRIES) state.retry = true;
      })
      .catch(function () { /* the next notification or a reload brings it back */ })
      .then(function () {
        el.removeAttribute("aria-busy");
        pending.delete(el);
        if (state.again) refresh(el, url);
        else if (state.retry) setTimeout(function () { refresh(el, url, tries + 1); }, 400 * Math.pow(2, tries));
      });
  }

  function editing(el) {
    var fields = el.querySelectorAll("textarea, input:not([type=hidden]):not([type=submit]):not([type=button])");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== fields[i].defaultValue) return true;
    }
    var active = document.activeElement;
    return !!active && el.contains(active) && /^(TEXTAREA|SELECT)$/.test(active.tagName);
  }

  // Replace a region's content, keeping focus on the same control (same id, data-focus-key or
  // link target) when it is still there, else on the region itself rather than losing it.
  function replace(el, html) {
    var active = document.activeElement;
    var had = !!active && active !== el && el.contains(active);
    var selector = had ? focusSelector(active) : null;
    el.innerHTML = html;
    if (!had) return;
    var again = selector && el.querySelector(selector);
    if (again) { again.focus({ preventScroll: true }); return; }
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: true });
  }

  function focusSelector(node) {
    if (node.id) return "#" + CSS.escape(node.id);
    var key = node.getAttribute("data-focus-key");
    if (key) return "[data-focus-key=\"" + CSS.escape(key) + "\"]";
    var href = node.tagName === "A" && node.getAttribute("href");
    if (href) return "a[href=\"" + CSS.escape(href) + "\"]";
    return null;
  }

  // A ticket region without a fragment URL: the same region out of the page fetched again.
  function replaceFromPage(el, html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var fresh = page.querySelector("[data-live-ticket=\"" + CSS.escape(el.getAttribute("data-live-ticket")) + "\"]");
    if (fresh) replace(el, fresh.innerHTML);
  }

  function regionsFor(note) {
    var found = [];
    document.querySelectorAll("[data-live-fragment][data-live-kinds]").forEach(function (el) {
      var kinds = el.getAttribute("data-live-kinds").split(",").map(function (k) { return k.trim(); });
      if (kinds.indexOf(note.kind) >= 0) found.push([el, el.getAttribute("data-live-fragment")]);
    });
    if (note.ticket_id) {
      document.querySelectorAll("[data-live-ticket=\"" + CSS.escape(note.ticket_id) + "\"]").forEach(function (el) {
        found.push([el, el.getAttribute("data-live-fragment") || window.location.href]);
      });
    }
    return found;
  }

  function refreshAll() {
    document.querySelectorAll("[data-live-fragment]").forEach(function (el) {
      refresh(el, el.getAttribute("data-live-fragment"));
    });
    document.querySelectorAll("[data-live-ticket]:not([data-live-fragment])").forEach(function (el) {
      refresh(el, window.location.href);
    });
  }

  var firstConnection = true;
  function received(event) {
    if (event.lastEventId) {
      if (seen.indexOf(event.lastEventId) >= 0) return; // resumed twice over the same ground
      seen.push(event.lastEventId);
      if (seen.length > 500) seen.shift();
      remember(event.lastEventId);
    }
    var note;
    try { note = JSON.parse(event.data); } catch (e) { return; }
    // What happened while the previous page was loading is shown; older news only refreshes.
    if (!(firstConnection && Date.parse(note.at) < loadedAt - 60000)) announce(note);
    regionsFor(note).forEach(function (pair) { refresh(pair[0], pair[1]); });
  }

  var last = recalled();
  var source = new EventSource("/workspace/events" + (last ? "?last_event_id=" + encodeURIComponent(last) : ""));
  KINDS.forEach(function (kind) { source.addEventListener(kind, received); });
  source.addEventListener("resync", refreshAll);
  source.addEventListener("expired", function () {
    source.close();
    var item = document.createElement("p");
    item.className = "notification notification-expired";
    item.textContent = "Your session has ended: reload the page to sign in again.";
    region.appendChild(item);
  });
  source.addEventListener("error", function () { firstConnection = false; });
})();

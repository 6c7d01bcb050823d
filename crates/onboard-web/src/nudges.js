/* Onboard in-app nudges. No dependencies. Include it on a product page:
 *
 *   <script src="https://onboard.example.com/sdk/nudges.js"
 *           data-user-id="u-123" data-user-token="<hex HMAC-SHA256 of the user id>"></script>
 *
 * or call OnboardNudges.start({ host, userId, userToken }) yourself. It fetches the user's
 * pending nudges, shows each next to the element its selector names (or in a corner), and
 * reports `shown`, `clicked` (the prompt's button or the target itself) and `dismissed`.
 */
(function () {
  "use strict";
  var script = document.currentScript;

  function ack(cfg, nudge, action) {
    var body = JSON.stringify({ userId: cfg.userId, action: action, messageId: id() });
    return fetch(cfg.host + "/v1/nudges/" + encodeURIComponent(nudge.id) + "/ack", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Onboard-User-Token": cfg.userToken || "" },
      body: body,
      keepalive: true
    }).catch(function () {});
  }

  function id() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return String(Date.now()) + "-" + Math.random().toString(16).slice(2);
  }

  function style() {
    if (document.getElementById("onboard-nudge-style")) return;
    var css = document.createElement("style");
    css.id = "onboard-nudge-style";
    css.textContent =
      ".onboard-nudge{position:absolute;z-index:2147483000;max-width:18rem;padding:.8rem 1rem;" +
      "border-radius:.5rem;font:14px/1.4 system-ui,sans-serif;color:#1f2933;background:#fff;" +
      "box-shadow:0 6px 24px rgba(0,0,0,.18);border:1px solid #d9e2ec}" +
      ".onboard-nudge.onboard-celebration{background:#fffbea;border-color:#f7c948}" +
      ".onboard-nudge.onboard-corner{position:fixed;right:1rem;bottom:1rem}" +
      ".onboard-nudge strong{display:block;margin-bottom:.2rem}" +
      ".onboard-nudge p{margin:0 0 .6rem}" +
      ".onboard-nudge button{font:inherit;border:0;border-radius:.3rem;padding:.3rem .8rem;cursor:pointer}" +
      ".onboard-nudge .onboard-go{background:#2f6fde;color:#fff}" +
      ".onboard-nudge .onboard-close{background:transparent;color:#52606d;margin-left:.4rem}";
    document.head.appendChild(css);
  }

  function place(box, target) {
    if (!target) {
      box.classList.add("onboard-corner");
      return;
    }
    var r = target.getBoundingClientRect();
    box.style.top = window.scrollY + r.bottom + 8 + "px";
    box.style.left = Math.max(8, window.scrollX + r.left) + "px";
  }

  function show(cfg, nudge) {
    var target = null;
    if (nudge.selector) {
      try {
        target = document.querySelector(nudge.selector);
      } catch (e) {
        target = null;
      }
      if (!target) return false; /* its element is not on this page: keep it for another */
    }
    style();
    var box = document.createElement("div");
    box.className = "onboard-nudge onboard-" + nudge.style;
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-live", "polite");
    box.setAttribute("data-nudge-id", nudge.id);
    var title = document.createElement("strong");
    title.textContent = (nudge.style === "celebration" ? "\uD83C\uDF89 " : "") + nudge.title;
    var text = document.createElement("p");
    text.textContent = nudge.text;
    var go = document.createElement("button");
    go.className = "onboard-go";
    go.type = "button";
    go.textContent = target ? "Show me" : "Got it";
    var close = document.createElement("button");
    close.className = "onboard-close";
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "Dismiss";
    box.appendChild(title);
    box.appendChild(text);
    box.appendChild(go);
    box.appendChild(close);
    document.body.appendChild(box);
    place(box, target);
    var done = false;
    function end(action) {
      if (done) return;
      done = true;
      box.remove();
      ack(cfg, nudge, action);
    }
    go.addEventListener("click", function () {
      end("clicked");
      if (target) target.focus();
    });
    close.addEventListener("click", function () {
      end("dismissed");
    });
    if (target) {
      target.addEventListener("click", function () {
        end("clicked");
      }, { once: true });
    }
    ack(cfg, nudge, "shown");
    return true;
  }

  function start(cfg) {
    cfg.host = (cfg.host || "").replace(/\/+$/, "");
    var url = cfg.host + "/v1/nudges?userId=" + encodeURIComponent(cfg.userId);
    return fetch(url, { headers: { "X-Onboard-User-Token": cfg.userToken || "" } })
      .then(function (response) {
        return response.ok ? response.json() : { nudges: [] };
      })
      .then(function (answer) {
        /* One prompt at a time: the oldest whose element is on this page. */
        (answer.nudges || []).some(function (nudge) {
          return show(cfg, nudge);
        });
      })
      .catch(function () {});
  }

  window.OnboardNudges = { start: start };
  if (script && script.getAttribute("data-user-id")) {
    var origin = new URL(script.src, window.location.href).origin;
    var cfg = {
      host: script.getAttribute("data-host") || origin,
      userId: script.getAttribute("data-user-id"),
      userToken: script.getAttribute("data-user-token")
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () {
        start(cfg);
      });
    } else {
      start(cfg);
    }
  }
})();

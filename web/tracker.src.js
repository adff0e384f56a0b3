/* marketing tracker: page views (SPA too), engagement, scroll depth, web
   vitals, data-marketing-event clicks, outbound links, and a lead-form
   helper. No cookies, no dependencies; never throws into the page.
   <script defer src="https://api.example.com/v1/tracker.js" data-property="site"
     data-consent="anon|granted" data-include-localhost></script> */
(function (w, d) {
  try {
    var s = d.currentScript, A = function (n) { return s && s.getAttribute("data-" + n) },
      api = A("api") || (s && s.src ? new URL(s.src).origin : ""), prop = A("property"),
      consent = A("consent") || "anon", N = navigator, L = location, K = "marketing_anon",
      gpc = N.globalPrivacyControl === true, start = Date.now(), shown = 0, vis = 0, depth = 0,
      last = "", ref = d.referrer, vitals = {}, sentVitals = 0;
    var off = !api || (/^(localhost|127\.|\[::1\]|0\.0\.0\.0)/.test(L.hostname) && A("include-localhost") == null);
    // crypto.randomUUID exists in every secure context; elsewhere events go
    // without an id (the server then dedupes by content).
    var uuid = function () { return crypto.randomUUID && crypto.randomUUID() };
    var anon = function () {
      try {
        if (consent != "granted" || gpc) return;
        var v = localStorage.getItem(K);
        if (!v && (v = uuid())) localStorage.setItem(K, v);
        return v;
      } catch (e) {}
    };
    var post = function (path, body) {
      var b = JSON.stringify(body), u = api + path;
      try { if (N.sendBeacon && N.sendBeacon(u, b)) return } catch (e) {}
      // A string body is text/plain: no CORS preflight, no cookies cross-origin.
      try { fetch(u, { method: "POST", body: b, keepalive: true }) } catch (e) {}
    };
    var utm = function () {
      var q = new URLSearchParams(L.search), o = {};
      ["source", "medium", "campaign", "term", "content"].forEach(function (k) { var v = q.get("utm_" + k); if (v) o[k] = v });
      return o;
    };
    var send = function (type, props, traffic) {
      if (off) return;
      var e = { eventId: uuid(), eventType: type, path: L.pathname, utm: utm() };
      var a = anon(); if (a) e.anonId = a;
      if (prop) e.propertyId = prop;
      if (props) e.props = props;
      if (traffic) e.traffic = traffic;
      if (type == "page_view" && ref) e.referrer = ref;
      post("/v1/events", e);
    };
    var pageview = function () {
      var u = L.pathname + L.search;
      if (u == last) return;
      if (last) ref = L.origin + last;
      last = u;
      send("page_view");
    };
    var engaged = function () { return vis + (d.visibilityState == "visible" ? Date.now() - shown : 0) };
    var leave = function () {
      if (d.visibilityState == "hidden" || this == w) {
        send("engagement", 0, { engagedTimeMs: Math.round(engaged()), scrollDepthPercent: depth });
        if (!sentVitals && Object.keys(vitals).length) { sentVitals = 1; send("cwv", 0, { webVitals: vitals }) }
      }
    };
    shown = start;
    d.addEventListener("visibilitychange", function () {
      if (d.visibilityState == "hidden") { vis += Date.now() - shown; leave() } else shown = Date.now();
    });
    w.addEventListener("pagehide", leave);
    w.addEventListener("scroll", function () {
      var h = d.documentElement, m = h.scrollHeight - h.clientHeight;
      depth = Math.max(depth, m > 0 ? Math.min(100, Math.round(100 * h.scrollTop / m)) : 100);
    }, { passive: true });
    ["pushState", "replaceState"].forEach(function (f) {
      var o = history[f];
      history[f] = function () { var r = o.apply(this, arguments); setTimeout(pageview); return r };
    });
    w.addEventListener("popstate", pageview);
    d.addEventListener("click", function (ev) {
      var t = ev.target.closest && ev.target.closest("[data-marketing-event],a[href]");
      if (!t) return;
      var n = t.getAttribute("data-marketing-event");
      if (n) {
        var p = {};
        [].forEach.call(t.attributes, function (x) { if (x.name.indexOf("data-marketing-prop-") == 0) p[x.name.slice(20)] = x.value });
        send(n, p);
      } else if (t.host && t.host != L.host && /^http/.test(t.protocol)) send("outbound_click", { url: t.host + t.pathname });
    }, true);
    var O = function (type, f) { try { new PerformanceObserver(function (l) { l.getEntries().forEach(f) }).observe({ type: type, buffered: true }) } catch (e) {} };
    O("largest-contentful-paint", function (e) { vitals.lcpMs = Math.round(e.startTime) });
    O("paint", function (e) { if (e.name == "first-contentful-paint") vitals.fcpMs = Math.round(e.startTime) });
    O("layout-shift", function (e) { if (!e.hadRecentInput) vitals.clsScore = +((vitals.clsScore || 0) + e.value).toFixed(4) });
    O("event", function (e) { if (e.interactionId) vitals.inpMs = Math.max(vitals.inpMs || 0, Math.round(e.duration)) });
    O("navigation", function (e) { vitals.ttfbMs = Math.round(e.responseStart) });
    var lead = function (f) {
      f.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var q = function (sel) { return f.querySelector(sel) }, fd = new FormData(f), box = q("[name=consentStatus]"),
          label = box && (box.closest("label") || q('label[for="' + box.id + '"]')), btn = q("[type=submit]"),
          show = function (sel) { var el = q(sel); if (el) el.hidden = false };
        var body = { email: fd.get("email"), name: fd.get("name") || undefined, honeypot: fd.get("honeypot") || undefined,
          formName: f.getAttribute("data-marketing-lead") || f.name || undefined, path: L.pathname, referrer: d.referrer || undefined,
          utm: utm(), anonId: anon(), consentStatus: box && box.checked ? box.value || "express" : undefined,
          doubleOptIn: f.hasAttribute("data-marketing-double-opt-in") || undefined };
        // The wording is what the person read: the checkbox's label (a hidden
        // consent_text carries it for the same form without JavaScript).
        if (body.consentStatus) body.consent = { text: ((label && label.textContent.trim()) || fd.get("consent_text") || "").trim() };
        if (btn) btn.disabled = true;
        fetch(api + "/v1/leads/capture", { method: "POST", body: JSON.stringify(body) })
          .then(function (r) { if (!r.ok) throw r; f.setAttribute("data-state", "done"); show("[data-marketing-success]") })
          .catch(function () { f.setAttribute("data-state", "error"); show("[data-marketing-error]"); if (btn) btn.disabled = false });
      });
    };
    var ready = function () { [].forEach.call(d.querySelectorAll("form[data-marketing-lead]"), lead); pageview() };
    d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", ready) : ready();
    w.marketing = {
      track: function (n, p) { try { send(String(n), p) } catch (e) {} },
      consent: function (g) { try { consent = g ? "granted" : "anon"; if (!g) localStorage.removeItem(K) } catch (e) {} }
    };
  } catch (e) {}
})(window, document);

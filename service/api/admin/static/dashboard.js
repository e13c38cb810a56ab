// The admin status page (GET /api/health/dashboard). No library, no network beyond
// this service. The page and this file hold no data: after an admin signs in
// (POST /api/auth/login), the token lives in sessionStorage (this tab only) and is
// sent as `Authorization: Bearer` to the admin health endpoints every 2 seconds.
// Every figure is written with textContent, never as HTML.
"use strict";

(function () {
  const POLL_MS = 2000;
  const HISTORY = 90;                      // points per chart: 3 minutes at 2 s
  const TOKEN_KEY = "cj-status-token";
  // Relative to /api/health/dashboard, so the page also works under a path prefix.
  const API = {login: "../auth/login", logout: "../auth/logout", me: "../auth/me", full: "full",
               database: "database", cache: "cache", profiling: "profiling"};
  const TIERS = ["short", "medium", "long"];
  const COLORS = ["#2f7ed8", "#e0792b", "#3aa35b"];

  const $ = (id) => document.getElementById(id);
  const history = {inUse: [], open: [], qps: [], slowPerS: [], hitRate: {short: [], medium: [], long: []}};
  let previous = null;                     // {at, queries, slow} of the last poll
  let timer = null;

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function setText(id, value) { $(id).textContent = value === null || value === undefined ? "–" : String(value); }

  function fmt(n, digits) {
    if (n === null || n === undefined || Number.isNaN(n)) return "–";
    return Number(n).toLocaleString("en-US", {maximumFractionDigits: digits === undefined ? 2 : digits});
  }

  function setBadge(id, status, label) {
    const el = $(id);
    el.dataset.status = status;
    el.textContent = label || status;
  }

  async function call(path, options) {
    const headers = Object.assign({"Accept": "application/json"}, (options && options.headers) || {});
    const t = token();
    if (t && !headers["Authorization"]) headers["Authorization"] = "Bearer " + t;
    const response = await fetch(path, Object.assign({}, options || {}, {headers: headers, cache: "no-store",
                                                                         credentials: "omit"}));
    let body = null;
    if ((response.headers.get("Content-Type") || "").startsWith("application/json")) body = await response.json();
    return {status: response.status, body: body};
  }

  function errorMessage(result) {
    return (result.body && result.body.error && result.body.error.message) || ("HTTP " + result.status);
  }

  // -- signing in and out -------------------------------------------------------

  function showLogin(message) {
    stopPolling();
    sessionStorage.removeItem(TOKEN_KEY);
    $("status").hidden = true;
    $("logout").hidden = true;
    $("login-panel").hidden = false;
    $("whoami").textContent = "";
    setBadge("overall", "unknown", "not signed in");
    $("login-error").textContent = message || "";
  }

  async function signIn(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const result = await call(API.login, {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email: $("email").value, password: $("password").value})});
    if (result.status !== 200) { showLogin(errorMessage(result)); return; }
    if (!result.body.user.is_admin) {
      await refuse(result.body.access_token);
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, result.body.access_token);
    $("password").value = "";
    start(result.body.user.email);
  }

  // An account that is not (or no longer) an admin: its token is revoked, not only forgotten
  // by this tab, or it would stay valid for TOKEN_TTL_HOURS with nobody holding it.
  async function refuse(accessToken) {
    stopPolling();
    if (accessToken) {
      await call(API.logout, {method: "POST", headers: {"Authorization": "Bearer " + accessToken}})
        .catch(() => null);
    }
    showLogin("This account is not an administrator.");
  }

  async function signOut() {
    if (token()) await call(API.logout, {method: "POST"}).catch(() => null);
    showLogin("Signed out.");
  }

  async function resume() {
    if (!token()) { showLogin(""); return; }
    const me = await call(API.me).catch(() => ({status: 0}));
    if (me.status !== 200) { showLogin(me.status === 401 ? "Your session expired: sign in again." : ""); return; }
    if (!me.body.is_admin) { await refuse(token()); return; }
    start(me.body.email);
  }

  function start(email) {
    $("login-panel").hidden = true;
    $("status").hidden = false;
    $("logout").hidden = false;
    $("whoami").textContent = email;
    stopPolling();
    poll();
  }

  function stopPolling() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  // -- polling ------------------------------------------------------------------

  async function poll() {
    try {
      const [full, database, cache, profiling] = await Promise.all(
        [API.full, API.database, API.cache, API.profiling].map((path) => call(path)));
      for (const result of [full, database, cache, profiling]) {
        if (result.status === 401) { showLogin("Your session expired: sign in again."); return; }
        if (result.status === 403) { await refuse(token()); return; }
      }
      // /full answers 503 with its report when the database is down: still worth showing. An
      // error envelope instead (signing the token in needs the database too, while the token
      // cache is bypassed) is the service's own answer: say what it says, not "unreachable".
      const failed = [full, database, cache, profiling].find((r) => !r.body || r.body.error);
      if (failed) {
        answered(failed.body ? errorMessage(failed) : "HTTP " + failed.status);
      } else {
        render(full.body, database.body, cache.body, profiling.body);
        $("poll-error").textContent = "";
      }
    } catch (error) {
      $("poll-error").textContent = "Could not reach the service: " + error.message;
      setBadge("overall", "unhealthy", "unreachable");
    }
    if ($("status").hidden === false) timer = setTimeout(poll, POLL_MS);
  }

  function answered(message) {
    $("poll-error").textContent = "The service answered: " + message;
    setBadge("overall", "unhealthy", "unavailable");
  }

  function push(series, value) {
    series.push(value);
    if (series.length > HISTORY) series.shift();
  }

  function render(full, database, cache, profiling) {
    setBadge("overall", full.status);
    const pool = database.pool;
    const events = full.pool.events;
    setBadge("pool-status", pool.status);
    setText("pool-in-use", pool.in_use);
    setText("pool-size", pool.size);
    setText("pool-idle", pool.idle);
    setText("pool-max", pool.max);
    setText("pool-waiting", pool.waiting);
    setText("pool-utilization", fmt(pool.utilization_percent, 1) + " %");
    setText("pool-acquires", fmt(events.acquires, 0));
    setText("pool-timeouts", fmt(events.acquire_timeouts, 0));
    setText("pool-leaks", fmt(events.leaks_suspected, 0));
    setText("pool-wait-p95", fmt(events.acquire_wait_ms.p95, 3) + " ms");
    setText("pool-hold-p95", fmt(events.hold_ms.p95, 3) + " ms");
    setText("server-connections", database.server
      ? database.server.connections + " of " + database.server.max_connections : "–");

    const summary = profiling.summary;
    const now = Date.now() / 1000;
    let qps = null, slowPerS = null;
    if (previous !== null && now > previous.at && summary.total_queries >= previous.queries) {
      qps = (summary.total_queries - previous.queries) / (now - previous.at);
      slowPerS = (summary.slow_queries - previous.slow) / (now - previous.at);
    }
    previous = {at: now, queries: summary.total_queries, slow: summary.slow_queries};
    setText("total-queries", fmt(summary.total_queries, 0));
    setText("queries-per-second", qps === null ? "–" : fmt(qps, 1));
    setText("avg-query-ms", fmt(summary.avg_time_ms, 3) + " ms");
    setText("slow-queries", fmt(summary.slow_queries, 0) + " (" + fmt(summary.slow_query_percent, 1) + " %)");
    setText("very-slow-queries", fmt(summary.very_slow_queries, 0));
    setText("n-plus-one", fmt(summary.n_plus_one_findings, 0));
    setText("slow-threshold", "(at or above " + fmt(profiling.thresholds.slow_query_ms, 1) + " ms)");

    // Token lookups are cached (AUTH_CACHE_ENABLED) even when responses are not (CACHE_ENABLED).
    const caching = cache.enabled || cache.token_cache_enabled;
    setBadge("cache-coherent", !caching ? "unknown" : cache.coherent ? "healthy" : "critical",
             !caching ? "disabled" : cache.coherent ? "coherent" : "incoherent");
    const rows = TIERS.filter((tier) => cache.tiers[tier]).map((tier) => {
      const t = cache.tiers[tier];
      return [tier, fmt(t.size, 0) + " / " + fmt(t.maxsize, 0), fmt(t.hits, 0), fmt(t.misses, 0),
              fmt(t.hit_rate_percent, 1) + " %", fmt(t.evictions, 0)];
    });
    fillTable("cache-tiers", rows, (tier) => "cache-" + tier);

    fillTable("slow-list", profiling.recent_slow_queries.slice(0, 10).map((q) => [
      q.timestamp.slice(11, 19), q.name || q.query_hash, fmt(q.duration_ms, 2), q.endpoint || "–",
      q.request_id || "–"]));
    fillTable("slowest-list", profiling.top_slowest_queries.slice(0, 10).map((q) => [
      q.name || q.query_hash, fmt(q.execution_count, 0), fmt(q.avg_time_ms, 3), fmt(q.p95_time_ms, 3),
      fmt(q.max_time_ms, 3)]));

    push(history.inUse, pool.in_use);
    push(history.open, pool.size);
    push(history.qps, qps);
    push(history.slowPerS, slowPerS);
    for (const tier of TIERS) push(history.hitRate[tier], cache.tiers[tier] ? cache.tiers[tier].hit_rate_percent : null);
    drawChart($("chart-pool"), [history.inUse, history.open], Math.max(pool.max, 1));
    drawChart($("chart-queries"), [history.qps, history.slowPerS], null);
    drawChart($("chart-cache"), TIERS.map((tier) => history.hitRate[tier]), 100);
    $("updated").textContent = "Worker pid " + full.worker.pid + " · updated " + new Date().toLocaleTimeString() +
      " · every " + POLL_MS / 1000 + " s";
  }

  function fillTable(id, rows, rowId) {
    const body = $(id);
    const fresh = document.createDocumentFragment();
    for (const cells of rows) {
      const tr = document.createElement("tr");
      if (rowId) tr.id = rowId(cells[0]);
      for (const value of cells) {
        const td = document.createElement("td");
        td.textContent = value;
        tr.appendChild(td);
      }
      fresh.appendChild(tr);
    }
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 6;
      td.className = "muted";
      td.textContent = "none";
      tr.appendChild(td);
      fresh.appendChild(tr);
    }
    body.replaceChildren(fresh);
  }

  // -- charts -------------------------------------------------------------------

  function drawChart(canvas, seriesList, fixedMax) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, pad = 22;
    ctx.clearRect(0, 0, w, h);
    const values = seriesList.flat().filter((v) => v !== null && !Number.isNaN(v));
    const max = fixedMax || Math.max(1, ...values) * 1.1;
    ctx.strokeStyle = "#d9dee5";
    ctx.fillStyle = "#6b7785";
    ctx.font = "10px sans-serif";
    ctx.lineWidth = 1;
    for (const fraction of [0, 0.5, 1]) {
      const y = h - pad / 2 - fraction * (h - pad);
      ctx.beginPath();
      ctx.moveTo(pad + 8, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      ctx.fillText(fmt(max * fraction, max >= 10 ? 0 : 1), 0, y + 3);
    }
    const step = (w - pad - 8) / (HISTORY - 1);
    // the first series is drawn last, on top: it is the one to read when lines coincide
    seriesList.map((series, index) => [series, index]).reverse().forEach(([series, index]) => {
      ctx.strokeStyle = COLORS[index % COLORS.length];
      ctx.lineWidth = 2;
      ctx.beginPath();
      let drawing = false;
      const offset = HISTORY - series.length;
      series.forEach((value, i) => {
        if (value === null || Number.isNaN(value)) { drawing = false; return; }
        const x = pad + 8 + (offset + i) * step;
        const y = h - pad / 2 - Math.min(value / max, 1) * (h - pad);
        if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        drawing = true;
      });
      ctx.stroke();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (event) => { signIn(event).catch((e) => showLogin(e.message)); });
    $("logout").addEventListener("click", () => { signOut(); });
    resume();
  });
})();

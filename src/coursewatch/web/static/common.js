// coursewatch dashboard: what both pages share. The API client (token handling), the server's
// clock, units and formatting, and the live connection (EventSource that re-reads the state
// every time it (re)connects, so a server restart heals by itself).
"use strict";

const CW = (() => {
  const TOKEN_KEY = "coursewatch.token";
  const UNITS_KEY = "coursewatch.units";
  const M_PER_MI = 1609.344;
  const STATUS_TEXT = {
    not_started: "not started", running: "running", off_course: "off course",
    flagged: "flagged", far_from_course: "far from course", silent: "silent",
    stopped: "stopped", finished: "finished", dnf: "DNF", sos: "SOS",
  };

  // A token given in the address (?token=...) is kept in this browser and taken out of the
  // address bar, so it is not shared with a copied link or left in the history.
  // In a frame (a race's website showing the live map) the page is the public's: race HQ's
  // token is neither used nor changed there, so nobody can frame HQ's dashboard and steer its
  // clicks; a link outside a frame changes it only when asked.
  const framed = window.top !== window.self;
  (function takeTokenFromUrl() {
    const url = new URL(location.href);
    const t = url.searchParams.get("token");
    if (t === null || framed) return;
    const had = localStorage.getItem(TOKEN_KEY);
    // a link may not swap or clear race HQ's token unasked (one sent by someone else)
    if (!had || had === t || confirm(t ? "Use the token in this link instead of the one this "
        + "browser keeps for race HQ?" : "Sign this browser out of race HQ?")) {
      if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
    }
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  })();

  const parts = location.pathname.split("/").filter(Boolean);  // races/<race>[/runners/<bib>]
  const raceId = decodeURIComponent(parts[1] || "");
  const bib = parts[2] === "runners" ? decodeURIComponent(parts[3] || "") : null;

  function token() { return framed ? "" : localStorage.getItem(TOKEN_KEY) || ""; }
  function setToken(t) {
    if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
  }

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super(e.message || `HTTP ${status}`);
      this.status = status;
      this.hint = e.hint || "";
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token()) headers.Authorization = `Bearer ${token()}`;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options = Object.assign({}, options, { body: JSON.stringify(options.json) });
    }
    const r = await fetch(path, Object.assign({ cache: "no-store" }, options, { headers }));
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }

  const racePath = `/api/races/${encodeURIComponent(raceId)}`;

  // The server's clock: the demo runs its race faster than the wall clock, so "in 12 min"
  // must count from the server's now, not the browser's.
  const clock = { rate: 1, at: Date.now() / 1000, serverAt: Date.now() / 1000, known: false };
  function setNow(serverTs) {
    const wall = Date.now() / 1000;
    if (clock.known && wall - clock.at > 2) {
      const rate = (serverTs - clock.serverAt) / (wall - clock.at);
      if (rate > 0.5 && rate < 10000) clock.rate = rate;
    }
    clock.at = wall;
    clock.serverAt = serverTs;
    clock.known = true;
  }
  function now() { return clock.serverAt + (Date.now() / 1000 - clock.at) * clock.rate; }
  // a fix the race's clock has not reached: in a replay (its clock hours from the wall's) the
  // clock is behind the data between two readings ("last fix 19:11, in 54 min" at 1200x);
  // a live race's fixes are never far ahead (the server drops them)
  function seen(ts) {
    const replay = Math.abs(clock.serverAt - Date.now() / 1000) > 3600;
    if (replay && clock.known && ts > now()) { clock.serverAt = ts; clock.at = Date.now() / 1000; }
  }

  // the reader's choice (⚙), else the race's (a race run in miles: its race file's units)
  let raceUnits = "km";
  function setRaceUnits(u) { raceUnits = u === "mi" ? "mi" : "km"; }
  function units() { return (localStorage.getItem(UNITS_KEY) || raceUnits) === "mi" ? "mi" : "km"; }
  function setUnits(u) { localStorage.setItem(UNITS_KEY, u === "mi" ? "mi" : "km"); }
  function unitM() { return units() === "mi" ? M_PER_MI : 1000; }
  function dist(m, digits = 2) {
    if (m === null || m === undefined || !isFinite(m)) return "–";
    return `${(m / unitM()).toFixed(digits)} ${units()}`;
  }
  // a short distance across the course (how far off it): metres, or feet to 1,000 ft then miles
  function off(m) {
    if (m === null || m === undefined || !isFinite(m)) return "–";
    if (units() !== "mi") return `${Math.round(m)} m`;
    const ft = m / 0.3048, shown = ft < 100 ? Math.round(ft) : Math.round(ft / 10) * 10;
    return shown >= 1000 ? dist(m, 2) : `${shown} ft`;
  }
  function pace(mps) {
    if (!mps || mps < 0.1) return "–";
    const s = unitM() / mps;
    const min = Math.floor(s / 60);
    const sec = Math.round(s - min * 60);
    return `${min}:${String(sec === 60 ? 59 : sec).padStart(2, "0")} /${units()}`;
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  // Times of day are the race's (its start's timezone, as its cut-offs and the messages
  // say them), not the browser's: a crew abroad reads what the aid station reads.
  // A race file that names its time zone (America/Denver) has its daylight saving time and
  // its abbreviation (MDT); one with an offset only keeps its start's offset.
  let zoneS = null;
  let zoneFormats = null;  // the race's named time zone: its offset, its abbreviations
  function setZone(offsetS, name) {
    zoneS = typeof offsetS === "number" ? offsetS : null;
    zoneFormats = null;
    if (typeof name !== "string" || !name) return;
    try {
      const as = (locale, style) => new Intl.DateTimeFormat(locale, { timeZone: name, timeZoneName: style });
      zoneFormats = { offset: as("en-US", "longOffset"), us: as("en-US", "short"), gb: as("en-GB", "short") };
    } catch (e) { /* a zone this browser does not know: the start's offset */ }
  }
  function zonePart(ts, format) {
    const parts = format.formatToParts(new Date(ts * 1000));
    return (parts.find((p) => p.type === "timeZoneName") || {}).value || "";
  }
  function offsetAt(ts) {  // seconds east of UTC on the race's clock at ts
    if (!zoneFormats) return zoneS;
    const m = /GMT([+-])(\d\d):(\d\d)/.exec(zonePart(ts, zoneFormats.offset));
    return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
  }
  function zoneLabel() {
    if (zoneFormats) {  // MDT, CEST: the abbreviation people use there, else its offset
      const us = zonePart(now(), zoneFormats.us);
      const named = us.startsWith("GMT") ? zonePart(now(), zoneFormats.gb) : us;
      if (!named.startsWith("GMT") && !named.startsWith("UTC")) return named;
    }
    const off = offsetAt(now());
    if (off === null) return "";
    const m = Math.round(Math.abs(off) / 60);
    return `UTC${off < 0 ? "−" : "+"}${pad(Math.floor(m / 60))}:${pad(m % 60)}`;
  }
  function raceDate(ts) {  // a Date whose UTC fields are the race's clock
    const off = offsetAt(ts);
    if (off === null) {
      const d = new Date(ts * 1000);
      return new Date(d.getTime() - d.getTimezoneOffset() * 60000);
    }
    return new Date((ts + off) * 1000);
  }
  function hhmmss(ts) {
    const d = raceDate(ts);
    return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }
  const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  function dayOf(ts) {
    const d = raceDate(ts);
    return Math.round(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) / 86400000);
  }
  // the time alone on the race's day of today; its weekday within the week around (a
  // 200-miler's days: "Sat 00:40"), and always with ``withDay`` (a table whose rows span
  // days: "Sat 22:18" then "02:54" read as Saturday's); further off, the date
  function hhmm(ts, withDay) {
    if (ts === null || ts === undefined || !isFinite(ts)) return "–";
    const d = raceDate(ts);
    const t = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    const days = dayOf(ts) - dayOf(now());
    if (days === 0 && !withDay) return t;
    if (Math.abs(days) < 7) return `${WEEKDAYS[d.getUTCDay()]} ${t}`;
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${t}`;
  }
  // whether the times span more than one of the race's days (their table then names each day)
  function spansDays(times) {
    const days = new Set(times.filter((t) => t !== null && t !== undefined && isFinite(t)).map(dayOf));
    return days.size > 1 || (days.size === 1 && !days.has(dayOf(now())));
  }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    const neg = s < 0;
    s = Math.abs(Math.round(s));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const text = h ? `${h}h${pad(m)}` : `${m} min`;
    return neg ? `-${text}` : text;
  }
  function relative(ts) {
    if (ts === null || ts === undefined || !isFinite(ts)) return "";
    const d = ts - now();
    if (Math.abs(d) < 60) return "now";
    return d > 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
  }
  function statusText(s) { return STATUS_TEXT[s] || s; }

  // DOM building with textContent only: names and sentences are never parsed as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  // The event stream's token goes in an HttpOnly cookie the server sets (EventSource sends no
  // header; a token in its address would sit in every proxy's access log). A browser without
  // a token (signed out, by ⚙ or by a link) forgets it; a page in a frame leaves it alone and
  // asks for the public's stream.
  async function streamSession(signOut = false) {
    if (framed) return;
    const init = signOut || !token() ? { method: "DELETE" }
      : { method: "POST", headers: { Authorization: `Bearer ${token()}` } };
    try { await fetch("/api/session", init); } catch (e) { /* the stream says it is away */ }
  }

  // The event stream. EventSource reconnects by itself after a network error; when it gives up
  // (an HTTP error while the server restarts) we open a new one. Every (re)connection calls
  // onOpen so the page reloads its state: events missed while away are not replayed after a
  // restart.
  function live(handlers, onState) {
    let source = null;
    let retryMs = 1000;
    let timer = null;
    let closed = false;
    async function connect() {
      timer = null;
      await streamSession();
      if (closed) return;
      source = new EventSource(`${racePath}/events${framed ? "?public=1" : ""}`);
      onState("connecting");
      source.addEventListener("hello", () => {
        retryMs = 1000;
        onState("live");
        if (handlers.open) handlers.open();
      });
      for (const kind of ["runner", "status", "incident", "flag", "incident_ack", "removed"]) {
        source.addEventListener(kind, (ev) => {
          if (handlers[kind]) handlers[kind](JSON.parse(ev.data));
        });
      }
      source.onerror = () => {
        onState("reconnecting");
        if (source.readyState === EventSource.CLOSED && !timer) {
          source.close();
          timer = setTimeout(connect, retryMs);
          retryMs = Math.min(retryMs * 2, 15000);
        }
      };
    }
    connect();
    return { close() { closed = true; if (source) source.close(); if (timer) clearTimeout(timer); } };
  }

  function showState(node, state) {
    node.dataset.state = state;
    node.textContent = { live: "● live", connecting: "○ connecting…",
                         reconnecting: "○ reconnecting…" }[state] || state;
  }

  return { raceId, bib, racePath, api, ApiError, token, setToken, streamSession, now, setNow, seen, units, setUnits, setRaceUnits,
           unitM, dist, off, pace, hhmm, spansDays, hhmmss, setZone, zoneLabel, duration, relative, statusText, el, live, showState,
           M_PER_MI };
})();

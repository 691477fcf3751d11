// coursewatch race HQ dashboard: the map, the leaderboard and the incidents, live over SSE.
// Race HQ's incidents (confirmed: one per runner episode, updated in place) are listed; the
// runners' own flags (not confirmed) are yellow markers on the map. Public when opened without
// the admin token (read-only: no acknowledge). Every state comes from the API; the event stream
// only updates it, and each (re)connection reloads it.
"use strict";

(() => {
  const CUE_KINDS = new Set(["off_course", "wrong_way", "shortcut", "far_from_course"]);
  const STATUS_ORDER = ["sos", "far_from_course", "off_course", "flagged", "silent", "stopped", "running",
                        "finished", "not_started", "dnf"];
  const SILENT_SHOWN_S = 20 * 60;  // the status column says "silent 2 h 34 min" from then on
  const MAX_ALERTS_SHOWN = 300;
  const RUNNER_Z = 1000;  // runners above the stations and the km ticks (Leaflet: by latitude)
  const SOUND_KEY = "coursewatch.sound";
  const OPERATOR_KEY = "coursewatch.operator";
  const $ = (id) => document.getElementById(id);
  const el = CW.el;

  const state = {
    race: null, admin: false, runners: new Map(), alerts: new Map(), flags: new Map(),
    places: new Map(),
    selected: null, sort: { key: "place", dir: 1 }, search: "", map: null,
    markers: new Map(), sos: new Set(), trail: null, maxAlertId: 0, loaded: false, fresh: new Set(),
    spots: [], spotMarkers: null,
  };

  // -- boot ---------------------------------------------------------------------------------
  async function boot() {
    setupControls();
    let meta;
    try {
      meta = await CW.api(`${CW.racePath}/dashboard`);
    } catch (e) {
      return fatal(e);
    }
    applyMeta(meta);
    const geo = await CW.api(`${CW.racePath}/course.geojson`);
    state.map = new CWMap.CourseMap($("map"), geo);
    state.trail = L.polyline([], { className: "cw-trail", color: "#2563eb", weight: 3,
                                   opacity: 0.9, interactive: false }).addTo(state.map.map);
    const during = (fn) => (d) => { if (reloading) missed = true; fn(d); };
    const stream = CW.live({
      open: () => refresh().catch(showError),
      runner: onRunner, status: during(onStatus), incident: during(onAlert),
      incident_ack: during(onAck), flag: during(onFlag),
      // a runner or the race taken out by race HQ (the race: "No race ... on this server",
      // and no more reconnecting to it)
      removed: (d) => {
        if (d.race) stream.close();
        refresh().catch(d.race ? fatal : showError);
      },
    }, (s) => CW.showState($("conn"), s));
    setInterval(() => CW.api(`${CW.racePath}/dashboard`).then(applyMeta).catch(() => {}), 20000);
    tickClock();
    setInterval(tickClock, 1000);
    setInterval(later, 30000);  // "silent 2 h 34 min" grows without any event
  }

  function applyMeta(meta) {
    state.race = meta.race;
    state.admin = meta.admin;
    CW.setNow(meta.now_ts);
    CW.setZone(meta.race.utc_offset_s, meta.race.timezone);
    CW.setRaceUnits(meta.race.units);
    $("settings").units.value = CW.units();
    $("race-name").textContent = meta.race.name;
    $("mode").textContent = meta.admin ? "admin" : "public view";
    $("mode").dataset.mode = meta.admin ? "admin" : "public";
    document.body.dataset.mode = meta.admin ? "admin" : "public";
    document.body.dataset.incidents = meta.incidents ? "shown" : "none";
    updateTitle();
  }

  function fatal(e) {
    const msg = e.status === 401 || e.status === 403
      ? (CW.token() ? "The token in ⚙ settings does not open this race, which is not public: check it."
        : "This race is not public. Give the admin token in ⚙ settings to open it.")
      : e.status === 404 ? `No race "${CW.raceId}" on this server.` : `Cannot load the race: ${e.message}`;
    banner(msg, "error");
    document.querySelector("details.settings").open = e.status === 401 || e.status === 403;
    CW.showState($("conn"), "offline");
  }

  function showError(e) { banner(`Could not reload: ${e.message}`, "error", 8000); }

  // The whole state, after every (re)connection of the stream. A status or an incident that
  // comes while it is read may be overwritten by an older read (a DNF set as the page
  // reconnected after a restart was lost): then it is read once more.
  let reloading = false;
  let missed = false;
  async function refresh() {
    reloading = true;
    missed = false;
    try { await reload(); } finally { reloading = false; }
    if (missed) await reload();
  }

  async function reload() {
    const [meta, runners] = await Promise.all([
      CW.api(`${CW.racePath}/dashboard`), CW.api(`${CW.racePath}/runners`)]);
    applyMeta(meta);
    const all = [];
    // race HQ's and the runners' flags (not the crews' news); the public reads none unless
    // the race says so
    for (const level of meta.incidents ? ["alert", "flag"] : []) {
      for (let after = 0; ;) {
        const page = (await CW.api(`${CW.racePath}/incidents?level=${level}&after=${after}&limit=1000`)).incidents;
        all.push(...page);
        if (page.length < 1000) break;
        after = page[page.length - 1].id;
      }
    }
    state.runners = new Map(runners.runners.map((r) => [r.bib, r]));
    const known = state.maxAlertId;
    const alerts = all.filter((i) => i.level === "alert");
    state.alerts = new Map(alerts.map((a) => [a.id, a]));
    state.flags = new Map();
    for (const f of all) if (f.level !== "alert") onFlag(f, true);
    for (const a of alerts) {
      // alerts raised while we were away are new to whoever watches this page
      if (state.loaded && a.id > known) markNew(a);
      state.maxAlertId = Math.max(state.maxAlertId, a.id);
    }
    state.loaded = true;
    renderAll();
    if (state.selected) drawTrail(state.selected);
    loadSpots();
  }

  // -- spots: places several runners went off the course (a marking gone, the line wrong) ----
  let spotsTimer = null;
  function loadSpots() {
    clearTimeout(spotsTimer);
    spotsTimer = null;
    if (!state.admin) { state.spots = []; renderSpots(); return; }  // race HQ's
    CW.api(`${CW.racePath}/spots`).then((d) => { state.spots = d.spots; renderSpots(); renderAlerts(); })
      .catch(() => {});
  }
  function spotsSoon() { if (!spotsTimer) spotsTimer = setTimeout(loadSpots, 2000); }

  function spotOf(a) { return state.spots.find((s) => s.incidents.includes(a.id)); }

  function spotText(s) {
    const at = s.course_m === null ? "" : ` at ${CW.dist(s.course_m)}`;
    const latest = CW.hhmm(s.last_s) === CW.hhmm(s.first_s) ? "" : `, latest ${CW.hhmm(s.last_s)}`;
    const still = s.open ? `; ${s.open} still off` : "";
    return `${s.runners} runners went off the course${at} (first ${CW.hhmm(s.first_s)}${latest}${still})`;
  }

  function renderSpots() {
    const list = $("spots");
    list.hidden = state.spots.length === 0;
    list.replaceChildren(...state.spots.map((s) => el("li", { class: "spot", dataset: { runners: String(s.runners) } },
      el("p", { class: "spot-text" }, el("strong", { text: "⚑ " + spotText(s) }),
         `: bibs ${s.bibs.join(", ")}. ${spotAdvice(s)}`),
      el("button", { type: "button", class: "show", text: "Show on map", onclick: () => showSpot(s) }),
      s.course_m === null ? null
        : el("button", { type: "button", class: "checked", text: "Marking checked",
                         onclick: (ev) => checkSpot(s, ev.target) }))));
    if (!state.map) return;
    if (state.spotMarkers) state.spotMarkers.remove();
    state.spotMarkers = L.layerGroup(state.spots.map((s) =>
      L.circleMarker([s.lat, s.lon], { radius: 14, className: "cw-spot", color: "#7c3aed", weight: 3,
                                       dashArray: "4 3", fill: false }).bindTooltip(spotText(s)))).addTo(state.map.map);
  }

  // What to do there: check the marking; once checked, whether runners still go off there
  function spotAdvice(s) {
    if (s.checked_s === null) return "Check the marking, or the course line.";
    const when = `Marking checked ${CW.hhmm(s.checked_s)} by ${s.checked_by}`;
    if (!s.since_check) return `${when}; nobody off there since.`;
    return `${when}, and ${s.since_check} went off there since: check the course line.`;
  }

  async function checkSpot(s, button) {
    button.disabled = true;
    try {
      const done = await CW.api(`${CW.racePath}/spots/checked`, { method: "POST", json: { course_m: s.course_m, by: operator() } });
      state.spots = done.spots;
      renderSpots();
    } catch (e) {
      button.disabled = false;
      banner(`Could not mark the spot checked: ${e.message}`, "error", 8000);
    }
  }

  function showSpot(s) {
    setView("map");
    const map = state.map.map;
    map.setView([s.lat, s.lon], Math.max(map.getZoom(), 15));
    L.popup({ className: "alert-popup" }).setLatLng([s.lat, s.lon])
      .setContent(el("div", { text: `${spotText(s)}: bibs ${s.bibs.join(", ")}` })).openOn(map);
  }

  // -- live events --------------------------------------------------------------------------
  function onRunner(r) {
    if (r.last_fix) CW.seen(r.last_fix.time_s);
    const old = state.runners.get(r.bib);
    state.runners.set(r.bib, r);
    if (state.sos.has(r.bib)) soon();  // their open SOS (or lost runner) says where they are now
    if (r.bib === state.selected && r.last_fix &&
        (!old || !old.last_fix || old.last_fix.time_s !== r.last_fix.time_s)) {
      state.trail.addLatLng([r.last_fix.lat, r.last_fix.lon]);
    }
    later();
  }

  let refetchTimer = null;
  function onStatus(s) {
    const r = state.runners.get(s.bib);
    if (r) { r.status = s.to; later(); return; }
    // a runner registered after we loaded: fetch the list once things settle
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(() => CW.api(`${CW.racePath}/runners`).then((d) => {
      for (const x of d.runners) state.runners.set(x.bib, x);
      later();
    }).catch(() => {}), 1000);
  }

  // An incident for race HQ: new, or updated in place (its kind, sentence, closed), or gone
  // (retracted by a replay). A flag confirmed becomes one: it leaves the flags.
  function onAlert(a) {
    if (a.episode.startsWith("course:")) spotsSoon();  // (taken back too: a spot may go)
    if (a.retracted) { state.alerts.delete(a.id); soon(); return; }
    const before = state.alerts.get(a.id);
    state.alerts.set(a.id, a);
    dropFlag(a);
    if (!before) { state.maxAlertId = Math.max(state.maxAlertId, a.id); markNew(a); }
    soon();
    later();
  }

  function onAck(a) { if (a.level === "alert") state.alerts.set(a.id, a); soon(); }

  // A runner's flag (not confirmed): a yellow ring while an off-course one is open. An
  // incident a replay took back to a flag leaves race HQ's list.
  function onFlag(f, quiet) {
    if (state.alerts.delete(f.id)) { soon(); spotsSoon(); }  // (a replay took it back to a flag)
    if (f.open && !f.retracted && f.episode.startsWith("course:")) state.flags.set(f.bib, f);
    else dropFlag(f);
    if (!quiet) later();
  }
  function dropFlag(i) {
    const f = state.flags.get(i.bib);
    if (f && f.id === i.id) state.flags.delete(i.bib);
  }

  function markNew(a) {
    state.fresh.add(a.id);
    setTimeout(() => { state.fresh.delete(a.id); soon(); }, 15000);
    if (CUE_KINDS.has(a.kind) && !a.ack_by) cue(a);
  }

  // -- cues: a beep and a banner for new off-course alerts ------------------------------------
  let audio = null;
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  function unlockAudio() {
    // browsers start audio only after a gesture: create the context on the first one
    try { audio = audio || new AudioContext(); } catch (_) { audio = null; }
  }
  function soundOn() { return localStorage.getItem(SOUND_KEY) !== "off"; }

  function beep() {
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
    if (!soundOn() || !audio) return;
    const t = audio.currentTime;
    for (const [at, hz] of [[0, 880], [0.18, 660]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.0001, t + at);
      gain.gain.exponentialRampToValueAtTime(0.15, t + at + 0.01);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + at + 0.15);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + at);
      osc.stop(t + at + 0.16);
    }
  }

  function cue(a) {
    beep();
    const show = el("button", { type: "button", text: "Show on map", onclick: () => showOnMap(a) });
    banner([el("strong", { text: "⚠ " }), a.sentence, " ", show], "alarm", 20000);
  }

  let bannerTimer = null;
  function banner(content, kind, ms) {
    const b = $("banner");
    b.replaceChildren(...[].concat(content));
    b.className = `banner ${kind}`;
    b.hidden = false;
    clearTimeout(bannerTimer);
    if (ms) bannerTimer = setTimeout(() => { b.hidden = true; }, ms);
  }

  // -- rendering (throttled: thousands of runner updates a minute must not re-render each) ----
  let boardTimer = null, alertTimer = null;
  function later() {
    if (!boardTimer) boardTimer = setTimeout(() => { boardTimer = null; renderRunners(); }, 500);
  }
  function soon() {
    if (!alertTimer) alertTimer = setTimeout(() => { alertTimer = null; renderAlerts(); }, 100);
  }
  function renderAll() { renderRunners(); renderAlerts(); }
  function renderRunners() { computePlaces(); renderBoard(); renderMarkers(); }

  // Place: by progress among those on their way; finishers first, by their last fix (trackers
  // stop at the finish); not started and DNF have none.
  function computePlaces() {
    const ranked = [...state.runners.values()]
      .filter((r) => r.fixes > 0 && r.status !== "dnf" && r.status !== "not_started")
      .sort((a, b) => {
        const fa = a.status === "finished", fb = b.status === "finished";
        if (fa !== fb) return fa ? -1 : 1;
        if (fa) return lastTs(a) - lastTs(b);
        return b.progress_m - a.progress_m || lastTs(a) - lastTs(b);
      });
    state.places = new Map(ranked.map((r, i) => [r.bib, i + 1]));
  }
  function lastTs(r) { return r.last_fix ? r.last_fix.time_s : Infinity; }

  function lastStationTs(r) {  // [time, exact]: the pass, or an estimate from the pace
    if (r.status === "finished") return [r.finish_ts || lastTs(r), true];
    if (r.last_station_ts) return [r.last_station_ts, true];
    const st = r.last_station;
    if (!st || !r.last_fix || !r.pace_mps || r.pace_mps < 0.1) return null;
    return [r.last_fix.time_s - Math.max(r.progress_m - st.distance_m, 0) / r.pace_mps, false];
  }

  // an ETA gone by (a silent runner's, kept from their last fix) is when they were expected
  function etaCell(next, ts) {
    const past = ts < CW.now() - 60;
    return [`${next.label} ${past ? "expected " : ""}${CW.hhmm(ts)}`,
            el("span", { class: past ? "late" : "muted", text: ` ${CW.relative(ts)}` })];
  }

  const SORTS = {
    place: (r) => state.places.get(r.bib) ?? Infinity,
    bib: (r) => r.bib,
    name: (r) => r.name.toLowerCase(),
    progress: (r) => r.progress_m,
    last: (r) => (r.last_station ? r.last_station.distance_m : -1),
    pace: (r) => (r.pace_mps > 0.1 ? 1 / r.pace_mps : Infinity),
    eta: (r) => r.next_station_eta_ts ?? Infinity,
    status: (r) => STATUS_ORDER.indexOf(r.status),
  };

  function sortedRunners() {
    const q = plain(state.search.trim());
    let list = [...state.runners.values()];
    if (q) {
      list = list.filter((r) => r.bib.toLowerCase().startsWith(q) || plain(r.name).includes(q));
    }
    const key = SORTS[state.sort.key];
    const dir = state.sort.dir;
    return list.sort((a, b) => {
      const x = key(a), y = key(b);
      let c = typeof x === "string" ? x.localeCompare(y, undefined, { numeric: true }) : x - y;
      if (Number.isNaN(c)) c = 0;
      if (x === Infinity && y !== Infinity) return 1;  // unknowns last in either direction
      if (y === Infinity && x !== Infinity) return -1;
      return dir * c || a.bib.localeCompare(b.bib, undefined, { numeric: true });
    });
  }

  // "María López" is found by "lopez": phones rarely type accents
  function plain(text) { return text.normalize("NFD").replace(/\p{Diacritic}/gu, "").toLowerCase(); }

  function runnerLink(r, text) {
    return el("a", { href: `/races/${encodeURIComponent(CW.raceId)}/runners/${encodeURIComponent(r.bib)}`,
                     text });
  }

  function renderBoard() {
    const rows = sortedRunners();
    const body = document.createDocumentFragment();
    for (const r of rows) {
      const place = state.places.get(r.bib);
      const last = r.status === "finished" ? { label: "Finish" } : r.last_station;
      const [lastTime, exact] = lastStationTs(r) || [null, false];
      const next = r.next_station;
      body.append(el("tr", {
        dataset: { bib: r.bib, status: r.status },
        class: r.bib === state.selected ? "selected" : "",
        onclick: (ev) => { if (!ev.target.closest("a")) select(r.bib, true); },
      },
      el("td", { class: "place", text: place ?? "–" }),
      el("td", { class: "bib" }, runnerLink(r, r.bib)),
      el("td", { class: "name" }, runnerLink(r, r.name || `Bib ${r.bib}`)),
      // (next to the name: in view on a phone and however long the stations' names are)
      el("td", { class: "status" }, el("span", { class: `st st-${r.status}`, text: statusLine(r) })),
      el("td", { class: "progress" }, CW.dist(r.progress_m),
         el("span", { class: "muted", text: r.progress_pct == null ? "" : ` ${Math.round(r.progress_pct)}%` }),
         el("span", { class: "bar", style: `--pct:${Math.min(r.progress_pct || 0, 100)}%` })),
      el("td", { class: "last" }, last ? last.label : "–",
         lastTime ? el("span", { class: "muted", text: ` ${exact ? "" : "≈"}${CW.hhmm(lastTime)}` }) : null),
      el("td", { class: "pace", text: CW.pace(r.pace_mps) }),
      el("td", { class: "eta" }, next && r.next_station_eta_ts ? etaCell(next, r.next_station_eta_ts) : "–")));
    }
    $("board").tBodies[0].replaceChildren(body);
    const n = state.runners.size;
    $("runner-count").textContent = rows.length === n ? `${n}` : `${rows.length} of ${n}`;
    for (const th of document.querySelectorAll("#board th")) {
      const on = th.dataset.sort === state.sort.key;
      if (on) th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
  }

  // The status, and how long the runner has been silent when it is long (from the last fix,
  // on the race's clock).
  function statusLine(r) {
    const text = CW.statusText(r.status);
    const long = (s) => {
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      return h ? `${h} h ${m} min` : `${m} min`;
    };
    // registered, started, never heard from: a tracker not on, or a runner not there
    const unheard = r.status === "not_started" && !r.last_fix && r.start_ts ? CW.now() - r.start_ts : 0;
    if (unheard >= SILENT_SHOWN_S) return `no fix ${long(unheard)} after the start`;
    const open = !["finished", "dnf", "not_started"].includes(r.status);
    const silent = r.last_fix && open ? CW.now() - r.last_fix.time_s : 0;
    if (silent < SILENT_SHOWN_S) return text;
    return r.status === "silent" ? `silent ${long(silent)}` : `${text} · silent ${long(silent)}`;
  }

  function runnerIcon(r) {
    const flagged = state.flags.has(r.bib) ? " flagged" : "";
    const span = el("span", { class: `bib st-${r.status}${flagged}`, text: r.bib });
    return L.divIcon({ className: `cw-runner${r.bib === state.selected ? " selected" : ""}`,
                       html: span.outerHTML, iconSize: null });
  }

  function renderMarkers() {
    if (!state.map) return;
    const seen = new Set();
    for (const r of state.runners.values()) {
      if (!r.last_fix) continue;
      seen.add(r.bib);
      const pos = [r.last_fix.lat, r.last_fix.lon];
      let m = state.markers.get(r.bib);
      const look = `${r.status}|${r.bib === state.selected}|${state.flags.has(r.bib)}`;
      if (!m) {
        m = L.marker(pos, { icon: runnerIcon(r), title: `${r.bib} ${r.name}`, keyboard: false,
                            riseOnHover: true });
        m.on("click", () => select(r.bib, false));
        m.addTo(state.map.map);
        m.look = look;
        state.markers.set(r.bib, m);
      } else {
        const old = m.getLatLng();
        if (old.lat !== pos[0] || old.lng !== pos[1]) m.setLatLng(pos);
        if (m.look !== look) { m.setIcon(runnerIcon(r)); m.look = look; }
      }
      m.setZIndexOffset(r.bib === state.selected ? 10000 : r.status === "sos" ? 8000
        : r.status === "off_course" || r.status === "far_from_course" ? 5000
        : state.flags.has(r.bib) ? 4000 : RUNNER_Z);  // (a finisher was under the finish's square)
    }
    for (const [bib, m] of state.markers) {
      if (!seen.has(bib)) { m.remove(); state.markers.delete(bib); }
    }
  }

  function renderAlerts() {
    const openOnly = $("open-only").checked;
    const all = [...state.alerts.values()].sort((a, b) =>
      rank(a) - rank(b) || b.updated_s - a.updated_s || b.id - a.id);
    const shown = (openOnly ? all.filter(inSight) : all).slice(0, MAX_ALERTS_SHOWN);
    state.sos = new Set(all.filter(followed).map((a) => a.bib));
    const list = document.createDocumentFragment();
    for (const a of shown) list.append(alertItem(a));
    $("alerts").replaceChildren(list);
    const open = all.filter(needsAction).length;
    $("alert-count").textContent = state.admin ? `${open} open · ${all.length}` : `${all.length}`;
    const badge = $("tab-badge");
    badge.hidden = !state.admin || open === 0;
    badge.textContent = String(open);
    updateTitle(open);
  }

  function alertItem(a) {
    const acked = Boolean(a.ack_by);
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", class: "show", text: "Show on map", onclick: () => showOnMap(a) }),
      state.admin && !acked
        ? el("button", { type: "button", class: "ack", text: "Acknowledge", onclick: (ev) => ack(a, ev.target) })
        : null,
      acked ? el("span", { class: "acked", text: `✓ ${a.ack_by} ${CW.hhmm(a.ack_ts)}` }) : null);
    const updates = a.updates.length > 1
      ? el("details", { class: "updates" },
           el("summary", { text: `${a.updates.length} updates` }),
           el("ol", {}, a.updates.map((u) => el("li", {},
             el("time", { text: CW.hhmm(u.time_s) }), " ", u.sentence))))
      : null;
    return el("li", {
      class: ["alert", `k-${a.kind}`, `prio-${a.priority ?? 2}`, acked ? "is-acked" : "is-open", a.open ? "" : "is-closed",
              state.fresh.has(a.id) ? "fresh" : ""].join(" "),
      dataset: { alertId: String(a.id), kind: a.kind, bib: a.bib, level: a.level,
                 updated: String(a.updated_s), rank: String(rank(a)) },
    },
    el("div", { class: "meta" },
       el("time", { text: CW.hhmm(a.opened_s) }),
       el("span", { class: "kind", text: a.kind.replace(/_/g, " ") }),
       // the sentence is the latest news: when it came, not only when the incident began
       a.open && CW.hhmm(a.updated_s) !== CW.hhmm(a.opened_s)
         ? el("span", { class: "updated", text: `updated ${CW.hhmm(a.updated_s)}` }) : null,
       a.open ? null : el("span", { class: "closed", text: `closed ${CW.hhmm(a.closed_s)}` }),
       el("a", { href: `/races/${encodeURIComponent(CW.raceId)}/runners/${encodeURIComponent(a.bib)}`,
                 text: `Bib ${a.bib}` })),
    el("p", { class: "sentence", text: a.sentence }),
    followed(a) ? whereNow(a) : null,
    spotLine(a),
    updates,
    actions);
  }

  // One of several runners off the course at one place: the place is the news.
  function spotLine(a) {
    const s = spotOf(a);
    if (!s) return null;
    const others = s.bibs.filter((b) => b !== a.bib);
    return el("p", { class: "spot-of", text: `⚑ ${spotText(s)} (also ${others.length > 1 ? "bibs" : "bib"} ${others.join(", ")})` });
  }

  // An incident needs someone while it is open and nobody acknowledged it.
  function needsAction(a) { return a.open && !a.ack_by; }

  // An SOS stays in sight until it ends, acknowledged or not (someone is on it: it is not over).
  function inSight(a) { return needsAction(a) || (a.open && a.priority === 0); }

  // What needs someone comes by priority (an SOS first, then what devices said), then news;
  // an acknowledged SOS still open comes right after those not acknowledged.
  function rank(a) {
    if (needsAction(a)) return a.priority ?? 2;
    return a.open && a.priority === 0 ? 2.5 : 3;
  }

  // Open incidents whose card follows the runner: an SOS, a runner lost off the course (the
  // sentence says where they were when race HQ was told: 245 m off, and now 840 m)
  const LOST_KINDS = new Set(["off_course", "wrong_way", "far_from_course"]);
  function followed(a) { return a.open && (a.priority === 0 || LOST_KINDS.has(a.kind)); }

  // Where to send help: the runner's newest fix (an SOS's own position may be hours old).
  function whereNow(a) {
    const r = state.runners.get(a.bib);
    const fix = r && r.last_fix;
    if (!a.open || !fix || fix.lat == null) return null;
    const at = `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}`;
    // far from the course: no offset along it; the incident's latest distance from it
    const off = a.priority === 0 ? ""
      : r.offset_m != null && !r.on_course ? `, ${CW.off(r.offset_m)} off the course`
        : r.far && a.offset_m != null ? `, ${CW.dist(a.offset_m, 1)} from the course at ${CW.hhmm(a.updated_s)}` : "";
    return el("p", { class: "where" }, `Latest fix ${CW.hhmm(fix.time_s)}: `,
      el("span", { class: "coords", text: at }), ` (${CW.dist(r.progress_m)}${off})`);
  }

  // who acknowledges, as this browser's operator gave it in ⚙ (several people at race HQ)
  function operator() { return (localStorage.getItem(OPERATOR_KEY) || "").trim() || "race HQ"; }

  function updateTitle(open) {
    if (open === undefined) open = [...state.alerts.values()].filter(needsAction).length;
    const name = state.race ? state.race.name : "race HQ";
    document.title = `${state.admin && open ? `(${open}) ` : ""}${name} · coursewatch`;
  }

  async function ack(a, button) {
    button.disabled = true;
    try {
      const done = await CW.api(`${CW.racePath}/incidents/${a.id}/ack`, { method: "POST", json: { by: operator() } });
      state.alerts.set(done.id, done);
      soon();
    } catch (e) {
      button.disabled = false;
      banner(`Could not acknowledge: ${e.message}`, "error", 8000);
    }
  }

  // -- the map: selection, trail, "show on map" ------------------------------------------------
  async function drawTrail(bib) {
    try {
      const t = await CW.api(`${CW.racePath}/runners/${encodeURIComponent(bib)}/track?format=geojson`);
      if (state.selected !== bib) return;
      state.trail.setLatLngs(t.geometry.coordinates.map((c) => [c[1], c[0]]));
    } catch (_) {
      state.trail.setLatLngs([]);
    }
  }

  function select(bib, pan) {
    state.selected = bib;
    state.trail.setLatLngs([]);
    drawTrail(bib);
    renderRunners();
    const r = state.runners.get(bib);
    const m = state.markers.get(bib);
    if (r && m) {
      const popup = el("div", { class: "runner-popup" },
        el("strong", {}, runnerLink(r, `${r.bib} · ${r.name || "runner"}`)),
        el("div", { text: `${CW.dist(r.progress_m)} · ${CW.statusText(r.status)}` }),
        el("div", { class: "muted", text: r.last_fix ? `last fix ${CW.hhmm(r.last_fix.time_s)}` : "" }));
      m.bindPopup(popup).openPopup();
      if (pan) { setView("map"); state.map.map.setView(m.getLatLng(), Math.max(state.map.map.getZoom(), 14)); }
    }
  }

  function showOnMap(a) {
    setView("map");
    if (a.lat === null || a.lon === null) return;
    select(a.bib, false);
    const map = state.map.map;
    map.setView([a.lat, a.lon], Math.max(map.getZoom(), 15));
    L.popup({ className: "alert-popup" }).setLatLng([a.lat, a.lon])
      .setContent(el("div", { text: a.sentence })).openOn(map);
  }

  // -- controls -----------------------------------------------------------------------------
  function setView(view) {
    document.body.dataset.view = view;
    for (const b of document.querySelectorAll(".tabs button")) {
      b.classList.toggle("on", b.dataset.view === view);
    }
    if (view === "map" && state.map) setTimeout(() => state.map.map.invalidateSize(), 0);
  }

  function tickClock() {
    const now = CW.now();
    const start = state.race ? state.race.start_ts : null;
    $("clock").textContent = `${CW.hhmmss(now)} ${CW.zoneLabel()}`.trimEnd() +
      (start && now > start ? ` · T+${CW.duration(now - start)}` : "");
    $("clock").title = "the race's clock (its start's timezone): every time on this page";
  }

  // the split table as a file (GET .../splits?format=csv; the token goes as a header)
  async function downloadSplits() {
    const headers = CW.token() ? { Authorization: `Bearer ${CW.token()}` } : {};
    try {
      const r = await fetch(`${CW.racePath}/splits?format=csv`, { headers, cache: "no-store" });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const link = el("a", { href: URL.createObjectURL(await r.blob()),
                             download: `${CW.raceId}-splits.csv` });
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (e) {
      banner(`Could not download the splits: ${e.message}`, "error", 8000);
    }
  }

  function setupControls() {
    for (const b of document.querySelectorAll(".tabs button")) {
      b.addEventListener("click", () => setView(b.dataset.view));
    }
    setView("map");
    for (const th of document.querySelectorAll("#board th")) {
      th.addEventListener("click", () => {
        const key = th.dataset.sort;
        state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : key === "progress" ? -1 : 1 };
        renderBoard();
      });
    }
    $("search").addEventListener("input", (ev) => { state.search = ev.target.value; renderBoard(); });
    $("splits").addEventListener("click", downloadSplits);
    $("open-only").addEventListener("change", renderAlerts);
    const form = $("settings");
    form.units.value = CW.units();
    $("sound").checked = soundOn();
    $("operator").value = localStorage.getItem(OPERATOR_KEY) || "";
    $("tiles").value = CWMap.tilesUrl() === CWMap.OSM ? "osm" : CWMap.tilesUrl();
    form.addEventListener("change", (ev) => {
      if (ev.target.name === "units") {
        CW.setUnits(ev.target.value);
        if (state.map) state.map.drawTicks();
        renderAll();
      } else if (ev.target.id === "sound") {
        localStorage.setItem(SOUND_KEY, ev.target.checked ? "on" : "off");
      } else if (ev.target.id === "operator") {
        localStorage.setItem(OPERATOR_KEY, ev.target.value.trim());
      }
    });
    $("sign-out").hidden = !CW.token();
    $("sign-out").addEventListener("click", async () => {
      CW.setToken("");
      await CW.streamSession(true);
      location.reload();
    });
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const tiles = $("tiles").value.trim();
      const valid = ["", "osm", "none"].includes(tiles) || CWMap.tileHost(tiles) !== null;
      $("tiles").setCustomValidity(valid ? "" : "give osm, none, or an http(s) URL with {z}, {x} and {y}");
      if (!valid) { $("tiles").reportValidity(); return; }
      CWMap.setTilesUrl(tiles === "none" ? "" : tiles);
      const token = $("token").value.trim();
      if (token) CW.setToken(token);
      location.reload();
    });
  }

  window.cwDashboard = state;  // for the browser tests and the curious
  boot().catch((e) => fatal(e));
})();

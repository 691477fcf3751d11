// coursewatch runner page: one runner's progress against time (beside the race's reference
// splits, the "ghost", when it has them), station passes, the ETA at every station still ahead,
// excursions, and their flags and incidents. Live: the header follows the stream, the rest reloads every few seconds.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = CW.el;
  const SVG = "http://www.w3.org/2000/svg";
  const RELOAD_S = 10;
  const SILENT_NOTE_S = 1200;  // the ETAs say what they assume when the runner is unseen this long
  const state = { meta: null, detail: null, runner: null, alerts: new Map(), map: null,
                  trail: null, track: [], marker: null, excursions: null, loadedAt: 0, pending: null };

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  async function boot() {
    $("back").href = `/races/${encodeURIComponent(CW.raceId)}`;
    try {
      state.meta = await CW.api(`${CW.racePath}/dashboard`);
    } catch (e) {
      banner(e.status !== 401 ? e.message : CW.token() ? "The token given does not open this race, "
        + "which is not public: check it." : "This race is not public: open it with the admin token.");
      CW.showState($("conn"), "offline");
      return;
    }
    CW.setNow(state.meta.now_ts);
    CW.setZone(state.meta.race.utc_offset_s, state.meta.race.timezone);
    CW.setRaceUnits(state.meta.race.units);
    setupHq();
    const geo = await CW.api(`${CW.racePath}/course.geojson`);
    state.map = new CWMap.CourseMap($("map"), geo);
    state.trail = L.polyline([], { className: "cw-trail", color: "#2563eb", weight: 3 }).addTo(state.map.map);
    state.excursions = L.layerGroup().addTo(state.map.map);
    CW.live({
      open: () => load().catch((e) => banner(e.message)),
      runner: (r) => {
        if (r.bib !== CW.bib) return;
        if (r.last_fix) CW.seen(r.last_fix.time_s);
        state.runner = r; renderFacts(); reloadSoon();
      },
      incident: onIncident, flag: onIncident, incident_ack: onIncident,
      removed: (d) => { if (d.race || d.bib === CW.bib) load().catch((e) => banner(e.message)); },
    }, (s) => CW.showState($("conn"), s));
  }

  // A flag or an incident of this runner: new, updated in place, or gone.
  function onIncident(i) {
    if (i.bib !== CW.bib) return;
    if (i.retracted) state.alerts.delete(i.id);
    else state.alerts.set(i.id, i);
    renderAlerts();
  }

  function banner(text) {
    const b = $("banner");
    b.textContent = text;
    b.className = "banner error";
    b.hidden = false;
  }

  function reloadSoon() {
    if (state.pending) return;
    const wait = Math.max(0, RELOAD_S * 1000 - (Date.now() - state.loadedAt));
    state.pending = setTimeout(() => { state.pending = null; load().catch(() => {}); }, wait);
  }

  // the runner's flags and race HQ's incidents (not the news of their race: their crew's;
  // the page shows the passes)
  async function incidentsOf(bib) {
    const path = `${CW.racePath}/incidents?bib=${encodeURIComponent(bib)}&limit=10000`;
    const [alerts, flags] = await Promise.all(["alert", "flag"].map((l) => CW.api(`${path}&level=${l}`)));
    return { incidents: [...alerts.incidents, ...flags.incidents] };
  }

  async function load() {
    const base = `${CW.racePath}/runners/${encodeURIComponent(CW.bib)}`;
    // what the race's public view holds back (tracks, incidents) is left out, not an error
    const told = state.meta.incidents === "all" || state.meta.incidents === CW.bib;
    const none = { geometry: { coordinates: [] }, properties: { time_s: [] } };
    const [detail, track, alerts] = await Promise.all([
      CW.api(`${base}/progress`),
      CW.api(`${base}/track?format=geojson`).catch((e) => { if (e.status === 403) return none; throw e; }),
      told ? incidentsOf(CW.bib) : { incidents: [] }]);
    document.body.dataset.incidents = told ? "shown" : "none";
    state.loadedAt = Date.now();
    state.detail = detail;
    state.runner = detail.runner;
    CW.setNow(detail.now_ts);
    if (state.runner && state.runner.last_fix) CW.seen(state.runner.last_fix.time_s);
    state.alerts = new Map(alerts.incidents.map((a) => [a.id, a]));
    const line = track.geometry.coordinates.map((c) => [c[1], c[0]]);
    state.track = line.map((ll, i) => ({ t: track.properties.time_s[i], ll }));
    state.trail.setLatLngs(line);
    if (line.length) {
      const last = line[line.length - 1];
      if (!state.marker) {
        state.marker = L.marker(last, { zIndexOffset: 1000, icon: L.divIcon({ className: "cw-runner", iconSize: null,
          html: el("span", { class: `bib st-${state.runner.status}`, text: CW.bib }).outerHTML }) })
          .addTo(state.map.map);
      } else {
        state.marker.setLatLng(last);
      }
    }
    renderFacts();
    renderChart();
    renderPasses();
    renderEtas();
    renderExcursions();
    renderAlerts();
  }

  // the next station's row of the ETA table (its interval), else the runner's own ETA there
  function nextEta(r) {
    const rows = state.detail ? state.detail.etas : [];
    const row = rows.find((e) => Math.abs(e.distance_m - r.next_station.distance_m) < 1);
    return row && row.eta_ts ? row : { eta_ts: r.next_station_eta_ts };
  }

  function renderFacts() {
    const r = state.runner;
    if (!r) return;
    document.title = `${r.bib} ${r.name} · ${state.meta.race.name} · coursewatch`;
    $("runner-name").textContent = `${r.bib} · ${r.name || "runner"} — ${state.meta.race.name}`;
    const fact = (label, value, extra) => el("div", {}, el("span", { class: "muted", text: label }),
                                             el("b", { text: value }), extra || null);
    const finish = state.detail && state.detail.etas.length
      ? state.detail.etas[state.detail.etas.length - 1] : null;
    $("facts").replaceChildren(...[
      fact("Status", "", el("span", { class: `st st-${r.status}`, text: CW.statusText(r.status) })),
      fact("Progress", r.progress_m == null ? "held back by the race (public view)"
        : `${CW.dist(r.progress_m)} · ${Math.round(r.progress_pct)}%`),
      fact("Moving pace", CW.pace(r.pace_mps)),  // (the recent half hour, stops left out)
      fact("Last fix", r.last_fix ? `${CW.hhmm(r.last_fix.time_s)} (${CW.relative(r.last_fix.time_s)})` : "–"),
      // where to send help (race HQ's: the public's positions may be held back or rounded)
      state.meta.admin && r.last_fix && r.last_fix.lat != null
        ? fact("Position", "", el("span", { class: "coords", text: `${r.last_fix.lat.toFixed(5)}, ${r.last_fix.lon.toFixed(5)}` }))
        : null,
      r.finish_ts ? fact("Finished", `${CW.hhmm(r.finish_ts)} in ${CW.duration(r.finish_ts - r.start_ts)}`
        + (r.finish_by === "race_hq" ? " (race HQ's record)" : ""))
        : fact("Elapsed", r.last_fix ? CW.duration(r.last_fix.time_s - r.start_ts) : "–"),
      fact("Next", r.next_station ? `${r.next_station.label} ${etaFact(nextEta(r))}` : "–"),
      fact("Finish ETA", etaFact(finish)),
      fact("Times", `the race's clock, ${CW.zoneLabel()}`),
      r.last_fix && r.last_fix.battery_pct !== null ? fact("Battery", `${Math.round(r.last_fix.battery_pct)}%`) : null,
    ].filter(Boolean));
    renderHq(r);
  }

  // Race HQ's calls on this runner (admin only): a finish the tracker missed, a DNF.
  function renderHq(r) {
    $("hq").hidden = !state.meta.admin;
    if (!state.meta.admin) return;
    if (!$("finish-at").value) $("finish-at").value = CW.hhmmss(CW.now());
    $("finish-undo").hidden = r.finish_by !== "race_hq";
    // one call at a time: a DNF is taken back before a finish is recorded, and the other way
    $("finish-label").hidden = $("finish-record").hidden = r.status === "dnf";
    $("dnf").hidden = r.finish_by === "race_hq";
    $("dnf").textContent = r.status === "dnf" ? "Back in the race (undo the DNF)" : "Put out (DNF)";
  }

  async function patchRunner(body, button) {
    button.disabled = true;
    try {
      state.runner = await CW.api(`${CW.racePath}/runners/${encodeURIComponent(CW.bib)}`,
                                  { method: "PATCH", json: body });
      $("banner").hidden = true;
      renderFacts();
      await load();
    } catch (e) {
      banner(e.message);
    } finally {
      button.disabled = false;
    }
  }

  function setupHq() {
    $("finish-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const r = state.runner;
      const at = $("finish-at").value;
      // a finish far from where the tracker last placed them: a typo of the bib, say
      const far = !r.last_fix ? `Bib ${CW.bib} has sent no fix.`
        : r.progress_pct != null && r.progress_pct < 90
          ? `Bib ${CW.bib} was last placed at ${CW.dist(r.progress_m)} (${Math.round(r.progress_pct)}% of the course) at ${CW.hhmm(r.last_fix.time_s)}.`
          : "";
      if (far && !confirm(`${far} Record their finish at ${at}?`)) return;
      patchRunner({ finish: at }, $("finish-record"));
    });
    $("finish-undo").addEventListener("click", () => patchRunner({ finish: null }, $("finish-undo")));
    $("dnf").addEventListener("click", () => {
      const out = state.runner.status !== "dnf";
      if (out && !confirm(`Put bib ${CW.bib} out of the race (DNF)?`)) return;
      patchRunner({ dnf: out }, $("dnf"));
    });
  }

  function ghost() {
    const refs = state.meta.reference || [];
    return refs.length && refs[0].splits.length ? refs[0] : null;
  }

  // Progress (y) against time since the runner's start (x), with the ghost and the forecast.
  function renderChart() {
    const d = state.detail;
    const start = d.start_ts;
    const length = state.meta.race.course.length_m;
    const g = ghost();
    const W = Math.max(340, Math.min(1000, $("chart").clientWidth || 800));
    const H = W < 600 ? 260 : 320, L0 = 40, R0 = 10, T0 = 22, B0 = 26;
    const cutoffs = state.meta.race.stations.map((st) => st.cutoff_ts).filter(Boolean);
    const times = [...d.series.time_s, ...d.etas.map((e) => e.eta_ts).filter(Boolean), ...cutoffs, CW.now()];
    let xMax = Math.max(3600, ...times.map((t) => t - start));
    if (g) xMax = Math.max(xMax, ...g.splits.map((s) => s.elapsed_s));
    xMax = Math.min(xMax, 7 * 24 * 3600);
    const x = (s) => L0 + (W - L0 - R0) * Math.max(0, s) / xMax;
    const y = (m) => H - B0 - (H - T0 - B0) * m / length;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart progress", role: "img",
                               "aria-label": "Progress against time" });
    const grid = svg("g", { class: "grid" });
    const hours = xMax / 3600;
    const hStep = [1, 2, 3, 4, 6, 12, 24].find((s) => hours / s <= 12) || 24;
    for (let h = 0; h <= hours; h += hStep) {
      grid.append(svg("line", { x1: x(h * 3600), x2: x(h * 3600), y1: T0, y2: H - B0 }));
      chart.append(svg("text", { x: x(h * 3600), y: H - 10, "text-anchor": "middle" }, `${h}h`));
    }
    let labelled = Infinity;  // the y of the last label drawn: two passes close by share one
    for (const st of state.meta.race.stations) {
      grid.append(svg("line", { x1: L0, x2: W - R0, y1: y(st.distance_m), y2: y(st.distance_m) }));
      if (Math.abs(labelled - y(st.distance_m)) >= 12) {
        labelled = y(st.distance_m);
        chart.append(svg("text", { x: L0 - 4, y: y(st.distance_m) + 4, "text-anchor": "end" },
                         (st.distance_m / CW.unitM()).toFixed(0)));
        chart.append(svg("text", { x: L0 + 4, y: y(st.distance_m) - 3, class: "station-label" }, st.label));
      }
      if (st.cutoff_ts) {
        chart.append(svg("path", { d: `M${x(st.cutoff_ts - start)},${y(st.distance_m) - 6}v12`,
                                   stroke: "#dc2626", "stroke-width": 3, class: "cutoff" }));
      }
    }
    chart.prepend(grid);
    chart.append(svg("text", { x: 4, y: T0 - 10 }, CW.units()));  // (above the top tick)
    if (g) {
      const pts = [[0, 0], ...g.splits.map((s) => [s.elapsed_s, s.distance_m])];
      chart.append(svg("polyline", { class: "ghost", points: pts.map(([t, m]) => `${x(t)},${y(m)}`).join(" ") }));
    }
    const n = d.series.time_s.length;
    if (n) {
      const pts = d.series.time_s.map((t, i) => `${x(t - start)},${y(d.series.progress_m[i])}`);
      chart.append(svg("polyline", { class: "runner", points: pts.join(" ") }));
      const ahead = d.etas.filter((e) => e.eta_ts);
      if (ahead.length) {
        const f = [[d.series.time_s[n - 1] - start, d.series.progress_m[n - 1]],
                   ...ahead.map((e) => [e.eta_ts - start, e.distance_m])];
        chart.append(svg("polyline", { class: "forecast", points: f.map(([t, m]) => `${x(t)},${y(m)}`).join(" ") }));
      }
    }
    const now = CW.now() - start;
    if (now > 0 && now < xMax) chart.append(svg("line", { class: "now", x1: x(now), x2: x(now), y1: T0, y2: H - B0 }));
    $("chart").replaceChildren(chart);
    $("legend").replaceChildren(
      el("span", { text: "━ this runner" }), el("span", { text: "┈ forecast (ETA)" }),
      g ? el("span", { text: `╌ ${g.name}` }) : el("span", { text: "no reference splits for this race" }),
      el("span", { text: "▮ cut-off", style: "color:#dc2626" }));
  }

  function renderPasses() {
    const g = ghost();
    const ref = new Map(g ? g.splits.map((s) => [s.label, s.elapsed_s]) : []);
    $("ghost-head").textContent = g ? `vs ${g.name}` : "";
    const start = state.detail.start_ts;
    const days = CW.spansDays(state.detail.passes.map((p) => p.time_s));
    const rows = state.detail.passes.map((p) => {
      const elapsed = p.time_s - start;
      // inside a shortcut (as analyze says): the time is where they came back past it
      const gap = ref.has(p.label) && !p.skipped ? elapsed - ref.get(p.label) : null;
      const label = p.skipped ? el("td", { text: p.label, title: "inside a shortcut: not run" },
        el("span", { class: "skipped", text: " skipped" })) : el("td", { text: p.label });
      return el("tr", {}, label, el("td", { text: CW.dist(p.distance_m, 1) }),
        el("td", { text: CW.hhmm(p.time_s, days) }), el("td", { text: CW.duration(elapsed) }),
        el("td", { text: gap === null ? "" : `${gap >= 0 ? "+" : "−"}${CW.duration(Math.abs(gap))}` }));
    });
    $("passes").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(5, "No station passed yet")]));
  }

  // an ETA's 10-90 % interval, each end with its day when the ETAs span days
  const range = (e, days) => `${CW.hhmm(e.low_ts, days)}–${CW.hhmm(e.high_ts, days)}`;

  // an ETA of the header: the time, and its interval when the history gives one
  function etaFact(e) {
    if (!e || !e.eta_ts) return "–";
    const days = CW.spansDays([e.eta_ts, e.low_ts, e.high_ts, CW.now()]);
    return CW.hhmm(e.eta_ts, days) + (e.low_ts ? ` (${range(e, days)})` : "");
  }

  function renderEtas() {
    // silent for a while: the ETAs are where they would be had they kept going (a dead
    // battery), and a crew reads them so, not as news (a crew drove out for "in 35 min")
    const r = state.runner;
    const silentS = r && r.last_fix ? CW.now() - r.last_fix.time_s : 0;
    const basis = $("eta-basis");
    basis.hidden = !(state.detail.etas.length && silentS >= SILENT_NOTE_S);
    basis.textContent = basis.hidden ? "" : `Not seen for ${CW.duration(silentS)} (last fix `
      + `${CW.hhmm(r.last_fix.time_s)} at ${CW.dist(r.progress_m)}): these ETAs assume they kept `
      + "going at their pace since; ask the aid stations before driving out.";
    const days = CW.spansDays(state.detail.etas.flatMap((e) => [e.eta_ts, e.low_ts, e.high_ts, e.cutoff_ts]));
    const rows = state.detail.etas.map((e) => {
      const late = e.cutoff_ts && e.eta_ts && e.eta_ts > e.cutoff_ts;
      return el("tr", { dataset: { station: e.label } }, el("td", { text: e.label }),
        el("td", { text: CW.dist(e.distance_m, 1) }),
        el("td", { class: "eta", text: e.eta_ts ? CW.hhmm(e.eta_ts, days) : "–",
          title: e.low_ts ? `10-90 %: ${range(e, days)} (${e.method})` : "" },
          e.low_ts ? el("span", { class: "muted range", text: ` ${range(e, days)}` }) : ""),
        el("td", { class: e.eta_ts && e.eta_ts < CW.now() - 60 ? "late" : "muted",
                   text: e.eta_ts ? (e.eta_ts < CW.now() - 60 ? "expected " : "") + CW.relative(e.eta_ts) : "" }),
        el("td", { class: late ? "late" : "", text: e.cutoff_ts ? CW.hhmm(e.cutoff_ts, days) : "" }));
    });
    $("eta-range").hidden = !state.detail.etas.some((e) => e.low_ts);
    const risk = state.detail.dropout_risk;
    $("dropout").hidden = risk === undefined || risk === null;
    $("dropout").textContent = $("dropout").hidden ? "" : `Of earlier runners at the same station `
      + `at about the same time, ${Math.round(100 * risk)} % did not finish (information, not an alert).`;
    const done = state.runner && state.runner.status === "finished" ? "Finished"
      : state.detail.held_back ? "Held back by the race's public view" : "Nothing ahead";
    $("etas").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(5, done)]));
  }

  function renderExcursions() {
    state.excursions.clearLayers();
    const rows = state.detail.excursions.map((e) => {
      const pts = excursionPoints(e);
      if (pts.length > 1) {
        L.polyline(pts, { className: "cw-excursion", color: "#dc2626", weight: 5 }).addTo(state.excursions);
      }
      const show = () => {
        if (pts.length) state.map.map.fitBounds(L.latLngBounds(pts).pad(0.5));
        $("map").scrollIntoView({ behavior: "smooth", block: "center" });
      };
      // shorter than the course, no cut shown (pings: their straight lines skip the bends)
      // (null: a tracker started off the line, where it left the course is not known)
      const extra = e.extra_distance_m === null || (e.extra_distance_m < 0 && e.kind !== "shortcut") ? "–"
        : `${e.extra_distance_m < 0 ? "cut " : ""}${CW.off(Math.abs(e.extra_distance_m))}`;
      const what = e.kind.replace(/_/g, " ")
        + (e.alerted ? "" : e.flagged ? " (flag only)" : " (found after)");
      return el("tr", {}, el("td", { text: what }),
        el("td", { text: `${CW.dist(e.left && e.left.course_m, 2)} ${e.left ? CW.hhmm(e.left.time_s) : ""}` }),
        el("td", { text: CW.off(e.max_offset_m) }),
        el("td", { text: extra }),
        // a moment race HQ was never told of is not counted, as after the race (analyze)
        el("td", { class: e.alerted ? "" : "muted",
                   text: e.time_lost_s === null ? "–" : CW.duration(e.time_lost_s) + (e.alerted ? "" : " (not counted)") }),
        el("td", {}, el("button", { type: "button", text: "Show", onclick: show })));
    });
    $("excursions").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(6, "None: on course all along")]));
  }

  // The stretch of the trail between leaving the course and rejoining it (or the last fix).
  function excursionPoints(e) {
    if (!e.left) return [];
    const t0 = e.left.time_s;
    const t1 = e.rejoined ? e.rejoined.time_s : Infinity;
    const pts = state.track.filter((p) => p.t >= t0 && p.t <= t1).map((p) => p.ll);
    return pts.length > 1 ? pts : [[e.left.lat, e.left.lon]];
  }

  function renderAlerts() {
    // the runner's flags (told to them, not confirmed) and race HQ's incidents, newest first
    // (an SOS still open first: it is what anyone opening this page must see)
    const sosFirst = (a) => (a.open && a.priority === 0 ? 0 : 1);
    const items = [...state.alerts.values()].sort((a, b) =>
      sosFirst(a) - sosFirst(b) || b.updated_s - a.updated_s || b.id - a.id).map((a) =>
      el("li", { class: `alert k-${a.kind} level-${a.level} ${a.ack_by ? "is-acked" : "is-open"} ${a.open ? "" : "is-closed"}`,
                 dataset: { alertId: String(a.id), level: a.level } },
        el("div", { class: "meta" }, el("time", { text: CW.hhmm(a.opened_s) }),
           el("span", { class: "kind", text: a.kind.replace(/_/g, " ") }),
           el("span", { class: "level", text: a.level === "alert" ? "race HQ" : "flag" }),
           a.open ? null : el("span", { class: "closed", text: `closed ${CW.hhmm(a.closed_s)}` }),
           a.ack_by ? el("span", { class: "acked", text: `✓ ${a.ack_by}` }) : null),
        el("p", { class: "sentence", text: a.sentence })));
    $("alerts").replaceChildren(...(items.length ? items : [el("li", { class: "alert muted", text: "Nothing flagged" })]));
  }

  function emptyRow(cols, text) {
    return el("tr", {}, el("td", { colspan: String(cols), class: "muted", text }));
  }

  boot().catch((e) => banner(e.message));
})();

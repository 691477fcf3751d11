// coursewatch dashboard: the course map both pages draw. The course line, station markers and
// distance ticks (km or mi); base tiles only when configured (?tiles=osm or a URL template),
// so the map is whole with no network beyond race HQ.
"use strict";

const CWMap = (() => {
  const TILES_KEY = "coursewatch.tiles";
  const OSM = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";

  // A tile server is an http(s) URL template with {z}, {x} and {y}; anything else (a link
  // carrying markup, say) is not kept.
  function tileHost(u) {
    if (!/\{z\}/.test(u) || !/\{x\}/.test(u) || !/\{y\}/.test(u)) return null;
    try {
      const parsed = new URL(u.replace(/[{}]/g, ""));
      return /^https?:$/.test(parsed.protocol) ? parsed.host : null;
    } catch (_) { return null; }
  }

  // in a frame (a race's website), ?tiles= is that page's only: what this browser keeps
  // for race HQ is neither used nor changed there
  const framed = window.top !== window.self;
  let framedTiles = "";
  (function takeTilesFromUrl() {
    const url = new URL(location.href);
    const t = url.searchParams.get("tiles");
    if (t === null) return;
    if (framed) framedTiles = t === "osm" ? OSM : t;
    else setTilesUrl(t === "none" ? "" : t);
    url.searchParams.delete("tiles");
    history.replaceState(null, "", url.pathname + url.search + url.hash);
  })();

  function tilesUrl() {
    const u = framed ? framedTiles : localStorage.getItem(TILES_KEY) || "";
    return tileHost(u) === null ? "" : u;
  }
  function setTilesUrl(u) {
    const url = u === "osm" ? OSM : u;
    if (url && tileHost(url) !== null) localStorage.setItem(TILES_KEY, url);
    else localStorage.removeItem(TILES_KEY);
  }

  function textNode(text) {  // for Leaflet, which takes a string as markup
    const span = document.createElement("span");
    span.textContent = text;
    return span;
  }

  function haversine(a, b) {
    const R = 6371008.8, rad = Math.PI / 180;
    const dLat = (b[1] - a[1]) * rad, dLon = (b[0] - a[0]) * rad;
    const h = Math.sin(dLat / 2) ** 2 +
      Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dLon / 2) ** 2;
    return 2 * R * Math.asin(Math.sqrt(h));
  }

  // The course as [lon, lat] points with their distance along it, scaled to the course's own
  // length (the line sent is thinned, so it is a little shorter than the course).
  function measure(coords, lengthM) {
    const along = [0];
    for (let i = 1; i < coords.length; i++) along.push(along[i - 1] + haversine(coords[i - 1], coords[i]));
    const k = lengthM && along[along.length - 1] > 0 ? lengthM / along[along.length - 1] : 1;
    return along.map((d) => d * k);
  }

  function pointAt(coords, along, m) {
    let lo = 0, hi = along.length - 1;
    if (m <= 0) return [coords[0][1], coords[0][0]];
    if (m >= along[hi]) return [coords[hi][1], coords[hi][0]];
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (along[mid] <= m) lo = mid; else hi = mid; }
    const f = (m - along[lo]) / Math.max(along[hi] - along[lo], 1e-9);
    return [coords[lo][1] + f * (coords[hi][1] - coords[lo][1]),
            coords[lo][0] + f * (coords[hi][0] - coords[lo][0])];
  }

  function tickStep(lengthM, unitM) {
    const n = lengthM / unitM;
    for (const step of [1, 2, 5, 10, 20, 25, 50, 100]) if (n / step <= 40) return step;
    return 200;
  }

  class CourseMap {
    constructor(node, geojson) {
      this.map = L.map(node, { preferCanvas: false, zoomSnap: 0.25, attributionControl: true });
      const url = tilesUrl();
      if (url) {
        const host = tileHost(url);
        const attribution = host.endsWith("openstreetmap.org")
          ? "© OpenStreetMap contributors" : `Tiles: ${host.replace(/[^A-Za-z0-9.:[\]-]/g, "")}`;
        L.tileLayer(url, { maxZoom: 19, attribution }).addTo(this.map);
      } else {
        this.map.attributionControl.setPrefix("no base map: the race page’s ⚙ adds one");
      }
      const line = geojson.features.find((f) => f.properties.kind === "course");
      this.coords = line.geometry.coordinates;
      this.lengthM = line.properties.length_m;
      this.along = measure(this.coords, this.lengthM);
      this.course = L.polyline(this.coords.map((c) => [c[1], c[0]]),
        { className: "cw-course", color: "#c2410c", weight: 4, opacity: 0.85, interactive: false })
        .addTo(this.map);
      this.stations = L.layerGroup().addTo(this.map);
      // one marker per place: the passes of a station run through three times are one spot
      // (a tap hit the top one only), named with every pass's distance; a tap shows it too
      const places = [];
      for (const f of geojson.features.filter((x) => x.properties.kind === "station")) {
        const [lon, lat] = f.geometry.coordinates;
        const p = f.properties;
        const at = L.latLng(lat, lon);
        const same = places.find((q) => q.name === p.name && q.at.distanceTo(at) < 300);
        if (same) same.km.push(p.distance_m);
        else places.push({ name: p.name, label: p.label, at, km: [p.distance_m] });
      }
      for (const q of places) {
        const where = q.km.map((m) => CW.dist(m, 1)).join(", ");
        const text = `${q.km.length > 1 ? q.name : q.label} · ${where}`;
        const icon = L.divIcon({ className: "cw-station", html: "", iconSize: [14, 14] });
        L.marker(q.at, { icon, keyboard: false, title: text })
          .bindTooltip(textNode(text), { direction: "top", offset: [0, -6] })
          .on("click", (ev) => ev.target.openTooltip())
          .addTo(this.stations);
      }
      this.ticks = L.layerGroup().addTo(this.map);
      this.drawTicks();
      this.map.fitBounds(this.course.getBounds(), { padding: [16, 16] });
    }

    drawTicks() {
      this.ticks.clearLayers();
      const unitM = CW.unitM();
      const step = tickStep(this.lengthM, unitM);
      for (let k = step; k * unitM < this.lengthM - 0.3 * step * unitM; k += step) {
        const icon = L.divIcon({ className: "cw-tick", html: `<span>${k}</span>`, iconSize: [0, 0] });
        L.marker(pointAt(this.coords, this.along, k * unitM),  // (under the stations' squares)
                 { icon, interactive: false, keyboard: false, zIndexOffset: -1000 })
          .addTo(this.ticks);
      }
    }

    latLngAt(m) { return pointAt(this.coords, this.along, m); }
  }

  return { CourseMap, tilesUrl, setTilesUrl, tileHost, OSM };
})();

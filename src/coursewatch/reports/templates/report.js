// Draws the map of the report from COURSEWATCH (the data the report measured).
(function () {
  "use strict";
  var d = COURSEWATCH;
  var map = L.map("map", { zoomSnap: 0.25 });
  if (d.tiles) {
    L.tileLayer(d.tiles.url, { attribution: d.tiles.attribution, maxZoom: 18 }).addTo(map);
  }
  var course = L.polyline(d.course, { color: "#6e7781", weight: 5, opacity: 0.75, className: "cw-course" });
  var tracks = L.featureGroup(d.tracks.map(function (t) {
    return L.polyline(t.line, { color: t.colour, weight: 2.5, opacity: 0.9, className: "cw-track" })
      .bindTooltip(escapeHtml(t.name), { sticky: true });
  }));
  var excursionLines = d.excursions.map(function (e) {
    var colour = e.kind === "shortcut" ? "#f0a020" : "#d62728";
    var brief = e.confirmed === false;  // back by themselves, not counted: lighter, dashed
    return L.polyline(e.path, { color: colour, weight: brief ? 4 : 6, opacity: brief ? 0.5 : 0.9,
                                dashArray: brief ? "6 6" : null, className: "cw-excursion" })
      .bindPopup("<b>" + escapeHtml(e.title) + "</b><br>" + escapeHtml(e.text));
  });
  var excursions = L.featureGroup(excursionLines);
  var alarms = L.featureGroup(d.alarms.map(function (p) {
    return L.circleMarker([p.lat, p.lon], { radius: 7, color: "#d62728", weight: 3, fillColor: "#fff",
      fillOpacity: 1, className: "cw-alarm" }).bindTooltip(escapeHtml(p.title));
  }));
  var stations = L.featureGroup(d.stations.map(function (s) {
    return L.circleMarker([s.lat, s.lon], { radius: 5, color: "#222", weight: 1, fillColor: "#ffd33d",
      fillOpacity: 1, className: "cw-station" }).bindTooltip(escapeHtml(s.title));
  }));
  var ends = L.featureGroup();
  d.tracks.forEach(function (t) {
    if (!t.line.length) { return; }
    ends.addLayer(L.circleMarker(t.line[0], { radius: 6, color: "#fff", weight: 2, fillColor: "#2e7d32",
      fillOpacity: 1, className: "cw-start" }).bindTooltip(escapeHtml(t.name) + ": track start"));
    ends.addLayer(L.circleMarker(t.line[t.line.length - 1], { radius: 6, color: "#fff", weight: 2,
      fillColor: t.colour, fillOpacity: 1, className: "cw-end" }).bindTooltip(escapeHtml(t.name) + ": track end"));
  });
  [course, tracks, excursions, stations, alarms, ends].forEach(function (layer) { layer.addTo(map); });
  L.control.layers(null, {
    "Course": course, "Tracks": tracks, "Excursions": excursions, "Live alarms": alarms, "Stations": stations,
  }, { collapsed: true }).addTo(map);
  L.control.scale({ metric: d.units !== "mi", imperial: d.units === "mi" }).addTo(map);
  var bounds = course.getBounds();
  if (tracks.getLayers().some(function (t) { return t.getLatLngs().length; })) {
    bounds.extend(tracks.getBounds());
  }
  map.fitBounds(bounds, { padding: [12, 12] });

  document.querySelectorAll("li.excursion").forEach(function (item) {
    item.querySelector("button").addEventListener("click", function () {
      var line = excursionLines[Number(item.dataset.index)];
      map.fitBounds(line.getBounds(), { padding: [40, 40], maxZoom: 17 });
      line.openPopup();
      document.getElementById("map").scrollIntoView({ behavior: "smooth", block: "center" });
    });
  });

  function escapeHtml(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }
})();

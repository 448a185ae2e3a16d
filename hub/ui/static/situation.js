/* The situation page, live: a Leaflet map of the crisis perimeter, the alerts over it and the
 * observations inside it, and the page's lists kept current from the hub's feed.
 *
 * <div class="map situation-map" data-stream="/api/v1/feeds/stream?within=crisis:ID&…"
 *      data-crisis="ID" data-tiles="" data-attribution="" data-outline="/territory.geojson"
 *      data-datasets="/datasets/" data-alerts="/api/v1/alerts/">
 * Every URL comes from the page, under the hub's root path (a proxy may publish it under /hub/):
 * the script writes none of its own.
 * <script type="application/geo+json" id="situation-data"> the rows the server rendered
 * <script type="application/json" id="situation-words"> the page's words in its language
 *
 * The map draws what the server read (nothing is fetched twice); tiles only when data-tiles
 * holds a URL template, else a plain ground and the territory's outline from the hub itself.
 * EventSource sends the session cookie and resumes with Last-Event-ID on its own after a cut;
 * each event prepends a row (an observation replaces the older value of its series). Without
 * Leaflet the lists still follow the feed; without JavaScript the page is the server's tables.
 */
(function () {
  "use strict";

  var element = document.querySelector("div.situation-map");
  var dataNode = document.getElementById("situation-data");
  var wordsNode = document.getElementById("situation-words");
  if (!element || !dataNode || !wordsNode) {
    return;
  }
  var WORDS = JSON.parse(wordsNode.textContent);
  var DATA = JSON.parse(dataNode.textContent);
  var lang = (document.documentElement.lang || "fr").slice(0, 2).toLowerCase();
  var CONTROLS = {
    en: { zoomIn: "Zoom in", zoomOut: "Zoom out", close: "Close" },
    fr: { zoomIn: "Zoom avant", zoomOut: "Zoom arrière", close: "Fermer" },
  }[lang] || { zoomIn: "Zoom in", zoomOut: "Zoom out", close: "Close" };
  // Same fields, same order as hub/ui/situation_rows.py: a series is a place and a measure.
  var PLACE_FIELDS = ["station_id", "site_id", "element_id", "station_name", "name"];
  var PLACE_NAMES = ["station_name", "name", "element_name", "station_id", "site_id"];
  var MEASURE_FIELDS = ["pollutant", "quantity", "parameter", "variable", "measure"];
  var SEVERITY_COLOURS = {
    Extreme: "#8e0000", Severe: "#b3261e", Moderate: "#c77700", Minor: "#7a8c00", Unknown: "#5a6470",
  };
  var SUPERSEDING = ["Update", "Cancel"];
  var ROWS_KEPT = 500; // a long-open page keeps the newest rows of each list
  var ANNOUNCE_EVERY = 10000; // ms: the live line changes at most this often (screen readers)
  var numbers = new Intl.NumberFormat(document.documentElement.lang || "fr",
    { maximumFractionDigits: 3 });
  // "3 déc. 2026 06:43 UTC", as the server writes times (hub.ui.i18n.moment)
  var days = new Intl.DateTimeFormat(document.documentElement.lang || "fr",
    { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
  var clocks = new Intl.DateTimeFormat(document.documentElement.lang || "fr",
    { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" });
  // A crisis row's values as the server writes them (hub.ui.pages.field_text), by their type
  var exact = new Intl.NumberFormat(document.documentElement.lang || "fr",
    { maximumFractionDigits: 7 });
  var longDays = new Intl.DateTimeFormat(document.documentElement.lang || "fr",
    { dateStyle: "long", timeZone: "UTC" });
  var crisisId = element.getAttribute("data-crisis");
  var DATASETS_URL = element.getAttribute("data-datasets") || "";
  var ALERTS_URL = element.getAttribute("data-alerts") || "";
  var live = document.getElementById("situation-live");
  var alertsBody = document.querySelector("#situation-alerts tbody");
  var observationsBody = document.querySelector("#situation-observations tbody");
  var titles = {};
  var drawn = { alerts: {}, observations: {} };
  var L = window.L;
  var map = null;
  var layers = null;

  function first(record, names) {
    for (var i = 0; i < names.length; i++) {
      var value = record[names[i]];
      if (value !== null && value !== undefined && value !== "") {
        return String(value);
      }
    }
    return "";
  }

  function seriesKey(dataset, record) {
    return [dataset, first(record, PLACE_FIELDS), first(record, MEASURE_FIELDS)].join("|");
  }

  /* The id of /api/v1/alerts/{id}.cap, as hub.alerts.current.alert_id makes it. */
  function alertId(dataset, sender, identifier) {
    var bytes = new TextEncoder().encode(JSON.stringify([dataset, sender, identifier]));
    var binary = "";
    bytes.forEach(function (b) { binary += String.fromCharCode(b); });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function when(value) {
    var moment = value ? new Date(value) : null;
    if (!moment || isNaN(moment.getTime())) {
      return null;
    }
    var node = document.createElement("time");
    node.dateTime = moment.toISOString().replace(".000Z", "Z");
    node.textContent = days.format(moment) + " " + clocks.format(moment) + " UTC";
    return node;
  }

  function shown(value) {
    if (value === null || value === undefined || value === "") {
      return "—";
    }
    if (typeof value === "number") {
      return numbers.format(value);
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  function typed(value, type) {
    if (typeof value === "number") {
      return exact.format(value);
    }
    var timed = (type === "datetime" || type === "date") && typeof value === "string" && value;
    var moment = timed ? new Date(value) : null;
    if (moment && !isNaN(moment.getTime())) {
      return type === "date" ? longDays.format(moment) : when(value).textContent;
    }
    return shown(value);
  }

  function cell(row, tag, content, className) {
    var node = document.createElement(tag);
    if (tag === "th") {
      node.scope = "row";
    }
    if (className) {
      node.className = className;
    }
    if (content && content.nodeType) {
      node.appendChild(content);
    } else {
      node.textContent = content === null || content === undefined ? "—" : content;
    }
    row.appendChild(node);
    return node;
  }

  /* A new row at the top of a list: the placeholder goes, the oldest rows past ROWS_KEPT too. */
  function prepend(body, row) {
    var empty = body.querySelector("tr.empty-row");
    if (empty) {
      empty.remove();
    }
    row.classList.add("fresh");
    row.setAttribute("data-new", WORDS["new"]);
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > ROWS_KEPT) {
      body.deleteRow(body.rows.length - 1);
    }
    setTimeout(function () { row.classList.remove("fresh"); }, 60000);
  }

  var announced = 0;
  var pending = null;
  function announce(text) {
    pending = text;
    var wait = announced + ANNOUNCE_EVERY - Date.now();
    if (wait > 0) {
      return; // the last one waiting is said when the time comes
    }
    setTimeout(function () { say(); }, 0);
    announced = Date.now();
    setTimeout(function () { if (pending) { say(); } }, ANNOUNCE_EVERY);
  }
  function say() {
    if (pending) {
      status(WORDS.live + " " + pending, "");
      pending = null;
    }
  }

  function status(text, kind) {
    live.hidden = false;
    live.textContent = text;
    live.className = "live" + (kind ? " live-" + kind : "");
  }

  /* ---- the map ---- */

  function popupOf(properties) {
    var box = document.createElement("div");
    var strong = document.createElement("strong");
    strong.textContent = properties.label || "";
    box.appendChild(strong);
    if (properties.value !== undefined) {
      box.appendChild(document.createElement("br"));
      box.appendChild(document.createTextNode(shown(properties.value) + " " + (properties.unit || "")));
    }
    var moment = when(properties.time);
    if (moment) {
      box.appendChild(document.createElement("br"));
      box.appendChild(moment);
    }
    return box;
  }

  function styleOf(feature) {
    var p = feature.properties || {};
    if (p.kind === "perimeter") {
      return { color: "#1f3a5c", weight: 3, dashArray: "8 5", fill: true, fillColor: "#1f3a5c",
        fillOpacity: 0.06 };
    }
    if (p.kind === "alert") {
      var colour = SEVERITY_COLOURS[p.severity] || SEVERITY_COLOURS.Unknown;
      return { color: colour, weight: 2, fillColor: colour, fillOpacity: 0.25 };
    }
    return { color: "#0b5394", weight: 2, fillColor: "#0b5394", fillOpacity: 0.7 };
  }

  function pointOf(feature, at) {
    var p = feature.properties || {};
    var style = styleOf(feature);
    if (p.kind === "data") {
      style = { color: "#6a3d9a", weight: 2, fillColor: "#ffffff", fillOpacity: 1 };
    }
    return L.circleMarker(at, L.extend({ radius: p.kind === "data" ? 5 : 6 }, style));
  }

  function layerOf(feature) {
    var layer = L.geoJSON(feature, { style: styleOf, pointToLayer: pointOf });
    var p = feature.properties || {};
    if (p.kind !== "perimeter") {
      layer.bindPopup(function () { return popupOf(p); }, { maxWidth: 320 });
    }
    return layer;
  }

  /* Draw a feature under its key, replacing what that key drew before. */
  function draw(group, key, feature) {
    if (!map || !feature.geometry) {
      return;
    }
    if (drawn[group][key]) {
      layers[group].removeLayer(drawn[group][key]);
    }
    drawn[group][key] = layerOf(feature).addTo(layers[group]);
  }

  function forget(group, key) {
    if (map && drawn[group][key]) {
      layers[group].removeLayer(drawn[group][key]);
      delete drawn[group][key];
    }
  }

  function buildMap() {
    element.setAttribute("role", "region");
    map = L.map(element, { zoomControl: false, scrollWheelZoom: false, zoomSnap: 0.25 });
    L.control.zoom({ zoomInTitle: CONTROLS.zoomIn, zoomOutTitle: CONTROLS.zoomOut }).addTo(map);
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    map.on("popupopen", function (event) {
      var button = event.popup.getElement().querySelector(".leaflet-popup-close-button");
      if (button) {
        button.setAttribute("aria-label", CONTROLS.close);
        button.setAttribute("title", CONTROLS.close);
      }
    });
    var tiles = element.getAttribute("data-tiles");
    if (tiles) {
      var credit = document.createElement("span");
      credit.textContent = element.getAttribute("data-attribution") || "";
      L.tileLayer(tiles, { attribution: credit.innerHTML, maxZoom: 19 }).addTo(map);
    } else {
      element.classList.add("map-plain");
      outline(element.getAttribute("data-outline"));
    }
    layers = {
      perimeter: L.featureGroup().addTo(map),
      alerts: L.featureGroup().addTo(map),
      data: L.featureGroup().addTo(map),
      observations: L.featureGroup().addTo(map),
    };
    var perimeter = null;
    (DATA.features || []).forEach(function (feature) {
      var p = feature.properties || {};
      if (!feature.geometry) {
        return;
      }
      if (p.kind === "perimeter") {
        perimeter = layerOf(feature).addTo(layers.perimeter);
      } else if (p.kind === "alert") {
        draw("alerts", p.key, feature);
      } else if (p.kind === "observation") {
        draw("observations", p.key, feature);
      } else {
        layerOf(feature).addTo(layers.data);
      }
    });
    if (perimeter && perimeter.getBounds().isValid()) {
      map.fitBounds(perimeter.getBounds(), { padding: [16, 16], maxZoom: 14 });
    } else {
      map.setView([20, 0], 1);
    }
    element.classList.add("map-drawn");
  }

  function outline(source) {
    if (!source) {
      return;
    }
    var target = new URL(source, document.baseURI);
    if (target.origin !== window.location.origin) {
      return; // the map fetches nothing from elsewhere
    }
    map.createPane("outline").style.zIndex = 350;
    fetch(target.href, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (geojson) {
      if (geojson) {
        L.geoJSON(geojson, { pane: "outline", interactive: false, style: {
          color: "#5a6470", weight: 1.5, fillColor: "#ffffff", fillOpacity: 0.6 } }).addTo(map);
      }
    }).catch(function (error) {
      console.warn("territory outline not drawn:", error.message);
    });
  }

  /* ---- the feed ---- */

  function payload(event) {
    try {
      return JSON.parse(event.data);
    } catch (error) {
      return null;
    }
  }

  function sharedTable(dataset) {
    var tables = document.querySelectorAll("table.situation-data");
    for (var i = 0; i < tables.length; i++) {
      if (tables[i].getAttribute("data-dataset") === dataset) {
        return tables[i];
      }
    }
    return null;
  }

  function onObservation(event) {
    var d = payload(event);
    if (!d || !d.record) {
      return;
    }
    var record = d.record;
    var table = sharedTable(d.dataset);
    if (table) {
      var fields = JSON.parse(table.getAttribute("data-fields") || "[]");
      var keyFields = JSON.parse(table.getAttribute("data-key-fields") || "[]");
      var types = JSON.parse(table.getAttribute("data-types") || "{}");
      var rowKey = keyFields.map(function (name) {
        return record[name] === null || record[name] === undefined ? "" : String(record[name]);
      }).join("|");
      var row = document.createElement("tr");
      row.setAttribute("data-key", rowKey);
      fields.forEach(function (name) { cell(row, "td", typed(record[name], types[name])); });
      var same = rowOf(table.tBodies[0], rowKey);
      if (same && same.textContent === row.textContent) {
        return; // the page shows it already (the snapshot sends what the server listed)
      }
      if (same) {
        same.remove(); // the row changed (an outage restored): its new state goes on top
      }
      prepend(table.tBodies[0], row);
      if (map && d.geometry) {
        layerOf({ type: "Feature", geometry: d.geometry, properties: { kind: "data",
          label: fields.slice(0, 3).map(function (f) { return typed(record[f], types[f]); })
            .join(" — ") } })
          .addTo(layers.data);
      }
      return;
    }
    if (record.value === undefined || !observationsBody) {
      return; // a change of a list without values (stations, sites): nothing to show here
    }
    var key = seriesKey(d.dataset, record);
    var older = null;
    Array.prototype.forEach.call(observationsBody.rows, function (r) {
      if (r.getAttribute("data-key") === key) {
        older = r;
      }
    });
    if (older && Date.parse(older.getAttribute("data-time")) >= Date.parse(d.time)) {
      return; // the page already holds this value, or a newer one (a snapshot's replay)
    }
    if (older) {
      older.remove();
    }
    var place = first(record, PLACE_NAMES);
    var measure = first(record, MEASURE_FIELDS);
    var line = document.createElement("tr");
    line.setAttribute("data-key", key);
    line.setAttribute("data-time", d.time || "");
    cell(line, "td", when(d.time));
    cell(line, "th", place || "—");
    cell(line, "td", measure || "—");
    cell(line, "td", shown(record.value), "num");
    cell(line, "td", record.unit || "");
    var link = document.createElement("a");
    link.href = DATASETS_URL + encodeURIComponent(d.dataset);
    link.textContent = titles[d.dataset] || d.dataset;
    cell(line, "td", link);
    prepend(observationsBody, line);
    draw("observations", key, { type: "Feature", geometry: d.geometry, properties: {
      kind: "observation", label: place + " — " + measure, value: record.value,
      unit: record.unit, time: d.time } });
    announce(said(WORDS.newObservation,
      place + " — " + measure + " " + shown(record.value) + " " + (record.unit || "")));
  }

  function onAlert(event) {
    var d = payload(event);
    if (!d || !d.record || !alertsBody) {
      return;
    }
    var record = d.record;
    if ((d.status || record.status || "Actual") !== "Actual") {
      return; // exercises and tests are not the situation
    }
    if (SUPERSEDING.indexOf(record.msgType) >= 0) {
      (record.references || "").split(/\s+/).forEach(function (triple) {
        var parts = triple.split(",");
        if (parts.length >= 2) {
          removeAlert(parts[0] + "|" + parts[1]);
        }
      });
    }
    if (["Cancel", "Ack", "Error"].indexOf(record.msgType) >= 0) {
      return;
    }
    var key = record.sender + "|" + record.identifier;
    var language = String(record.language || "").toLowerCase().slice(0, 2);
    var existing = rowOf(alertsBody, key);
    if (existing && language !== lang && Number(record.info_index || 0) > 0) {
      return; // another info block of an alert shown already: the page's language wins
    }
    removeAlert(key);
    var severity = record.severity || d.severity || "Unknown";
    var row = document.createElement("tr");
    row.setAttribute("data-key", key);
    var badge = document.createElement("span");
    badge.className = "severity severity-" + String(severity).toLowerCase();
    badge.textContent = (WORDS.severities || {})[severity] || severity;
    cell(row, "td", badge);
    var head = cell(row, "th", record.headline || record.event || record.identifier);
    if (record.language && language !== lang) {
      head.lang = String(record.language); // the alert's own language, declared in its CAP
    }
    if (record.area_desc) {
      head.appendChild(document.createElement("br"));
      var where = document.createElement("span");
      where.className = "sub";
      where.textContent = record.area_desc;
      head.appendChild(where);
    }
    cell(row, "td", when(record.sent));
    cell(row, "td", when(record.expires));
    var cap = document.createElement("a");
    cap.href = ALERTS_URL + alertId(d.dataset, record.sender, record.identifier) + ".cap";
    cap.textContent = WORDS.cap;
    cell(row, "td", cap);
    prepend(alertsBody, row);
    draw("alerts", key, { type: "Feature", geometry: d.geometry, properties: {
      kind: "alert", label: record.headline || record.event, severity: severity,
      time: record.sent } });
    announce(said(WORDS.newAlert, record.headline || record.event || ""));
  }

  // A translated sentence with its {what} filled: the language puts its own punctuation around it
  // (French writes a non-breaking space before the colon).
  function said(sentence, what) {
    return sentence.replace("{what}", function () { return what; });
  }

  function rowOf(body, key) {
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute("data-key") === key) {
        return body.rows[i];
      }
    }
    return null;
  }

  function removeAlert(key) {
    var row = rowOf(alertsBody, key);
    if (row) {
      row.remove();
    }
    forget("alerts", key);
  }

  function listen(url) {
    var source = new EventSource(url);
    status(WORDS.waiting, "");
    source.onopen = function () { status(WORDS.live, ""); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        status(WORDS.refused, "lost"); // refused (401, 403, 404): EventSource does not retry
      } else {
        status(WORDS.lost, "lost"); // it reconnects by itself, with Last-Event-ID
      }
    };
    source.addEventListener("observation", onObservation);
    source.addEventListener("alert", onAlert);
    source.addEventListener("crisis", function (event) {
      var d = payload(event);
      if (d && d.id === crisisId && d.status === "closed") {
        source.close();
        status(WORDS.closed, "closed");
      }
    });
  }

  function start() {
    Object.keys(DATA.datasets || {}).forEach(function (id) { titles[id] = DATA.datasets[id]; });
    if (typeof L === "object") {
      try {
        buildMap();
      } catch (error) {
        console.warn("map not drawn:", error); // the lists still follow the feed
      }
    }
    var stream = element.getAttribute("data-stream");
    if (stream && typeof window.EventSource === "function") {
      listen(stream);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

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
 * each event puts a row on top (an observation replaces the older value of its series, in
 * place, so a focused link stays focused). The visitor may pause the updates: they are held and
 * counted, then applied on resuming. Without Leaflet the lists still follow the feed; without
 * JavaScript the page is the server's tables.
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
  // "3 déc. 2026 07:43 UTC+1", as the server writes times (hub.ui.i18n.moment): in the
  // territory's zone (the map's data-timezone), its offset written
  var zone = element.getAttribute("data-timezone") || "UTC";
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
  } catch (e) {
    zone = "UTC";
  }
  var days = new Intl.DateTimeFormat(document.documentElement.lang || "fr",
    { year: "numeric", month: "short", day: "numeric", timeZone: zone });
  var clocks = new Intl.DateTimeFormat(document.documentElement.lang || "fr",
    { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: zone });
  var offsets = new Intl.DateTimeFormat("en", { timeZone: zone, timeZoneName: "shortOffset" });

  function offsetOf(moment) {
    var part = offsets.formatToParts(moment).filter(function (p) {
      return p.type === "timeZoneName";
    })[0];
    // "GMT+1" as the server's "UTC+1", "GMT-3" as "UTC−3" (a minus sign), "GMT" as "UTC"
    return (part ? part.value : "GMT").replace(/^GMT/, "UTC").replace("-", "\u2212");
  }
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
  // The CAP statuses this page lists: Actual; an exercise's page adds its Exercise alerts.
  var STATUSES = (element.getAttribute("data-statuses") || "Actual").split(" ");
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
    node.textContent = days.format(moment) + " " + clocks.format(moment) + " " + offsetOf(moment);
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

  /* Make `old` match `fresh` node by node, in place: an unchanged link inside (the one a keyboard
   * user may be on) stays the same element, so the focus stays on it. */
  function morph(old, fresh) {
    if (old.nodeType !== Node.ELEMENT_NODE) {
      if (old.nodeValue !== fresh.nodeValue) {
        old.nodeValue = fresh.nodeValue;
      }
      return;
    }
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name)) {
        old.removeAttribute(a.name);
      }
    });
    Array.prototype.forEach.call(fresh.attributes, function (a) {
      if (old.getAttribute(a.name) !== a.value) {
        old.setAttribute(a.name, a.value);
      }
    });
    Array.prototype.slice.call(old.childNodes).forEach(function (node) {
      if (node.nodeType === Node.TEXT_NODE && !node.nodeValue.trim()) {
        old.removeChild(node); // the server's indentation between cells: nodes align after
      }
    });
    var wanted = Array.prototype.slice.call(fresh.childNodes);
    while (old.childNodes.length > wanted.length) {
      old.removeChild(old.lastChild);
    }
    wanted.forEach(function (node, i) {
      var there = old.childNodes[i];
      if (!there) {
        old.appendChild(node.cloneNode(true));
      } else if (there.nodeName === node.nodeName) {
        morph(there, node);
      } else {
        old.replaceChild(node.cloneNode(true), there);
      }
    });
  }

  /* Show a row in its list: a new one on top; a changed one becomes its new state where it
   * stands, then goes on top unless it holds the focus (moving an element drops the focus). */
  function show(body, row, older) {
    var empty = body.querySelector("tr.empty-row");
    if (empty) {
      empty.remove();
    }
    if (older) {
      morph(older, row);
      row = older;
    }
    if (!row.contains(document.activeElement) && body.firstChild !== row) {
      body.insertBefore(row, body.firstChild);
    }
    row.classList.add("fresh");
    row.setAttribute("data-new", WORDS["new"]);
    for (var i = body.rows.length - 1; i >= 0 && body.rows.length > ROWS_KEPT; i--) {
      if (!body.rows[i].contains(document.activeElement)) {
        body.deleteRow(i); // the oldest rows of a long-open page, never the focused one
      }
    }
    setTimeout(function () { row.classList.remove("fresh"); }, 60000);
    return row;
  }

  var announced = 0;
  var pending = null;
  var quiet = false; // while held updates are applied: one summary instead of one line each
  function announce(sentence, what, language) {
    if (quiet) {
      return;
    }
    pending = { sentence: sentence, what: what, language: language };
    var wait = announced + ANNOUNCE_EVERY - Date.now();
    if (wait > 0) {
      return; // the last one waiting is said when the time comes
    }
    setTimeout(function () { say(); }, 0);
    announced = Date.now();
    setTimeout(function () { if (pending) { say(); } }, ANNOUNCE_EVERY);
  }
  function say() {
    if (pending && !paused) {
      status(said(WORDS.live + " " + pending.sentence, pending.what, pending.language), "");
    }
    pending = null;
  }

  /* The live line: a text, or nodes (a sentence quoting an alert in its own language). */
  function status(content, kind) {
    live.hidden = false;
    live.textContent = "";
    live.append.apply(live, [].concat(content));
    live.className = "live" + (kind ? " live-" + kind : "");
  }

  /* ---- pausing: updates are held, counted, and applied when the visitor resumes ---- */

  var paused = false;
  var held = new Map(); // the latest change of each row, in the order they came
  var pauseButton = document.getElementById("situation-pause");
  var heldLine = document.getElementById("situation-held");
  var plurals = new Intl.PluralRules(document.documentElement.lang || "fr");

  function counted(forms, count) {
    var form = forms[plurals.select(count)] || forms.other;
    return form.replace("{count}", numbers.format(count));
  }

  /* Apply a change now, or hold it while paused (a later change of the same row replaces it). */
  function receive(change) {
    if (!change) {
      return;
    }
    if (!paused) {
      change.apply();
      return;
    }
    held.delete(change.key);
    held.set(change.key, change);
    heldLine.textContent = counted(WORDS.held, held.size);
  }

  function setPaused(on) {
    paused = on;
    pauseButton.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) {
      pending = null;
      heldLine.textContent = counted(WORDS.held, 0);
      status(WORDS.paused, "paused");
      return;
    }
    var count = held.size;
    quiet = true;
    try {
      held.forEach(function (change) { change.apply(); });
    } finally {
      quiet = false;
      held.clear();
    }
    heldLine.textContent = "";
    status(counted(WORDS.resumed, count), "");
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

  /* What an observation event changes on the page (null: nothing, it is shown already). */
  function observationChange(d) {
    if (!d.record) {
      return null;
    }
    var table = sharedTable(d.dataset);
    if (table) {
      return sharedChange(table, d);
    }
    if (d.record.value === undefined || !observationsBody) {
      return null; // a change of a list without values (stations, sites): nothing to show here
    }
    var key = seriesKey(d.dataset, d.record);
    var older = rowOf(observationsBody, key);
    if (older && Date.parse(older.getAttribute("data-time")) >= Date.parse(d.time)) {
      return null; // the page already holds this value, or a newer one (a snapshot's replay)
    }
    return { key: "observation|" + key, apply: function () { showObservation(d, key); } };
  }

  function showObservation(d, key) {
    var record = d.record;
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
    show(observationsBody, line, rowOf(observationsBody, key));
    draw("observations", key, { type: "Feature", geometry: d.geometry, properties: {
      kind: "observation", label: place + " — " + measure, value: record.value,
      unit: record.unit, time: d.time } });
    announce(WORDS.newObservation,
      place + " — " + measure + " " + shown(record.value) + " " + (record.unit || ""));
  }

  function sharedChange(table, d) {
    var record = d.record;
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
      return null; // the page shows it already (the snapshot sends what the server listed)
    }
    return { key: "data|" + d.dataset + "|" + rowKey, apply: function () {
      // a changed row (an outage restored) shows its new state, in place or on top
      show(table.tBodies[0], row, rowOf(table.tBodies[0], rowKey));
      if (map && d.geometry) {
        layerOf({ type: "Feature", geometry: d.geometry, properties: { kind: "data",
          label: fields.slice(0, 3).map(function (f) { return typed(record[f], types[f]); })
            .join(" — ") } })
          .addTo(layers.data);
      }
    } };
  }

  /* What an alert event changes on the page. The snapshot's alerts are what the server listed
   * a moment ago (it leaves out the expired and superseded ones, which the snapshot still
   * sends): they change nothing. What was published since comes from the log (`since`). */
  function alertChange(d) {
    var record = d.record;
    if (!record || !alertsBody || d.snapshot) {
      return null;
    }
    if (STATUSES.indexOf(d.status || record.status || "Actual") < 0) {
      return null; // another exercise's or a test's alerts are not this situation
    }
    var key = record.sender + "|" + record.identifier;
    var language = String(record.language || "").toLowerCase().slice(0, 2);
    var superseded = SUPERSEDING.indexOf(record.msgType) >= 0 ? referenced(record) : [];
    if (["Cancel", "Ack", "Error"].indexOf(record.msgType) >= 0) {
      return superseded.length ? { key: "alert|" + key, apply: function () {
        superseded.forEach(function (old) { removeAlert(old, true); });
      } } : null;
    }
    var existing = rowOf(alertsBody, key);
    if (existing) {
      // CAP identifiers name one message: listed already, it is no news. Only its text in the
      // page's language, when the row shows another info block, replaces it (quietly).
      var heading = existing.querySelector("th");
      if (language !== lang || !heading || !heading.hasAttribute("lang")) {
        return null;
      }
      return { key: "alert|" + key + "|" + language, apply: function () {
        morph(existing, alertRow(d, key, language));
      } };
    }
    return { key: "alert|" + key + "|" + language, apply: function () {
      var row = alertRow(d, key, language);
      var older = null;
      superseded.forEach(function (old) {
        var there = rowOf(alertsBody, old);
        if (there && !older) {
          older = there; // the update takes the place (and the focus) of the alert it replaces
          forget("alerts", old);
        } else {
          removeAlert(old, false);
        }
      });
      show(alertsBody, row, older);
      draw("alerts", key, { type: "Feature", geometry: d.geometry, properties: {
        kind: "alert", label: record.headline || record.event,
        severity: record.severity || d.severity || "Unknown",
        time: record.sent } });
      announce(WORDS.newAlert, record.headline || record.event || "",
        language && language !== lang ? String(record.language) : "");
    } };
  }

  function referenced(record) {
    return (record.references || "").split(/\s+/).map(function (triple) {
      var parts = triple.split(",");
      return parts.length >= 2 ? parts[0] + "|" + parts[1] : "";
    }).filter(Boolean);
  }

  /* An alert's row as the server writes it: the CAP link names its headline for screen readers,
   * and texts in another language than the page's say which. */
  function alertRow(d, key, language) {
    var record = d.record;
    var severity = record.severity || d.severity || "Unknown";
    var foreign = record.language && language !== lang ? String(record.language) : "";
    var headline = record.headline || record.event || record.identifier;
    var row = document.createElement("tr");
    row.setAttribute("data-key", key);
    var badge = document.createElement("span");
    badge.className = "severity severity-" + String(severity).toLowerCase();
    badge.textContent = (WORDS.severities || {})[severity] || severity;
    cell(row, "td", badge);
    var head = cell(row, "th", headline);
    if ((d.status || record.status) === "Exercise") {
      var mark = document.createElement("span");
      mark.className = "badge badge-exercise";
      mark.lang = lang;
      mark.textContent = WORDS.exercise || "EXERCISE";
      head.insertBefore(document.createTextNode(" "), head.firstChild);
      head.insertBefore(mark, head.firstChild);
    }
    if (foreign) {
      head.lang = foreign; // the alert's own language, declared in its CAP
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
    var named = document.createElement("span");
    named.className = "visually-hidden";
    named.textContent = " — " + headline;
    if (foreign) {
      named.lang = foreign;
    }
    cap.appendChild(named);
    cell(row, "td", cap);
    return row;
  }

  /* A translated sentence with its {what} filled: the language puts its own punctuation around
   * it (French writes a non-breaking space before the colon); a quote in another language is
   * marked as such, for screen readers to read it in its own. */
  function said(sentence, what, language) {
    var parts = sentence.split("{what}");
    if (parts.length < 2) {
      return sentence;
    }
    if (!language) {
      return parts.join(what);
    }
    var quoted = document.createElement("span");
    quoted.lang = language;
    quoted.textContent = what;
    return [parts[0], quoted, parts.slice(1).join(what)];
  }

  function rowOf(body, key) {
    for (var i = 0; i < body.rows.length; i++) {
      if (body.rows[i].getAttribute("data-key") === key) {
        return body.rows[i];
      }
    }
    return null;
  }

  /* Remove an alert's row; a cancelled row that held the focus hands it to the alerts' heading. */
  function removeAlert(key, keepFocus) {
    var row = rowOf(alertsBody, key);
    if (row) {
      var focused = row.contains(document.activeElement);
      row.remove();
      var heading = document.getElementById("alerts");
      if (focused && keepFocus && heading) {
        heading.tabIndex = -1;
        heading.focus();
      }
    }
    forget("alerts", key);
  }

  function listen(url) {
    var source = new EventSource(url);
    status(WORDS.waiting, "");
    source.onopen = function () { status(paused ? WORDS.paused : WORDS.live, ""); };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        status(WORDS.refused, "lost"); // refused (401, 403, 404): EventSource does not retry
      } else {
        status(WORDS.lost, "lost"); // it reconnects by itself, with Last-Event-ID
      }
    };
    source.addEventListener("observation", function (event) {
      var d = payload(event);
      receive(d && observationChange(d));
    });
    source.addEventListener("alert", function (event) {
      var d = payload(event);
      receive(d && alertChange(d));
    });
    /* The crisis is over (closed, or its window passed): the page says so and stops following. */
    function over(state) {
      source.close();
      if (pauseButton) {
        setPaused(false); // what was held is shown: the page will not change any more
        pauseButton.parentNode.hidden = true;
      }
      status(WORDS[state], "closed");
      var badge = document.getElementById("crisis-state");
      if (badge) {
        badge.textContent = WORDS[state === "ended" ? "stateEnded" : "stateClosed"];
        badge.className = "badge badge-stale";
      }
    }
    source.addEventListener("crisis", function (event) {
      var d = payload(event);
      if (d && d.id === crisisId && (d.status === "closed" || d.status === "ended")) {
        over(d.status);
      }
    });
    // the stream's own end, when it comes before the crisis event (hub.crises.why_over's words)
    source.addEventListener("closed", function (event) {
      var reason = (payload(event) || {}).reason || "";
      if (reason.indexOf("crisis " + crisisId + " ended") === 0) {
        over("ended");
      } else if (reason.indexOf("crisis " + crisisId + " was closed") === 0) {
        over("closed");
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
      if (pauseButton && heldLine) {
        pauseButton.addEventListener("click", function () { setPaused(!paused); });
        pauseButton.parentNode.hidden = false;
      }
      listen(stream);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

/* Maps with Leaflet: a dataset's features or extent, and the search page's area picker.
 *
 * <div class="map" data-geojson="/api/…?format=geojson" data-bbox="w,s,e,n" data-tiles=""
 *      data-attribution="" data-outline="/territory.geojson" role="region" aria-label="…">
 * draws the features (fetched from the hub itself only), else the bbox; tiles only when
 * data-tiles holds a URL template, else a plain background and the territory's outline.
 * <div class="map" data-pick="ID of a text input" …> lets a pointer choose an area by two
 * clicks on opposite corners; the input receives "w,s,e,n" (4 decimals), and typing in it
 * moves the drawn area: keyboard users need not use the map at all.
 */
(function () {
  "use strict";

  if (typeof window.L !== "object") {
    return; // the library did not load: the page works without its maps, as without JavaScript
  }
  var L = window.L;
  var lang = (document.documentElement.lang || "en").slice(0, 2).toLowerCase();
  var LABELS = {
    en: {
      zoomIn: "Zoom in",
      zoomOut: "Zoom out",
      close: "Close",
      pick: "Click two opposite corners to choose an area, or type it in the field.",
      second: "Now click the opposite corner (Escape cancels).",
      clear: "Clear the area",
      absent: "Absent: searched for here and not found",
      records: function (n) { return n + " records at this place; the newest is shown"; },
    },
    fr: {
      zoomIn: "Zoom avant",
      zoomOut: "Zoom arrière",
      close: "Fermer",
      pick: "Cliquez deux coins opposés pour choisir une zone, ou saisissez-la dans le champ.",
      second: "Cliquez maintenant le coin opposé (Échap annule).",
      clear: "Effacer la zone",
      absent: "Absent\u202f: recherché ici sans être trouvé",
      records: function (n) { return n + " enregistrements à cet endroit\u202f; le plus récent est affiché"; },
    },
  };
  var WORDS = LABELS[lang] || LABELS.en;
  var FEATURE = { color: "#0b5394", weight: 2, fillColor: "#0b5394", fillOpacity: 0.2 };
  // A recorded absence: a hollow grey dashed ring, never a presence's filled dot.
  var ABSENCE = { color: "#4d5761", weight: 2, dashArray: "3 2", fillColor: "#ffffff",
    fillOpacity: 0.9 };
  var EXTENT = { color: "#0b5394", weight: 2, fillOpacity: 0.08, dashArray: "6 4" };
  var OUTLINE = { color: "#5a6470", weight: 1.5, fill: true, fillColor: "#ffffff",
    fillOpacity: 0.6, interactive: false };
  var PICKED = { color: "#b3261e", weight: 2, fillOpacity: 0.12 };
  var FIT = { padding: [16, 16], maxZoom: 13 };
  var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var MANY = 500; // past this many features, a canvas draws them faster than SVG

  /* A URL on the hub itself, or null: maps fetch nothing from elsewhere. */
  function sameOrigin(url) {
    if (!url) {
      return null;
    }
    try {
      var target = new URL(url, document.baseURI);
      return target.origin === window.location.origin ? target.href : null;
    } catch (error) {
      return null; // no URL at all
    }
  }

  function getJSON(url) {
    var target = sameOrigin(url);
    if (!target) {
      return Promise.reject(new Error("not on this site: " + url));
    }
    return fetch(target, {
      credentials: "same-origin",
      headers: { Accept: "application/geo+json, application/json" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error(url + ": HTTP " + response.status);
      }
      return response.json();
    });
  }

  /* "w,s,e,n" as numbers, or null when it is no longitude/latitude box. */
  function parseBox(text) {
    var parts = (text || "").split(",").map(function (p) { return p.trim(); });
    if (parts.length !== 4 || parts.some(function (p) { return p === ""; })) {
      return null;
    }
    var v = parts.map(Number);
    if (v.some(isNaN) || v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 ||
        v[0] > v[2] || v[1] > v[3]) {
      return null;
    }
    return v;
  }

  function boundsOf(box) {
    return L.latLngBounds([box[1], box[0]], [box[3], box[2]]);
  }

  function shapeOf(box, style) {
    if (box[0] === box[2] && box[1] === box[3]) {
      return L.circleMarker([box[1], box[0]], L.extend({ radius: 6 }, style));
    }
    return L.rectangle(boundsOf(box), style);
  }

  function text(value) {
    if (value === null || value === undefined) {
      return "—";
    }
    return typeof value === "object" ? JSON.stringify(value) : String(value);
  }

  /* A feature's popup: what the hub says of the point (an absence, the records at its place),
   * then its properties as a table, built as elements: no property is read as HTML. */
  function popupOf(properties, hub) {
    var box = document.createElement("div");
    if (hub && hub.absent) {
      var absent = document.createElement("p");
      absent.className = "map-absent";
      absent.textContent = WORDS.absent;
      box.appendChild(absent);
    }
    if (hub && hub.records > 1) {
      var records = document.createElement("p");
      records.textContent = WORDS.records(hub.records);
      box.appendChild(records);
    }
    var table = document.createElement("table");
    table.className = "map-properties";
    var body = table.createTBody();
    Object.keys(properties || {}).forEach(function (key) {
      var row = body.insertRow();
      var th = document.createElement("th");
      th.scope = "row";
      th.textContent = key;
      row.appendChild(th);
      row.insertCell().textContent = text(properties[key]);
    });
    box.appendChild(table);
    return box;
  }

  function escapeHTML(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span.innerHTML;
  }

  /* The map, its tiles or plain background and outline; `ready` resolves to the outline's layer. */
  function baseMap(element, preferCanvas, picking) {
    var role = element.getAttribute("role");
    if (!role || role === "img") {
      // Drawn, the map holds controls and takes the keyboard: a region named by its
      // aria-label, no longer an image (an img must hold nothing focusable).
      element.setAttribute("role", "region");
    }
    var map = L.map(element, {
      zoomControl: false,
      scrollWheelZoom: false, // a page scrolled past the map must not zoom it
      preferCanvas: preferCanvas,
      zoomSnap: 0.25,
      worldCopyJump: true,
      zoomAnimation: !still,
      fadeAnimation: !still,
      markerZoomAnimation: !still,
      doubleClickZoom: !picking, // a picker's two clicks are two corners, not a zoom
    });
    // Leaflet drops a view change asked for while a zoom animates: fitTo waits for its end.
    map.on("zoomstart", function () { map.zooming = true; });
    map.on("zoomend", function () { map.zooming = false; });
    if (typeof ResizeObserver === "function") {
      // A box resized by the layout (a sidebar folding, a <details> opening) is measured anew.
      new ResizeObserver(function () { map.invalidateSize(); }).observe(element);
    }
    L.control.zoom({ zoomInTitle: WORDS.zoomIn, zoomOutTitle: WORDS.zoomOut }).addTo(map);
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    map.on("popupopen", function (event) {
      var button = event.popup.getElement().querySelector(".leaflet-popup-close-button");
      if (button) {
        button.setAttribute("aria-label", WORDS.close);
        button.setAttribute("title", WORDS.close);
      }
    });
    var tiles = element.getAttribute("data-tiles");
    var outline = Promise.resolve(null);
    if (tiles) {
      L.tileLayer(tiles, {
        attribution: escapeHTML(element.getAttribute("data-attribution") || ""),
        maxZoom: 19,
      }).addTo(map);
    } else {
      element.classList.add("map-plain");
      var source = element.getAttribute("data-outline");
      if (source) {
        map.createPane("outline").style.zIndex = 350; // under the features' overlay pane
        outline = getJSON(source).then(function (geojson) {
          return L.geoJSON(geojson, { pane: "outline", style: OUTLINE, interactive: false,
            pointToLayer: function (f, at) {
              return L.circleMarker(at, L.extend({ radius: 4, pane: "outline" }, OUTLINE));
            } }).addTo(map);
        }).catch(function (error) {
          console.warn("territory outline not drawn:", error.message);
          return null;
        });
      }
    }
    map.setView([20, 0], 1); // until something to fit arrives
    return { map: map, outline: outline };
  }

  function fitTo(map, bounds, element) {
    if (map.zooming) {
      map.once("zoomend", function () { fitTo(map, bounds, element); });
      return;
    }
    if (bounds && bounds.isValid()) {
      map.fitBounds(bounds, FIT);
    }
    element.classList.add("map-drawn");
  }

  function fitToOutline(base, element) {
    base.outline.then(function (layer) {
      fitTo(base.map, layer && layer.getLayers().length ? layer.getBounds() : null, element);
    });
  }

  function display(element) {
    var box = parseBox(element.getAttribute("data-bbox"));
    var source = element.getAttribute("data-geojson");
    var features = source ? getJSON(source) : Promise.resolve(null);
    features.catch(function (error) {
      console.warn("map features not drawn:", error.message);
      return null;
    }).then(function (geojson) {
      var count = geojson && geojson.features ? geojson.features.length : geojson ? 1 : 0;
      var base = baseMap(element, count > MANY, false);
      var layer = count ? L.geoJSON(geojson, {
        style: FEATURE,
        pointToLayer: function (feature, at) {
          var absent = feature.hub && feature.hub.absent;
          return L.circleMarker(at, absent ? L.extend({ radius: 6 }, ABSENCE)
            : L.extend({ radius: 5 }, FEATURE, { fillOpacity: 0.6 }));
        },
        onEachFeature: function (feature, shape) {
          if (feature.properties && Object.keys(feature.properties).length) {
            shape.bindPopup(function () { return popupOf(feature.properties, feature.hub); },
              { maxWidth: 320 });
          }
        },
      }).addTo(base.map) : null;
      if (layer && layer.getLayers().length) {
        fitTo(base.map, layer.getBounds(), element);
      } else if (box) {
        shapeOf(box, EXTENT).addTo(base.map);
        fitTo(base.map, boundsOf(box), element);
      } else {
        fitToOutline(base, element);
      }
    });
  }

  function round(value) {
    return String(Number(value.toFixed(4)));
  }

  function picker(element) {
    var input = document.getElementById(element.getAttribute("data-pick"));
    if (!input) {
      return;
    }
    element.classList.add("map-picker"); // its size first: Leaflet measures the box once
    var base = baseMap(element, false, true);
    var map = base.map;
    var hint = document.createElement("p");
    hint.className = "map-hint";
    hint.setAttribute("aria-live", "polite");
    hint.textContent = WORDS.pick;
    var clear = document.createElement("button");
    clear.type = "button";
    clear.className = "map-clear";
    clear.textContent = WORDS.clear;
    element.parentNode.insertBefore(hint, element.nextSibling);
    hint.appendChild(document.createTextNode(" "));
    hint.appendChild(clear);

    var shape = null;
    var corner = null;
    var preview = null;

    function show(box, fit) {
      if (shape) {
        map.removeLayer(shape);
        shape = null;
      }
      clear.hidden = !box;
      if (box) {
        shape = shapeOf(box, PICKED).addTo(map);
        if (fit) {
          fitTo(map, boundsOf(box), element);
        }
      }
    }

    function cancel() {
      corner = null;
      if (preview) {
        map.removeLayer(preview);
        preview = null;
      }
      hint.firstChild.nodeValue = WORDS.pick;
    }

    function setValue(box) {
      input.value = box ? box.map(round).join(",") : "";
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    map.on("click", function (event) {
      var at = event.latlng.wrap();
      if (!corner) {
        corner = at;
        hint.firstChild.nodeValue = WORDS.second;
        return;
      }
      var box = [
        Math.max(-180, Math.min(corner.lng, at.lng)),
        Math.max(-90, Math.min(corner.lat, at.lat)),
        Math.min(180, Math.max(corner.lng, at.lng)),
        Math.min(90, Math.max(corner.lat, at.lat)),
      ];
      cancel();
      show(box, false);
      setValue(box);
    });
    map.on("mousemove", function (event) {
      if (!corner) {
        return;
      }
      var bounds = L.latLngBounds(corner, event.latlng.wrap());
      if (preview) {
        preview.setBounds(bounds);
      } else {
        preview = L.rectangle(bounds, L.extend({ interactive: false, dashArray: "4 4" }, PICKED))
          .addTo(map);
      }
    });
    element.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && corner) {
        cancel();
      }
    });
    clear.addEventListener("click", function () {
      cancel();
      show(null, false);
      setValue(null);
      input.focus();
    });
    input.addEventListener("change", function () {
      var box = parseBox(input.value);
      show(box, true);
    });

    var current = parseBox(input.value);
    show(current, false);
    var box = current || parseBox(element.getAttribute("data-bbox"));
    if (box) {
      fitTo(map, boundsOf(box), element);
    } else {
      fitToOutline(base, element);
    }
  }

  function start() {
    var maps = document.querySelectorAll("div.map");
    for (var i = 0; i < maps.length; i++) {
      try {
        if (maps[i].hasAttribute("data-pick")) {
          picker(maps[i]);
        } else {
          display(maps[i]);
        }
      } catch (error) {
        console.warn("map not drawn:", error); // one broken map must not cost the others
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

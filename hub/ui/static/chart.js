/* Charts from tables: each <figure class="chart" data-chart> gets a uPlot chart of its own table.
 *
 * The table stays in the page as the chart's accessible alternative. Its first column holds
 * <time datetime="ISO 8601"> (in a td or th), each further column one numeric series, headed by a
 * <th scope="col"> naming it and its unit. A cell's data-value, when present, is read instead of
 * its text (locale-formatted numbers); an empty or non-numeric cell is a gap. Nothing is fetched.
 */
(function () {
  "use strict";

  if (typeof window.uPlot !== "function") {
    return; // the library did not load: the table alone stays, as without JavaScript
  }
  var uPlot = window.uPlot;
  var lang = document.documentElement.lang || navigator.language || "en";
  var decimalComma = /^(fr|de|es|it|pt|nl)\b/i.test(lang);
  // Okabe–Ito hues darkened to 3:1 against white, and a dash per series: told apart without colour.
  var COLOURS = ["#0072b2", "#c94f00", "#007a5a", "#a6487f", "#000000", "#8f6400"];
  var DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3], [4, 4], [1, 2]];
  // Each dash as the border style of its legend marker, so the legend pairs an entry with its line
  // without colour, in forced colours too (where every marker turns one system colour).
  var MARKER_STYLES = ["solid", "dashed", "dotted", "double", "dashed", "dotted"];
  // Tick labels by tick spacing (uPlot's table: incr, default, then the year, month, day, hour,
  // minute and second changes' labels, mode), day-month order and 24-hour time for every locale.
  var TIME_TICKS = [
    [3600 * 24 * 365, "{YYYY}", null, null, null, null, null, null, 1],
    [3600 * 24 * 28, "{MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600 * 24, "{D} {MMM}", "\n{YYYY}", null, null, null, null, null, 1],
    [3600, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
    [60, "{HH}:{mm}", "\n{D} {MMM} {YYYY}", null, "\n{D} {MMM}", null, null, null, 1],
    [1, ":{ss}", "\n{D} {MMM} {YYYY} {HH}:{mm}", null, "\n{D} {MMM} {HH}:{mm}", null, "\n{HH}:{mm}", null, 1],
  ];

  function dateNames() {
    var names = { MMMM: [], MMM: [], WWWW: [], WWW: [] };
    var long = new Intl.DateTimeFormat(lang, { month: "long" });
    var short = new Intl.DateTimeFormat(lang, { month: "short" });
    var wlong = new Intl.DateTimeFormat(lang, { weekday: "long" });
    var wshort = new Intl.DateTimeFormat(lang, { weekday: "short" });
    for (var m = 0; m < 12; m++) {
      var day = new Date(2021, m, 1);
      names.MMMM.push(long.format(day));
      names.MMM.push(short.format(day).replace(/\.$/, ""));
    }
    for (var d = 0; d < 7; d++) {
      var weekday = new Date(2021, 0, 3 + d); // 3 January 2021 was a Sunday, uPlot's day 0
      names.WWWW.push(wlong.format(weekday));
      names.WWW.push(wshort.format(weekday));
    }
    return names;
  }

  var NAMES = dateNames();
  // The drawing is in the zone the page writes its times in (the figure's data-timezone, the
  // territory's), so that the chart and its table give a value the same hour; the legend names
  // the offset. Without one, or one this browser does not know, the reader's own zone.
  function zoneOf(figure) {
    var zone = figure.getAttribute("data-timezone") || undefined;
    try {
      new Intl.DateTimeFormat(lang, { timeZone: zone });
      return zone;
    } catch (e) {
      return undefined;
    }
  }

  function stampIn(zone) {
    return new Intl.DateTimeFormat(lang, {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZoneName: "short", timeZone: zone,
    });
  }
  var number = new Intl.NumberFormat(lang, { maximumFractionDigits: 3 });

  function parseNumber(cell) {
    var text = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent;
    text = (text || "").replace(/[\s\u00a0\u202f']/g, "").replace(/\u2212/g, "-");
    if (!cell.hasAttribute("data-value")) {
      // "1 234,5" in French, "1,234.5" in English; a plain "12.5" is read as written.
      text = decimalComma && text.indexOf(",") >= 0
        ? text.replace(/\./g, "").replace(",", ".")
        : text.replace(/,/g, "");
    }
    if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(text)) {
      return null;
    }
    return Number(text);
  }

  function parseTime(cell) {
    var time = cell.matches("time[datetime]") ? cell : cell.querySelector("time[datetime]");
    var ms = Date.parse(time ? time.getAttribute("datetime") : cell.getAttribute("datetime"));
    return isNaN(ms) ? null : ms / 1000;
  }

  /* The table as uPlot's columns: [times, series…], by time; and the series' headings. */
  function readTable(table) {
    var headRow = table.tHead && table.tHead.rows.length
      ? table.tHead.rows[table.tHead.rows.length - 1]
      : table.rows[0];
    if (!headRow) {
      return null;
    }
    var labels = [];
    for (var c = 1; c < headRow.cells.length; c++) {
      labels.push(headRow.cells[c].textContent.replace(/\s+/g, " ").trim());
    }
    var rows = [];
    var bodies = table.tBodies.length ? table.tBodies : [table];
    for (var b = 0; b < bodies.length; b++) {
      for (var r = 0; r < bodies[b].rows.length; r++) {
        var row = bodies[b].rows[r];
        if (row === headRow || !row.cells.length) {
          continue;
        }
        var x = parseTime(row.cells[0]);
        if (x === null) {
          continue;
        }
        var values = [x];
        for (var s = 1; s <= labels.length; s++) {
          values.push(row.cells[s] ? parseNumber(row.cells[s]) : null);
        }
        rows.push(values);
      }
    }
    rows.sort(function (a, b) { return a[0] - b[0]; });
    var columns = labels.map(function () { return []; });
    columns.unshift([]);
    rows.forEach(function (values) {
      values.forEach(function (v, i) { columns[i].push(v); });
    });
    var drawn = labels.filter(function (_, i) {
      return columns[i + 1].some(function (v) { return v !== null; });
    });
    return drawn.length ? { labels: labels, columns: columns } : null;
  }

  /* The unit a heading names last, in parentheses or brackets: series sharing it share an axis. */
  function unitOf(label) {
    var match = /[([]([^()[\]]+)[)\]]\s*$/.exec(label);
    return match ? match[1].trim() : "";
  }

  function heightFor(figure, width) {
    var wanted = Number(figure.getAttribute("data-height"));
    return wanted > 0 ? wanted : Math.round(Math.max(200, Math.min(360, width * 0.45)));
  }

  function draw(figure) {
    var table = figure.querySelector("table");
    var data = table && readTable(table);
    if (!data) {
      return;
    }
    var units = [];
    var timeHeading = table.tHead && table.tHead.rows.length
      ? table.tHead.rows[table.tHead.rows.length - 1].cells[0].textContent
      : "";
    var zone = zoneOf(figure);
    var stamp = stampIn(zone);
    var series = [{
      label: timeHeading.replace(/\s*[([][^()[\]]*[)\]]\s*$/, "").trim() || "Time",
      value: function (u, ts) { return ts == null ? "—" : stamp.format(new Date(ts * 1000)); },
    }];
    data.labels.forEach(function (label, i) {
      var unit = unitOf(label);
      if (units.indexOf(unit) < 0) {
        units.push(unit);
      }
      series.push({
        label: label,
        scale: "y" + units.indexOf(unit),
        stroke: COLOURS[i % COLOURS.length],
        dash: DASHES[i % DASHES.length],
        width: 2,
        spanGaps: false,
        value: function (u, v) { return v == null ? "—" : number.format(v); },
      });
    });
    var axes = [{ values: TIME_TICKS, stroke: "#333", grid: { stroke: "#e3e3e3" } }];
    units.slice(0, 2).forEach(function (unit, i) {
      axes.push({
        scale: "y" + i,
        side: i === 0 ? 3 : 1,
        label: unit,
        stroke: "#333",
        grid: { show: i === 0, stroke: "#e3e3e3" },
        size: 60,
        values: function (u, ticks) { return ticks.map(function (t) { return number.format(t); }); },
      });
    });

    var plot = document.createElement("div");
    plot.className = "chart-plot";
    // The drawing repeats the table for the eye; assistive technology reads the table.
    plot.setAttribute("role", "img");
    var caption = figure.querySelector("figcaption");
    // French puts a no-break space before a colon.
    var colon = /^fr\b/i.test(lang) ? "\u00a0: " : ": ";
    plot.setAttribute("aria-label", (caption ? caption.textContent.trim() + colon : "") +
      data.labels.join(", "));
    var anchor = table;
    while (anchor.parentNode !== figure) {
      anchor = anchor.parentNode;
    }
    figure.insertBefore(plot, anchor);

    var width = Math.max(plot.clientWidth, 240);
    var chart = new uPlot({
      width: width,
      height: heightFor(figure, width),
      series: series,
      axes: axes,
      scales: { x: { time: true } },
      legend: {
        live: true,
        markers: {
          width: 3,  // a double border needs three pixels to show its two lines
          dash: function (u, i) { return MARKER_STYLES[(i - 1) % MARKER_STYLES.length]; },
        },
      },
      cursor: { drag: { x: true, y: false } },
      fmtDate: function (template) { return uPlot.fmtDate(template, NAMES); },
      // The axis's ticks in the same zone as the legend and the table.
      tzDate: zone ? function (ts) { return uPlot.tzDate(new Date(ts * 1000), zone); } : undefined,
    }, data.columns, plot);
    figure.classList.add("chart-drawn");

    var lastWidth = width;
    function fit() {
      var now = Math.max(plot.clientWidth, 240);
      if (now !== lastWidth) {  // a height change alone (the legend wrapping) is no reason
        lastWidth = now;
        chart.setSize({ width: now, height: heightFor(figure, now) });
      }
    }
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(function () { window.requestAnimationFrame(fit); }).observe(plot);
    } else {
      window.addEventListener("resize", function () { window.requestAnimationFrame(fit); });
    }
  }

  function start() {
    var figures = document.querySelectorAll("figure.chart[data-chart]");
    for (var i = 0; i < figures.length; i++) {
      try {
        draw(figures[i]);
      } catch (error) {
        // One bad table must not cost the page its other charts; its table is still there.
        if (window.console) {
          console.warn("chart not drawn:", error);
        }
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

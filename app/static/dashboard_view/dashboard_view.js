// The dashboard page's charts (GET /api/v1/dashboard/view). The numbers come from
// the JSON block the server wrote into the page; they are already in its text, the
// charts only draw them. A file, not inline code: the page's CSP allows no inline script.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var RED = "#c8161d";
  var PALETTE = ["#c8161d", "#e8684a", "#f6bd16", "#5b8ff9", "#5ad8a6", "#9270ca", "#bfbfbf"];

  function format(kind, value) {
    if (value === null || value === undefined) return "—";
    if (kind === "rate") return (value * 100).toFixed(1) + "%";
    if (kind === "minutes") return (value / 60).toFixed(1) + " 小时";
    return String(value);
  }

  // Long category names in two lines, so that neighbours do not run into each other.
  function wrap(name) {
    return name.length > 4 ? name.slice(0, 3) + "\n" + name.slice(3) : name;
  }

  function pie(items, colors) {
    return {
      color: colors,
      tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
      legend: { bottom: 0, icon: "circle", itemWidth: 10, itemHeight: 10 },
      series: [{
        type: "pie",
        radius: ["42%", "68%"],
        center: ["50%", "44%"],
        // A zero slice has no angle; its label would sit on top of its neighbour's.
        minShowLabelAngle: 1,
        label: { formatter: "{b} {c}" },
        data: items.map(function (x) { return { name: x.name, value: x.value }; })
      }]
    };
  }

  var options = {
    report: function (items) { return pie(items, [RED, "#d9d9d9"]); },
    wishes: function (items) { return pie(items, PALETTE); },
    problems: function (items) {
      return {
        color: [RED],
        tooltip: { trigger: "axis" },
        grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: items.map(function (x) { return x.name; }),
                 axisLabel: { interval: 0, formatter: wrap } },
        yAxis: { type: "value", minInterval: 1 },
        series: [{
          type: "bar",
          barMaxWidth: 36,
          label: { show: true, position: "top" },
          data: items.map(function (x) { return x.value; })
        }]
      };
    },
    ranking: function (r) {
      // Horizontal bars, the first-ranked on top.
      return {
        color: [RED],
        tooltip: {
          trigger: "axis",
          valueFormatter: function (v) { return format(r.kind, v); }
        },
        grid: { left: 8, right: 72, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: r.kind === "count" ? 1 : 0,
                 axisLabel: { formatter: function (v) { return format(r.kind, v); } } },
        yAxis: { type: "category", inverse: true, data: r.orgs },
        series: [{
          type: "bar",
          name: r.name,
          barMaxWidth: 24,
          label: { show: true, position: "right",
                   formatter: function (p) { return format(r.kind, p.value); } },
          data: r.values
        }]
      };
    }
  };

  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var name = el.getAttribute("data-chart");
    if (name === "ranking") {
      // A bar per child: the chart grows with their number.
      el.style.height = Math.max(160, 36 * data.ranking.orgs.length + 48) + "px";
    }
    // SVG: crisp when printed, and every label is text a test can read.
    var chart = echarts.init(el, null, { renderer: "svg", locale: "ZH" });
    chart.on("finished", function () { el.setAttribute("data-rendered", "true"); });
    chart.setOption(Object.assign({ aria: { enabled: true }, animationDuration: 300 },
                                  options[name](data[name])));
    charts.push(chart);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();

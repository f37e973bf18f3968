// FleetPulse: warm ECharts up while app.wasm downloads and compiles.
//
// The first setOption of a page costs far more than the next ones (V8
// compiles ECharts' code on first use; ECharts sets up each chart and
// component type the first time it meets it): about 0.3 s on a reload and
// 0.6 to 0.8 s on a fresh profile, measured in headless Chromium. Done here,
// on a chart that is never shown, that cost falls in the time the page waits
// for its WebAssembly anyway, instead of between the first snapshot and the
// first chart. Loaded deferred, after echarts.min.js; harmless without it.
(function () {
  "use strict";
  if (typeof echarts === "undefined") {
    return;
  }
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  const base = {
    animation: false,
    backgroundColor: "transparent",
    title: {},
    toolbox: {},
    legend: { show: true, top: "0", left: "center" },
    tooltip: { show: true, trigger: "axis" },
    grid: { left: "8", right: "32", top: "36", bottom: "8", containLabel: true },
  };
  const options = [
    {
      xAxis: [{ type: "category", data: ["10:00:00", "10:00:10", "10:00:20"], axisLabel: { hideOverlap: true } }],
      yAxis: [{ type: "value", name: "km/h", min: 0, splitLine: { show: true, lineStyle: { opacity: 0.35 } } }],
      series: [
        { name: "Average", type: "line", showSymbol: true, symbol: "circle", areaStyle: { opacity: 0.12 }, data: [{ value: 40 }, { value: 42 }, { value: 41 }] },
        { name: "Max", type: "line", showSymbol: true, symbol: "circle", lineStyle: { width: 1.5 }, data: [{ value: 80 }, { value: 90 }, { value: 85 }] },
      ],
    },
    {
      xAxis: [{ type: "value" }],
      yAxis: [{ type: "category", data: ["v1", "v2", "v3"] }],
      series: [{ name: "Speed", type: "bar", data: [{ value: 30 }, { value: 50 }, { value: 70 }], label: { show: true, position: "right" } }],
    },
    {
      xAxis: [{ type: "value", min: 0, max: 1 }],
      yAxis: [{ type: "value", min: 0, max: 1 }],
      series: [
        { name: "Vehicles", type: "scatter", symbolSize: 6, data: [[0.2, 0.3], [0.5, 0.6]] },
        { name: "Trails", type: "line", showSymbol: false, connectNulls: false, data: [[0.1, 0.2], [0.2, 0.3], null, [0.4, 0.5]] },
      ],
    },
  ];
  let chart;
  try {
    // A detached element with an explicit size: nothing is laid out or shown.
    chart = echarts.init(document.createElement("div"), dark ? "dark" : null, { width: 480, height: 270 });
    for (const o of options) {
      chart.setOption(Object.assign({}, base, o), { notMerge: true });
    }
  } catch (err) {
    // Only a warm-up: the page draws its charts without it.
  } finally {
    if (chart) {
      chart.dispose();
    }
  }
})();

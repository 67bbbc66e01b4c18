/*
 * Vigil's series chart on uPlot: the actual values, the model's expected value, the band of
 * normal values [lower, upper] filled, anomalies (points scoring at or above the threshold) as
 * red dots, and alert events (firing, resolved) as vertical lines.
 *
 * A classic script (not a module) so that the backtest report can inline it next to uPlot's
 * IIFE build and work from a file:// URL. It defines `globalThis.VigilChart`.
 *
 * Every chart drawn is also listed in `globalThis.__vigilCharts` (the uPlot instances), and the
 * container keeps its instance as `container.__uplot`: the browser tests read back what was
 * drawn (data, scales, pixel positions) from there.
 */
/* global uPlot, window, document, ResizeObserver */
(function () {
  'use strict';

  const COLORS = {
    actual: '#1f6feb',
    expected: '#8250df',
    bandEdge: 'rgba(130, 80, 223, 0.45)',
    band: 'rgba(130, 80, 223, 0.20)',
    anomaly: '#d1242f',
    firing: '#d1242f',
    resolved: '#1a7f37',
  };

  function fmtTime(sec) {
    return new Date(sec * 1000)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
  }

  function fmtNum(v) {
    if (v === null || v === undefined || !Number.isFinite(v)) return '–';
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return String(Math.round(v * 1000) / 1000);
  }

  /** The uPlot data arrays for a series detail (`/api/v1/series/detail` shape). */
  function toData(detail) {
    const pts = detail.points || [];
    const threshold = detail.threshold;
    const xs = new Array(pts.length);
    const value = new Array(pts.length);
    const lower = new Array(pts.length);
    const upper = new Array(pts.length);
    const expected = new Array(pts.length);
    const anomaly = new Array(pts.length);
    const anomalyTs = new Set((detail.anomalies || []).map((a) => a.ts));
    for (let i = 0; i < pts.length; i++) {
      const p = pts[i];
      xs[i] = p.ts / 1000;
      value[i] = p.value;
      lower[i] = p.lower;
      upper[i] = p.upper;
      expected[i] = p.expected;
      const isAnomaly =
        anomalyTs.has(p.ts) || (p.score !== null && threshold !== undefined && p.score >= threshold);
      anomaly[i] = isAnomaly ? p.value : null;
    }
    return [xs, value, lower, upper, expected, anomaly];
  }

  /** Draws the alert events as vertical lines with a letter on top. */
  function eventsPlugin(events) {
    return {
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { left, top, width, height } = u.bbox;
            ctx.save();
            ctx.lineWidth = Math.max(1, window.devicePixelRatio || 1) * 1.5;
            ctx.setLineDash([6, 4]);
            ctx.font = `${Math.round(11 * (window.devicePixelRatio || 1))}px sans-serif`;
            for (const e of events) {
              const x = u.valToPos(e.ts / 1000, 'x', true);
              if (!(x >= left && x <= left + width)) continue;
              const color = e.status === 'firing' ? COLORS.firing : COLORS.resolved;
              ctx.strokeStyle = color;
              ctx.fillStyle = color;
              ctx.beginPath();
              ctx.moveTo(x, top);
              ctx.lineTo(x, top + height);
              ctx.stroke();
              ctx.fillText(e.status === 'firing' ? 'F' : 'R', x + 3, top + 12);
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  /**
   * Renders the chart into `container` (emptied first) and returns the uPlot instance.
   * `opts`: { width, height, title }.
   */
  function render(container, detail, opts) {
    const o = opts || {};
    container.textContent = '';
    const data = toData(detail);
    const events = (detail.events || []).filter((e) => Number.isFinite(e.ts));
    const width = o.width || Math.max(320, container.clientWidth || 800);
    const height = o.height || 320;
    const u = new uPlot(
      {
        width,
        height,
        title: o.title,
        scales: { x: { time: true } },
        axes: [{}, { size: 70, values: (_u, vals) => vals.map(fmtNum) }],
        series: [
          { label: 'time (UTC)', value: (_u, v) => (v === null ? '–' : fmtTime(v)) },
          { label: 'actual', stroke: COLORS.actual, width: 1.5, value: (_u, v) => fmtNum(v) },
          { label: 'lower', stroke: COLORS.bandEdge, width: 1, value: (_u, v) => fmtNum(v) },
          { label: 'upper', stroke: COLORS.bandEdge, width: 1, value: (_u, v) => fmtNum(v) },
          { label: 'expected', stroke: COLORS.expected, width: 1, dash: [5, 4], value: (_u, v) => fmtNum(v) },
          {
            label: 'anomaly',
            stroke: COLORS.anomaly,
            fill: COLORS.anomaly,
            width: 0,
            paths: () => null,
            points: { show: true, size: 8, stroke: COLORS.anomaly, fill: COLORS.anomaly },
            value: (_u, v) => fmtNum(v),
          },
        ],
        bands: [{ series: [3, 2], fill: COLORS.band }],
        plugins: [eventsPlugin(events)],
      },
      data,
      container,
    );
    u.vigil = { events, colors: COLORS, threshold: detail.threshold };
    container.__uplot = u;
    (globalThis.__vigilCharts = globalThis.__vigilCharts || []).push(u);
    if (!o.width && typeof ResizeObserver !== 'undefined') {
      let last = width;
      const ro = new ResizeObserver(() => {
        const w = Math.max(320, container.clientWidth || last);
        if (Math.abs(w - last) > 2 && document.body.contains(container)) {
          last = w;
          u.setSize({ width: w, height });
        }
      });
      ro.observe(container);
    }
    return u;
  }

  globalThis.VigilChart = { render, toData, fmtTime, fmtNum, COLORS };
})();

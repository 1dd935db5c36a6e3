// Grouped horizontal bars as SVG: one row per department, one bar per series.
import { s } from "./dom.js";

export function barChart(rows, series, { title }) {
  const labelWidth = 190;
  const barHeight = 12;
  const rowHeight = series.length * (barHeight + 3) + 12;
  const width = 760;
  const plot = width - labelWidth - 60;
  const max = Math.max(1, ...rows.flatMap((r) => series.map((x) => r[x.key] || 0)));
  const height = rows.length * rowHeight + 40;
  const svg = s("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width: "100%",
    role: "img",
    "aria-label": title,
    class: "chart",
  });
  series.forEach((x, i) => {
    svg.append(
      s("rect", { x: labelWidth + i * 130, y: 4, width: 12, height: 12, class: `bar ${x.className}` }),
      s("text", { x: labelWidth + i * 130 + 18, y: 14, class: "legend" }, x.label),
    );
  });
  rows.forEach((row, r) => {
    const top = 30 + r * rowHeight;
    svg.append(s("text", { x: labelWidth - 8, y: top + rowHeight / 2, class: "row-label", "text-anchor": "end" }, row.label));
    series.forEach((x, i) => {
      const value = row[x.key] || 0;
      const y = top + i * (barHeight + 3);
      svg.append(
        s("rect", {
          x: labelWidth, y, width: Math.max(1, (value / max) * plot), height: barHeight,
          class: `bar ${x.className}`, "data-series": x.key, "data-value": value,
        }),
        s("text", { x: labelWidth + (value / max) * plot + 4, y: y + barHeight - 2, class: "value" }, String(value)),
      );
    });
  });
  return svg;
}

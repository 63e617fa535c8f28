// The routes drawn from coordinates alone, in SVG: no tiles, so it works offline.
// An equirectangular projection scaled by cos(latitude) is exact enough at city scale.

import { hhmm, routeColour, STATUS_LABELS } from "./util.js";

const NS = "http://www.w3.org/2000/svg";
const W = 400;
const H = 300;
const PAD = 14;

function el(name, attrs, title) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (title) {
    const t = document.createElementNS(NS, "title");
    t.textContent = title;
    node.appendChild(t);
  }
  return node;
}

function valid(p) {
  return p && Number.isFinite(p.lat) && Number.isFinite(p.lon);
}

export class RouteMap {
  /** handlers: onSelect(jobId), onFocus(technicianId|null). */
  constructor(svg, caption, handlers) {
    this.svg = svg;
    this.caption = caption;
    this.handlers = handlers;
    this.focus = null;
    this.selected = null;
    this.routes = [];
    this.unassigned = [];
    this.offset = 0;
  }

  render(routes, unassigned, offset) {
    if (this.focus !== null && !routes.some((r) => r.technician.id === this.focus)) this.focus = null;
    this.routes = routes;
    this.unassigned = unassigned;
    this.offset = offset;
    this.draw();
  }

  setFocus(technicianId) {
    this.focus = this.focus === technicianId ? null : technicianId;
    this.draw();
  }

  setSelected(jobId) {
    this.selected = jobId;
    this.draw();
  }

  _projection() {
    const points = [];
    for (const r of this.routes) {
      if (valid(r.start_location)) points.push(r.start_location);
      if (valid(r.end_location)) points.push(r.end_location);
      for (const v of r.visits) if (valid(v.job.location)) points.push(v.job.location);
    }
    for (const u of this.unassigned) if (valid(u.job.location)) points.push(u.job.location);
    if (!points.length) return null;
    let [minLat, maxLat, minLon, maxLon] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const p of points) {
      minLat = Math.min(minLat, p.lat);
      maxLat = Math.max(maxLat, p.lat);
      minLon = Math.min(minLon, p.lon);
      maxLon = Math.max(maxLon, p.lon);
    }
    const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
    const spanX = Math.max((maxLon - minLon) * k, 1e-6);
    const spanY = Math.max(maxLat - minLat, 1e-6);
    const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    const ox = (W - spanX * scale) / 2;
    const oy = (H - spanY * scale) / 2;
    return (p) => [ox + (p.lon - minLon) * k * scale, oy + (maxLat - p.lat) * scale];
  }

  draw() {
    const svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.appendChild(el("rect", { x: 0, y: 0, width: W, height: H, class: "map-bg" }));
    const project = this._projection();
    const focusRoute = this.routes.find((r) => r.technician.id === this.focus);
    this.caption.textContent = focusRoute ? `· ${focusRoute.technician.name} (click the name again for all)` : "";
    if (!project) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, class: "map-empty", "text-anchor": "middle" })).textContent =
        "No places to show";
      return;
    }
    const lines = el("g", { class: "routes" });
    const stops = el("g", { class: "stops" });
    const depots = el("g", { class: "depots" });
    this.routes.forEach((route) => {
      const colour = routeColour(route.technician.id);
      const id = route.technician.id;
      const faded = this.focus !== null && this.focus !== id;
      const path = [];
      if (valid(route.start_location)) path.push(project(route.start_location));
      for (const v of route.visits) if (valid(v.job.location)) path.push(project(v.job.location));
      if (valid(route.end_location)) path.push(project(route.end_location));
      if (path.length > 1) {
        const line = el(
          "polyline",
          {
            points: path.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "),
            class: `route route-${id}${faded ? " faded" : ""}${this.focus === id ? " focused" : ""}`,
            stroke: colour,
          },
          `${route.technician.name}: ${route.visits.length} jobs`,
        );
        line.addEventListener("click", () => this.handlers.onFocus(id));
        lines.appendChild(line);
      }
      if (valid(route.start_location)) {
        const [x, y] = project(route.start_location);
        depots.appendChild(
          el(
            "rect",
            { x: x - 4, y: y - 4, width: 8, height: 8, class: "depot", fill: colour },
            `${route.technician.name}: start`,
          ),
        );
      }
      if (faded) return;
      for (const v of route.visits) {
        if (!valid(v.job.location)) continue;
        const [x, y] = project(v.job.location);
        const dot = el(
          "circle",
          {
            cx: x.toFixed(1),
            cy: y.toFixed(1),
            r: this.selected === v.job_id ? 6 : 3.5,
            class: `stop status-${v.job.status}${this.selected === v.job_id ? " selected" : ""}`,
            stroke: colour,
            "data-job-id": v.job_id,
          },
          `${v.job.reference} · ${route.technician.name} · ${hhmm(v.start, this.offset)} · ${STATUS_LABELS[v.job.status] || v.job.status}`,
        );
        dot.addEventListener("click", () => this.handlers.onSelect(v.job_id));
        stops.appendChild(dot);
      }
    });
    for (const u of this.unassigned) {
      if (!valid(u.job.location) || this.focus !== null) continue;
      const [x, y] = project(u.job.location);
      const s = 4;
      const mark = el(
        "path",
        { d: `M${x - s},${y - s}L${x + s},${y + s}M${x - s},${y + s}L${x + s},${y - s}`, class: "unassigned-mark" },
        `${u.job.reference}: unassigned (${u.reason})`,
      );
      mark.addEventListener("click", () => this.handlers.onSelect(u.job.id));
      stops.appendChild(mark);
    }
    svg.append(lines, depots, stops);
  }
}

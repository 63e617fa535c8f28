// Small helpers shared by the board's modules: escaping, times in the operator's offset.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text from the API goes into HTML strings only through this. */
export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** Minutes east of UTC of an ISO time such as `2026-11-27T08:00:00+01:00` (0 for `Z`). */
export function offsetOf(iso) {
  const m = /([+-])(\d\d):?(\d\d)$/.exec(iso || "");
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === "-" ? -minutes : minutes;
}

/** Refill a territory-style <select>: a blank "any" option first, then `values`. */
export function fillOptions(select, anyLabel, values, selected) {
  select.innerHTML = `<option value="">${esc(anyLabel)}</option>`;
  for (const value of values) {
    const o = document.createElement("option");
    o.value = value;
    o.textContent = value;
    select.appendChild(o);
  }
  select.value = selected;
}

const pad = (n) => String(n).padStart(2, "0");

/** The wall-clock parts of `date` at `offsetMin` minutes east of UTC. */
function wall(date, offsetMin) {
  return new Date(date.getTime() + offsetMin * 60000);
}

/** `HH:MM` of a Date or ISO string in the operator's offset. */
export function hhmm(value, offsetMin) {
  if (!value) return "";
  const w = wall(new Date(value), offsetMin);
  return `${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}`;
}

/** ISO 8601 with the operator's offset, as the API expects (`...T09:10:00+01:00`). */
export function isoWithOffset(date, offsetMin) {
  const w = wall(date, offsetMin);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return (
    `${w.getUTCFullYear()}-${pad(w.getUTCMonth() + 1)}-${pad(w.getUTCDate())}` +
    `T${pad(w.getUTCHours())}:${pad(w.getUTCMinutes())}:${pad(w.getUTCSeconds())}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** The instant of `HH:MM` on `day` (YYYY-MM-DD) at the operator's offset. */
export function atDay(day, time, offsetMin) {
  const [y, mo, d] = day.split("-").map(Number);
  const [h, mi] = time.split(":").map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi) - offsetMin * 60000);
}

/** `YYYY-MM-DD` shifted by `n` days. */
export function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}`;
}

/** Today's date in the browser's zone (the operator's zone is only known from data). */
export function today() {
  const t = new Date();
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}`;
}

/** `1 h 35` style duration from minutes. */
export function fmtMinutes(min) {
  const m = Math.round(min || 0);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${pad(m % 60)}`;
}

export function pct(ratio) {
  return `${Math.round((ratio || 0) * 100)}%`;
}

/** Priority band used for the bar's marker: the API's priority runs 0-100. */
export function priorityBand(priority) {
  if (priority >= 80) return "high";
  if (priority >= 50) return "medium";
  return "low";
}

export const STATUS_LABELS = {
  open: "open",
  dispatched: "dispatched",
  en_route: "en route",
  on_site: "on site",
  completed: "completed",
  incomplete: "incomplete",
  cancelled: "cancelled",
};

/** A technician's colour on the map and beside their row: golden-angle hues by id. */
export function routeColour(technicianId) {
  return `hsl(${Math.round((technicianId * 137.508) % 360)}, 62%, 42%)`;
}

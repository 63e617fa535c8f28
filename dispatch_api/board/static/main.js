// The dispatcher board: login, one day's schedule (Gantt, unassigned list, map, KPIs),
// drag and drop through PATCH /jobs/{id}/assignment, optimization and live events.

import { api, login, session } from "./api.js";
import { Gantt } from "./gantt.js";
import { RouteMap } from "./map.js";
import { Optimizer } from "./optimize.js";
import {
  addDays,
  atDay,
  esc,
  fillOptions,
  fmtMinutes,
  hhmm,
  isoWithOffset,
  offsetOf,
  pct,
  priorityBand,
  STATUS_LABELS,
  today,
} from "./util.js";

const $ = (id) => document.getElementById(id);
const RELOAD_DEBOUNCE_MS = 400;
const LIVE_RELOAD_MS = 1200;

const state = {
  day: null,
  territory: "",
  offset: 0,
  schedule: null,
  routes: [],
  unassigned: [],
  jobs: new Map(), // job id -> summary with its assignment (technician_id, start, end...)
  technicians: new Map(), // id -> technician (territory, name, skills)
  selected: null,
  flashing: new Set(), // job ids whose bar blinks after a live change
  kpis: null,
  loads: 0,
  busy: 0, // writes in flight: a reload waits for them
  reloadTimer: null,
  reloadAt: null, // when the pending refetch fires (ms since epoch), or null
  events: null,
};

// ---------------------------------------------------------------- status line

function status(message, kind = "info") {
  const line = $("status-line");
  const time = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  line.textContent = `${time} · ${message}`;
  line.className = `status-line ${kind}`;
}

// ---------------------------------------------------------------- login

function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.hidden = !message;
  error.textContent = message || "";
  $("login-username").focus();
}

async function onLogin(ev) {
  ev.preventDefault();
  const button = $("login-submit");
  button.disabled = true;
  try {
    const token = await login($("login-username").value.trim(), $("login-password").value);
    if (!["dispatcher", "admin"].includes(token.role)) {
      showLogin("This board is for dispatchers: sign in with a dispatcher account.");
      return;
    }
    session.save(token.access_token, { role: token.role, user_id: token.user_id });
    $("login-password").value = "";
    await start();
  } catch (err) {
    showLogin(err.status === 401 ? "Wrong user name or password." : err.message);
  } finally {
    button.disabled = false;
  }
}

function signOut(message) {
  if (state.events) state.events.close();
  state.events = null;
  session.clear();
  showLogin(message);
}

// ---------------------------------------------------------------- loading

function technicianName(id) {
  const t = state.technicians.get(id);
  return t ? t.name : `#${id}`;
}

function territories() {
  return [...new Set([...state.technicians.values()].map((t) => t.territory).filter(Boolean))].sort();
}

async function loadTechnicians() {
  const list = await api("GET", "/api/v1/technicians?limit=500");
  state.technicians = new Map(list.map((t) => [t.id, t]));
  fillOptions($("territory"), "All", territories(), state.territory);
}

function summarise(schedule) {
  const jobs = new Map();
  for (const route of schedule.routes) {
    for (const v of route.visits) {
      jobs.set(v.job_id, {
        ...v.job,
        id: v.job_id,
        technician_id: route.technician.id,
        start: v.start,
        end: v.end,
        arrival: v.arrival,
        travel_min: v.travel_min,
        wait_min: v.wait_min,
        sequence: v.sequence,
        flash: state.flashing.has(v.job_id),
      });
    }
  }
  for (const u of schedule.unassigned) {
    jobs.set(u.job.id, { ...u.job, technician_id: null, reason: u.reason, message: u.message });
  }
  return jobs;
}

function scheduleOffset(schedule) {
  for (const r of schedule.routes) {
    if (r.shift && r.shift.start) return offsetOf(r.shift.start);
  }
  for (const r of schedule.routes) for (const v of r.visits) return offsetOf(v.start);
  return state.offset;
}

async function loadSchedule() {
  clearTimeout(state.reloadTimer);
  state.reloadAt = null;
  const day = state.day;
  let schedule;
  try {
    schedule = await api("GET", `/api/v1/schedules/${day}`);
  } catch (err) {
    if (err.status !== 401) status(`Cannot load ${day}: ${err.message}`, "error");
    return;
  }
  if (day !== state.day) return; // the dispatcher moved on to another day meanwhile
  state.schedule = schedule;
  state.offset = scheduleOffset(schedule);
  state.jobs = summarise(schedule);
  const started = performance.now();
  render();
  // vis-timeline draws on the next frame; count the day as shown once that has painted.
  // Both numbers are exposed for the end-to-end tests, which hold the board to a budget.
  state.loads += 1;
  const load = state.loads;
  requestAnimationFrame(() =>
    setTimeout(() => {
      document.body.dataset.renderMs = (performance.now() - started).toFixed(0);
      document.body.dataset.loads = String(load);
    }, 0),
  );
}

/**
 * Coalesce bursts (live events, our own writes) into one refetch: a pending refetch is
 * only ever brought forward, never postponed, so a steady stream of events cannot starve
 * it. Never refetch mid-drag or while a write is in flight.
 */
function scheduleReload(delay = RELOAD_DEBOUNCE_MS) {
  const at = Date.now() + delay;
  if (state.reloadAt !== null && state.reloadAt <= at) return;
  clearTimeout(state.reloadTimer);
  state.reloadAt = at;
  state.reloadTimer = setTimeout(function fire() {
    if (gantt.dragging || state.busy > 0) {
      state.reloadTimer = setTimeout(fire, 200);
      return;
    }
    loadSchedule();
  }, delay);
}

// ---------------------------------------------------------------- rendering

function visibleRoutes() {
  const routes = state.schedule ? state.schedule.routes : [];
  if (!state.territory) return routes;
  const territoryOf = (r) => r.technician.territory || (state.technicians.get(r.technician.id) || {}).territory;
  return routes.filter((r) => territoryOf(r) === state.territory);
}

function visibleUnassigned() {
  const list = state.schedule ? state.schedule.unassigned : [];
  if (!state.territory) return list;
  return list.filter((u) => u.job.territory === state.territory);
}

function computeKpis(routes, unassigned) {
  if (!state.territory && state.schedule && state.schedule.kpis) return state.schedule.kpis;
  let visits = 0;
  let risk = 0;
  let travel = 0;
  let util = 0;
  for (const r of routes) {
    visits += r.visits.length;
    risk += r.visits.filter((v) => v.job.sla_at_risk).length;
    travel += r.travel_min || 0;
    util += r.utilisation || 0;
  }
  risk += unassigned.filter((u) => u.job.sla_at_risk).length;
  return {
    jobs_assigned: visits,
    jobs_unassigned: unassigned.length,
    sla_at_risk: risk,
    travel_min: travel,
    utilisation: routes.length ? util / routes.length : 0,
  };
}

function ganttWindow(routes) {
  let start = null;
  let end = null;
  for (const r of routes) {
    if (!r.shift) continue;
    const s = new Date(r.shift.start);
    const e = new Date(r.shift.end);
    if (!start || s < start) start = s;
    if (!end || e > end) end = e;
  }
  if (!start) return { start: atDay(state.day, "07:00", state.offset), end: atDay(state.day, "19:00", state.offset) };
  return { start: new Date(start.getTime() - 30 * 60000), end: new Date(end.getTime() + 30 * 60000) };
}

function render() {
  const routes = visibleRoutes();
  const unassigned = visibleUnassigned();
  state.routes = routes;
  state.unassigned = unassigned;
  state.kpis = computeKpis(routes, unassigned);
  gantt.render(state.day, routes, state.jobs, state.offset, ganttWindow(routes));
  $("gantt-empty").hidden = routes.length > 0;
  routeMap.render(routes, unassigned, state.offset);
  renderKpis(state.kpis);
  renderUnassigned(unassigned);
  if (state.selected && !state.jobs.has(state.selected)) state.selected = null;
  renderDetails();
}

function renderKpis(k) {
  $("kpi-assigned").textContent = String(k.jobs_assigned ?? "–");
  $("kpi-unassigned").textContent = String(k.jobs_unassigned ?? "–");
  $("kpi-sla").textContent = String(k.sla_at_risk ?? "–");
  $("kpi-travel").textContent = fmtMinutes(k.travel_min);
  $("kpi-utilisation").textContent = pct(k.utilisation);
  $("kpi-sla").parentElement.classList.toggle("alert", (k.sla_at_risk || 0) > 0);
}

function renderUnassigned(list) {
  const ul = $("unassigned-list");
  $("unassigned-count").textContent = String(list.length);
  const sorted = [...list].sort((a, b) => (b.job.priority || 0) - (a.job.priority || 0));
  ul.innerHTML = sorted
    .map((u) => {
      const j = u.job;
      const risk = j.sla_at_risk ? ' <span class="mark sla" title="SLA at risk">&#9888;</span>' : "";
      return (
        `<li class="unassigned-job prio-${priorityBand(j.priority)}${state.selected === j.id ? " selected" : ""}" draggable="true" data-job-id="${j.id}">` +
        `<div class="row"><b>${esc(j.reference)}</b>${risk}<span class="prio-badge">P${esc(j.priority)}</span></div>` +
        `<div class="title">${esc(j.title || j.kind || "")}</div>` +
        `<div class="reason"><span class="reason-code">${esc(u.reason)}</span> ${esc(u.message || "")}</div>` +
        "</li>"
      );
    })
    .join("");
  if (!sorted.length) ul.innerHTML = '<li class="muted">Every job of the day is assigned.</li>';
}

function renderDetails() {
  const box = $("details");
  const job = state.selected ? state.jobs.get(state.selected) : null;
  if (!job) {
    box.hidden = true;
    box.innerHTML = "";
    return;
  }
  const off = state.offset;
  const assigned = job.technician_id != null;
  const rows = [
    ["Status", STATUS_LABELS[job.status] || job.status],
    ["Title", job.title],
    ["Customer", job.customer_name],
    ["Address", job.address],
    ["Priority", job.priority],
    ["SLA due", job.sla_due ? `${hhmm(job.sla_due, off)}${job.sla_at_risk ? " (at risk)" : ""}` : "none"],
  ];
  if (assigned) {
    rows.push(["Technician", technicianName(job.technician_id)]);
    rows.push(["Planned", `${hhmm(job.start, off)}–${hhmm(job.end, off)} (travel ${fmtMinutes(job.travel_min)})`]);
    rows.push(["Pinned", job.pinned ? "yes" : "no"]);
  } else {
    rows.push(["Unassigned", `${job.reason || ""} ${job.message || ""}`]);
  }
  const movable = job.status === "dispatched";
  box.innerHTML =
    `<h2>${esc(job.reference)} <span class="chip status-${esc(job.status)}">${esc(STATUS_LABELS[job.status] || job.status)}</span></h2>` +
    `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v ?? "")}</dd>`).join("")}</dl>` +
    '<div class="actions">' +
    (assigned ? `<button id="detail-pin">${job.pinned ? "Unpin" : "Pin"}</button>` : "") +
    (assigned && movable ? '<button id="detail-unassign">Unassign</button>' : "") +
    '<button id="detail-close">Close</button></div>' +
    '<p id="detail-error" class="error" role="alert" hidden></p>';
  box.hidden = false;
  const pin = $("detail-pin");
  if (pin) pin.addEventListener("click", () => togglePin(job.id));
  const unassign = $("detail-unassign");
  if (unassign) unassign.addEventListener("click", () => unassignJob(job.id, () => {}));
  $("detail-close").addEventListener("click", () => select(null));
}

function select(jobId) {
  state.selected = jobId;
  gantt.select(jobId);
  routeMap.setSelected(jobId);
  for (const li of document.querySelectorAll(".unassigned-job")) {
    li.classList.toggle("selected", Number(li.dataset.jobId) === jobId);
  }
  renderDetails();
}

// ---------------------------------------------------------------- assignment writes

function refusalText(err) {
  if (err.code === "rule_violation") return `Refused (${err.rule || "rule"}): ${err.message}`;
  if (err.status === 412) return "Refused: someone changed this job meanwhile. The board has been reloaded; try again.";
  return `Refused: ${err.message}`;
}

/** PATCH the assignment; returns the updated job or throws ApiError. */
async function patchAssignment(job, body) {
  state.busy += 1;
  try {
    const payload = { technician_id: null, start: null, pinned: null, force: false, ...body };
    return await api("PATCH", `/api/v1/jobs/${job.id}/assignment`, { json: payload, version: job.version });
  } finally {
    state.busy -= 1;
  }
}

async function moveJob(jobId, technicianId, start, settle, at = null) {
  const job = state.jobs.get(jobId);
  if (!job) return settle(false);
  const target = { technician_id: technicianId, start: isoWithOffset(start, state.offset) };
  try {
    const updated = await patchAssignment(job, target);
    job.version = updated.version;
    settle(true);
    status(`${job.reference} → ${technicianName(technicianId)} at ${hhmm(start, state.offset)} saved.`, "ok");
    scheduleReload(0);
  } catch (err) {
    settle(false);
    refuse(job, err, target, at);
  }
}

function refuse(job, err, target, at) {
  const actions = [];
  if (err.code === "rule_violation") {
    actions.push({ label: "Force…", className: "danger", run: () => confirmForce(job, target, err) });
  }
  gantt.showRefusal(job.id, refusalText(err), actions, at);
  status(`${job.reference}: ${refusalText(err)}`, "error");
  if (err.status === 412 || err.status === 404) scheduleReload(0);
}

function confirmForce(job, target, err) {
  const who = target.technician_id == null ? "the unassigned list" : technicianName(target.technician_id);
  const when = target.start ? ` at ${hhmm(target.start, state.offset)}` : "";
  $("confirm-text").textContent =
    `Assign ${job.reference} to ${who}${when} although the ${err.rule || "rule"} rule is broken: ${err.message} ` +
    "The override is recorded with your name.";
  $("confirm").hidden = false;
  const yes = $("confirm-yes");
  const no = $("confirm-no");
  const close = () => {
    $("confirm").hidden = true;
    yes.onclick = null;
    no.onclick = null;
  };
  no.onclick = close;
  yes.onclick = async () => {
    close();
    try {
      const updated = await patchAssignment(job, { ...target, force: true });
      job.version = updated.version;
      status(`${job.reference} assigned by override to ${who}${when}.`, "warn");
      scheduleReload(0);
    } catch (e) {
      gantt.showRefusal(job.id, refusalText(e));
      status(`${job.reference}: ${refusalText(e)}`, "error");
    }
  };
}

async function unassignJob(jobId, settle) {
  const job = state.jobs.get(jobId);
  if (!job) return settle(false);
  try {
    const updated = await patchAssignment(job, { technician_id: null });
    job.version = updated.version;
    settle(false); // the reload removes the bar from the row
    status(`${job.reference} unassigned.`, "ok");
    scheduleReload(0);
  } catch (err) {
    settle(false);
    refuse(job, err, { technician_id: null, start: null });
  }
}

async function togglePin(jobId) {
  const job = state.jobs.get(jobId);
  if (!job || job.technician_id == null) return;
  try {
    const updated = await patchAssignment(job, {
      technician_id: job.technician_id,
      start: job.start,
      pinned: !job.pinned,
    });
    job.version = updated.version;
    status(`${job.reference} ${job.pinned ? "unpinned" : "pinned"}.`, "ok");
    scheduleReload(0);
  } catch (err) {
    const p = $("detail-error");
    if (p) {
      p.textContent = refusalText(err);
      p.hidden = false;
    }
    if (err.status === 412) scheduleReload(0);
  }
}

function overUnassigned(x, y) {
  const r = $("unassigned").getBoundingClientRect();
  return x >= r.left && x <= r.right && y >= r.top && y <= r.bottom;
}

// ---------------------------------------------------------------- live events

function eventData(ev) {
  let payload;
  try {
    payload = JSON.parse(ev.data);
  } catch {
    return null;
  }
  // Accept both a bare payload and the bus's {"type", "data"} envelope.
  if (payload && payload.type && payload.data && typeof payload.data === "object") return payload.data;
  return payload;
}

function onJobUpdated(data) {
  if (!data) return;
  const job = state.jobs.get(data.job_id);
  const sameRow =
    job && job.technician_id != null && (data.technician_id == null || data.technician_id === job.technician_id);
  if (sameRow && data.status && data.status !== "open" && data.status !== job.status) {
    // Show the new status at once; the version stays as loaded, so a drag before the
    // refetch below is checked against what the dispatcher actually saw (412 if stale).
    job.status = data.status;
    // The map draws from the schedule's visits, not from state.jobs: change it there too.
    for (const route of state.schedule ? state.schedule.routes : []) {
      for (const v of route.visits) if (v.job_id === job.id) v.job.status = data.status;
    }
    state.flashing.add(job.id);
    job.flash = true;
    gantt.refreshJob(job);
    routeMap.draw();
    if (state.selected === job.id) renderDetails();
    status(
      `${job.reference} is now ${STATUS_LABELS[job.status] || job.status} (${technicianName(job.technician_id)}).`,
    );
    setTimeout(() => {
      state.flashing.delete(job.id);
      const current = state.jobs.get(job.id);
      if (current) {
        current.flash = false;
        gantt.refreshJob(current);
      }
    }, 2500);
  }
  // Times, versions and KPIs may have changed too: refetch once a burst has settled.
  scheduleReload(LIVE_RELOAD_MS);
}

function connectLive() {
  if (state.events) state.events.close();
  const live = $("live");
  const source = new EventSource(`/api/v1/events/stream?access_token=${encodeURIComponent(session.token)}`);
  state.events = source;
  source.onopen = () => {
    live.className = "live on";
    live.title = "Live updates: connected";
    document.body.dataset.live = "on";
  };
  source.onerror = async () => {
    live.className = "live off";
    live.title = "Live updates: reconnecting…";
    document.body.dataset.live = "off";
    if (source.readyState === EventSource.CLOSED && state.events === source) {
      // Closed for good (e.g. the token expired): check the session, then retry.
      try {
        await api("GET", "/api/v1/me");
        setTimeout(() => state.events === source && connectLive(), 5000);
      } catch {
        /* a 401 already brought back the login */
      }
    }
  };
  const on = (type, handler) => source.addEventListener(type, (ev) => handler(eventData(ev)));
  on("job.updated", onJobUpdated);
  on("job.created", () => scheduleReload(LIVE_RELOAD_MS));
  on("plan.published", () => scheduleReload());
  on("run.progress", (d) => optimizer.onRunEvent(d));
  on("run.finished", (d) => optimizer.onRunEvent(d));
}

// ---------------------------------------------------------------- wiring

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

function setDay(day) {
  if (!DAY_RE.test(day || "")) return;
  state.day = day;
  $("day").value = day;
  const url = new URL(window.location.href);
  url.searchParams.set("date", day);
  window.history.replaceState(null, "", url);
  gantt.hideRefusal();
  select(null);
  loadSchedule();
}

if (typeof window.vis === "undefined") {
  document.body.innerHTML =
    '<p class="fatal">The board\'s front-end libraries are not installed on the server: run <code>make frontend</code>.</p>';
  throw new Error("vis-timeline is not loaded");
}

const gantt = new Gantt($("gantt"), $("gantt-wrap"), {
  onMove: (jobId, technicianId, start, settle) => moveJob(jobId, technicianId, start, settle),
  onUnassign: (jobId, settle) => unassignJob(jobId, settle),
  onSelect: (jobId) => select(jobId),
  onGroupFocus: (technicianId) => routeMap.setFocus(technicianId),
  onExternalDrop: (jobId, technicianId, start, at) => moveJob(jobId, technicianId, start, () => {}, at),
  overUnassigned,
  dragOver: (over) => $("unassigned").classList.toggle("drop-target", over),
});

const routeMap = new RouteMap($("map"), $("map-focus"), {
  onSelect: (jobId) => {
    select(jobId);
    gantt.focus(jobId);
  },
  onFocus: (technicianId) => routeMap.setFocus(technicianId),
});

const optimizer = new Optimizer({
  get day() {
    return state.day;
  },
  get offset() {
    return state.offset;
  },
  get kpis() {
    return state.kpis;
  },
  get territory() {
    return state.territory;
  },
  technicianName,
  territories,
  reload: () => loadSchedule(),
  status,
});

async function start() {
  $("login").hidden = true;
  $("app").hidden = false;
  try {
    const me = await api("GET", "/api/v1/me");
    if (!["dispatcher", "admin"].includes(me.role)) {
      signOut("This board is for dispatchers: sign in with a dispatcher account.");
      return;
    }
    $("whoami").textContent = me.name || me.username;
    await loadTechnicians();
  } catch (err) {
    if (err.status !== 401) status(err.message, "error");
    return;
  }
  const requested = new URL(window.location.href).searchParams.get("date");
  setDay(DAY_RE.test(requested || "") ? requested : state.day || today());
  connectLive();
}

function wire() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => signOut());
  $("day").addEventListener("change", (ev) => setDay(ev.target.value));
  $("day-prev").addEventListener("click", () => setDay(addDays(state.day, -1)));
  $("day-next").addEventListener("click", () => setDay(addDays(state.day, 1)));
  $("day-today").addEventListener("click", () => setDay(today()));
  $("territory").addEventListener("change", (ev) => {
    state.territory = ev.target.value;
    if (state.schedule) render();
  });
  window.addEventListener("board:unauthorized", () => signOut("Your session has ended: sign in again."));
  const list = $("unassigned-list");
  list.addEventListener("dragstart", (ev) => {
    const li = ev.target.closest(".unassigned-job");
    if (!li) return;
    ev.dataTransfer.setData("application/x-fws-job", li.dataset.jobId);
    ev.dataTransfer.setData("text/plain", li.querySelector("b").textContent);
    ev.dataTransfer.effectAllowed = "move";
  });
  list.addEventListener("click", (ev) => {
    const li = ev.target.closest(".unassigned-job");
    if (li) select(Number(li.dataset.jobId));
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      gantt.hideRefusal();
      $("confirm").hidden = true;
    }
  });
}

wire();
if (session.token) start();
else showLogin();

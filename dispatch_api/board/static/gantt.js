// The Gantt: vis-timeline with one group per technician. Background items draw the
// shift and the break, thin range items the travel before each visit, and the job
// bars are the only draggable items. vis-timeline's `onMove` hands us the dropped
// position and a callback: we ask the server and either keep the move or pass `null`,
// which snaps the bar back to where it was.

import { esc, fmtMinutes, hhmm, pct, priorityBand, routeColour, STATUS_LABELS } from "./util.js";

const SNAP_MIN = 5;
const MOVABLE = new Set(["dispatched"]);

export function jobClass(job) {
  const parts = ["job", `job-${job.id}`, `status-${job.status}`, `prio-${priorityBand(job.priority)}`];
  if (job.sla_at_risk) parts.push("sla-risk");
  if (job.pinned) parts.push("pinned");
  if (job.override) parts.push("override");
  if (job.flash) parts.push("flash");
  return parts.join(" ");
}

/** `TT-20261127-TT0042` -> `TT0042`: bars are narrow, the tooltip keeps the full reference. */
export function shortRef(reference) {
  const parts = String(reference || "").split("-");
  return parts.length > 2 ? parts[parts.length - 1] : String(reference || "");
}

function jobContent(job) {
  const marks = [];
  if (priorityBand(job.priority) === "high") marks.push('<span class="mark prio" title="High priority">&#9650;</span>');
  if (job.sla_at_risk) marks.push('<span class="mark sla" title="SLA at risk">&#9888;</span>');
  if (job.pinned) marks.push('<span class="mark pin" title="Pinned">&#9873;</span>');
  return `${marks.join("")}<span class="ref">${esc(shortRef(job.reference))}</span> <span class="kind">${esc(job.kind || "")}</span>`;
}

function jobTitle(job, offset) {
  const lines = [
    `<b>${esc(job.reference)}</b> · ${esc(job.title || "")}`,
    `${esc(job.customer_name || "")} · ${esc(job.address || "")}`,
    `${hhmm(job.start, offset)}–${hhmm(job.end, offset)} · ${esc(STATUS_LABELS[job.status] || job.status)} · priority ${esc(job.priority)}`,
  ];
  if (job.travel_min) lines.push(`travel ${fmtMinutes(job.travel_min)} before`);
  if (job.sla_due) lines.push(`SLA due ${hhmm(job.sla_due, offset)}${job.sla_at_risk ? " — at risk" : ""}`);
  return lines.join("<br>");
}

function groupContent(route) {
  const t = route.technician;
  const util = Math.max(0, Math.min(1, route.utilisation || 0));
  const meta =
    route.available === false
      ? "not available this day"
      : `${route.visits.length} jobs · ${fmtMinutes(route.travel_min)} travel${t.territory ? ` · ${esc(t.territory)}` : ""}`;
  return (
    `<div class="tech-name"><span class="swatch" style="background:${routeColour(t.id)}"></span>${esc(t.name)}</div>` +
    `<div class="tech-meta">${meta}</div>` +
    `<div class="util" title="Utilisation ${pct(util)}"><div style="width:${(util * 100).toFixed(0)}%"></div></div>`
  );
}

export class Gantt {
  /**
   * handlers: onMove(jobId, technicianId, start, settle), onUnassign(jobId, settle),
   * onSelect(jobId|null), onGroupFocus(technicianId), onExternalDrop(jobId, technicianId, start, at),
   * overUnassigned(x, y) -> bool, dragOver(bool).
   */
  constructor(container, wrap, handlers) {
    this.container = container;
    this.wrap = wrap;
    this.handlers = handlers;
    this.offset = 0;
    this.groups = new vis.DataSet();
    this.items = new vis.DataSet();
    this.jobs = new Map();
    this.pointer = { x: 0, y: 0 };
    this.dragging = false;
    this.timeline = null;
    this.bubble = null;
    this.day = null;
    this._trackPointer();
    this._acceptExternalDrops();
  }

  _options() {
    return {
      stack: false,
      editable: { updateTime: true, updateGroup: true, add: false, remove: false, overrideItems: false },
      // Dispatchers drag bars directly; by default vis-timeline wants a click first.
      itemsAlwaysDraggable: { item: true, range: true },
      orientation: { axis: "top", item: "top" },
      margin: { item: { horizontal: 0, vertical: 5 }, axis: 2 },
      snap: (date) => new Date(Math.round(date.getTime() / (SNAP_MIN * 60000)) * SNAP_MIN * 60000),
      moment: (date) => vis.moment(date).utcOffset(this.offset),
      onMove: (item, done) => this._onMove(item, done),
      xss: { disabled: true },
      showTooltips: true,
      tooltip: { followMouse: true, delay: 250, overflowMethod: "flip" },
      tooltipOnItemUpdateTime: {
        template: (item) => `${hhmm(item.start, this.offset)}–${hhmm(item.end, this.offset)}`,
      },
      multiselect: false,
      verticalScroll: true,
      maxHeight: this._height(),
      zoomMin: 60 * 60000,
      zoomMax: 24 * 60 * 60000,
      zoomKey: "ctrlKey",
      horizontalScroll: true,
      groupOrder: "order",
      format: {
        minorLabels: { minute: "HH:mm", hour: "HH:mm" },
        majorLabels: { minute: "ddd D MMM", hour: "ddd D MMM" },
      },
    };
  }

  _height() {
    return Math.max(320, window.innerHeight - this.wrap.getBoundingClientRect().top - 40);
  }

  _ensureTimeline() {
    if (this.timeline) return;
    this.timeline = new vis.Timeline(this.container, this.items, this.groups, this._options());
    this._allowVerticalDrags();
    this.timeline.on("select", ({ items }) => {
      const id = items.find((i) => String(i).startsWith("j"));
      this.handlers.onSelect(id ? Number(String(id).slice(1)) : null);
    });
    this.timeline.on("click", (props) => {
      if (props.what === "group-label" && props.group != null) this.handlers.onGroupFocus(props.group);
    });
    this.timeline.on("rangechange", () => this.hideRefusal());
    window.addEventListener("resize", () => this.timeline && this.timeline.setOptions({ maxHeight: this._height() }));
  }

  /**
   * vis-timeline 8.5 sets its item-drag recogniser's direction to an undefined constant, so
   * a purely vertical drag (same time, another technician) never starts. Allow every
   * direction (Hammer's DIRECTION_ALL = LEFT | RIGHT | UP | DOWN = 2 | 4 | 8 | 16).
   */
  _allowVerticalDrags() {
    const hammer = this.timeline.itemSet && this.timeline.itemSet.hammer;
    const pan = hammer && typeof hammer.get === "function" ? hammer.get("pan") : null;
    if (pan && !pan.options.direction) pan.set({ direction: 2 | 4 | 8 | 16 });
  }

  /** Remember where the pointer is, so a bar released over the Unassigned list unassigns. */
  _trackPointer() {
    const track = (ev) => {
      this.pointer = { x: ev.clientX, y: ev.clientY };
      if (this.dragging) this.handlers.dragOver(this.handlers.overUnassigned(ev.clientX, ev.clientY));
    };
    document.addEventListener("pointermove", track, true);
    document.addEventListener("pointerup", track, true);
    document.addEventListener(
      "pointerdown",
      (ev) => {
        const bar = ev.target.closest && ev.target.closest(".vis-item.job");
        this.dragging = Boolean(bar && this.container.contains(bar));
        if (this.dragging) this.hideRefusal();
      },
      true,
    );
    document.addEventListener(
      "pointerup",
      () =>
        setTimeout(() => {
          this.dragging = false;
          this.handlers.dragOver(false);
        }, 0),
      true,
    );
  }

  /** Jobs dragged from the Unassigned list (HTML5 drag and drop) land on a row and a time. */
  _acceptExternalDrops() {
    this.container.addEventListener(
      "dragover",
      (ev) => {
        if (!ev.dataTransfer.types.includes("application/x-fws-job")) return;
        ev.preventDefault();
        ev.stopPropagation();
        ev.dataTransfer.dropEffect = "move";
      },
      true,
    );
    this.container.addEventListener(
      "drop",
      (ev) => {
        const raw = ev.dataTransfer.getData("application/x-fws-job");
        if (!raw || !this.timeline) return;
        ev.preventDefault();
        ev.stopPropagation();
        const props = this.timeline.getEventProperties(ev);
        if (props.group == null) return;
        this.handlers.onExternalDrop(Number(raw), props.group, props.snappedTime || props.time, {
          x: ev.clientX,
          y: ev.clientY,
        });
      },
      true,
    );
  }

  _onMove(item, done) {
    const jobId = Number(String(item.id).slice(1));
    const { x, y } = this.pointer;
    // The handlers answer with `settle(true)` to keep the move or `settle(false)` to snap back.
    const settle = (keep) => done(keep ? item : null);
    if (this.handlers.overUnassigned(x, y)) {
      this.handlers.onUnassign(jobId, settle);
    } else {
      this.handlers.onMove(jobId, item.group, new Date(item.start), settle);
    }
  }

  /** Draw a day: `routes` from GET /schedules/{date}; `jobs` maps job id to its summary. */
  render(day, routes, jobs, offset, window_) {
    const firstRender = !this.timeline || this.day !== day || this.offset !== offset;
    this.offset = offset;
    this.day = day;
    this.jobs = jobs;
    this._ensureTimeline();
    const groups = routes.map((route, index) => ({
      id: route.technician.id,
      order: index,
      content: groupContent(route),
      className: `tech tech-${route.technician.id}${route.available === false ? " unavailable" : ""}`,
    }));
    const items = [];
    for (const route of routes) {
      const g = route.technician.id;
      if (route.shift) {
        items.push({
          id: `s${g}`,
          group: g,
          start: route.shift.start,
          end: route.shift.end,
          type: "background",
          className: "shift",
          content: "",
        });
      }
      (route.breaks || []).forEach((b, i) => {
        items.push({
          id: `b${g}-${i}`,
          group: g,
          start: b.start,
          end: b.end,
          type: "background",
          className: "break",
          content: "",
        });
      });
      for (const visit of route.visits) {
        const job = jobs.get(visit.job_id);
        if (!job) continue;
        if (visit.travel_min > 0 && visit.arrival) {
          const arrival = new Date(visit.arrival);
          items.push({
            id: `t${job.id}`,
            group: g,
            start: new Date(arrival.getTime() - visit.travel_min * 60000),
            end: arrival,
            type: "range",
            className: "travel",
            content: "",
            title: `Travel ${fmtMinutes(visit.travel_min)} to ${esc(job.reference)}`,
            editable: false,
            selectable: false,
          });
        }
        items.push(this._jobItem(job, g));
      }
    }
    this.timeline.setOptions({ maxHeight: this._height() });
    const keepGroups = new Set(groups.map((g) => g.id));
    this.groups.remove(this.groups.getIds().filter((id) => !keepGroups.has(id)));
    this.groups.update(groups);
    const keepItems = new Set(items.map((i) => i.id));
    this.items.remove(this.items.getIds().filter((id) => !keepItems.has(id)));
    this.items.update(items);
    if (firstRender) this.timeline.setWindow(window_.start, window_.end, { animation: false });
  }

  _jobItem(job, group) {
    const movable = MOVABLE.has(job.status);
    return {
      id: `j${job.id}`,
      group,
      start: job.start,
      end: job.end,
      type: "range",
      className: jobClass(job),
      content: jobContent(job),
      title: jobTitle(job, this.offset),
      editable: { updateTime: movable, updateGroup: movable, remove: false },
    };
  }

  /** Redraw one bar after a live change (status, pin, version) without touching the rest. */
  refreshJob(job) {
    if (!this.items.get(`j${job.id}`) || job.technician_id == null) return false;
    this.items.update(this._jobItem(job, job.technician_id));
    return true;
  }

  select(jobId) {
    if (!this.timeline) return;
    this.timeline.setSelection(jobId ? [`j${jobId}`] : []);
  }

  focus(jobId) {
    if (this.timeline && this.items.get(`j${jobId}`)) this.timeline.focus(`j${jobId}`, { animation: false });
  }

  barElement(jobId) {
    return this.container.querySelector(`.vis-item.job-${jobId}`);
  }

  /** A refusal next to the bar (after it snapped back), with optional action buttons. */
  showRefusal(jobId, message, actions = [], at = null) {
    this.hideRefusal();
    const bubble = document.createElement("div");
    bubble.className = "refusal";
    bubble.setAttribute("role", "alert");
    bubble.dataset.jobId = String(jobId);
    const text = document.createElement("span");
    text.className = "refusal-text";
    text.textContent = message;
    bubble.appendChild(text);
    for (const action of actions) {
      const button = document.createElement("button");
      button.textContent = action.label;
      button.className = action.className || "";
      button.addEventListener("click", () => {
        this.hideRefusal();
        action.run();
      });
      bubble.appendChild(button);
    }
    const close = document.createElement("button");
    close.className = "refusal-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", () => this.hideRefusal());
    bubble.appendChild(close);
    this.wrap.appendChild(bubble);
    this.bubble = bubble;
    // Position after vis-timeline has redrawn the bar at its original place.
    requestAnimationFrame(() => requestAnimationFrame(() => this._placeBubble(jobId, at)));
  }

  _placeBubble(jobId, at) {
    if (!this.bubble) return;
    const wrapRect = this.wrap.getBoundingClientRect();
    const bar = this.barElement(jobId);
    let left = at ? at.x - wrapRect.left : 12;
    let top = at ? at.y - wrapRect.top : 40;
    if (bar) {
      const r = bar.getBoundingClientRect();
      left = r.right - wrapRect.left + 8;
      top = r.top - wrapRect.top - 4;
      const width = this.bubble.offsetWidth || 320;
      if (left + width > wrapRect.width) left = Math.max(8, r.left - wrapRect.left - width - 8);
      if (left < 8) left = 8;
    }
    this.bubble.style.left = `${left}px`;
    this.bubble.style.top = `${Math.max(0, top)}px`;
  }

  hideRefusal() {
    if (this.bubble) this.bubble.remove();
    this.bubble = null;
  }
}

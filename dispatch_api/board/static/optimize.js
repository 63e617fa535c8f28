// Optimization dialog: start a run for the day (optionally one territory), follow its
// progress, then show what the draft plan would change before publishing or discarding.

import { api, ApiError } from "./api.js";
import { esc, fillOptions, fmtMinutes, hhmm, pct } from "./util.js";

const POLL_MS = 1000;
const LIST_MAX = 40;

const $ = (id) => document.getElementById(id);

export class Optimizer {
  /** board: { day, offset, kpis, technicianName(id), territories(), reload(), status(msg) } */
  constructor(board) {
    this.board = board;
    this.run = null;
    this.planVersionId = null;
    this.timer = null;
    $("optimize-open").addEventListener("click", () => this.open());
    $("optimize-cancel").addEventListener("click", () => this.close());
    $("optimize-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.start();
    });
    $("optimize-publish").addEventListener("click", () => this.decide("publish"));
    $("optimize-discard").addEventListener("click", () => this.decide("discard"));
  }

  open() {
    $("optimize-day").textContent = this.board.day;
    fillOptions($("optimize-territory"), "All territories", this.board.territories(), this.board.territory || "");
    const busy = this.run && ["queued", "running"].includes(this.run.status);
    $("optimize-form").hidden = Boolean(busy || this.planVersionId);
    $("optimize").hidden = false;
  }

  close() {
    $("optimize").hidden = true;
  }

  _reset() {
    this.run = null;
    this.planVersionId = null;
    clearTimeout(this.timer);
    $("optimize-progress").hidden = true;
    $("optimize-diff").hidden = true;
    $("optimize-decide").hidden = true;
    $("optimize-error").hidden = true;
    $("optimize-form").hidden = false;
    $("optimize-bar").style.width = "0%";
  }

  _error(message) {
    const p = $("optimize-error");
    p.textContent = message;
    p.hidden = false;
  }

  async start() {
    this._reset();
    const seconds = Number($("optimize-time").value);
    if (!Number.isFinite(seconds) || seconds < 1) {
      this._error("Time limit: enter a number of seconds of at least 1.");
      return;
    }
    const territory = $("optimize-territory").value || null;
    $("optimize-start").disabled = true;
    try {
      this.run = await api("POST", "/api/v1/optimization-runs", {
        json: {
          date_from: this.board.day,
          date_to: this.board.day,
          territory,
          technician_ids: null,
          time_limit_s: seconds,
        },
      });
    } catch (err) {
      this._error(
        err instanceof ApiError && err.code === "conflict"
          ? `Another run covers this day already: ${err.message}`
          : err.message,
      );
      return;
    } finally {
      $("optimize-start").disabled = false;
    }
    $("optimize-form").hidden = true;
    $("optimize-progress").hidden = false;
    this._show();
    this._poll();
  }

  _show() {
    const run = this.run;
    const percent = Math.max(0, Math.min(100, (run.progress && run.progress.percent) || 0));
    $("optimize-bar").style.width = `${run.status === "succeeded" ? 100 : percent}%`;
    const labels = {
      queued: "Queued…",
      running: `Running… ${percent.toFixed(0)}%`,
      succeeded: "Finished",
      failed: "Failed",
    };
    $("optimize-state").textContent = `Run ${run.id}: ${labels[run.status] || run.status}`;
    const cost = run.progress && run.progress.best_cost;
    $("optimize-cost").textContent = cost != null ? `Best cost so far: ${Number(cost).toFixed(1)}` : "";
  }

  async _poll() {
    clearTimeout(this.timer);
    if (!this.run) return;
    try {
      this.run = await api("GET", `/api/v1/optimization-runs/${this.run.id}`);
    } catch (err) {
      this._error(`Cannot follow run ${this.run.id}: ${err.message}`);
      this.timer = setTimeout(() => this._poll(), POLL_MS * 3);
      return;
    }
    this._show();
    if (this.run.status === "succeeded") {
      await this._diff();
    } else if (this.run.status === "failed") {
      this._error(`The run failed: ${this.run.error || "no reason given"}.`);
      $("optimize-form").hidden = false;
    } else {
      this.timer = setTimeout(() => this._poll(), POLL_MS);
    }
  }

  /** Live progress events make the dialog react sooner than the next poll. */
  onRunEvent(data) {
    const id = data && (data.run_id ?? data.id);
    if (this.run && id === this.run.id && ["queued", "running"].includes(this.run.status)) this._poll();
  }

  async _diff() {
    if (this.planVersionId === this.run.plan_version_id) return;
    this.planVersionId = this.run.plan_version_id;
    if (!this.planVersionId) {
      this._error("The run finished without a plan version.");
      return;
    }
    let diff;
    try {
      diff = await api("GET", `/api/v1/plan-versions/${this.planVersionId}/diff`);
    } catch (err) {
      this._error(`Cannot compare the draft with the current plan: ${err.message}`);
      return;
    }
    this._renderDiff(diff, this.run.kpis || {});
    $("optimize-decide").hidden = false;
  }

  _renderDiff(diff, kpis) {
    const name = (id) => (id == null ? "nobody" : this.board.technicianName(id));
    const off = this.board.offset;
    const current = this.board.kpis || {};
    const row = (label, now, then) => `<tr><th>${label}</th><td>${esc(now)}</td><td>${esc(then)}</td></tr>`;
    const fmt = (v, f) => (v == null ? "–" : f(v));
    let html =
      '<table class="kpi-compare"><thead><tr><th></th><th>now</th><th>draft</th></tr></thead><tbody>' +
      row("Assigned", fmt(current.jobs_assigned, String), fmt(kpis.jobs_assigned, String)) +
      row("Unassigned", fmt(current.jobs_unassigned, String), fmt(kpis.jobs_unassigned, String)) +
      row("Travel", fmt(current.travel_min, fmtMinutes), fmt(kpis.travel_min, fmtMinutes)) +
      row("Utilisation", fmt(current.utilisation, pct), fmt(kpis.utilisation, pct)) +
      "</tbody></table>";
    const section = (key, title, entries, line) => {
      const list = entries || [];
      const items = list
        .slice(0, LIST_MAX)
        .map((e) => `<li>${line(e)}</li>`)
        .join("");
      const more = list.length > LIST_MAX ? `<li class="muted">and ${list.length - LIST_MAX} more</li>` : "";
      return `<section class="diff-${key}"><h3>${title} <span class="count">${list.length}</span></h3><ul>${items}${more}</ul></section>`;
    };
    html += '<div class="diff-grid">';
    html += section(
      "reassigned",
      "Reassigned",
      diff.reassigned,
      (e) => `<b>${esc(e.reference)}</b> ${esc(name(e.from_technician_id))} → ${esc(name(e.to_technician_id))}`,
    );
    html += section(
      "moved",
      "Moved",
      diff.moved,
      (e) => `<b>${esc(e.reference)}</b> ${hhmm(e.from_start, off)} → ${hhmm(e.to_start, off)}`,
    );
    html += section(
      "newly-assigned",
      "Newly assigned",
      diff.newly_assigned,
      (e) => `<b>${esc(e.reference)}</b> → ${esc(name(e.technician_id))}`,
    );
    html += section(
      "newly-unassigned",
      "Newly unassigned",
      diff.newly_unassigned,
      (e) => `<b>${esc(e.reference)}</b> (${esc(e.reason || "no reason")})`,
    );
    html += "</div>";
    const box = $("optimize-diff");
    box.innerHTML = html;
    box.hidden = false;
  }

  async decide(action) {
    if (!this.planVersionId) return;
    const buttons = [$("optimize-publish"), $("optimize-discard")];
    buttons.forEach((b) => (b.disabled = true));
    try {
      await api("POST", `/api/v1/plan-versions/${this.planVersionId}/${action}`);
    } catch (err) {
      this._error(`${action === "publish" ? "Publishing" : "Discarding"} failed: ${err.message}`);
      return;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
    const id = this.planVersionId;
    this._reset();
    this.close();
    this.board.status(action === "publish" ? `Plan version ${id} published.` : `Plan version ${id} discarded.`);
    if (action === "publish") await this.board.reload();
  }
}

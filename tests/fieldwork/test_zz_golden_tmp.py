import json, os
def test_golden(field, db_url):
    name = "pg" if "postgresql" in db_url else "sqlite"
    out = {}
    r = field.event(field.job.id, "en_route", key="k1", position={"lat": 48.85, "lon": 2.35, "accuracy_m": 8})
    out["en_route"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.job.id, "en_route", key="k1", position={"lat": 48.85, "lon": 2.35, "accuracy_m": 8})
    out["replay"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.job.id, "en_route")
    out["409"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.other_job.id, "en_route")
    out["404"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.job.id, "on_site", key="k1")
    out["reused"] = [r.status_code, dict(r.headers), r.text]
    r = field.client.post(f"/api/v1/jobs/{field.job.id}/events", json={"type": "on_site", "at": "2026-11-27T09:00:00.5+02:00"})
    out["401"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.job.id, "on_site", key="k2")
    out["on_site"] = [r.status_code, dict(r.headers), r.text]
    r = field.event(field.job.id, "incomplete", reason=" nobody home ")
    out["incomplete"] = [r.status_code, dict(r.headers), r.text]
    r = field.get(f"/jobs/{field.job.id}")
    out["get"] = [r.status_code, dict(r.headers), r.text]
    r = field.get(f"/jobs/{field.job.id}/events")
    out["hist"] = [r.status_code, dict(r.headers), r.text]
    json.dump(out, open(f"/tmp/perfw/golden_{name}_{os.environ.get('TAG','base')}.json", "w"), indent=1)

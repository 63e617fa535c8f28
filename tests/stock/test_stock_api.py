"""Stock endpoints (dispatchers and admins) through HTTP."""

from __future__ import annotations


def test_catalogue_locations_levels_and_ledger(client, auth_headers, make_technician) -> None:
    h = auth_headers("dispatcher")
    api = "/api/v1/stock"
    tech = make_technician()
    r = client.post(
        f"{api}/items", json={"sku": "ONT-G2", "name": "ONT", "serialized": True}, headers=h
    )
    assert r.status_code == 201, r.text
    assert (
        client.post(f"{api}/items", json={"sku": "ONT-G2", "name": "again"}, headers=h).status_code
        == 409
    )
    client.post(f"{api}/items", json={"sku": "DROP-50M", "name": "Drop cable"}, headers=h)

    wh = client.post(
        f"{api}/locations", json={"name": "Central", "kind": "warehouse"}, headers=h
    ).json()
    van = client.post(
        f"{api}/locations", json={"name": "Van", "kind": "van", "technician_id": tech.id}, headers=h
    ).json()
    assert van["technician_id"] == tech.id
    r = client.post(
        f"{api}/locations",
        json={"name": "Van 2", "kind": "van", "technician_id": tech.id},
        headers=h,
    )
    assert r.status_code == 409
    r = client.post(
        f"{api}/locations", json={"name": "D", "kind": "depot", "technician_id": tech.id}, headers=h
    )
    assert r.status_code == 422 and r.json()["detail"].startswith("body.technician_id")
    r = client.post(f"{api}/locations", json={"name": "X", "kind": "garage"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"].startswith("body.kind")

    def move(**body):
        return client.post(f"{api}/movements", json=body, headers=h)

    assert (
        move(kind="receipt", sku="DROP-50M", quantity=10, to_location_id=wh["id"]).status_code
        == 201
    )
    r = move(
        kind="transfer",
        sku="DROP-50M",
        quantity=4,
        from_location_id=wh["id"],
        to_location_id=van["id"],
    )
    assert r.status_code == 201 and r.json()["sku"] == "DROP-50M"
    r = move(
        kind="transfer",
        sku="DROP-50M",
        quantity=7,
        from_location_id=wh["id"],
        to_location_id=van["id"],
    )
    assert r.status_code == 409
    assert (r.json()["code"], r.json()["available"]) == ("insufficient_stock", 6)
    r = move(
        kind="adjustment", sku="DROP-50M", quantity=1, from_location_id=van["id"], reason="damaged"
    )
    assert r.status_code == 201
    r = move(kind="adjustment", sku="DROP-50M", quantity=1, from_location_id=van["id"])
    assert r.status_code == 422 and r.json()["detail"].startswith("body.reason")
    r = move(kind="consumption", sku="DROP-50M", quantity=1, from_location_id=van["id"])
    assert r.status_code == 422 and r.json()["detail"].startswith("body.kind")
    r = move(kind="receipt", sku="DROP-50M", quantity=-3, to_location_id=wh["id"])
    assert r.status_code == 422 and r.json()["detail"].startswith("body.quantity")

    levels = client.get(f"{api}/levels?location_id={van['id']}", headers=h).json()
    assert [(lv["sku"], lv["quantity"]) for lv in levels] == [("DROP-50M", 3)]
    r = client.get(f"{api}/movements?location_id={van['id']}&limit=1", headers=h)
    assert r.headers["X-Total-Count"] == "2"
    assert [m["kind"] for m in r.json()] == ["adjustment"]
    r = client.get(f"{api}/items?limit=1&offset=1", headers=h)
    assert r.headers["X-Total-Count"] == "2" and [i["sku"] for i in r.json()] == ["ONT-G2"]
    r = client.get(f"{api}/locations?kind=van", headers=h)
    assert [loc["id"] for loc in r.json()] == [van["id"]]
    assert client.get(f"{api}/items?limit=501", headers=h).status_code == 422

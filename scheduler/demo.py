"""Seeded telecom city days for tests, benchmarks and the dispatch service's demo.

``demo_problem(size, seed, days)`` returns a :class:`Problem`; ``demo_scenario`` also
returns plain data (names, customers, addresses, job descriptions) for a UI. The
same (size, seed, days) always gives the same result: everything is drawn from one
``random.Random(seed)``.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .model import DAY, Break, Job, Point, Problem, Shift, Technician, TimeWindow
from .travel import Geodesic, build_matrix

CENTRE = Point(4.8357, 45.7640)  # Lyon, Place Bellecour
SIZES = {  # technicians, jobs per day, depots
    "small": (5, 40, 1),
    "medium": (25, 250, 3),
    "large": (100, 1000, 5),
}
SKILLS = ("fiber", "copper", "dsl", "ftth_install", "splicing", "tv", "business", "radio")
SKUS = ("ont", "stb", "drop_cable_20m", "splice_kit", "router")
FIRST = [
    "Camille",
    "Lucas",
    "Léa",
    "Hugo",
    "Manon",
    "Louis",
    "Chloé",
    "Jules",
    "Inès",
    "Nathan",
    "Sarah",
    "Théo",
    "Emma",
    "Arthur",
    "Jade",
    "Paul",
    "Lina",
    "Tom",
    "Zoé",
    "Noah",
    "Alice",
    "Adam",
    "Lou",
    "Malo",
    "Anna",
    "Yanis",
    "Rose",
    "Ethan",
    "Clara",
    "Sacha",
]
LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "Andre",
    "Mercier",
    "Blanc",
    "Guerin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Francois",
]
STREETS = [
    "rue de la République",
    "rue Victor Hugo",
    "cours Lafayette",
    "avenue Jean Jaurès",
    "rue Garibaldi",
    "boulevard des Belges",
    "rue Paul Bert",
    "cours Gambetta",
    "rue Duguesclin",
    "quai Saint-Vincent",
    "rue Marietton",
    "avenue Berthelot",
    "rue de Créqui",
    "montée de Choulans",
    "rue Servient",
]
COMPANIES = ("Boulangerie", "Cabinet", "Hôtel", "Pharmacie", "Agence", "Atelier", "Clinique")


def _offset(rng: random.Random, km: float) -> Point:
    """A point around the centre: Gaussian, ``km`` standard deviation."""
    dx, dy = rng.gauss(0, km), rng.gauss(0, km)
    lat = CENTRE.lat + dy / 111.2
    lon = CENTRE.lon + dx / (111.2 * math.cos(math.radians(CENTRE.lat)))
    return Point(round(lon, 6), round(lat, 6))


def _sector(depot: Point, angle0: float, km: float = 25.0) -> tuple[tuple[float, float], ...]:
    """Half-plane-like wedge of 200 degrees from ``depot``: a territory polygon."""
    pts = [(depot.lon, depot.lat)]
    for k in range(9):
        a = math.radians(angle0 + k * 25)
        pts.append(
            (
                depot.lon + km * math.cos(a) / (111.2 * math.cos(math.radians(depot.lat))),
                depot.lat + km * math.sin(a) / 111.2,
            )
        )
    return tuple((round(x, 6), round(y, 6)) for x, y in pts)


def demo_scenario(size: str = "small", seed: int = 0, days: int = 1) -> tuple[Problem, dict]:
    """(Problem, description) for a telecom city: see the module docstring."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    rng = random.Random(seed)
    n_tech, jobs_per_day, n_depots = SIZES[size]
    points: list[Point] = []
    depots = []
    for d in range(n_depots):
        p = CENTRE if d == 0 else _offset(rng, 4.0)
        depots.append({"index": len(points), "name": f"Depot {d + 1}", "point": p})
        points.append(p)

    techs: list[Technician] = []
    tech_desc = []
    for k in range(n_tech):
        depot = depots[k % n_depots]
        skills: dict[str, int] = {}
        # Two skills round-robin, so every skill is covered in every size; then extras.
        for sk in (SKILLS[(2 * k) % len(SKILLS)], SKILLS[(2 * k + 1) % len(SKILLS)]):
            skills[sk] = rng.choice((2, 3, 3, 4, 5))
        for sk in rng.sample(SKILLS, rng.randint(0, 2)):
            skills.setdefault(sk, rng.choice((1, 2, 2, 3, 3, 4, 5)))
        if k % 3 == 0:
            skills.setdefault("ftth_install", rng.randint(2, 4))
        if k % 4 == 1:
            skills.setdefault("fiber", rng.randint(2, 4))
        stock = {sku: rng.choice((0, 1, 2, 2, 3, 4, 5)) for sku in SKUS}
        begin = rng.choice((7 * 3600, 7 * 3600 + 1800, 8 * 3600))
        shifts = []
        for day in range(days):
            o = day * DAY
            lunch = Break(rng.choice((1800, 2700)), o + 11 * 3600 + 1800, o + 13 * 3600 + 1800)
            shifts.append(
                Shift(
                    day=day,
                    start=o + begin,
                    end=o + begin + 9 * 3600,
                    start_location=depot["index"],
                    end_location=depot["index"],
                    breaks=(lunch,),
                    max_work=8 * 3600,
                )
            )
        territory = None
        if size != "small" and k % 5 == 4:
            territory = _sector(depot["point"], rng.uniform(0, 360))
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        tid = f"T{k + 1:03d}"
        techs.append(
            Technician(
                id=tid,
                shifts=tuple(shifts),
                skills=skills,
                stock=stock,
                territory=territory,
                cost_per_hour=float(rng.choice((38, 42, 45, 52))),
                name=name,
            )
        )
        tech_desc.append({"id": tid, "name": name, "depot": depot["name"], "skills": skills})

    jobs: list[Job] = []
    job_desc = []
    counter = 0

    def new_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return f"{prefix}{counter:04d}"

    kinds = ("install", "repair", "maintenance", "construction")
    for day in range(days):
        o = day * DAY
        made = 0
        while made < jobs_per_day:
            kind = rng.choices(kinds, weights=(35, 35, 20, 10))[0]
            p = _offset(rng, 3.5)
            loc = len(points)
            points.append(p)
            customer = (
                f"{rng.choice(COMPANIES)} {rng.choice(LAST)}"
                if rng.random() < 0.2
                else f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            )
            address = f"{rng.randint(1, 180)} {rng.choice(STREETS)}, Lyon"
            if kind == "install":
                ftth = rng.random() < 0.7
                sk = "ftth_install" if ftth else "dsl"
                items = {"ont": 1} if ftth else {"router": 1}
                if rng.random() < 0.4:
                    items["stb"] = 1
                if ftth and rng.random() < 0.5:
                    items["drop_cable_20m"] = 1
                am = rng.random() < 0.5
                window = (8 * 3600, 12 * 3600) if am else (13 * 3600, 17 * 3600)
                jid = new_id("ORD")
                jobs.append(
                    Job(
                        id=jid,
                        location=loc,
                        duration=rng.choice((1800, 2700, 3600)),
                        time_windows=(TimeWindow(o + window[0], o + window[1]),),
                        skills={sk: rng.choice((1, 2, 2, 3))},
                        priority=rng.randint(40, 70),
                        items=items,
                        kind="install",
                        description=f"{'Fibre' if ftth else 'DSL'} installation for {customer}",
                    )
                )
                made += 1
            elif kind == "repair":
                sk = rng.choice(("fiber", "copper", "dsl", "tv", "business"))
                prio = rng.randint(55, 95) if sk != "business" else rng.randint(80, 100)
                due = o + rng.choice((11, 12, 14, 16, 18)) * 3600
                pref = ()
                if rng.random() < 0.15:
                    pref = (rng.choice(techs).id,)
                items = {"splice_kit": 1} if sk == "fiber" and rng.random() < 0.3 else {}
                jid = new_id("TT")
                jobs.append(
                    Job(
                        id=jid,
                        location=loc,
                        duration=rng.choice((1200, 1800, 2700)),
                        time_windows=(TimeWindow(o + 7 * 3600, o + 18 * 3600),),
                        skills={sk: rng.choice((1, 2, 3, 3, 4))},
                        priority=prio,
                        sla_due=due,
                        items=items,
                        preferred_technicians=pref,
                        kind="repair",
                        description=f"Trouble ticket: {sk} fault at {customer}",
                    )
                )
                made += 1
            elif kind == "maintenance":
                sk = rng.choice(("fiber", "copper", "radio"))
                jid = new_id("PM")
                jobs.append(
                    Job(
                        id=jid,
                        location=loc,
                        duration=rng.choice((1200, 1800)),
                        skills={sk: rng.choice((1, 2))},
                        priority=rng.randint(10, 40),
                        kind="maintenance",
                        description=f"Preventive maintenance: {sk} cabinet check",
                    )
                )
                made += 1
            else:
                phases = min(rng.randint(2, 3), jobs_per_day - made)
                prev: str | None = None
                project = f"PRJ-{rng.randint(100, 999)}"
                for ph in range(phases):
                    jid = new_id("CON")
                    # Later phases may be on the next day of a multi-day horizon.
                    pday = min(days - 1, day + (1 if ph == phases - 1 and days > 1 else 0))
                    jobs.append(
                        Job(
                            id=jid,
                            location=loc,
                            duration=rng.choice((2700, 3600, 5400)),
                            time_windows=(TimeWindow(o + 7 * 3600, (pday + 1) * DAY - 4 * 3600),),
                            skills={"splicing": rng.choice((1, 2, 3))},
                            priority=rng.randint(30, 60),
                            items={"splice_kit": 1} if ph == 0 else {},
                            predecessors=(prev,) if prev else (),
                            kind="construction",
                            description=f"{project} phase {ph + 1}/{phases}: fibre splicing",
                        )
                    )
                    job_desc.append(
                        {
                            "id": jid,
                            "kind": "construction",
                            "customer": project,
                            "address": address,
                            "description": jobs[-1].description,
                            "point": (p.lon, p.lat),
                        }
                    )
                    prev = jid
                made += phases
                continue
            job_desc.append(
                {
                    "id": jobs[-1].id,
                    "kind": kind,
                    "customer": customer,
                    "address": address,
                    "description": jobs[-1].description,
                    "point": (p.lon, p.lat),
                }
            )

    durations, distances = build_matrix(points, Geodesic())
    problem = Problem(
        technicians=tuple(techs),
        jobs=tuple(jobs),
        durations=durations,
        distances=distances,
        points=tuple(points),
    )
    description: dict[str, Any] = {
        "size": size,
        "seed": seed,
        "days": days,
        "city": "Lyon",
        "depots": [
            {"index": d["index"], "name": d["name"], "point": (d["point"].lon, d["point"].lat)}
            for d in depots
        ],
        "technicians": tech_desc,
        "jobs": job_desc,
    }
    return problem, description


def demo_problem(size: str = "small", seed: int = 0, days: int = 1) -> Problem:
    """Just the :class:`Problem` of :func:`demo_scenario`."""
    return demo_scenario(size, seed, days)[0]

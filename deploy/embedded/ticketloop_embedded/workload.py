"""Pure parts of `ticketloop bench-workspace`: a realistic mix of tickets (many customers, every
channel a customer writes through, subjects and descriptions of real length in a few languages)
and percentiles. No I/O here, so both are unit-tested.

The mix is deterministic in the ticket's index: the same index gives the same ticket, so two runs
post the same load, and the seed's words are known to the search measurements."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

# Every channel a customer reports through (`proactive` is the system's own, never posted).
CHANNELS = ("web", "email", "app", "messaging", "phone", "counter")
CHANNEL_WEIGHTS = (30, 30, 15, 12, 10, 3)
CATEGORIES = ("product_quality", "logistics_delay", "billing", "account", "service_attitude", "other")
CATEGORY_WEIGHTS = (30, 25, 20, 12, 8, 5)
URGENCIES = ("normal", "urgent", "critical")
URGENCY_WEIGHTS = (80, 17, 3)
NEEDS = ("information", "refund", "replacement", "repair", "complaint", "other")
PRODUCTS = ("Router X2", "Kettle K100", "Phone S9", "Vacuum V7", "Headset H3", "Blender B5", "Lamp L2", "Watch W4")

# (language, subject templates, description sentences): `{product}` and `{order}` are filled in.
LANGUAGES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "en",
        (
            "Order {order}: {product} arrived damaged",
            "Refund for order {order} still not received",
            "{product} stops working after a few minutes",
            "Invoice for order {order} charges me twice",
            "Cannot sign in to my account since the update",
            "Delivery of order {order} is two weeks late",
        ),
        (
            "I bought the {product} on your website three weeks ago (order {order}).",
            "The box was crushed and the screen has a crack across the corner.",
            "I have already restarted it several times and followed the manual step by step.",
            "Your colleague on the phone promised a call back within two days, nobody called.",
            "Please tell me whether you will replace it or refund the full amount.",
            "I need this sorted before the end of the month because I travel abroad.",
            "The tracking page has not changed since it left the warehouse.",
        ),
    ),
    (
        "fr",
        (
            "Commande {order} : {product} arrivé endommagé",
            "Remboursement de la commande {order} toujours pas reçu",
            "Le {product} s'arrête après quelques minutes",
            "La facture de la commande {order} est débitée deux fois",
        ),
        (
            "J'ai acheté le {product} sur votre site il y a trois semaines (commande {order}).",
            "Le carton était écrasé et l'appareil ne s'allume plus du tout.",
            "Votre service client m'a promis un rappel sous deux jours, sans nouvelles depuis.",
            "Merci de me dire si vous remplacez l'appareil ou si vous me remboursez.",
            "Le suivi du colis n'a pas bougé depuis son départ de l'entrepôt.",
        ),
    ),
    (
        "de",
        (
            "Bestellung {order}: {product} beschädigt angekommen",
            "Rückerstattung für Bestellung {order} fehlt noch",
            "{product} schaltet sich nach wenigen Minuten ab",
            "Rechnung zur Bestellung {order} doppelt abgebucht",
        ),
        (
            "Ich habe den {product} vor drei Wochen bei Ihnen bestellt (Bestellung {order}).",
            "Die Verpackung war eingedrückt und das Gerät startet nicht mehr.",
            "Ihr Kollege am Telefon hat einen Rückruf versprochen, der nie kam.",
            "Bitte teilen Sie mir mit, ob Sie das Gerät ersetzen oder den Betrag erstatten.",
        ),
    ),
    (
        "es",
        (
            "Pedido {order}: {product} llegó dañado",
            "Reembolso del pedido {order} todavía pendiente",
            "El {product} se apaga después de unos minutos",
        ),
        (
            "Compré el {product} en su tienda hace tres semanas (pedido {order}).",
            "La caja llegó aplastada y el aparato no enciende.",
            "Me prometieron una llamada en dos días y nadie me ha llamado.",
            "Por favor, díganme si lo van a cambiar o devolver el dinero.",
        ),
    ),
    (
        "zh",
        (
            "订单 {order}：{product} 到货时已损坏",
            "订单 {order} 的退款仍未收到",
            "{product} 使用几分钟后就停止工作",
        ),
        (
            "我三周前在你们网站上购买了 {product}（订单 {order}）。",
            "包装被压坏了，设备完全无法开机。",
            "客服答应两天内回电，但一直没有人联系我。",
            "请告诉我是换货还是全额退款。",
        ),
    ),
)
LANGUAGE_WEIGHTS = (55, 15, 12, 10, 8)
FIRST_NAMES = ("Amira", "Jonas", "Lucía", "Wei", "Chloé", "Oliver", "Priya", "Mateo", "Hannah", "Kenji", "Fatima")
LAST_NAMES = ("Haddad", "Müller", "García", "Zhang", "Dubois", "Smith", "Patel", "Rossi", "Schmidt", "Sato", "Okafor")


def order_number(i: int) -> str:
    """The order number ticket `i` quotes: distinct per ticket (a search by it finds one ticket)."""
    return f"{100_000 + (i * 7919) % 900_000:06d}"


def ticket_payload(i: int, *, customers: int = 8000) -> dict[str, Any]:
    """Ticket `i` of the mix, as `POST /v1/tickets` takes it. Every ticket has its own order number
    in the subject, so none is a repeat contact of another."""
    rng = random.Random(i)
    _language, subjects, sentences = rng.choices(LANGUAGES, weights=LANGUAGE_WEIGHTS)[0]
    product = rng.choice(PRODUCTS)
    order = order_number(i)
    fill = {"product": product, "order": order}
    template = rng.choice(subjects)
    # the order number in every subject: a distinct problem each (never merged as a repeat contact)
    subject = template.format(**fill) if "{order}" in template else f"{template.format(**fill)} (#{order})"
    count = rng.randint(2, min(5, len(sentences)))
    description = " ".join(s.format(**fill) for s in rng.sample(sentences, count))
    customer = rng.randrange(customers)
    crng = random.Random(f"customer-{customer}")  # the same customer keeps their name and details
    first, last = crng.choice(FIRST_NAMES), crng.choice(LAST_NAMES)
    channel = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
    body: dict[str, Any] = {
        "channel": channel,
        "customer": {
            "id": f"cust-{customer:05d}",
            "name": f"{first} {last}",
            "contact": f"+44 20 7946 {customer:04d}" if channel == "phone" else f"c{customer}@example.com",
            "annual_spend": float(crng.choice((0, 120, 900, 4000, 25_000))),
        },
        "category": rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0],
        "need": rng.choice(NEEDS),
        "urgency": rng.choices(URGENCIES, weights=URGENCY_WEIGHTS)[0],
        "subject": subject,
        "description": description,
    }
    return body


# The realistic mix of `make bench` (issue 23): most tickets come from customers seen for the
# first time, some from returning customers with a new problem, some are the same problem
# reported again (often through another channel); live conversations wait for a person.
REPEAT_SHARE = 0.05
RETURNING_SHARE = 0.12
LIVE_SHARE = {"messaging": 0.6, "app": 0.25, "web": 0.1}
DESCRIPTION_CHARS = (200, 2000)
FOLLOW_UPS = (
    "Any news on this? I reported it before and I am still waiting.",
    "I am writing again because nobody has answered my first message.",
    "Second time I ask about this: please call me back today.",
)


def mix_payload(i: int) -> dict[str, Any]:
    """Ticket `i` of the realistic mix: a new customer, a returning one with a new problem, or a
    repeat contact of an earlier ticket (its customer and subject, another channel perhaps).

    Deterministic in `i`; customers are named by the index of the ticket that first brought
    them, so a fresh stack sees `1 - REPEAT_SHARE - RETURNING_SHARE` of the tickets from
    customers it has never seen."""
    rng = random.Random(f"mix-{i}")
    roll = rng.random()
    if i >= 100 and roll < REPEAT_SHARE:
        earlier = rng.randrange(max(0, i - 5000), i)
        body = mix_payload(earlier)
        body["channel"] = rng.choices(CHANNELS, weights=CHANNEL_WEIGHTS)[0]
        body["description"] = f"{rng.choice(FOLLOW_UPS)} {body['description']}"[: DESCRIPTION_CHARS[1]]
        body["customer"] = _mix_customer(_mix_customer_of(earlier), body["channel"])
        body["live_session"] = _live(rng, body["channel"])
        return body
    body = ticket_payload(i)
    same = random.Random(i)  # the language and product `ticket_payload` chose for the subject
    _language, _subjects, sentences = same.choices(LANGUAGES, weights=LANGUAGE_WEIGHTS)[0]
    fill = {"product": same.choice(PRODUCTS), "order": order_number(i)}
    target = rng.randint(*DESCRIPTION_CHARS)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(rng.choice(sentences).format(**fill))
    body["description"] = " ".join(parts)[:target].rstrip(" ")
    body["description"] += "." * (DESCRIPTION_CHARS[0] - len(body["description"]))
    body["customer"] = _mix_customer(_mix_customer_of(i), body["channel"])
    body["live_session"] = _live(rng, body["channel"])
    return body


def _mix_customer_of(i: int) -> int:
    """The index of the ticket that first brought ticket `i`'s customer (itself if new)."""
    rng = random.Random(f"mix-customer-{i}")
    if i >= 100 and rng.random() < RETURNING_SHARE / (1 - REPEAT_SHARE):
        return _mix_customer_of(rng.randrange(max(0, i - 20_000), i))
    return i


def _mix_customer(first: int, channel: str) -> dict[str, Any]:
    crng = random.Random(f"mix-person-{first}")
    name = f"{crng.choice(FIRST_NAMES)} {crng.choice(LAST_NAMES)}"
    contact = f"+44 20 {first % 10_000:04d} {first // 10_000:04d}" if channel == "phone" else f"m{first}@example.com"
    return {"id": f"mix-{first:07d}", "name": name, "contact": contact}


def _live(rng: random.Random, channel: str) -> bool:
    return rng.random() < LIVE_SHARE.get(channel, 0.0)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile `p` (0-100) of `values`; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(len(ordered) * p / 100))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    """count, p50, p95, p99 and max of latencies given in seconds, in milliseconds."""
    return {
        "count": len(seconds),
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
        "p99_ms": round(percentile(seconds, 99) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1) if seconds else float("nan"),
    }

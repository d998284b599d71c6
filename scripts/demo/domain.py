"""The tiny demo's little world: names, items, cities, and the sentences both datasets are made of.

Shared by make_data.py (the SFT task) and pretrain_model.py (the base model's corpus), so the base model
knows every word the task uses, but has never seen the task itself.
"""

from __future__ import annotations

import random

NAMES = [
    "Maria",
    "Omar",
    "Lena",
    "Kenji",
    "Ana",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Elif",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Luis",
    "Mina",
    "Nils",
    "Olga",
    "Pablo",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wanda",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Ben",
    "Carla",
    "David",
]
ITEMS = [
    "apples",
    "books",
    "pens",
    "lamps",
    "chairs",
    "cups",
    "shoes",
    "hats",
    "plates",
    "bikes",
    "kites",
    "maps",
    "candles",
    "boxes",
    "radios",
    "clocks",
    "bottles",
    "tickets",
    "melons",
    "stamps",
]
CITIES = [
    "Lima",
    "Oslo",
    "Rome",
    "Cairo",
    "Quito",
    "Seoul",
    "Dakar",
    "Porto",
    "Lyon",
    "Riga",
    "Tunis",
    "Perth",
    "Kyoto",
    "Delhi",
    "Paris",
    "Bern",
    "Minsk",
    "Accra",
    "Hanoi",
    "Tokyo",
]

# The task: sentences that mention a purchase; the answer lists the fields as `key: value` lines.
TASK_TEMPLATES = [
    "{name} bought {count} {item} in {city}.",
    "In {city}, {name} bought {count} {item}.",
    "{name} from {city} ordered {count} {item}.",
    "Yesterday {name} picked up {count} {item} at the market in {city}.",
    "{count} {item} were sold to {name} in {city}.",
    "At a shop in {city}, {name} paid for {count} {item}.",
]

# The corpus: the same words in other sentences (stories, facts), never the task's question/answer form.
STORY_TEMPLATES = [
    "{name} lives in {city}.",
    "{name} likes {item} very much.",
    "The {item} in {city} are cheap this week.",
    "{name} walked to the station in {city}.",
    "{name} has {count} {item} at home.",
    "There are {count} {item} on the table.",
    "{name} met {other} in {city}.",
    "{name} and {other} went to {city} by train.",
    "In {city} it rained all day, so {name} stayed home.",
    "{name} gave {count} {item} to {other}.",
    "{other} wrote a letter to {name} from {city}.",
    "Every morning {name} counts the {item}: there are {count}.",
]


def slots(rng: random.Random) -> dict[str, str]:
    name, other = rng.sample(NAMES, 2)
    return {
        "name": name,
        "other": other,
        "item": rng.choice(ITEMS),
        "city": rng.choice(CITIES),
        "count": str(rng.randint(1, 20)),
    }


def task_example(rng: random.Random) -> tuple[str, str]:
    """(sentence, answer) for the extraction task."""
    s = slots(rng)
    sentence = rng.choice(TASK_TEMPLATES).format(**s)
    answer = f"name: {s['name']}\nitem: {s['item']}\ncount: {s['count']}\ncity: {s['city']}"
    return sentence, answer


def story(rng: random.Random, sentences: int) -> str:
    """Sentences about the same people, place and things, as in real text: later sentences repeat what
    earlier ones introduced, which is what teaches a model to look back and copy (induction)."""
    s = slots(rng)
    return " ".join(rng.choice(STORY_TEMPLATES).format(**s) for _ in range(sentences))

"""From the category names a shop uses to a rhythm class (pure).

1C and most Russian shops export "Кофе", "Мебель/Диваны", "Корма для кошек"; the rhythm table
(`TOUCHPOINT_CATEGORY_RHYTHM_DAYS`) speaks of `coffee`, `furniture`, `pet_food`. A name is
matched case-insensitively, whole first, then by the first part of a `/`-separated path
("Мебель/Диваны" → "мебель" → furniture): first against the shop's own mapping
(`TOUCHPOINT_LAPSE='{"category_map": {"Зерно": "coffee"}}'`), then against the aliases below.
"""

from __future__ import annotations

from collections.abc import Mapping

# Rhythm class → names in Russian and English (singular and plural where they differ).
BUILTIN_ALIASES: dict[str, tuple[str, ...]] = {
    "coffee": (
        "coffee",
        "кофе",
        "кофе в зернах",
        "кофе в зёрнах",
        "молотый кофе",
        "капсулы",
        "чай и кофе",
        "кофе и чай",
        "tea & coffee",
        "coffee & tea",
    ),
    "groceries": (
        "groceries",
        "grocery",
        "food",
        "продукты",
        "продукты питания",
        "бакалея",
        "еда",
        "молочные продукты",
        "овощи",
        "фрукты",
        "хлеб",
        "напитки",
        "drinks",
    ),
    "pet_food": (
        "pet_food",
        "pet food",
        "pet supplies",
        "pets",
        "корм",
        "корма",
        "корм для животных",
        "корма для животных",
        "зоотовары",
        "товары для животных",
        "корма для кошек",
        "корма для собак",
    ),
    "cosmetics": (
        "cosmetics",
        "beauty",
        "skincare",
        "косметика",
        "парфюмерия",
        "уход за кожей",
        "красота",
        "бытовая химия",
        "household chemicals",
    ),
    "books": ("books", "book", "книги", "книга", "литература", "журналы", "magazines"),
    "clothing": (
        "clothing",
        "clothes",
        "apparel",
        "fashion",
        "shoes",
        "footwear",
        "одежда",
        "обувь",
        "аксессуары",
        "accessories",
        "бельё",
        "белье",
    ),
    "electronics": (
        "electronics",
        "appliances",
        "computers",
        "phones",
        "электроника",
        "бытовая техника",
        "техника",
        "компьютеры",
        "телефоны",
        "смартфоны",
        "цифровая техника",
    ),
    "furniture": (
        "furniture",
        "sofas",
        "мебель",
        "диваны",
        "кровати",
        "шкафы",
        "матрасы",
        "mattresses",
        "кухни",
        "kitchens",
    ),
}


def normalise(name: str) -> str:
    """Case-insensitive, spacing-insensitive, ё = е."""
    return " ".join(name.casefold().replace("ё", "е").split())


def _table(aliases: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalise(alias): rhythm for rhythm, names in aliases.items() for alias in names}


_BUILTIN = _table(BUILTIN_ALIASES)


def candidates(name: str) -> list[str]:
    """The keys a category name is looked up by, most specific first: the whole name, then
    the first part of a `/` path."""
    whole = normalise(name)
    head = normalise(name.split("/", 1)[0]) if "/" in name else whole
    return [whole] if head == whole else [whole, head]


class CategoryClasses:
    """Resolve shop category names to rhythm classes (the shop's mapping before the aliases)."""

    def __init__(self, shop_map: Mapping[str, str] | None = None) -> None:
        self._shop = {normalise(k): v for k, v in (shop_map or {}).items()}

    def class_of_key(self, key: str, known: Mapping[str, float]) -> str | None:
        """The rhythm class of one normalised key that has a rhythm in `known`."""
        for table in (self._shop, _BUILTIN):
            cls = table.get(key)
            if cls is not None and cls in known:
                return cls
        for cls in known:
            if normalise(cls) == key:
                return cls
        return None

    def rhythm_class(self, name: str | None, known: Mapping[str, float]) -> str | None:
        """The class of `name` that has a rhythm in `known`; an exact class name counts too."""
        if not name:
            return None
        for key in candidates(name):
            cls = self.class_of_key(key, known)
            if cls is not None:
                return cls
        return None

"""The words of touches (reasons, scripts, offers), in Russian and English.

`TOUCHPOINT_LOCALE` (`ru` by default) picks the language; a shop replaces any entry, or adds
one for a reason key of its own, with `TOUCHPOINT_TOUCHES='{"texts": {"care.thanks":
{"text": "…", "script": ["…"]}}}'`. Keys are `<playbook>.<reason>` plus a few templates:
`announcement` (with `{title}`, `{date}`, `{details}`), `win_back.offer`, `exhausted` and
`nothing.<why>` (the explanation when there is nothing to plan).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field


class Text(BaseModel):
    text: str = Field(max_length=300)
    script: list[str] = Field(default_factory=list, max_length=20)


def _t(text: str, *script: str) -> Text:
    return Text(text=text, script=list(script))


RU: dict[str, Text] = {
    "lead_nurture.welcome": _t(
        "спасибо за интерес", "Поблагодарить за обращение", "Спросить, что нужно"
    ),
    "lead_nurture.guide": _t(
        "короткий гид по выбору", "Отправить гид по выбору", "Предложить помощь с выбором"
    ),
    "lead_nurture.case": _t(
        "как другой клиент решил ту же задачу", "Рассказать историю одного клиента"
    ),
    "lead_nurture.new_product": _t(
        "поступила новинка", "Показать новинку", "Связать её с задачей клиента"
    ),
    "lead_nurture.schedule": _t(
        "изменилось расписание", "Сообщить новые часы работы или дни доставки"
    ),
    "lead_nurture.event": _t(
        "приглашение на дегустацию / день демонстрации", "Пригласить, назвать дату"
    ),
    "lead_nurture.price": _t(
        "со следующего месяца меняются цены", "Закрепить за клиентом сегодняшнюю цену"
    ),
    "lead_nurture.last_call": _t(
        "подготовленное предложение действует до конца недели",
        "Напомнить о предложении",
        "Попросить принять решение",
    ),
    "lead_nurture.question": _t("один вопрос о планах", "Спросить, когда клиент собирается решать"),
    "second_cycle.news": _t("что нового в этом месяце", "Рассказать новости месяца"),
    "second_cycle.seasonal": _t("подборка сезона", "Показать сезонный выбор"),
    "second_cycle.review": _t("что говорят покупатели", "Поделиться двумя отзывами"),
    "second_cycle.check_in": _t("актуальна ли ещё задача", "Спросить, осталась ли потребность"),
    "second_cycle.bonus": _t(
        "приветственный бонус на первый заказ", "Предложить приветственный бонус"
    ),
    "care.thanks": _t(
        "спасибо за покупку", "Поблагодарить", "Рассказать, как связаться с поддержкой"
    ),
    "care.first_use": _t(
        "помощь с первым использованием",
        "Спросить, как прошло первое использование",
        "Предложить инструкцию",
    ),
    "care.useful": _t("полезное о покупке", "Поделиться советами по уходу (не продавать)"),
    "regular.novelty": _t("новинка в любимой категории", "Показать новое"),
    "regular.tips": _t("советы к купленному", "Поделиться советом"),
    "regular.schedule": _t("изменилось расписание", "Рассказать о новых часах работы или доставке"),
    "regular.survey": _t("нам важно ваше мнение", "Задать два вопроса о сервисе"),
    "regular.club": _t(
        "новости для постоянных клиентов",
        "Рассказать, что постоянные клиенты получают в этом месяце",
    ),
    "regular.birthday": _t("небольшой подарок ко дню рождения", "Поздравить, вручить подарок"),
    "win_back.miss_you": _t("мы скучаем", "Спросить, что изменилось", "Предложить бонус"),
    "win_back.what_went_wrong": _t(
        "что-то пошло не так?", "Попросить честный отзыв", "Предложить бонус"
    ),
    "win_back.new_since": _t(
        "что изменилось с последнего визита", "Показать новое", "Предложить бонус"
    ),
    "win_back.last_offer": _t(
        "персональное предложение", "Сделать предложение", "Договориться о дате"
    ),
    "win_back.offer": _t("бонус-кешбэк 10 % на следующий заказ"),
    "referral_ask.friend_bonus": _t(
        "бонус другу по вашей рекомендации", "Объяснить бонус за рекомендацию"
    ),
    "referral_ask.share": _t(
        "расскажите о нас коллеге", "Спросить, кому ещё это может быть полезно"
    ),
    "announcement": _t("{title}", "Рассказать: {title}", "Вступает в силу {date}", "{details}"),
    "exhausted": _t(
        "в этом сценарии не осталось новых поводов: оператору нужно добавить повод",
        "Найти новый повод до контакта (каталог поводов исчерпан)",
    ),
    "nothing.no_channel": _t("нет ни одного канала связи: добавьте e-mail, телефон или каналы"),
    "nothing.no_consent": _t("клиент отозвал согласие или отписался от всех каналов"),
}

EN: dict[str, Text] = {
    "lead_nurture.welcome": _t(
        "thanks for your interest", "Thank them for reaching out", "Ask what they need"
    ),
    "lead_nurture.guide": _t(
        "a short guide to choosing", "Send the buying guide", "Offer help with the choice"
    ),
    "lead_nurture.case": _t("how another customer solved the same need", "Tell one customer story"),
    "lead_nurture.new_product": _t(
        "a new product arrived", "Present the novelty", "Tie it to their need"
    ),
    "lead_nurture.schedule": _t(
        "the schedule changed", "Share the new opening hours or delivery days"
    ),
    "lead_nurture.event": _t("an invitation to a tasting / demo day", "Invite them, give the date"),
    "lead_nurture.price": _t("prices change next month", "Lock today's price for them"),
    "lead_nurture.last_call": _t(
        "the offer we prepared ends this week", "Remind of the offer", "Ask for a decision"
    ),
    "lead_nurture.question": _t("one question about their plans", "Ask when they plan to decide"),
    "second_cycle.news": _t("what is new this month", "Share the month's news"),
    "second_cycle.seasonal": _t("the season's selection", "Present the seasonal choice"),
    "second_cycle.review": _t("what customers say", "Share two reviews"),
    "second_cycle.check_in": _t("is the need still there", "Ask if the need is still current"),
    "second_cycle.bonus": _t("a welcome bonus on the first order", "Offer the welcome bonus"),
    "care.thanks": _t("thank you for the purchase", "Thank them", "Tell how to reach support"),
    "care.first_use": _t(
        "help with the first use", "Ask how the first use went", "Offer instructions"
    ),
    "care.useful": _t("something useful about the purchase", "Share care tips (not a sale)"),
    "regular.novelty": _t("a novelty in their favourite category", "Present what is new"),
    "regular.tips": _t("tips for what they bought", "Share a tip"),
    "regular.schedule": _t("the schedule changed", "Tell about the new hours or delivery"),
    "regular.survey": _t("their opinion matters", "Ask two questions about the service"),
    "regular.club": _t("members' news", "Share what regulars get this month"),
    "regular.birthday": _t("a small gift on their birthday", "Congratulate, give the gift"),
    "win_back.miss_you": _t("we miss you", "Ask what changed", "Offer the bonus"),
    "win_back.what_went_wrong": _t(
        "did something go wrong", "Ask for honest feedback", "Offer the bonus"
    ),
    "win_back.new_since": _t(
        "what changed since their last visit", "Show what is new", "Offer the bonus"
    ),
    "win_back.last_offer": _t("a personal offer", "Make the offer", "Ask for a date"),
    "win_back.offer": _t("a cashback bonus of 10 % on the next order"),
    "referral_ask.friend_bonus": _t(
        "a bonus for the friend they recommend", "Explain the referral bonus"
    ),
    "referral_ask.share": _t("share us with a colleague", "Ask who else could benefit"),
    "announcement": _t("{title}", "Tell about: {title}", "Takes effect {date}", "{details}"),
    "exhausted": _t(
        "no new reason left in this playbook: the operator should add one",
        "Find a new reason before contacting (catalogue exhausted)",
    ),
    "nothing.no_channel": _t("no channel to reach them: add an e-mail, a phone or channels"),
    "nothing.no_consent": _t("the customer withdrew consent or opted out of every channel"),
}

BUILT_IN: dict[str, dict[str, Text]] = {"ru": RU, "en": EN}


def catalogue(locale: str, overrides: Mapping[str, Text] | None = None) -> dict[str, Text]:
    """The entries of `locale` with the shop's own entries on top."""
    return {**BUILT_IN.get(locale, RU), **(overrides or {})}


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # a placeholder the shop's entry made up stays as written


def fill(entry: Text, **values: str) -> tuple[str, list[str]]:
    """A template entry with its `{placeholders}` filled; script lines left empty are dropped."""
    known = _Values(values)
    lines = [line.format_map(known) for line in entry.script]
    return entry.text.format_map(known), [line for line in lines if line.strip()]

"""Which language a catalogue text is in, and what a page's `lang` attribute says of it."""

from __future__ import annotations

from hub.languages import language_of, language_unless


def test_a_text_is_told_by_its_common_words_and_else_left_to_the_default() -> None:
    assert language_of("Hourly concentrations of the stations, validated by the agency") == "en"
    assert language_of("Concentrations horaires des stations, validées par l'agence") == "fr"
    assert language_of("Lez flood episode") == "en"  # the default: no common word tells
    assert language_of("Lez flood episode", default="") == ""


def test_a_passage_is_marked_only_when_its_language_differs_from_the_pages() -> None:
    english = "Particulate matter PM10 and PM2.5, hourly, Montpellier area"
    assert language_unless("fr", english) == "en"
    assert language_unless("en", english) == ""
    assert language_unless("en", "Mesures horaires des particules dans la métropole") == "fr"
    assert language_unless("fr", "Mesures horaires des particules dans la métropole") == ""


def test_a_short_text_takes_its_contexts_language_and_nothing_tells_nothing() -> None:
    # a title alone rarely tells; its dataset's description does, and its own words come first
    assert language_unless("fr", "Station identifier") == ""
    assert (
        language_unless("fr", "Lez flood", "Water levels of the Lez at the city's gauges") == "en"
    )
    assert (
        language_unless("en", "Crue du Lez", "Hauteurs d'eau du Lez aux stations de la ville")
        == "fr"
    )
    assert (
        language_unless("fr", "Source: the observatory", "Mesures de la qualité de l'air") == "en"
    )

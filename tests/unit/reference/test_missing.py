"""What a suggestion lacks, named for readers of the API and of the web application."""

from __future__ import annotations

from services.reference.missing import describe, explained

TRACTOR = "http://data.europa.eu/esco/skill/00dd3271-077f-4a12-a958-e297fdd724ce"


def test_every_kind_reads_as_a_sentence_without_its_code() -> None:
    assert describe("danish_min:B1", "da") == "Dansk på mindst niveau B1"
    assert describe("certificate:truckcertifikat", "da") == "Certifikat: truckcertifikat"
    assert describe("driving_licence:C", "en") == "Driving licence, category C"
    assert describe("skill:truckkørsel", "da") == "Kompetence: truckkørsel"
    assert describe("commute:45>30km", "da") == "Pendling 45 km; borgeren kan højst 30 km"
    assert describe("whatever", "da").startswith("Andet krav")
    assert (
        describe(f"gap:{TRACTOR}", "da")
        == "Væsentlig kompetence for jobbet: køre landbrugsmaskiner"
    )
    assert describe(f"gap:{TRACTOR}", "en").endswith("operate agricultural machinery")


def test_the_read_sides_list_holds_the_code_and_both_languages() -> None:
    items = explained(["danish_min:A2", f"gap:{TRACTOR}"])
    assert [i["code"] for i in items] == ["danish_min:A2", f"gap:{TRACTOR}"]
    for item in items:
        assert "gap:" not in item["text_da"] and "http" not in item["text_da"]
        assert "gap:" not in item["text_en"] and "http" not in item["text_en"]

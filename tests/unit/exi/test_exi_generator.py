"""The grammar generator: EXI grammar rules on small schemas, and the committed tables
match what the generator makes from the official XSDs."""

from __future__ import annotations

from pathlib import Path

import pytest
from exi_testdata import SCHEMAS

from evse.iso15118.exi import tables as T
from evse.iso15118.exi.generator import generate_all
from evse.iso15118.exi.generator.classes import fields_of
from evse.iso15118.exi.generator.grammar import Builder, Tables, bits_for
from evse.iso15118.exi.generator.xsd import SchemaError, load

_GENERATED = Path(__file__).resolve().parents[3] / "evse" / "iso15118" / "exi" / "_generated"

_HEAD = (
    '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="urn:t" '
    'targetNamespace="urn:t" elementFormDefault="qualified">'
)


def _tables(tmp_path: Path, body: str) -> Tables:
    path = tmp_path / "t.xsd"
    path.write_text(_HEAD + body + "</xs:schema>", encoding="utf-8")
    return Builder(load(str(path)), "urn:t").build()


def _grammar(tables: Tables, name: str) -> tuple[T.State, ...]:
    return next(states for gname, states, _abstract in tables.grammars if gname == name)


def test_bits_for_counts() -> None:
    assert [bits_for(n) for n in (1, 2, 3, 4, 5, 8, 9)] == [0, 1, 2, 2, 3, 3, 4]


def test_max_occurs_unrolled_with_escape_code_exi_8_5_4_1_6(tmp_path: Path) -> None:
    tables = _tables(tmp_path, """
      <xs:element name="R" type="RT"/>
      <xs:complexType name="RT"><xs:sequence>
        <xs:element name="X" type="xs:boolean" maxOccurs="3"/>
      </xs:sequence></xs:complexType>""")
    states = _grammar(tables, "RT")
    kinds = [[(p[0], p[1]) for p in s[1]] for s in states]
    assert kinds == [
        [(T.SE_SIMPLE, "X")],
        [(T.SE_SIMPLE, "X"), (T.EE, "")],
        [(T.SE_SIMPLE, "X"), (T.EE, "")],
        [(T.EE, "")],
    ]
    # First level width counts the productions plus the escape to the second level.
    assert [s[0] for s in states] == [1, 2, 2, 1]
    assert all(p[4] for s in states for p in s[1] if p[0] != T.EE)  # X is a list


def test_substitution_group_sorted_without_abstract_exi_8_5_4_1_6(tmp_path: Path) -> None:
    tables = _tables(tmp_path, """
      <xs:element name="Head" type="HT" abstract="true"/>
      <xs:complexType name="HT"/>
      <xs:element name="Zeta" type="HT" substitutionGroup="Head"/>
      <xs:element name="Alpha" type="HT" substitutionGroup="Head"/>
      <xs:element name="R" type="RT"/>
      <xs:complexType name="RT"><xs:sequence>
        <xs:element name="First" type="xs:int" minOccurs="0"/>
        <xs:element ref="Head"/>
      </xs:sequence></xs:complexType>""")
    start = _grammar(tables, "RT")[0]
    assert [p[1] for p in start[1]] == ["First", "Alpha", "Zeta"]
    assert start[0] == 2
    # Document: all global elements sorted by local name (abstract ones too), + SE(*).
    assert [r[0] for r in tables.roots] == ["Alpha", "Head", "R", "Zeta"]


def test_attributes_sorted_before_content_and_optional_ones_skippable(tmp_path: Path) -> None:
    tables = _tables(tmp_path, """
      <xs:element name="R" type="RT"/>
      <xs:complexType name="RT"><xs:sequence>
        <xs:element name="E" type="xs:string"/>
      </xs:sequence>
      <xs:attribute name="b" type="xs:string" use="required"/>
      <xs:attribute name="a" type="xs:string"/>
      </xs:complexType>""")
    states = _grammar(tables, "RT")
    assert [p[1] for p in states[0][1]] == ["a", "b"]
    assert [p[0] for p in states[0][1]] == [T.AT, T.AT]


def test_integer_representations_follow_the_facets_exi_7_1_5(tmp_path: Path) -> None:
    tables = _tables(tmp_path, """
      <xs:simpleType name="pct"><xs:restriction base="xs:byte">
        <xs:minInclusive value="0"/><xs:maxInclusive value="100"/>
      </xs:restriction></xs:simpleType>
      <xs:simpleType name="code"><xs:restriction base="xs:string">
        <xs:enumeration value="A"/><xs:enumeration value="B"/><xs:enumeration value="C"/>
      </xs:restriction></xs:simpleType>
      <xs:simpleType name="sid"><xs:restriction base="xs:hexBinary">
        <xs:length value="8"/></xs:restriction></xs:simpleType>
      <xs:element name="R" type="RT"/>
      <xs:complexType name="RT"><xs:sequence>
        <xs:element name="b" type="xs:byte"/>
        <xs:element name="p" type="pct"/>
        <xs:element name="us" type="xs:unsignedShort"/>
        <xs:element name="s" type="xs:short"/>
        <xs:element name="c" type="code"/>
        <xs:element name="h" type="sid"/>
      </xs:sequence></xs:complexType>""")
    states = _grammar(tables, "RT")
    dts = {s[1][0][1]: tables.datatypes[s[1][0][2]] for s in states if s[1][0][0] != T.EE}
    assert dts["b"] == (T.DT_NBIT, 8, -128, 127)
    assert dts["p"] == (T.DT_NBIT, 7, 0, 100)
    assert dts["us"] == (T.DT_UINT, 0, 65535)
    assert dts["s"] == (T.DT_INT, -32768, 32767)
    assert dts["c"] == (T.DT_ENUM, 2, ("A", "B", "C"))
    assert dts["h"] == (T.DT_HEX, 8, 8)


def test_required_and_optional_fields(tmp_path: Path) -> None:
    tables = _tables(tmp_path, """
      <xs:element name="R" type="RT"/>
      <xs:complexType name="RT"><xs:sequence>
        <xs:element name="A" type="xs:int" minOccurs="0"/>
        <xs:element name="B" type="xs:int"/>
        <xs:choice><xs:element name="C" type="xs:int"/><xs:element name="D" type="xs:int"/>
        </xs:choice>
      </xs:sequence></xs:complexType>""")
    fields = {f.name: f.required for f in fields_of(_grammar(tables, "RT"))}
    assert fields == {"A": False, "B": True, "C": False, "D": False}


def test_unsupported_constructs_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="group"):
        _tables(tmp_path, '<xs:group name="g"><xs:sequence/></xs:group>')
    with pytest.raises(SchemaError, match="float"):
        _tables(tmp_path, '<xs:element name="R" type="xs:float"/>')


@pytest.mark.skipif(not SCHEMAS.exists(), reason=f"{SCHEMAS} is absent (XSDs are not committed)")
def test_committed_tables_match_the_generator(tmp_path: Path) -> None:
    written = generate_all(str(SCHEMAS), str(tmp_path))
    committed = sorted(p.name for p in _GENERATED.glob("*.py") if p.name != "__init__.py")
    assert sorted(Path(p).name for p in written) == committed
    for path in written:
        name = Path(path).name
        fresh = Path(path).read_text(encoding="utf-8")
        committed_text = (_GENERATED / name).read_text(encoding="utf-8")
        assert fresh == committed_text, f"run `make grammars`: {name} is stale"

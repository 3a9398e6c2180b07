"""A small XML Schema reader: just the parts the ISO 15118 schemas use.

It reads a schema file and everything it imports or includes into one `SchemaSet`:
global elements, named complex and simple types, with local declarations resolved to
qualified names. Anything outside that subset (groups, unions, lists, `all`) is
reported as an error rather than silently mis-read, because a wrong grammar would
encode wrong bytes.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

XS = "http://www.w3.org/2001/XMLSchema"
QName = tuple[str, str]  # (namespace uri, local name)


class SchemaError(Exception):
    """The schema uses a construct this reader does not support."""


@dataclass
class Particle:
    """A node of a content model: element, any, sequence or choice, with occurrences."""

    kind: str
    min: int = 1
    max: int | None = 1  # None = unbounded
    children: list[Particle] = field(default_factory=list)
    element: ElementDecl | None = None
    ref: QName | None = None  # element ref (resolved later against globals)


@dataclass
class SimpleType:
    name: QName | None
    base: QName
    facets: dict[str, str] = field(default_factory=dict)
    enumeration: list[str] = field(default_factory=list)
    inline_base: SimpleType | None = None


@dataclass
class AttributeDecl:
    name: QName
    type_name: QName | None
    inline_type: SimpleType | None
    required: bool


@dataclass
class ComplexType:
    name: QName | None
    base: QName | None = None
    derivation: str | None = None  # "extension" | "restriction" | None
    particle: Particle | None = None
    attributes: list[AttributeDecl] = field(default_factory=list)
    mixed: bool = False
    abstract: bool = False
    simple_content: QName | None = None  # base simple type of simpleContent


@dataclass
class ElementDecl:
    name: QName
    type_name: QName | None
    inline_type: ComplexType | SimpleType | None
    substitution_group: QName | None = None
    abstract: bool = False
    is_global: bool = False


@dataclass
class SchemaSet:
    files: list[str] = field(default_factory=list)
    elements: dict[QName, ElementDecl] = field(default_factory=dict)
    complex_types: dict[QName, ComplexType] = field(default_factory=dict)
    simple_types: dict[QName, SimpleType] = field(default_factory=dict)


def _tag(el: ET.Element) -> str:
    tag = el.tag
    if not tag.startswith("{" + XS + "}"):
        raise SchemaError(f"unexpected element {tag}")
    return tag[len(XS) + 2 :]


def _occurs(el: ET.Element) -> tuple[int, int | None]:
    lo = int(el.get("minOccurs", "1"))
    hi_s = el.get("maxOccurs", "1")
    return lo, None if hi_s == "unbounded" else int(hi_s)


class _FileReader:
    def __init__(self, schemas: SchemaSet, path: str) -> None:
        self.schemas = schemas
        self.path = path
        self.prefixes: dict[str, str] = {}
        for _event, (prefix, uri) in ET.iterparse(path, events=("start-ns",)):
            self.prefixes.setdefault(prefix, uri)
        self.root = ET.parse(path).getroot()
        self.tns = self.root.get("targetNamespace", "")
        self.elem_qualified = self.root.get("elementFormDefault") == "qualified"
        self.attr_qualified = self.root.get("attributeFormDefault") == "qualified"

    def qname(self, text: str) -> QName:
        prefix, _, local = text.rpartition(":")
        if prefix not in self.prefixes:
            raise SchemaError(f"{self.path}: unknown prefix in {text!r}")
        return self.prefixes[prefix], local

    def read(self) -> None:
        for child in self.root:
            if not isinstance(child.tag, str):
                continue  # comments
            kind = _tag(child)
            if kind in ("import", "include"):
                loc = child.get("schemaLocation")
                if loc is None:
                    raise SchemaError(f"{self.path}: {kind} without schemaLocation")
                load_file(self.schemas, os.path.join(os.path.dirname(self.path), loc))
            elif kind == "element":
                decl = self.element(child, top=True)
                self.schemas.elements[decl.name] = decl
            elif kind == "complexType":
                ct = self.complex_type(child)
                assert ct.name is not None
                self.schemas.complex_types[ct.name] = ct
            elif kind == "simpleType":
                st = self.simple_type(child)
                assert st.name is not None
                self.schemas.simple_types[st.name] = st
            elif kind == "annotation":
                continue
            else:
                raise SchemaError(f"{self.path}: top-level {kind} not supported")

    def element(self, el: ET.Element, top: bool) -> ElementDecl:
        qualified = top or el.get("form", "qualified" if self.elem_qualified else "") == "qualified"
        name = (self.tns if qualified else "", el.attrib["name"])
        inline: ComplexType | SimpleType | None = None
        for child in el:
            if not isinstance(child.tag, str):
                continue
            kind = _tag(child)
            if kind == "complexType":
                inline = self.complex_type(child)
            elif kind == "simpleType":
                inline = self.simple_type(child)
        type_name = self.qname(el.attrib["type"]) if "type" in el.attrib else None
        if type_name is None and inline is None:
            type_name = (XS, "anyType")
        subst = el.get("substitutionGroup")
        return ElementDecl(
            name=name,
            type_name=type_name,
            inline_type=inline,
            substitution_group=self.qname(subst) if subst else None,
            abstract=el.get("abstract") == "true",
            is_global=top,
        )

    def simple_type(self, el: ET.Element) -> SimpleType:
        name = (self.tns, el.attrib["name"]) if "name" in el.attrib else None
        children = [c for c in el if isinstance(c.tag, str) and _tag(c) != "annotation"]
        if len(children) != 1 or _tag(children[0]) != "restriction":
            raise SchemaError(f"{self.path}: simpleType {name} must be a restriction")
        restriction = children[0]
        inline_base: SimpleType | None = None
        if "base" in restriction.attrib:
            base = self.qname(restriction.attrib["base"])
        else:
            inner = [c for c in restriction if isinstance(c.tag, str) and _tag(c) == "simpleType"]
            inline_base = self.simple_type(inner[0])
            base = inline_base.base
        st = SimpleType(name=name, base=base, inline_base=inline_base)
        for facet in restriction:
            if not isinstance(facet.tag, str):
                continue
            kind = _tag(facet)
            if kind == "enumeration":
                st.enumeration.append(facet.attrib["value"])
            elif kind in ("annotation", "simpleType"):
                continue
            else:
                st.facets[kind] = facet.attrib["value"]
        return st

    def complex_type(self, el: ET.Element) -> ComplexType:
        name = (self.tns, el.attrib["name"]) if "name" in el.attrib else None
        ct = ComplexType(
            name=name, mixed=el.get("mixed") == "true", abstract=el.get("abstract") == "true"
        )
        self.content(el, ct)
        return ct

    def content(self, el: ET.Element, ct: ComplexType) -> None:
        for child in el:
            if not isinstance(child.tag, str):
                continue
            kind = _tag(child)
            if kind in ("sequence", "choice"):
                ct.particle = self.particle(child)
            elif kind == "attribute":
                ct.attributes.append(self.attribute(child))
            elif kind in ("complexContent", "simpleContent"):
                if child.get("mixed") == "true":
                    ct.mixed = True
                derivs = [c for c in child if isinstance(c.tag, str) and _tag(c) != "annotation"]
                deriv = derivs[0]
                ct.derivation = _tag(deriv)
                base = self.qname(deriv.attrib["base"])
                if kind == "simpleContent":
                    if ct.derivation != "extension":
                        raise SchemaError(f"{self.path}: simpleContent restriction not supported")
                    ct.simple_content = base
                else:
                    ct.base = base
                self.content(deriv, ct)
            elif kind == "annotation":
                continue
            else:
                raise SchemaError(f"{self.path}: {kind} in complexType not supported")

    def attribute(self, el: ET.Element) -> AttributeDecl:
        if "ref" in el.attrib:
            raise SchemaError(f"{self.path}: attribute ref not supported")
        qualified = el.get("form", "qualified" if self.attr_qualified else "") == "qualified"
        inline = None
        for child in el:
            if isinstance(child.tag, str) and _tag(child) == "simpleType":
                inline = self.simple_type(child)
        return AttributeDecl(
            name=(self.tns if qualified else "", el.attrib["name"]),
            type_name=self.qname(el.attrib["type"]) if "type" in el.attrib else None,
            inline_type=inline,
            required=el.get("use") == "required",
        )

    def particle(self, el: ET.Element) -> Particle:
        kind = _tag(el)
        lo, hi = _occurs(el)
        if kind == "element":
            if "ref" in el.attrib:
                return Particle("element", lo, hi, ref=self.qname(el.attrib["ref"]))
            return Particle("element", lo, hi, element=self.element(el, top=False))
        if kind == "any":
            return Particle("any", lo, hi)
        if kind not in ("sequence", "choice"):
            raise SchemaError(f"{self.path}: particle {kind} not supported")
        children = [
            self.particle(c) for c in el if isinstance(c.tag, str) and _tag(c) != "annotation"
        ]
        return Particle(kind, lo, hi, children=children)


def load_file(schemas: SchemaSet, path: str) -> None:
    path = os.path.normpath(path)
    if path in schemas.files:
        return
    schemas.files.append(path)
    _FileReader(schemas, path).read()


def load(path: str) -> SchemaSet:
    """Read a schema and every schema it imports."""
    schemas = SchemaSet()
    load_file(schemas, path)
    return schemas

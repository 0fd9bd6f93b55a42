"""Reading the XML a public data service (the ECB, TEDB) answers, without trusting it: lxml with
entity resolution, DTD loading, network access and huge trees off, and any DOCTYPE refused
(neither service sends one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml_answer(
    document: bytes, *, root_tag: str, whose: str, root_name: str, refuse: Callable[[str], Exception]
) -> Any:
    """The root element of ``document`` when it is XML rooted in ``root_tag`` (Clark notation).
    Otherwise raises ``refuse(reason)``, the reason starting with ``whose`` ("TEDB's answer")
    and naming the root expected as ``root_name`` ("a SOAP envelope")."""
    try:
        root = etree.fromstring(document, _parser())
    except etree.XMLSyntaxError as error:
        raise refuse(f"{whose} is not XML: {error}") from None
    if root.getroottree().docinfo.doctype:
        raise refuse(f"{whose} carries a DOCTYPE; refused")
    if root.tag != root_tag:
        raise refuse(f"{whose} is not {root_name} but {root.tag!r}")
    return root

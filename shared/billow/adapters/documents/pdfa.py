"""PDF/A-3b with an embedded EN 16931 CII XML (ZUGFeRD 2 / Factur-X 1.0).

What makes the rendered PDF a hybrid e-invoice: the XML attached as ``factur-x.xml`` with
AFRelationship /Alternative and listed in the catalog's /AF, XMP metadata declaring PDF/A-3
level B plus the Factur-X extension schema, and an sRGB output intent. fpdf2's PDF/A-3B
compliance mode does the rest (PDF 1.7, no Info dictionary, refuses unembedded fonts).
"""

from __future__ import annotations

import struct
from datetime import datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from fpdf import FPDF
from fpdf.enums import OutputIntentSubType
from fpdf.output import PDFICCProfile
from PIL import ImageCms

COMPLIANCE = "PDFA_3B"
FACTUR_X_FILENAME = "factur-x.xml"
FACTUR_X_NAMESPACE = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
FACTUR_X_VERSION = "1.0"
# The CII renderer writes the EN 16931 (COMFORT) profile.
FACTUR_X_CONFORMANCE = "EN 16931"

# LittleCMS stamps the time a profile is made into its header (bytes 24-35); a fixed stamp
# keeps the PDF's bytes the same from one process to the next.
_ICC_DATE_OFFSET = 24
_ICC_FIXED_DATE = struct.pack(">6H", 2000, 1, 1, 0, 0, 0)


@lru_cache(maxsize=1)
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile made by LittleCMS (through Pillow), with a fixed creation date."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[_ICC_DATE_OFFSET : _ICC_DATE_OFFSET + len(_ICC_FIXED_DATE)] = _ICC_FIXED_DATE
    # Bytes 84-99 hold an MD5 profile ID, which would have to cover the date; LittleCMS
    # leaves it zero ("not computed"), which the ICC spec allows.
    assert profile[84:100] == bytes(16)
    return bytes(profile)


# (name, description) of the four Factur-X properties, declared in the extension schema as
# PDF/A requires for any property outside the predefined XMP schemas.
_FX_PROPERTIES = (
    ("DocumentFileName", "The name of the embedded XML document"),
    ("DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"),
    ("Version", "The actual version of the standard applying to the embedded XML document"),
    ("ConformanceLevel", "The conformance level of the embedded XML document"),
)


def xmp_metadata(
    *, title: str, author: str, subject: str, producer: str, creator: str, created: datetime
) -> str:
    """The XMP packet body (fpdf2 adds the ``<?xpacket?>`` wrapper)."""
    stamp = created.isoformat(timespec="seconds")
    properties = "\n".join(
        f"""            <rdf:li rdf:parseType="Resource">
              <pdfaProperty:name>{name}</pdfaProperty:name>
              <pdfaProperty:valueType>Text</pdfaProperty:valueType>
              <pdfaProperty:category>external</pdfaProperty:category>
              <pdfaProperty:description>{description}</pdfaProperty:description>
            </rdf:li>"""
        for name, description in _FX_PROPERTIES
    )
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/">
  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
    <rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
      <pdfaid:part>3</pdfaid:part>
      <pdfaid:conformance>B</pdfaid:conformance>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
      <dc:format>application/pdf</dc:format>
      <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>
      <dc:creator><rdf:Seq><rdf:li>{escape(author)}</rdf:li></rdf:Seq></dc:creator>
      <dc:description>
        <rdf:Alt><rdf:li xml:lang="x-default">{escape(subject)}</rdf:li></rdf:Alt>
      </dc:description>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
      <pdf:Producer>{escape(producer)}</pdf:Producer>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
      <xmp:CreatorTool>{escape(creator)}</xmp:CreatorTool>
      <xmp:CreateDate>{stamp}</xmp:CreateDate>
      <xmp:ModifyDate>{stamp}</xmp:ModifyDate>
      <xmp:MetadataDate>{stamp}</xmp:MetadataDate>
    </rdf:Description>
    <rdf:Description rdf:about=""
        xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
        xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#"
        xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
      <pdfaExtension:schemas>
        <rdf:Bag>
          <rdf:li rdf:parseType="Resource">
            <pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
            <pdfaSchema:namespaceURI>{FACTUR_X_NAMESPACE}</pdfaSchema:namespaceURI>
            <pdfaSchema:prefix>fx</pdfaSchema:prefix>
            <pdfaSchema:property>
              <rdf:Seq>
{properties}
              </rdf:Seq>
            </pdfaSchema:property>
          </rdf:li>
        </rdf:Bag>
      </pdfaExtension:schemas>
    </rdf:Description>
    <rdf:Description rdf:about="" xmlns:fx="{FACTUR_X_NAMESPACE}">
      <fx:DocumentType>INVOICE</fx:DocumentType>
      <fx:DocumentFileName>{FACTUR_X_FILENAME}</fx:DocumentFileName>
      <fx:Version>{FACTUR_X_VERSION}</fx:Version>
      <fx:ConformanceLevel>{FACTUR_X_CONFORMANCE}</fx:ConformanceLevel>
    </rdf:Description>
  </rdf:RDF>
</x:xmpmeta>"""


def make_pdfa3(
    pdf: FPDF,
    *,
    xml: bytes,
    created: datetime,
    title: str,
    author: str,
    subject: str,
    producer: str,
    creator: str,
) -> None:
    """Turn ``pdf`` (created with ``enforce_compliance=COMPLIANCE``) into a Factur-X hybrid:
    call before ``output()``."""
    pdf.embed_file(
        bytes=xml,
        basename=FACTUR_X_FILENAME,
        modification_date=created,
        mime_type="text/xml",
        associated_file_relationship="Alternative",
        desc="Factur-X / ZUGFeRD invoice (EN 16931)",
        checksum=True,
    )
    pdf.add_output_intent(
        OutputIntentSubType.PDFA,
        output_condition_identifier="sRGB IEC61966-2.1",
        output_condition="sRGB IEC61966-2.1",
        registry_name="http://www.color.org",
        dest_output_profile=PDFICCProfile(contents=srgb_icc_profile(), n=3, alternate="DeviceRGB"),
        info="sRGB IEC61966-2.1",
    )
    pdf.set_xmp_metadata(
        xmp_metadata(
            title=title,
            author=author,
            subject=subject,
            producer=producer,
            creator=creator,
            created=created,
        )
    )

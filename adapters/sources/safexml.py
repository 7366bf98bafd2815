"""XML from the network, read safely: no entity expansion, no external references, and a
document cut short read up to the cut so its complete entries are kept."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException

from adapters.sources.sanitize import MalformedResponse

# A character reference to what no XML document may hold (`&#xD800;`, `&#0;`, past U+10FFFF):
# expat stops the document there, feedparser's lenient reader raises UnicodeEncodeError.
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,16})|([0-9]{1,20}));")
_VALID = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _char_ref(match: re.Match[bytes]) -> bytes:
    hexa, decimal = match.groups()
    code = int(hexa, 16) if hexa else int(decimal)
    if code <= 0x10FFFF and _VALID.fullmatch(chr(code)):
        return match.group(0)
    return b"&#xFFFD;"


def readable(data: bytes) -> bytes:
    """`data` with character references to invalid characters turned into U+FFFD, so one bad
    reference costs one character, not the entry or the document."""
    return _CHAR_REF.sub(_char_ref, data) if b"&#" in data else data


@dataclass(frozen=True)
class XmlScan:
    """The root tag, the complete elements of the wanted tags in document order, and why reading
    stopped early (`error`, None when the whole document was read)."""

    root: str
    elements: tuple[Element, ...]
    error: str | None = None


def scan(data: bytes, wanted: frozenset[str]) -> XmlScan:
    """Read `data`, keeping every complete element whose (namespaced) tag is in `wanted`.

    Raises MalformedResponse for entity declarations or external references (billion laughs,
    XXE) and for bytes that hold no XML element at all.
    """
    root = ""
    found: list[Element] = []
    data = readable(data)
    try:
        for event, elem in DefusedET.iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=False,
            forbid_entities=True,
            forbid_external=True,
        ):
            if event == "start":
                root = root or elem.tag
            elif elem.tag in wanted:
                found.append(elem)
    except DefusedXmlException as exc:
        raise MalformedResponse(f"refused unsafe XML ({type(exc).__name__})") from exc
    except LookupError as exc:
        raise MalformedResponse(
            f"declares a character encoding Python cannot read ({exc})"
        ) from None
    except ParseError as exc:
        if not root:
            raise MalformedResponse(f"not XML ({exc})") from exc
        return XmlScan(root, tuple(found), f"XML ends early or is broken ({exc})")
    return XmlScan(root, tuple(found))


class _Discard:
    """A parser target that builds nothing: the check costs no memory for the tree."""

    def close(self) -> None:
        return None


def refuse_entities(data: bytes) -> None:
    """Raise MalformedResponse if `data` declares XML entities or references external ones.

    Used before feedparser, whose own DOCTYPE clean-up is a regular expression over the prolog.
    A document that is merely ill-formed passes: feedparser reads those leniently on purpose.
    """
    parser = DefusedET.XMLParser(
        target=_Discard(), forbid_dtd=False, forbid_entities=True, forbid_external=True
    )
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        raise MalformedResponse(f"refused unsafe XML ({type(exc).__name__})") from exc
    except LookupError as exc:  # `<?xml encoding="x-bogus"?>`: expat cannot check it, so refused
        raise MalformedResponse(
            f"declares a character encoding Python cannot read ({exc})"
        ) from None
    except ParseError:
        pass

"""Canonical paper ids: one paper, one id, whichever source saw it.

`arxiv:<id without version>` when an arXiv id can be found (API ids, abs/pdf links, Hugging Face
paper pages, OAI GUIDs, arXiv DOIs), else `doi:<doi, lower-cased>`, else `url:<guid or link>`.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# New style (April 2007 on): yymm.nnnn, then yymm.nnnnn from January 2015.
_NEW = r"\d{4}\.\d{4,5}"
# Old style: archive[.SUBJECT-CLASS]/yymmnnn, e.g. hep-th/9901001 or math.GT/0309136.
_OLD = r"[a-z]+(?:-[a-z]+)*(?:\.[A-Z]{2})?/\d{7}"
_ID = rf"(?P<id>{_NEW}|{_OLD})(?:v\d+)?"

_BARE = re.compile(rf"^{_ID}$")
_NAMED = re.compile(rf"^arxiv:{_ID}$", re.IGNORECASE)
_OAI = re.compile(rf"^oai:arxiv\.org:{_ID}$", re.IGNORECASE)
_ARXIV_PATH = re.compile(rf"^/(?P<kind>[a-z]+)/{_ID}(?:\.pdf)?/?$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_DOI_PREFIXES = ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/")
_ARXIV_DOI = re.compile(rf"^10\.48550/arxiv\.{_ID}$", re.IGNORECASE)


def _normal(raw: str) -> str:
    # The subject class of an old-style id is not part of the identifier: math.GT/0309136 is
    # math/0309136. Archive names are lower case whatever case a link used.
    if "/" in raw:
        archive, number = raw.split("/", 1)
        return f"{archive.split('.', 1)[0].lower()}/{number}"
    return raw


def arxiv_id(text: str | None, *, bare: bool = True) -> str | None:
    """The versionless arXiv id in an id, `arXiv:` name, OAI GUID, DOI or arXiv/HF link, or None.

    `bare=False` ignores a bare `2406.12345`, for GUIDs that could be any feed's own numbering.
    """
    if not text:
        return None
    text = text.strip()
    patterns = (_BARE, _NAMED, _OAI, _ARXIV_DOI) if bare else (_NAMED, _OAI, _ARXIV_DOI)
    for pattern in patterns:
        if m := pattern.match(text):
            return _normal(m["id"])
    if doi := normalize_doi(text):
        m = _ARXIV_DOI.match(doi)
        return _normal(m["id"]) if m else None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.scheme not in ("http", "https"):
        return None
    if host == "arxiv.org" or host.endswith(".arxiv.org"):
        kinds = ("abs", "pdf", "html", "format")
    elif host in ("huggingface.co", "hf.co"):
        kinds = ("papers",)
    else:
        return None
    m = _ARXIV_PATH.match(unquote(parts.path))
    return _normal(m["id"]) if m and m["kind"] in kinds else None


def normalize_doi(text: str | None) -> str | None:
    """A DOI from `10.x/y`, `doi:10.x/y` or a doi.org link, lower-cased; None if it is not one."""
    if not text:
        return None
    doi = text.strip()
    lowered = doi.lower()
    for prefix in (*_DOI_PREFIXES, "doi:"):
        if lowered.startswith(prefix):
            doi = unquote(doi[len(prefix) :].strip())
            break
    doi = doi.lower()
    return doi if _DOI.match(doi) else None


def canonical_id(
    *,
    arxiv: str | None = None,
    doi: str | None = None,
    guid: str | None = None,
    link: str | None = None,
    scope: str | None = None,
) -> str | None:
    """The canonical id from whatever a source knows about an entry, or None if it knows nothing.

    `scope` (the feed URL) qualifies a GUID that is not globally unique (no URI scheme), so that
    two feeds numbering their items 1, 2, 3 do not collide.
    """
    found = (
        arxiv_id(arxiv)
        or arxiv_id(doi, bare=False)  # arXiv's own DOIs: 10.48550/arXiv.2406.12345
        or arxiv_id(guid, bare=False)
        or arxiv_id(link, bare=False)
    )
    if found:
        return f"arxiv:{found}"
    if doi_found := normalize_doi(doi) or normalize_doi(link) or normalize_doi(guid):
        return f"doi:{doi_found}"
    guid = (guid or "").strip()
    link = (link or "").strip()
    if guid and re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S", guid):
        return f"url:{guid}"
    if link:
        return f"url:{link}"
    if guid:
        return f"url:{scope}#{guid}" if scope else f"url:{guid}"
    return None


def arxiv_abs_url(arxiv: str) -> str:
    """The abstract page of a versionless arXiv id."""
    return f"https://arxiv.org/abs/{arxiv}"


def arxiv_pdf_url(arxiv: str) -> str:
    """The PDF of a versionless arXiv id (its latest version)."""
    return f"https://arxiv.org/pdf/{arxiv}"

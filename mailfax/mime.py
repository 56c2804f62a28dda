"""A received message as fax material: the body text and the documents, in order.

What does it do?  `parse_message(raw)` returns a `ParsedMessage` with the headers we
report on (From, Subject, Message-ID, Date), the body text (plain text preferred over
HTML, which is reduced to text) and the attached documents in the order they appear, or a
`MimeProblem` saying why the message cannot be faxed (the SMTP edge answers 554).

How does it work?  The stdlib ``email`` parser does the MIME work: nested multiparts,
base64 and quoted-printable, RFC 2231 / RFC 2047 file names, CRLF or LF.  It runs with the
``compat32`` policy and decodes only the few headers we use (RFC 2047 via
``email.header``): the ``default`` policy parses every header of every part into objects
and cost about three quarters of the time at SMTP DATA.  We walk the tree depth first.  A part is a document when it is an attachment, has a
file name, or is a non-text leaf (inline images included).  Within multipart/alternative
only the best text alternative counts; signatures (PGP, S/MIME) are skipped; a forwarded
message/rfc822 contributes its own documents.  Parser defects that lose content (a missing
multipart boundary, undecodable base64) are problems, not silently dropped attachments —
the HylaFAX faxmail complaint this fixes.
"""

from __future__ import annotations

import email
import html
import re
from dataclasses import dataclass, field
from email import errors
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser

SKIP_TYPES = frozenset({
    "application/pgp-signature", "application/pkcs7-signature", "application/x-pkcs7-signature",
    "application/pgp-keys", "application/ms-tnef",
})
MAX_DEPTH = 20  # multipart nesting; real mail uses 3 or 4, a bomb uses thousands
_FATAL_DEFECTS = (
    errors.StartBoundaryNotFoundDefect, errors.NoBoundaryInMultipartDefect,
    errors.InvalidBase64CharactersDefect, errors.InvalidBase64LengthDefect,
)


@dataclass(frozen=True)
class Document:
    """One attachment to fax: file name (may be synthesised), MIME type and bytes."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMessage:
    sender: str
    subject: str
    message_id: str | None
    date: str | None
    references: tuple[str, ...]
    body_text: str
    documents: tuple[Document, ...] = field(default_factory=tuple)

    @property
    def has_body(self) -> bool:
        return bool(strip_signature(self.body_text).strip())


@dataclass(frozen=True)
class MimeProblem:
    """Why a message cannot be faxed (an expected failure)."""

    reason: str


def strip_signature(text: str) -> str:
    """The body without a trailing ``-- `` signature block (RFC 3676 §4.3)."""
    m = re.search(r"(?m)^-- ?$", text)
    return text[: m.start()] if m else text


class _HtmlText:
    """HTML -> readable text without a dependency: drop tags, keep line structure."""

    _BLOCK = re.compile(r"(?i)<\s*(br|/p|/div|/tr|/h[1-6]|/li|/table)\b[^>]*>")
    _DROP = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>")
    _TAG = re.compile(r"(?s)<[^>]*>")

    @classmethod
    def convert(cls, text: str) -> str:
        text = cls._DROP.sub("", text)
        text = cls._BLOCK.sub("\n", text)
        text = html.unescape(cls._TAG.sub("", text))
        lines = [re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in text.split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _decoded(value) -> str:
    """A header value with RFC 2047 encoded words decoded (as-is when they are broken)."""
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, errors.HeaderParseError, ValueError):
        return str(value)


def _filename(part: Message) -> str | None:
    name = part.get_filename()  # RFC 2231 parameters are collapsed here
    return _decoded(name).strip() or None if name else None


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True) or b""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = data.decode(charset, "replace")
    except LookupError:  # an unknown charset name
        text = data.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n")
    return _HtmlText.convert(text) if part.get_content_type() == "text/html" else text


def _parts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


_EXT = {"application/pdf": ".pdf", "application/postscript": ".ps", "image/tiff": ".tif", "image/png": ".png",
        "image/jpeg": ".jpg", "image/gif": ".gif", "text/plain": ".txt", "text/html": ".html"}


class _Walker:
    def __init__(self) -> None:
        self.body: list[str] = []
        self.docs: list[Document] = []
        self.problem: str | None = None

    def _defects(self, part: Message, label: str) -> None:
        for d in part.defects:
            if isinstance(d, _FATAL_DEFECTS) and self.problem is None:
                self.problem = f"{label}: {type(d).__name__.replace('Defect', '')}: {d.__doc__.strip().splitlines()[0] if d.__doc__ else d}"

    def walk(self, part: Message, depth: int = 0) -> None:
        ctype = part.get_content_type()
        name = _filename(part)
        label = f"part {name!r}" if name else f"a {ctype} part"
        self._defects(part, label)
        if ctype in SKIP_TYPES:
            return
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                self.problem = self.problem or f"parts nested more than {MAX_DEPTH} deep"
                return
            subs = _parts(part)
            if ctype == "message/rfc822":
                for s in subs:
                    self.walk(s, depth + 1)
                return
            if ctype == "multipart/alternative" and not part.get_content_disposition() == "attachment":
                texts = [s for s in subs if s.get_content_maintype() == "text" and not _filename(s)]
                best = next((s for s in texts if s.get_content_type() == "text/plain"), texts[0] if texts else None)
                if best is not None:
                    self._defects(best, "the body")
                    self.body.append(_text_of(best))
                for s in subs:
                    if s.get_content_maintype() != "text" or _filename(s):
                        self.walk(s, depth + 1)
                return
            if not subs and self.problem is None:
                self.problem = f"{label} has no parts (is the boundary right?)"
            for s in subs:
                self.walk(s, depth + 1)
            return
        disposition = part.get_content_disposition()
        is_body_text = part.get_content_maintype() == "text" and disposition != "attachment" and not name
        if is_body_text:
            self.body.append(_text_of(part))
            return
        data = part.get_payload(decode=True) or b""
        self._defects(part, label)  # decoding records base64 defects on the part
        if not data:
            if self.problem is None:
                self.problem = f"{label} is empty"
            return
        if not name:
            name = f"part{len(self.docs) + 1}{_EXT.get(ctype, '.bin')}"
        self.docs.append(Document(name, ctype, data))


@dataclass(frozen=True)
class MessageSummary:
    """What SMTP DATA needs of a faxable message: its identity and its documents' names."""

    message_id: str | None
    subject: str
    documents: tuple[tuple[str, str], ...]  # (name, content type), in order


def check_message(raw: bytes, *, max_documents: int = 50) -> MessageSummary | MimeProblem:
    """The verdict `parse_message` would give, without decoding large base64 attachments.

    Used at SMTP DATA, where only the verdict, the Message-ID and the Subject matter; the
    conversion step parses the stored message fully.  The MIME structure is parsed from
    a `skeleton` of the message (every large, valid base64 attachment body replaced by a
    placeholder), so every other check is `parse_message`'s own.
    """
    sk = skeleton(raw)
    p = parse_message(raw if sk is None else sk, max_documents=max_documents)
    if isinstance(p, MimeProblem):
        return p
    return MessageSummary(p.message_id, p.subject, tuple((d.name, d.content_type) for d in p.documents))


# -------------------------------------------------------------- skeleton
#
# The stdlib parser reads a message line by line (~1 µs a line, ~2,000 lines for a 100 KB
# attachment) and base64-decodes every attachment: ~4 ms of the ~5 ms a message costs at
# DATA.  `skeleton` finds the structure with bytes.find instead and swaps each large base64
# leaf body that `email` would decode without a defect for a 4-byte placeholder.  It
# follows `email.feedparser` exactly where it acts (header block = lines matching its
# headerRE up to a blank line; a delimiter is a whole line ``--boundary[--][ \t]*``, RFC 2046
# §5.1.1) and gives up (None: parse the original) on anything else: missing or repeated
# boundaries, message/* parts, multipart/digest, header defects, a lone CR outside the
# replaced bodies, deep nesting.  A replaced body holds only base64 characters, CR and LF,
# so it cannot hide a delimiter line: the parser sees the same tree either way.

_HEADER_LINE = re.compile(rb"From |[\x21-\x39\x3b-\x7e]*:|[\t ]")  # email.feedparser.headerRE
_B64_AND_PAD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_PLACEHOLDER = b"AAAA\n"  # decodes to three bytes: a document, not an empty part
MIN_REPLACED = 512  # smaller bodies decode quickly enough
_HEADERS = BytesParser()  # compat32, as email.message_from_bytes


def _b64_clean(body: bytes) -> bool:
    """True when ``base64.b64decode(joined lines, validate=True)`` gives data with no padding
    fix-up, i.e. when `email` decodes the part without any defect (RFC 2045 §6.8)."""
    rest = body.translate(None, _B64_AND_PAD)
    if rest.translate(None, b"\r\n"):
        return False  # a character outside the alphabet
    n = len(body) - len(rest)  # characters once the lines are joined
    s = body.rstrip(b"\r\n")
    data = s.rstrip(b"=")
    return n > 0 and n % 4 == 0 and len(s) - len(data) <= 2 and b"=" not in data


class _Unusual(Exception):
    """Internal: the skeleton scan met something it does not model; parse the original."""


def _line_content(data: bytes, start: int, end: int) -> tuple[bytes, int]:
    """The line at ``start`` without its line end, and where the next line starts."""
    nl = data.find(b"\n", start, end)
    if nl < 0:
        raise _Unusual("a line without an end")
    line = data[start:nl]
    return (line[:-1] if line.endswith(b"\r") else line), nl + 1


def _entity(data: bytes, start: int, end: int, depth: int, bounds: tuple[bytes, ...], out: list[bytes]) -> None:
    if depth > MAX_DEPTH:
        raise _Unusual("deep")
    pos = start
    while True:  # the header block
        line, nxt = _line_content(data, pos, end)
        if not line:
            break
        if not _HEADER_LINE.match(line):
            raise _Unusual("not a header line")
        pos = nxt
    head = data[start:nxt]
    out.append(head)
    hdr = _HEADERS.parsebytes(head.replace(b"\r\n", b"\n"), headersonly=True)
    if hdr.defects:
        raise _Unusual("header defects")
    ctype = hdr.get_content_type()
    maintype = hdr.get_content_maintype()
    if maintype == "message" or ctype == "multipart/digest":
        raise _Unusual(ctype)
    if maintype == "multipart":
        _multipart(data, hdr, nxt, end, depth, bounds, out)
        return
    body = data[nxt:end]
    cte = str(hdr.get("content-transfer-encoding", "")).lower()  # as Message.get_payload reads it
    if maintype != "text" and cte == "base64" and len(body) >= MIN_REPLACED and _b64_clean(body):
        out.append(_PLACEHOLDER)
    else:
        out.append(body)


def _multipart(data: bytes, hdr: Message, start: int, end: int, depth: int, bounds: tuple[bytes, ...],
               out: list[bytes]) -> None:
    boundary = hdr.get_boundary()
    if not boundary:
        raise _Unusual("no boundary")
    try:
        b = boundary.encode("ascii")
    except UnicodeEncodeError:
        raise _Unusual("non-ASCII boundary") from None
    if b in bounds:
        raise _Unusual("a boundary reused inside its own multipart")
    delimiter = re.compile(b"--" + re.escape(b) + rb"(--)?[ \t]*")
    sep = b"--" + b
    lines: list[tuple[int, int, bool]] = []  # (line start, next line, is the close delimiter)
    pos = start
    while True:
        p = data.find(sep, pos, end)
        if p < 0:
            raise _Unusual("no close delimiter")
        if p == start or data[p - 1] == 0x0A:
            line, nxt = _line_content(data, p, end)
            m = delimiter.fullmatch(line)
            if m:
                lines.append((p, nxt, m.group(1) is not None))
                if m.group(1) is not None:
                    break
                pos = nxt
                continue
        pos = p + 1
    if len(lines) < 2 or lines[0][2]:
        raise _Unusual("no start delimiter or no part")
    out.append(data[start:lines[0][0]])  # preamble
    for (p0, n0, _), (p1, _, _) in zip(lines, lines[1:]):
        if n0 == p1:
            raise _Unusual("an empty part")
        out.append(data[p0:n0])
        _entity(data, n0, p1, depth + 1, bounds + (b,), out)
    out.append(data[lines[-1][0]:end])  # close delimiter and epilogue


def skeleton(raw: bytes) -> bytes | None:
    """``raw`` with its large valid base64 attachment bodies replaced (see above), or None
    when the message has a shape the scan does not model."""
    out: list[bytes] = []
    try:
        _entity(raw, 0, len(raw), 0, (), out)
    except _Unusual:
        return None
    sk = b"".join(out)
    if sk.count(b"\r") != sk.count(b"\r\n"):
        return None  # a lone CR is a line break to the parser but not to the scan
    return sk


def parse_message(raw: bytes, *, max_documents: int = 50) -> ParsedMessage | MimeProblem:
    """Parse ``raw`` (CRLF or LF line ends) into body text and ordered documents."""
    raw = raw.replace(b"\r\n", b"\n")
    try:
        msg = email.message_from_bytes(raw)
    except RecursionError:  # the stdlib parser recurses once per nesting level
        return MimeProblem(f"malformed MIME: parts nested more than {MAX_DEPTH} deep")
    for d in msg.defects:
        if isinstance(d, errors.MissingHeaderBodySeparatorDefect):
            return MimeProblem("the message has no header/body separator")
    w = _Walker()
    w.walk(msg)
    if w.problem is not None:
        return MimeProblem(f"malformed MIME: {w.problem}")
    if len(w.docs) > max_documents:
        return MimeProblem(f"too many documents: {len(w.docs)} (limit {max_documents})")
    body = "\n".join(t for t in w.body if t.strip())
    if not w.docs and not strip_signature(body).strip():
        return MimeProblem("nothing to fax: no attachment and no body text")

    def header(name: str) -> str:
        return " ".join(_decoded(msg.get(name)).split())  # unfolded, encoded words decoded

    refs = tuple(header("References").split())
    return ParsedMessage(
        sender=header("From"), subject=header("Subject"), message_id=header("Message-ID") or None,
        date=header("Date") or None, references=refs, body_text=body, documents=tuple(w.docs),
    )

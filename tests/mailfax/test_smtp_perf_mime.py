"""The fast DATA check (`mailfax.mime.check_message`) gives exactly `parse_message`'s verdict.

`check_message` walks an `outline` of the message (large valid base64 bodies left as
placeholders) to save the line-by-line parse and the base64 decoding at SMTP time.  Here
Hypothesis builds MIME trees byte by byte — nested multiparts, reused and prefix-sharing
boundaries, base64 bodies valid, corrupted, badly padded or empty, CRLF/LF/mixed line
ends, lone CRs, digests, forwarded messages — then mutates bytes at random, and the
verdict (the problem's reason, or Message-ID, Subject and the documents' names and types)
must equal the full parse's on every one.  Seeded (derandomised) for repeatable runs.
"""

import base64
import email

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mailfax.mime import MessageSummary, MimeProblem, PLACEHOLDER, check_message, outline, parse_message
from tests.support import mailfax_samples as samples


def full_verdict(raw: bytes, max_documents: int = 50):
    p = parse_message(raw, max_documents=max_documents)
    if isinstance(p, MimeProblem):
        return p
    return MessageSummary(p.message_id, p.subject, tuple((d.name, d.content_type) for d in p.documents))


BOUNDARIES = ["b1", "b1x", "==b==", "a:b", "b 1", "zz"]
LEAF_TYPES = ["application/pdf"] * 8 + ["image/png", "image/tiff", "text/plain", "text/html",
              "application/pgp-signature", "application/octet-stream", "foo"]
CTES = ["base64"] * 8 + ["Base64", "base64 ", "7bit", "quoted-printable", None]


@st.composite
def b64_body(draw):
    n = draw(st.sampled_from([0, 1, 2, 300, 383, 384, 385, 386] + [1000, 1500] * 4))
    data = draw(st.randoms(use_true_random=False)).randbytes(n)
    enc = base64.b64encode(data)
    width = draw(st.sampled_from([76, 64, 4, 1000]))
    lines = [enc[i:i + width] for i in range(0, len(enc), width)]
    fault = draw(st.sampled_from(["none"] * 10 + ["char", "drop", "pad", "unpad", "blank", "space", "dash", "midpad"]))
    body = b"\n".join(lines)
    if body and fault != "none":
        i = draw(st.integers(0, len(body)))
        body = {
            "char": lambda: body[:i] + draw(st.sampled_from([b"!", b"@", b"\x00", b"\xff", b"-", b"."])) + body[i:],
            "drop": lambda: body[:i] + body[i + 1:],
            "pad": lambda: body + b"=" * draw(st.integers(1, 4)),
            "unpad": lambda: body.rstrip(b"="),
            "blank": lambda: body[:i] + b"\n\n" + body[i:],
            "space": lambda: body[:i] + b" " + body[i:],
            "dash": lambda: body[:i] + b"\n--" + body[i:],
            "midpad": lambda: body[:i] + b"=" + body[i:],
        }[fault]()
    return body + b"\n"


@st.composite
def leaf(draw):
    ctype = draw(st.sampled_from(LEAF_TYPES))
    cte = draw(st.sampled_from(CTES))
    head = [b"Content-Type: " + ctype.encode()]
    if draw(st.booleans()):
        head[0] += b'; name="' + draw(st.sampled_from([b"a.pdf", b"=?utf-8?q?B=C3=BC.png?=", b"x"])) + b'"'
    if cte is not None:
        head.append(b"Content-Transfer-Encoding: " + cte.encode())
    disp = draw(st.sampled_from([None, b"attachment", b"inline", b"attachment; filename*=UTF-8''R%C3%A4.pdf"]))
    if disp:
        head.append(b"Content-Disposition: " + disp)
    if cte and cte.strip().lower() == "base64":
        body = draw(b64_body())
    else:
        body = draw(st.sampled_from([b"hello\n", b"", b"-- \nsig\n", b"<p>hi</p>\n", b"=C3=BC\n", b"x" * 700 + b"\n"]))
    return b"\n".join(head) + b"\n\n" + body


@st.composite
def entity(draw, depth=0, parents=(), tame=False):
    kinds = ["leaf"] * 3 + ["multi"] * 3 + ([] if tame else ["message"])
    kind = draw(st.sampled_from(kinds if depth < 3 else ["leaf"]))
    if kind == "leaf":
        return draw(leaf())
    if kind == "message":
        return b"Content-Type: message/rfc822\n\n" + draw(top(depth + 1, parents))
    sub = draw(st.sampled_from(["mixed"] * 4 + ["alternative", "related"] + ([] if tame else ["digest"])))
    bnd = draw(st.sampled_from([b for b in BOUNDARIES if not tame or b.encode() not in parents])).encode()
    quoted = draw(st.booleans())
    head = b"Content-Type: multipart/" + sub.encode() + b"; boundary=" + (b'"' + bnd + b'"' if quoted else bnd) + b"\n"
    if not quoted and b" " in bnd:
        head = b"Content-Type: multipart/" + sub.encode() + b"; boundary=\"" + bnd + b"\"\n"
    children = draw(st.lists(entity(depth + 1, parents + (bnd,), tame), min_size=0 if not tame else 1, max_size=3))
    pre = draw(st.sampled_from([b"", b"This is a multi-part message.\n", b"--" + bnd + b"x\n"]))
    out = head + b"\n" + pre
    for c in children:
        out += b"--" + bnd + draw(st.sampled_from([b"", b"  ", b"\t"])) + b"\n" + c
    if tame or draw(st.integers(0, 9)) > 0:
        out += b"--" + bnd + b"--\n" + draw(st.sampled_from([b"", b"epilogue\n", b"--" + bnd + b"\n"]))
    return out


@st.composite
def top(draw, depth=0, parents=(), tame=False):
    head = b"From: a@example.com\nSubject: " + draw(st.sampled_from([b"hi", b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=", b"x\n y"]))
    head += b"\nMessage-ID: <m@x>\nMIME-Version: 1.0\n"
    odd = draw(st.sampled_from([b""] * 6 + [b"From a@b Mon Jan 1\n", b":novalue\n", b" lead\n", b"X-8: \xc3\xa9\n",
                                           b"X-Empty:\n", b"X-Fold: a\n\tb\n", b"From x: y\n", b"X\x0bY: v\n"]))
    head = odd + head if draw(st.booleans()) else head + odd
    return head + draw(entity(depth, parents, tame))


@st.composite
def wire_message(draw, tame=False):
    """A message; ``tame`` ones have shapes the outline scan models, before the mutations."""
    raw = draw(top(tame=tame))
    style = draw(st.sampled_from(["lf", "crlf", "crlf", "mixed"]))
    if style == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif style == "mixed":
        lines = raw.split(b"\n")
        flags = draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
        raw = b"".join(ln + (b"\r\n" if f else b"\n") for ln, f in zip(lines, flags))
    for _ in range(draw(st.integers(1, 3)) if draw(st.integers(0, 2)) == 0 else 0):
        i = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["ins", "del", "rep"]))
        piece = draw(st.sampled_from([b"\r", b"\n", b"-", b"--", b"=", b":", b" ", b"A", b"\n\n", b"--b1\n", b"--b1--\n"]))
        raw = {"ins": raw[:i] + piece + raw[i:], "del": raw[:i] + raw[i + len(piece):],
               "rep": raw[:i] + piece + raw[i + len(piece):]}[op]
    return raw


def same_verdict(raw: bytes) -> None:
    tree = outline(raw)
    event("full parse" if tree is None else "outline with placeholders"
          if any(p.get_payload() == PLACEHOLDER for p in tree.walk()) else "outline as is")
    assert check_message(raw) == full_verdict(raw)


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_message())
def test_check_message_gives_the_full_parse_verdict(raw):
    same_verdict(raw)


@settings(derandomize=True, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wire_message(tame=True))
def test_check_message_gives_the_full_parse_verdict_on_shapes_it_models(raw):
    """Well-formed trees (then perhaps mutated): the outline path itself is exercised."""
    same_verdict(raw)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(wire_message(), st.integers(0, 3))
def test_document_limit_verdict_is_the_same(raw, limit):
    assert check_message(raw, max_documents=limit) == full_verdict(raw, limit)


def test_typical_messages_take_the_fast_path():
    """Everyday shapes (what mail clients send) are checked without decoding attachments."""
    pdf = samples.pdf(seed=9, noise_kb=100)
    for msg in (samples.message(extra={"doc.pdf": pdf}), samples.message(*samples.DOCUMENTS)):
        for raw in (samples.wire(msg), bytes(msg).replace(b"\r\n", b"\n")):
            tree = outline(raw)
            assert tree is not None
            leaves = [p for p in tree.walk() if not p.is_multipart()]
            assert [p.get_payload() == PLACEHOLDER for p in leaves][:2] == [False, True]  # body text, a PDF
            assert check_message(raw) == full_verdict(raw)


def test_problems_found_at_data_keep_their_reason():
    """The refusals SMTP gives at DATA (554 with the parser's reason) are unchanged."""
    pdf = base64.b64encode(samples.pdf(seed=9, noise_kb=2)).decode()
    good = "\n".join(pdf[i:i + 76] for i in range(0, len(pdf), 76))
    head = "From: a\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: application/pdf\n" \
           "Content-Transfer-Encoding: base64\n\n"
    for body, problem in ((good[:-10] + "!!" + good[-10:], True), (good[:-1], False), (good + "A", True),
                          ("", True), ("====", True), (good, False)):
        raw = (head + body + "\n--zz--\n").encode()
        assert check_message(raw) == full_verdict(raw)
        assert isinstance(check_message(raw), MimeProblem) == problem
    assert isinstance(check_message(samples.wire(samples.message(body="-- \nsig\n"))), MimeProblem)
    crlf = samples.wire(samples.message(extra={"a.pdf": samples.pdf()})).replace(b"\r\n", b"\n")
    assert check_message(crlf) == full_verdict(crlf)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"QUJD"] * 8 + [b"\n", b"\r\n"]), min_size=130, max_size=200),
       st.lists(st.tuples(st.integers(0, 199), st.sampled_from([b"QQ==", b"QUI=", b"=", b"==", b"\r", b"A", b"!",
                                                                 b"-", b" ", b"\x00"])), max_size=2),
       st.sampled_from([b"", b"QQ==", b"QUI=", b"Q===", b"=", b"\n=", b"QQ=\n="]))
def test_placeholder_only_where_email_decodes_without_a_defect(pieces, edits, tail):
    """A body left undecoded at DATA is one the stdlib decodes to data with no defect at all."""
    for i, piece in edits:
        pieces.insert(i, piece)
    body = b"".join(pieces) + tail
    raw = b"From: a@b\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n" + body
    tree = outline(raw)
    full = email.message_from_bytes(raw.replace(b"\r\n", b"\n"))
    data = full.get_payload(decode=True)
    if tree is not None and tree.get_payload() == PLACEHOLDER:
        event("placeholder")
        assert data and not full.defects
    assert check_message(raw) == full_verdict(raw)

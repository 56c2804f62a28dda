"""Message parsing (mailfax.mime): documents in order, body text, encodings, malformed input."""

from email.message import EmailMessage

import pytest

from mailfax.mime import MimeProblem, ParsedMessage, parse_message
from tests.support import mailfax_samples as samples


def test_every_document_type_in_order():
    names = list(samples.DOCUMENTS)
    p = parse_message(bytes(samples.message(*names)))
    assert isinstance(p, ParsedMessage)
    assert [d.name for d in p.documents] == names
    assert [d.data for d in p.documents] == [samples.DOCUMENTS[n][2]() for n in names]
    assert p.body_text.strip() == "Please fax this." and p.message_id == "<m1@example.com>" and p.subject == "Test fax"


def test_lf_and_crlf_parse_alike():
    raw = bytes(samples.message("doc.pdf", "doc.png"))
    crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    a, b = parse_message(raw.replace(b"\r\n", b"\n")), parse_message(crlf)
    assert a.documents == b.documents and a.body_text == b.body_text


def test_nested_multipart_alternative_related_and_forwarded():
    inner = samples.message("doc.tif", body="forwarded body\n", message_id="<inner@x>")
    m = EmailMessage()
    m["From"] = "a@b"
    m["Subject"] = "nested"
    m.set_content("plain body\n")
    m.add_alternative("<html><body><p>html body</p></body></html>", subtype="html")
    m.add_attachment(samples.pdf(), maintype="application", subtype="pdf", filename="first.pdf")
    m.add_attachment(inner)  # message/rfc822
    m.add_attachment(b"-----BEGIN PGP SIGNATURE-----\n", maintype="application", subtype="pgp-signature")
    p = parse_message(bytes(m))
    assert [d.name for d in p.documents] == ["first.pdf", "doc.tif"]
    assert "plain body" in p.body_text and "html body" not in p.body_text


def test_html_only_body_becomes_text():
    m = EmailMessage()
    m["From"] = "a@b"
    m.set_content("<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>World</b></p><p>Line 2</p></body></html>",
                  subtype="html")
    p = parse_message(bytes(m))
    assert p.body_text.split() == ["Hello", "World", "Line", "2"] and p.documents == ()


def test_rfc2231_and_rfc2047_names_and_quoted_printable():
    raw = (b"From: a@b\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
           b"--XX\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
           b"Gr=FC=DFe aus K=F6ln\n"
           b"--XX\nContent-Type: application/pdf\nContent-Disposition: attachment;\n"
           b" filename*=UTF-8''Rechnung%20M%C3%A4rz%20%E2%82%AC.pdf\nContent-Transfer-Encoding: base64\n\n"
           b"JVBERi0xLjQK\n"
           b"--XX\nContent-Type: image/png; name=\"=?utf-8?q?Bild_=C3=BC.png?=\"\nContent-Transfer-Encoding: base64\n\n"
           b"iVBORw0K\n--XX--\n")
    p = parse_message(raw)
    assert p.body_text.strip() == "Grüße aus Köln"
    assert [d.name for d in p.documents] == ["Rechnung März €.pdf", "Bild ü.png"]
    assert p.documents[0].data == b"%PDF-1.4\n"


def test_inline_image_without_name_is_a_document():
    raw = (b"From: a@b\nContent-Type: multipart/related; boundary=R\n\n--R\nContent-Type: text/plain\n\nsee image\n"
           b"--R\nContent-Type: image/png\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\niVBORw0K\n--R--\n")
    p = parse_message(raw)
    assert [(d.name, d.content_type) for d in p.documents] == [("part1.png", "image/png")]


@pytest.mark.parametrize("raw, reason", [
    (b"From: a\nContent-Type: multipart/mixed; boundary=zz\n\nno boundary line at all\n", "StartBoundaryNotFound"),
    (b"From: a\nContent-Type: multipart/mixed\n\n--zz\n\nx\n--zz--\n", "malformed MIME"),
    (b"From: a\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n\n!!!!@@@@QUJD\n", "InvalidBase64Characters"),
    (b"From: a\nContent-Type: application/pdf; name=x.pdf\nContent-Transfer-Encoding: base64\n\n\n", "'x.pdf' is empty"),
    (b"From: a\nSubject: nothing\n\n\n-- \nsignature only\n", "nothing to fax"),
])
def test_malformed_or_empty_is_a_problem(raw, reason):
    p = parse_message(raw)
    assert isinstance(p, MimeProblem) and reason in p.reason, p


def test_too_many_documents():
    p = parse_message(bytes(samples.message("doc.txt", "doc.txt", "doc.txt")), max_documents=2)
    assert isinstance(p, MimeProblem) and "too many documents" in p.reason


@pytest.mark.parametrize("depth", [25, 3000])
def test_nesting_bomb_is_a_problem_not_a_crash(depth):
    head = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i) for i in range(depth))
    raw = b"From: a@b\n" + head + b"Content-Type: text/plain\n\nhi\n"
    p = parse_message(raw)
    assert isinstance(p, MimeProblem) and "nested" in p.reason

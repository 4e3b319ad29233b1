"""The text of a receipt mail: its body, and the text of its PDF attachments.

Bodies are read as the mail's plain-text part (or its HTML part without tags);
PDF text is extracted with pypdf. Everything is put together in one text, which
the bank templates then search, so a receipt in the body and one in a PDF are
read the same way.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from p2pilot.logging import get_logger

log = get_logger(__name__)

MAX_PDF_BYTES = 5 * 1024 * 1024
MAX_PDF_PAGES = 10  # a receipt is a page or two: not a statement to crawl
MAX_TEXT = 8192


@dataclass(frozen=True, slots=True)
class MailText:
    sender: str | None  # the From address
    subject: str
    text: str  # body, then each PDF's text
    pdfs: int  # how many PDF attachments were read


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "tr", "li"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_text(html: str) -> str:
    """The visible text of an HTML body."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def pdf_text(data: bytes) -> str:
    """The text of a PDF's first pages; empty if it has none or cannot be read."""
    if len(data) > MAX_PDF_BYTES:
        log.warning("mailbox.pdf_too_large", size=len(data))
        return ""
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = reader.pages[:MAX_PDF_PAGES]
        return "\n".join(page.extract_text() or "" for page in pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        log.warning("mailbox.pdf_unreadable", error=str(exc)[:200])
        return ""


def mail_text(raw: bytes) -> MailText:
    """Read one RFC 5322 message."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    texts: list[str] = []
    body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        if isinstance(content, str):
            texts.append(html_text(content) if body.get_content_subtype() == "html" else content)
    pdfs = 0
    for part in message.iter_attachments():
        name = (part.get_filename() or "").lower()
        if part.get_content_type() == "application/pdf" or name.endswith(".pdf"):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                pdfs += 1
                texts.append(pdf_text(payload))
    _, address = parseaddr(str(message.get("From", "")))
    return MailText(
        sender=address or None,
        subject=str(message.get("Subject", "")),
        text="\n\n".join(t.strip() for t in texts if t.strip())[:MAX_TEXT],
        pdfs=pdfs,
    )


def internal_date(value: object) -> datetime | None:
    """IMAP's INTERNALDATE as imapclient returns it, if it is an aware time."""
    return value if isinstance(value, datetime) and value.tzinfo is not None else None

"""Reading a receipt mail: plain or HTML body, PDF attachments made with fpdf2, broken PDFs."""

from __future__ import annotations

from email.message import EmailMessage

from fpdf import FPDF

from p2pilot.evidence.mail_text import html_text, mail_text, pdf_text


def pdf(*lines: str) -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("Helvetica", size=11)
    for line in lines:
        document.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def test_an_html_body_is_read_without_tags_scripts_or_styles() -> None:
    html = (
        "<html><head><style>p{color:red}</style><script>var x='Amount: 1'</script></head>"
        "<body><p>Amount: <b>8,145.00 RUB</b></p><p>Payer: OLEG SMIRNOV</p></body></html>"
    )
    text = html_text(html)
    assert "Amount: 8,145.00 RUB" in text and "Payer: OLEG SMIRNOV" in text
    assert "color" not in text and "var x" not in text


def test_the_text_of_a_pdf_receipt_follows_the_body() -> None:
    message = EmailMessage()
    message["From"] = "Bank Receipts <receipts@bank.example>"
    message["Subject"] = "Receipt"
    message.set_content("Your receipt is attached.")
    message.add_attachment(
        pdf("Amount: 8,145.00 RUB", "Payer: OLEG SMIRNOV", "Transaction ID: TX-1"),
        maintype="application",
        subtype="pdf",
        filename="receipt.pdf",
    )
    read = mail_text(bytes(message))
    assert read.sender == "receipts@bank.example" and read.pdfs == 1
    body, _, attachment = read.text.partition("\n\n")
    assert body == "Your receipt is attached."
    assert "Amount: 8,145.00 RUB" in attachment and "Transaction ID: TX-1" in attachment


def test_a_broken_pdf_reads_as_nothing_and_does_not_raise() -> None:
    assert pdf_text(b"%PDF-1.4 this is not really a pdf") == ""
    assert pdf_text(b"") == ""

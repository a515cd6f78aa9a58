"""Service certificates (志愿服务记录证明): a PDF with a code anyone can verify at /verify/<code>."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import current_app
from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from volunteer.errors import NotFoundError
from volunteer.extensions import db
from volunteer.localtime import format_local
from volunteer.models import Attendance, AttendanceStatus, Certificate, EntryKind, HourEntry, Shift, User
from volunteer.services import audit, stars
from volunteer.services.merchants import mask_mobile, mask_name

FONTS = Path(__file__).resolve().parent.parent.parent / "static" / "fonts"
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def masked_id(user: User) -> str:
    """The ID card's last four characters if known, else the masked mobile number."""
    return f"**************{user.id_card_tail}" if user.id_card_tail else mask_mobile(user.mobile)


def issue_certificate(user_id: int) -> tuple[Certificate, list[tuple[str, str, float]]]:
    """Snapshot the volunteer's record under a new verification code; returns it and the shift lines."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFoundError()
    records = db.session.scalars(
        select(Attendance).join(Shift).options(joinedload(Attendance.shift).joinedload(Shift.team))
        .where(Attendance.user_id == user_id, Attendance.status == AttendanceStatus.APPROVED)
        .order_by(Shift.starts_at)).all()
    lines = [(format_local(a.shift.starts_at, "%Y-%m-%d"), a.shift.team.name, a.minutes_credited / 60)
             for a in records]
    imported = db.session.scalar(select(db.func.coalesce(db.func.sum(HourEntry.minutes), 0)).where(
        HourEntry.user_id == user_id, HourEntry.kind == EntryKind.LEGACY_IMPORT))
    if imported:
        lines.insert(0, ("—", "历史记录导入 / imported history", imported / 60))
    certificate = Certificate(
        code="".join(secrets.choice(CODE_ALPHABET) for _ in range(12)), user_id=user_id,
        masked_name=mask_name(user.name), masked_id=masked_id(user), minutes=user.service_minutes,
        stars=stars.star_level(user.service_minutes), shift_count=len(records),
        organisation=current_app.config["ORGANISATION"])
    db.session.add(certificate)
    db.session.flush()
    audit.record(user_id, "certificate.issue", f"certificate:{certificate.id}", minutes=certificate.minutes)
    db.session.commit()
    return certificate, lines


def render_pdf(certificate: Certificate, full_name: str, lines: list[tuple[str, str, float]], verify_url: str) -> bytes:
    """The certificate as PDF bytes (Chinese and English)."""
    pdf = FPDF(format="A4")
    pdf.add_font("latin", fname=str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font("cjk", fname=str(FONTS / "DroidSansFallbackFull.ttf"))
    pdf.set_fallback_fonts(["cjk"])  # Latin text and digits from DejaVu, Chinese from Droid
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    pdf.set_font("latin", size=20)
    pdf.cell(0, 14, "志愿服务记录证明", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("latin", size=11)
    pdf.cell(0, 7, "Volunteer Service Record Certificate", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("latin", size=12)
    facts = [
        ("姓名 / Name", full_name),
        ("证件号 / ID", certificate.masked_id),
        ("累计认定服务时长 / Approved hours", f"{certificate.minutes / 60:.1f}"),
        ("星级 / Star level", "★" * certificate.stars + "☆" * (5 - certificate.stars) + f" ({certificate.stars})"),
        ("出具单位 / Issued by", certificate.organisation),
        ("出具日期 / Date", format_local(certificate.created_at, "%Y-%m-%d")),
        ("验证码 / Verification code", certificate.code),
    ]
    for label, value in facts:
        pdf.cell(80, 8, label)
        pdf.cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("latin", size=11)
    pdf.cell(0, 8, "服务记录 / Shifts", new_x="LMARGIN", new_y="NEXT")
    with pdf.table(col_widths=(30, 110, 30), text_align=("LEFT", "LEFT", "RIGHT"),
                   headings_style=FontFace(emphasis="", fill_color=(240, 240, 240))) as table:
        table.row(["日期 Date", "队伍 Team", "时长 Hours"])
        for day, team, hours in lines:
            table.row([day, team, f"{hours:.1f}"])
    pdf.ln(6)
    pdf.set_font("latin", size=9)
    pdf.multi_cell(0, 5, f"核验真伪 / Verify: {verify_url}")
    return bytes(pdf.output())


def find_certificate(code: str) -> Certificate:
    """A certificate by its code, or NotFoundError."""
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == (code or "").strip().upper()))
    if certificate is None:
        raise NotFoundError()
    return certificate


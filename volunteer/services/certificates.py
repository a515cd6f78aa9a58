"""Service certificates (志愿服务记录证明): a PDF with a code anyone can verify at /verify/<code>.

A certificate is issued (POST) once per volunteer and record: downloading again reuses its code, and only a
changed record (new approved hours, a changed name, ...) gets a new one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
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


Line = tuple[str, str, float]


@dataclass(frozen=True)
class _Record:
    """What a certificate for this volunteer would state now, and its fingerprint."""

    facts: dict[str, Any]
    lines: list[Line]
    fingerprint: str


def _record(user: User) -> _Record:
    records = db.session.scalars(
        select(Attendance).join(Shift).options(joinedload(Attendance.shift).joinedload(Shift.team))
        .where(Attendance.user_id == user.id, Attendance.status == AttendanceStatus.APPROVED)
        .order_by(Shift.starts_at)).all()
    lines = [(format_local(a.shift.starts_at, "%Y-%m-%d"), a.shift.team.name, a.minutes_credited / 60)
             for a in records]
    imported = db.session.scalar(select(db.func.coalesce(db.func.sum(HourEntry.minutes), 0)).where(
        HourEntry.user_id == user.id, HourEntry.kind == EntryKind.LEGACY_IMPORT))
    if imported:
        lines.insert(0, ("—", "历史记录导入 / imported history", imported / 60))
    facts = {"masked_name": mask_name(user.name), "masked_id": masked_id(user), "minutes": user.service_minutes,
             "stars": stars.star_level(user.service_minutes), "shift_count": len(records),
             "organisation": current_app.config["ORGANISATION"]}
    stated = json.dumps([user.name, facts, lines], ensure_ascii=False, sort_keys=True)
    return _Record(facts, lines, hashlib.sha256(stated.encode()).hexdigest())


def _find(user_id: int, fingerprint: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(Certificate.user_id == user_id,
                                                       Certificate.fingerprint == fingerprint))


def current_certificate(actor: User) -> tuple[Certificate | None, list[Line]]:
    """The actor's certificate for their record as it is now (None if not issued yet, or the record changed since),
    with the shift lines. Reads only: a download never writes."""
    record = _record(actor)
    return _find(actor.id, record.fingerprint), record.lines


def issue_certificate(actor: User) -> tuple[Certificate, list[Line]]:
    """Issue the actor's certificate for their record as it is now, once: the same record reuses the same code,
    a changed record gets a new one (older codes stay verifiable). Returns it and the shift lines."""
    record = _record(actor)
    existing = _find(actor.id, record.fingerprint)
    if existing is not None:
        return existing, record.lines
    certificate = Certificate(code="".join(secrets.choice(CODE_ALPHABET) for _ in range(12)), user_id=actor.id,
                              fingerprint=record.fingerprint, **record.facts)
    db.session.add(certificate)
    try:
        db.session.flush()
    except IntegrityError:  # a double click: the other request issued it
        db.session.rollback()
        existing = _find(actor.id, record.fingerprint)
        if existing is None:
            raise
        return existing, record.lines
    audit.record(actor.id, "certificate.issue", f"certificate:{certificate.id}", minutes=certificate.minutes)
    db.session.commit()
    return certificate, record.lines


def render_pdf(certificate: Certificate, full_name: str, lines: list[Line], verify_url: str) -> bytes:
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


"""Flask commands: seed-demo, create-user, ledger-audit, expire, import-legacy."""

from __future__ import annotations

import click
from flask import Flask


def register_commands(app: Flask) -> None:
    """Attach the CLI commands."""

    @app.cli.command("create-user")
    @click.option("--role", type=click.Choice(["volunteer", "coordinator", "merchant", "admin"]), required=True)
    @click.option("--name", required=True)
    @click.option("--mobile", required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--merchant-id", type=int)
    @click.option("--team-id", "team_ids", type=int, multiple=True)
    def create_user_command(role, name, mobile, password, merchant_id, team_ids):
        """Create a coordinator, merchant staff, admin (or volunteer) account."""
        from volunteer.errors import FieldErrors
        from volunteer.models import Role
        from volunteer.services import accounts

        try:
            user = accounts.create_user(None, name, mobile, password, Role(role), merchant_id, tuple(team_ids))
        except FieldErrors as exc:
            for field_name, message in exc.texts().items():
                click.echo(f"{field_name}: {message}", err=True)
            raise SystemExit(1) from exc
        click.echo(f"created {user.role.value} {user.mobile} (id {user.id})")

    @app.cli.command("ledger-audit")
    def ledger_audit_command():
        """Check that every cached balance equals the sum of its ledger entries; exit 1 if not."""
        from volunteer.services import ledger

        mismatches = ledger.find_mismatches()
        for m in mismatches:
            click.echo(f"user {m.user_id}: cached {m.what} {m.cached} but entries sum to {m.summed}", err=True)
        if mismatches:
            raise SystemExit(1)
        click.echo("ledger-audit: every balance equals the sum of its entries")

    @app.cli.command("expire")
    def expire_command():
        """Scheduled job: close check-ins left open after their shift, expire vouchers past their validity,
        points past the configured rule, the replay check's face prints after 30 days, and check-in photos
        FACE_THUMBNAIL_DAYS days after their record was decided."""
        from volunteer.localtime import local_today
        from volunteer.services import attendance, face_evidence, face_id, points, rewards

        click.echo(f"check-ins closed without check-out: {attendance.close_overdue()}")
        click.echo(f"vouchers expired: {rewards.expire_vouchers()}")
        click.echo(f"points expired: {points.expire_points(local_today())}")
        click.echo(f"face replay prints deleted after {face_id.PRINT_DAYS} days: {face_id.expire_frame_prints()}")
        days = app.config["FACE_THUMBNAIL_DAYS"]
        click.echo(f"check-in photos deleted {days} days after the decision: {face_evidence.expire_thumbnails()}")
        click.echo(f"spent liveness challenges forgotten: {face_id.expire_spent_challenges()}")

    @app.cli.command("import-legacy")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def import_legacy_command(path):
        """Import volunteers and historical hours from a 1.0/2.0 CSV (any size); all rows valid or nothing."""
        from pathlib import Path

        from volunteer.errors import DomainError
        from volunteer.services import legacy_import

        try:
            report = legacy_import.import_legacy(None, Path(path).read_bytes(),
                                                 progress=lambda rows: click.echo(f"validated {rows} rows…"))
        except DomainError as exc:
            click.echo(exc.text, err=True)
            raise SystemExit(1) from exc
        if report.errors:
            for line, problem in report.errors:
                click.echo(f"line {line}: {problem}", err=True)
            if report.error_count > len(report.errors):
                click.echo(f"… and {report.error_count - len(report.errors)} more", err=True)
            click.echo(f"nothing imported: {report.error_count} rows have problems", err=True)
            raise SystemExit(1)
        click.echo(f"imported {report.hour_rows} rows ({report.created_users} new volunteers, "
                   f"{report.skipped_rows} already imported)")

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
    @click.option("--port", type=click.IntRange(1, 65535),
                  help="The port the app is served on, for the address printed (default: the PORT setting, "
                       "VOLUNTEER_PORT).")
    def seed_demo_command(if_empty, port):
        """Load demo teams, people, shifts and rewards, and print the demo logins and the address to open."""
        from flask import current_app

        from volunteer import demo

        if if_empty and demo.has_users():
            click.echo("Demo data already loaded; your data is kept.")
        else:
            demo.seed()
        for line in demo.login_lines(port or current_app.config["PORT"]):
            click.echo(line)

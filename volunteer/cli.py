"""Flask commands: seed-demo, create-user, ledger-audit."""

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

    @app.cli.command("seed-demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
    def seed_demo_command(if_empty):
        """Load demo teams, people, shifts and rewards, and print the demo logins."""
        from volunteer import demo

        if if_empty and demo.has_users():
            click.echo("Demo data already loaded; your data is kept.")
        else:
            demo.seed()
        for line in demo.login_lines():
            click.echo(line)

"""Pages for admins: users, teams, merchants, the catalog and proposals, the audit log."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from volunteer import forms
from volunteer.errors import DomainError, FieldErrors
from volunteer.models import Category, RewardStatus, Role, TeamKind
from volunteer.services import accounts, admin, merchants, rewards, teams
from volunteer.views.common import export_language, flash_error, page_number, role_name, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/users", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def users():
    """Find people; create coordinators, merchant staff and admins."""
    errors: dict = {}
    if request.method == "POST":
        try:
            form = forms.parse(forms.StaffAccountForm)
            accounts.create_user(current_user, form.name.data, form.mobile.data, form.password.raw, form.role.data,
                                 form.merchant_id.data, tuple(form.team_ids.data))
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("Account created."), "success")
            return redirect(url_for("admin.users"))
    query = forms.SearchForm().value("q") or ""
    return render_template("admin/users.html", people=admin.find_users(query, page_number()), q=query, errors=errors,
                           form=request.form, merchants=admin.merchants(), teams=teams.team_choices(),
                           role_name=role_name, roles=[Role.COORDINATOR, Role.MERCHANT, Role.ADMIN]), \
        400 if errors else 200


@bp.route("/users/<int:user_id>/enabled", methods=["POST"])
@roles_required(Role.ADMIN)
def set_enabled(user_id: int):
    """Disable (ends every session) or re-enable an account."""
    enable = request.form.get("enabled") == "1"
    try:
        accounts.set_enabled(current_user, user_id, enable)
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Account enabled.") if enable else _("Account disabled; its sessions have ended."), "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def reset_password(user_id: int):
    """Ask first, then give someone a temporary password, shown here once."""
    try:
        if request.method == "GET":
            return render_template("admin/reset_password.html",
                                   person=accounts.person_to_reset(current_user, user_id), role_name=role_name)
        temporary = accounts.reset_password(current_user, user_id)
    except DomainError as exc:
        flash_error(exc)
        return redirect(url_for("admin.users"))
    flash(_("Temporary password: %(password)s — give it to the person; they should change it after signing in.",
            password=temporary), "success")
    return redirect(url_for("admin.users"))


@bp.route("/teams", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def team_tree():
    """The team tree; add a team under a parent."""
    errors: dict = {}
    if request.method == "POST":
        try:
            form = forms.parse(forms.TeamForm)
            teams.create_team(current_user, form.name.data, form.kind.data, form.parent_id.data)
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("Team added."), "success")
            return redirect(url_for("admin.team_tree"))
    return render_template("admin/teams.html", teams=teams.team_choices(), kinds=list(TeamKind), errors=errors,
                           form=request.form, kind_labels=teams.KIND_LABELS), \
        400 if errors else 200


@bp.route("/merchants", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def merchant_list():
    """Merchants (sponsors)."""
    errors: dict = {}
    if request.method == "POST":
        try:
            form = forms.parse(forms.MerchantForm)
            admin.create_merchant(current_user, form.name.data, form.address.data)
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("Merchant added."), "success")
            return redirect(url_for("admin.merchant_list"))
    return render_template("admin/merchants.html", merchants=admin.merchants(), errors=errors,
                           form=request.form), \
        400 if errors else 200


@bp.route("/rewards", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def rewards_list():
    """The catalog, merchants' proposals and restock requests; add a reward."""
    errors: dict = {}
    if request.method == "POST":
        try:
            form = forms.parse(forms.RewardForm)
            rewards.save_reward(current_user, form.merchant_id.data, form.details())
        except FieldErrors as exc:
            errors = exc.texts()
        else:
            flash(_("Reward added to the catalog."), "success")
            return redirect(url_for("admin.rewards_list"))
    proposals, restocks = merchants.pending_proposals()
    return render_template("admin/rewards.html", catalog=rewards.full_catalog(), proposals=proposals, restocks=restocks,
                           errors=errors, form=request.form, categories=list(Category), labels=rewards.CATEGORY_LABELS,
                           merchants=admin.merchants()), 400 if errors else 200


@bp.route("/rewards/<int:reward_id>/status", methods=["POST"])
@roles_required(Role.ADMIN)
def reward_status(reward_id: int):
    """Approve a proposal, retire a reward or bring it back."""
    try:
        status = RewardStatus(request.form.get("status", ""))
    except ValueError:
        flash(_("Unknown status."), "error")
    else:
        rewards.set_reward_status(current_user, reward_id, status)
        flash(_("Catalog updated."), "success")
    return redirect(url_for("admin.rewards_list"))


@bp.route("/restocks/<int:request_id>", methods=["POST"])
@roles_required(Role.ADMIN)
def decide_restock(request_id: int):
    """Approve or decline a merchant's restock request."""
    try:
        merchants.decide_restock(current_user, request_id, request.form.get("decision") == "approve")
    except DomainError as exc:
        flash_error(exc)
    else:
        flash(_("Catalog updated."), "success")
    return redirect(url_for("admin.rewards_list"))


@bp.route("/audit")
@roles_required(Role.ADMIN)
def audit_log():
    """Read-only log of sensitive actions, searchable by person and action."""
    search = forms.SearchForm()
    person, action = search.value("person") or "", search.value("action") or ""
    events = admin.search_audit(person, action, page_number())
    names = admin.actor_names(events)
    return render_template("admin/audit.html", events=events, names=names, person=person, action=action,
                           lines=[admin.describe_event(e, names) for e in events],
                           actions=[(code, str(label)) for code, label in admin.ACTION_LABELS.items()])


# --- reports ------------------------------------------------------------------------------------------------

@bp.route("/dashboard")
@roles_required(Role.ADMIN, Role.COORDINATOR)
def dashboard():
    """Figures for everything (admin) or the coordinator's subtree."""
    from volunteer.services import reports

    managed = teams.managed_team_ids(current_user)
    return render_template("admin/dashboard.html", d=reports.dashboard(current_user), labels=rewards.CATEGORY_LABELS,
                           teams=[t for t in teams.team_choices() if t.id in managed],
                           kinds=list(reports.EXPORT_COLUMNS), patrol=_patrol_figures())


def _patrol_figures() -> dict:
    """Patrol reports on the dashboard: open, overdue, per category (issue #15)."""
    from flask_babel import get_locale

    from volunteer.services import patrol_reports as pr
    from volunteer.services.patrol_reports import figures

    return {"counts": pr.count_reports(current_user),
            "by_category": figures.category_counts(current_user, str(get_locale()))}


@bp.route("/exports/<kind>.csv")
@roles_required(Role.ADMIN, Role.COORDINATOR)
def export(kind: str):
    """Volunteers, attendance, ledger or redemptions as CSV (UTF-8 with BOM), by team and date; ``lang=zh`` has
    Chinese headers and labels, ``lang=en`` the codes."""
    from flask import Response, abort

    from volunteer.services import csvfile, reports

    if kind not in reports.EXPORT_COLUMNS:
        abort(404)

    filters = forms.ExportFilterForm()
    f = reports.ExportFilter(filters.value("team"), filters.value("start"), filters.value("end"))
    body = csvfile.to_csv(*reports.export_table(current_user, kind, f, export_language()))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'})


@bp.route("/import", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def legacy_import():
    """Import volunteers and historical hours from a CSV; all rows valid or nothing is imported."""
    from volunteer.services import legacy_import as importer

    report = None
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read() if upload else b""
        if upload:
            upload.close()
        report = importer.import_legacy(current_user, data)
        if not report.errors:
            flash(_("Imported %(rows)d rows (%(users)d new volunteers); %(skipped)d rows were already imported.",
                    rows=report.hour_rows, users=report.created_users, skipped=report.skipped_rows), "success")
    return render_template("admin/import.html", report=report, columns=importer.COLUMNS), \
        400 if report and report.errors else 200

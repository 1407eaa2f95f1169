"""Personal API tokens: each user lists, creates and revokes his own (the secret is shown once)."""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from tracker.clock import now
from tracker.extensions import db
from tracker.guards import requires, signed_in
from tracker.main import bp
from tracker.models import ApiToken
from tracker.services import api_tokens
from tracker.services.errors import DomainError

TOKENS_SHOWN = 100  # newest first; revoked tokens stay listed as history


class ApiTokenForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(message=_l("Give the token a name, e.g. the script that uses it.")),
            Length(max=api_tokens.NAME_MAX),
        ],
        description=_l("What uses the token, e.g. the case-handling system."),
    )
    submit = SubmitField(_l("Create token"))


class RevokeTokenForm(FlaskForm):
    """Only the CSRF token: the token to revoke is in the address."""


def _page(form: ApiTokenForm, *, secret: str | None = None, status: int = 200) -> Response:
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.user_id == current_user.id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        .limit(TOKENS_SHOWN)
    ).all()
    response = make_response(
        render_template(
            "main/api_tokens.html",
            form=form,
            revoke_form=RevokeTokenForm(),
            tokens=tokens,
            secret=secret,
            now=now(),
        ),
        status,
    )
    # The page may carry a secret: never kept by the browser's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/tokens", methods=["GET", "POST"], endpoint="api_tokens")
@signed_in
def tokens_page() -> Response:
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=400 if form.is_submitted() else 200)
    try:
        token, secret = api_tokens.create(
            db.session, actor=current_user, user=current_user, name=form.name.data, now=now()
        )
    except DomainError as error:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(error.message)]
        return _page(form, status=400)
    db.session.commit()
    flash(
        _(
            "Token %(name)s created. Copy it now: it will not be shown again.",
            name=token.name,
        ),
        "success",
    )
    # Rendered, not redirected: the secret must not travel through the session or a URL.
    return _page(ApiTokenForm(formdata=None), secret=secret, status=201)


@bp.post("/account/tokens/<int:token_id>/revoke")
@requires(None, token_id=ApiToken)  # another user's token is as absent as a missing one
def revoke_api_token(token: ApiToken) -> Response:
    if token.user_id != current_user.id:  # (the guard checked it already)
        abort(404)
    if not RevokeTokenForm().validate_on_submit():
        abort(400)
    try:
        api_tokens.revoke(db.session, actor=current_user, token=token, now=now())
    except DomainError as error:
        db.session.rollback()
        flash(str(error.message), "warning")
        return redirect(url_for("main.api_tokens"), 303)
    db.session.commit()
    flash(_("Token %(name)s revoked: it no longer works.", name=token.name), "success")
    return redirect(url_for("main.api_tokens"), 303)

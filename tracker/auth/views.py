"""Sign in, sign out, change password, choose the interface language."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from tracker.auth import bp
from tracker.auth.forms import LanguageForm, LoginForm, PasswordChangeForm
from tracker.auth.session import end_session, start_session
from tracker.clock import now
from tracker.extensions import db, limiter
from tracker.guards import public, safe_next, signed_in
from tracker.i18n import SESSION_KEY
from tracker.services import audit
from tracker.services.auth import LockoutPolicy, SignInOutcome, authenticate, change_password
from tracker.services.directory import set_user_locale
from tracker.services.errors import ValidationFailed
from tracker.templating import long_datetime


def _lockout_policy() -> LockoutPolicy:
    cfg = current_app.config
    return LockoutPolicy(
        cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_FAILURE_WINDOW"], cfg["LOGIN_LOCK_DURATION"]
    )


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        result = authenticate(
            db.session,
            email=form.email.data,
            password=form.password.data,
            now=now(),
            policy=_lockout_policy(),
        )
        if result.outcome is SignInOutcome.OK:
            start_session(result.user, remember=form.remember.data)  # a new session, no fixation
            db.session.commit()  # with the sign-in it records
            return redirect(safe_next(form.next.data))
        db.session.commit()  # failures and lock-outs are kept whatever happens next
        if result.outcome is SignInOutcome.LOCKED:
            flash(
                _(
                    "Too many failed sign-ins: the account is locked until %(time)s. "
                    "Ask an administrator if you need access sooner.",
                    time=long_datetime(result.locked_until),
                ),
                "danger",
            )
        elif result.outcome is SignInOutcome.INACTIVE:
            flash(
                _("This account has been deactivated. Please contact the administrator."), "danger"
            )
        else:
            flash(_("Wrong email or password."), "danger")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@signed_in
def logout():
    audit.record(
        db.session,
        actor=current_user,
        action="logout",
        object_type="user",
        object_id=current_user.id,
        at=now(),
    )
    end_session()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@signed_in
# The current password is asked for here too: guessing it must be as slow as at sign-in.
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"], methods=["POST"])
def password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            change_password(
                db.session,
                user=current_user,
                current_password=form.current_password.data,
                new_password=form.new_password.data,
                now=now(),
            )
        except ValidationFailed as error:
            db.session.rollback()
            getattr(form, error.field or "new_password").errors.append(error.message)
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # keep this session after rotation
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/password.html", form=form)


@bp.post("/language")
@public
def language():
    form = LanguageForm()
    if form.validate_on_submit():
        locale = form.locale.data
        session[SESSION_KEY] = locale
        if current_user.is_authenticated:
            set_user_locale(db.session, user=current_user, locale=locale, now=now())
            db.session.commit()
    return redirect(safe_next(form.next.data))

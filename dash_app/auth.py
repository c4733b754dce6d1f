"""Login: hashed passwords, a session cookie, a guard on every route, and a brake on guessing."""

from __future__ import annotations

import functools
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import flask
from markupsafe import escape
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

logger = logging.getLogger(__name__)
MAX_KEYS = 10_000
LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
PUBLIC_PATHS = frozenset({"/login", "/assets/bootstrap.min.css", "/assets/dashboard.css", "/favicon.ico"})
HASH_METHOD = "pbkdf2:sha256"  # not werkzeug's default scrypt: that takes 32 MiB per check on a small machine


def hash_password(password: str) -> str:
    """The hash to store for a password (`iotpipe dash --hash-password` prints it)."""
    return generate_password_hash(password, method=HASH_METHOD)


@functools.cache
def _dummy_hash() -> str:
    """A hash to check when the user does not exist, so a wrong name costs as long as a wrong password."""
    return hash_password(secrets.token_hex(8))


def needs_login(host: str) -> bool:
    """True unless the app listens only on the machine's own default loopback address.

    Deliberately strict: 127.0.0.2 is loopback to Linux but may be forwarded by a container or a proxy, so only
    127.0.0.1, ::1 and `localhost` count as private; every other address (0.0.0.0 included) requires a login.
    """
    return host.strip("[]").lower() not in LOCAL_HOSTS


def is_loopback(host: str) -> bool:
    """True for any loopback address (the debugger is refused elsewhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Throttle:
    """Counts failed logins per key (user name, client address); after `limit` failures the key waits, doubling."""

    limit: int
    lockout_s: float
    clock: Callable[[], float] = time.monotonic
    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def wait(self, *keys: str) -> float:
        """Seconds any of `keys` must still wait (0 when free)."""
        now = self.clock()
        return max([0.0, *(self.until.get(k, now) - now for k in keys)])

    def failed(self, *keys: str) -> None:
        """Record one failure for each key; past the limit, lock it for lockout_s * 2**(extra failures)."""
        if len(self.failures) > MAX_KEYS:  # made-up user names must not grow this without bound
            now = self.clock()
            self.failures = {k: n for k, n in self.failures.items() if self.until.get(k, 0.0) > now}
            self.until = {k: t for k, t in self.until.items() if t > now}
        for key in keys:
            count = self.failures[key] = self.failures.get(key, 0) + 1
            if count >= self.limit:
                self.until[key] = self.clock() + min(self.lockout_s * 2 ** (count - self.limit), 3600.0)

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of `keys`."""
        for key in keys:
            self.failures.pop(key, None)
            self.until.pop(key, None)


def verify(users: Mapping[str, str], name: str, password: str) -> bool:
    """True when `password` matches the user's hash; costs the same for unknown users."""
    hashed = users.get(name)
    ok = check_password_hash(hashed or _dummy_hash(), password)
    return ok and hashed is not None


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path on this site, never another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · {home}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/assets/bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width:380px;margin-top:12vh">
<div class="card shadow-sm"><div class="card-body p-4">
<h1 class="h4 mb-3">{home}</h1><p class="text-muted">Sign in to the dashboard.</p>{message}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="next" value="{next}">
<div class="mb-3"><label class="form-label" for="username">User</label>
<input class="form-control" id="username" name="username" autocomplete="username" required autofocus></div>
<div class="mb-3"><label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password" autocomplete="current-password" required>
</div><button class="btn btn-primary w-100" id="login-submit" type="submit">Sign in</button></form>
</div></div></main></body></html>"""


class Auth:
    """Installs the login routes and the guard on a Flask server when a login is required."""

    def __init__(self, users: Mapping[str, str], throttle: Throttle, home_name: str) -> None:
        self.users, self.throttle, self.home_name = dict(users), throttle, home_name

    def install(self, server: flask.Flask, secret: str | None, session_hours: float) -> None:
        """Guard every route (Dash's `/_dash-*` included) and add `/login` and `/logout`."""
        server.secret_key = secret or secrets.token_hex(32)
        server.config.update(
            SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
            PERMANENT_SESSION_LIFETIME=timedelta(hours=session_hours),
        )
        server.before_request(self.guard)
        server.add_url_rule("/login", "login", self.login, methods=["GET", "POST"])
        server.add_url_rule("/logout", "logout", self.logout, methods=["GET", "POST"])

    def guard(self) -> Response | None:
        """Let a signed-in user through; send anyone else to the login page (401 for Dash's API calls)."""
        path = flask.request.path
        if path in PUBLIC_PATHS or flask.session.get("user") in self.users:
            return None
        if path.startswith("/_dash-") or flask.request.method != "GET":
            return Response("login required", status=401, mimetype="text/plain")
        return flask.redirect(f"/login?next={flask.request.full_path.rstrip('?')}")

    def page(self, message: str = "", status: int = 200) -> Response:
        """The sign-in form (plain HTML: it must work before any Dash route is allowed)."""
        alert = f'<div class="alert alert-danger" role="alert">{escape(message)}</div>' if message else ""
        target = escape(safe_next(flask.request.values.get("next")))
        html = LOGIN_PAGE.format(home=escape(self.home_name), message=alert, next=target)
        return Response(html, status=status, mimetype="text/html")

    def login(self) -> Response:
        """GET shows the form; POST checks the password, slowed down after repeated failures."""
        if flask.request.method == "GET":
            return self.page()
        name = flask.request.form.get("username", "")[:64]
        keys = (f"user:{name}", f"addr:{flask.request.remote_addr}")
        wait = self.throttle.wait(*keys)
        if wait > 0:
            return self.page(f"Too many failed attempts: wait {wait:.0f} s and try again.", 429)
        if not verify(self.users, name, flask.request.form.get("password", "")):
            self.throttle.failed(*keys)
            logger.warning("failed login user=%r from %s", name, flask.request.remote_addr)
            return self.page("Wrong user name or password.", 401)
        self.throttle.succeeded(*keys)
        flask.session.clear()
        flask.session.permanent = True
        flask.session["user"] = name
        logger.info("login user=%r from %s", name, flask.request.remote_addr)
        return flask.redirect(safe_next(flask.request.form.get("next")))

    def logout(self) -> Response:
        """Forget the session."""
        flask.session.clear()
        return flask.redirect("/login")


def current_user() -> str | None:
    """The signed-in user of this request, if any (None when no login is configured)."""
    user = flask.session.get("user") if flask.has_request_context() else None
    return str(user) if user else None

#!/usr/bin/env python3
"""A throw-away SMTP server for crm-integrations' tests (aiosmtpd), on 127.0.0.1.

    smtp_server.py --maildir DIR [--port N] [--tls-cert PEM --tls-key PEM]
                   [--mode plain|starttls|tls] [--user U --password P]

Every message accepted is written to the Maildir DIR (cur/new/tmp), so a test reads exactly
what went over the wire. `starttls` offers STARTTLS and requires it before AUTH/MAIL; `tls`
speaks TLS from the first byte (implicit TLS, like port 465). With --user, AUTH PLAIN/LOGIN
is required and only that user/password is accepted. Prints "READY <port>" once listening and
runs until killed.
"""
import argparse
import mailbox
import signal
import socket
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--maildir", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=["plain", "starttls", "tls"], default="plain")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()

    mailbox.Maildir(a.maildir, create=True)
    port = a.port or free_port()
    context = None
    if a.mode != "plain":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == a.user
            and auth_data.password.decode() == a.password
        )
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False)

    smtp_kwargs = {}
    if a.user:
        smtp_kwargs.update(
            authenticator=authenticate, auth_required=True, auth_require_tls=a.mode == "starttls"
        )
    if a.mode == "starttls":
        smtp_kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(
        Mailbox(a.maildir),
        hostname="127.0.0.1",
        port=port,
        ssl_context=context if a.mode == "tls" else None,
        server_hostname="localhost",
        **smtp_kwargs,
    )
    controller.start()
    print(f"READY {port}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: (controller.stop(), sys.exit(0)))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

"""A local OpenID Connect provider for `make demo`: SSO beside the password login.

pyop (IdentityPython's OP library) behind a small threaded HTTP server on loopback:
discovery, JWKS, authorization (a page to pick who signs in), token and userinfo. sgportal
is configured for it through its ordinary SSO_OIDC_* settings, so the demo's "Sign in with
Demo SSO" goes through allauth's real OpenID Connect flow (authorization code with PKCE, a
signed id_token, userinfo with the ``groups`` claim, which the demo tenant's identity-
provider group mappings turn into roles).

Dev-only, plain HTTP on 127.0.0.1 (a real provider is HTTPS)::

    python -m devtools.oidc_provider --port 8026 \\
        --redirect-uri http://127.0.0.1:8000/accounts/oidc/sso/login/callback/
"""

from __future__ import annotations

import argparse
import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CLIENT_ID = "sgportal-demo"
CLIENT_SECRET = "demo-oidc-client-secret"  # noqa: S105 (the demo's, on loopback only)
# The people of the demo's identity provider; their groups map to roles (seed_demo).
PEOPLE = {
    "dana": {
        "name": "Dana Okafor",
        "email": "dana@demo.example",
        "preferred_username": "dana",
        "groups": ["sg-approvers"],
        "about": "security lead: group sg-approvers (approver in the demo tenant)",
    },
    "eve": {
        "name": "Eve Lindqvist",
        "email": "eve@demo.example",
        "preferred_username": "eve",
        "groups": ["sg-viewers"],
        "about": "developer: group sg-viewers (viewer in the demo tenant)",
    },
}


def provider_configuration(
    base_url: str, *, issuer: str = "", scopes: tuple[str, ...] = ("openid", "profile", "email")
) -> dict:
    """pyop's provider configuration (the discovery document) of a loopback provider whose
    endpoints are under ``base_url``: authorization code flow with PKCE, RS256 id_tokens.
    Shared by the demo's provider and the tests' HTTPS one (tests/sgportal/sso_idps.py)."""
    return {
        "issuer": issuer or base_url,
        "authorization_endpoint": f"{base_url}/authorize",
        "token_endpoint": f"{base_url}/token",
        "userinfo_endpoint": f"{base_url}/userinfo",
        "jwks_uri": f"{base_url}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "scopes_supported": list(scopes),
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["authorization_code"],
        "claims_parameter_supported": True,
    }


def client_registration(client_secret: str, redirect_uris: list[str]) -> dict:
    """pyop's registration of a confidential client (sgportal) for the code flow."""
    return {
        "client_secret": client_secret,
        "redirect_uris": list(redirect_uris),
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
    }


class DemoOidcProvider:
    """pyop's Provider on http://host:port, with a page to choose who signs in."""

    def __init__(
        self,
        redirect_uris: list[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
    ) -> None:
        from Cryptodome.PublicKey import RSA
        from jwkest.jwk import RSAKey
        from pyop.authz_state import AuthorizationState
        from pyop.provider import Provider
        from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
        from pyop.userinfo import Userinfo

        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.issuer = f"http://{host}:{self.server.server_address[1]}"
        users = {
            uid: {
                "sub": f"demo-{uid}",
                "email_verified": True,
                **{k: v for k, v in person.items() if k != "about"},
            }
            for uid, person in PEOPLE.items()
        }
        # pyop checks that an issuer is HTTPS, as OpenID Connect asks of real ones; this
        # loopback demo is plain HTTP (no certificate warning in the person's browser), so
        # the issuer is switched to the http one right after that check (below).
        config = provider_configuration(
            self.issuer,
            issuer=self.issuer.replace("http://", "https://", 1),
            scopes=("openid", "profile", "email", "groups"),
        )
        clients = {client_id: client_registration(client_secret, redirect_uris)}
        self.provider = Provider(
            RSAKey(key=RSA.generate(2048), alg="RS256", kid="demo-oidc"),
            config,
            AuthorizationState(HashBasedSubjectIdentifierFactory("demo-salt")),
            clients,
            Userinfo(users),
            extra_scopes={"groups": ["groups"]},
        )
        self.provider.configuration_information["issuer"] = self.issuer
        self._lock = threading.Lock()  # pyop's in-memory state is not thread-safe

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> DemoOidcProvider:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> DemoOidcProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def choose_page(self, query: str) -> str:
        """The provider's sign-in page: who signs in (no passwords: a demo)."""
        forms = "".join(
            f'<form method="post" action="/authorize"><input type="hidden" name="query" '
            f'value="{html.escape(query)}"><input type="hidden" name="user" value="{uid}">'
            f'<button type="submit" data-user="{uid}">Sign in as {html.escape(p["name"])}'
            f"</button><p>{html.escape(p['email'])} — {html.escape(p['about'])}</p></form>"
            for uid, p in PEOPLE.items()
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo SSO · '
            "sign in</title><style>body{font:16px system-ui,sans-serif;max-width:560px;"
            "margin:60px auto;padding:0 16px}button{font:inherit;padding:10px 16px;"
            "background:#2f6fed;color:#fff;border:0;border-radius:6px;cursor:pointer}"
            "form{margin:20px 0}p{color:#555;margin:6px 0}</style></head><body>"
            "<h1>Demo identity provider</h1><p>A local OpenID Connect provider for the "
            "sgportal demo (dev-only). Choose who signs in:</p>"
            f"{forms}</body></html>"
        )

    def _handler(self):
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                return

            def _send(self, status: int, body, headers: dict | None = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, exc: Exception) -> None:
                self._send(status, {"error": type(exc).__name__, "detail": str(exc)[:300]})

            def do_GET(self):
                parts = urlsplit(self.path)
                provider = idp.provider
                if parts.path == "/.well-known/openid-configuration":
                    return self._send(200, provider.provider_configuration.to_dict())
                if parts.path == "/jwks":
                    return self._send(200, provider.jwks)
                if parts.path == "/authorize":
                    try:  # checks the client and its redirect URI before showing anything
                        with idp._lock:
                            provider.parse_authentication_request(parts.query)
                    except Exception as exc:  # noqa: BLE001 - pyop's refusals, shown
                        return self._error(400, exc)
                    page = idp.choose_page(parts.query).encode()
                    return self._send(200, page, {"Content-Type": "text/html; charset=utf-8"})
                if parts.path == "/userinfo":
                    return self._userinfo("")
                return self._send(404, {"error": "not_found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                path = urlsplit(self.path).path
                if path == "/authorize":  # the person chosen on the sign-in page
                    form = {k: v[-1] for k, v in parse_qs(body).items()}
                    if form.get("user") not in PEOPLE:
                        return self._send(400, {"error": "unknown_user"})
                    try:
                        with idp._lock:
                            request = idp.provider.parse_authentication_request(
                                form.get("query", "")
                            )
                            response = idp.provider.authorize(request, form["user"])
                        location = response.request(request["redirect_uri"], False)
                    except Exception as exc:  # noqa: BLE001
                        return self._error(400, exc)
                    return self._send(302, b"", {"Location": location})
                if path == "/token":
                    try:
                        with idp._lock:
                            response = idp.provider.handle_token_request(body, dict(self.headers))
                    except Exception as exc:  # noqa: BLE001 - invalid_grant, client auth
                        return self._error(400, exc)
                    return self._send(200, response.to_dict())
                if path == "/userinfo":
                    return self._userinfo(body)
                return self._send(404, {"error": "not_found"})

            def _userinfo(self, body: str):
                try:
                    with idp._lock:
                        response = idp.provider.handle_userinfo_request(body, dict(self.headers))
                except Exception as exc:  # noqa: BLE001
                    return self._error(401, exc)
                return self._send(200, response.to_dict())

        return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the demo's OpenID Connect provider.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--redirect-uri", action="append", required=True)
    args = parser.parse_args(argv)
    provider = DemoOidcProvider(args.redirect_uri, host=args.host, port=args.port)
    print(f"Demo OpenID Connect provider on {provider.issuer}", flush=True)
    try:
        provider.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        provider.server.server_close()


if __name__ == "__main__":
    main()

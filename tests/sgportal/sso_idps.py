"""Real identity providers for the SSO tests, on loopback inside the test run.

- ``OidcProvider``: an OpenID Connect provider built on pyop (IdentityPython's OP library),
  served by a threaded HTTP server on 127.0.0.1: discovery, JWKS, authorization, token and
  userinfo endpoints. allauth talks to it over real HTTP. Which person "signs in" at the
  provider is chosen by the test (``sign_in_as``): the provider's own login screen is not
  what is under test. Misbehaviour for the refusal tests: ``issue_for_audience`` signs the
  id_token for another client, ``issue_as`` with another issuer.
- ``SamlIdp``: pysaml2's IdP (``saml2.server.Server``) with a fresh key and certificate;
  it parses the AuthnRequest sgportal redirects to it and answers with a response and an
  assertion it signs (xmlsec1), posted to sgportal's ACS like a browser would.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devtools.oidc_provider import client_registration, provider_configuration

CALLBACK = "http://testserver/accounts/oidc/sso/login/callback/"


class OidcProvider:
    """pyop's Provider behind a loopback HTTP server."""

    def __init__(
        self,
        directory: Path,
        *,
        client_id: str = "sgportal",
        secret: str = "s3cret-client",
        callback: str = CALLBACK,
    ):
        from Cryptodome.PublicKey import RSA
        from jwkest.jwk import RSAKey
        from pyop.authz_state import AuthorizationState
        from pyop.provider import Provider
        from pyop.subject_identifier import HashBasedSubjectIdentifierFactory
        from pyop.userinfo import Userinfo

        self.client_id, self.secret = client_id, secret
        self.users: dict[str, dict] = {}
        self.signed_in: str | None = None
        self.audience: str | None = None
        self.issuer_override: str | None = None
        # HTTPS (OpenID Connect requires it of an issuer), with a certificate of its own that
        # the test trusts through REQUESTS_CA_BUNDLE (``ca_bundle``).
        key, self.ca_bundle = make_key_and_cert(directory, "oidc-provider")
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_bundle, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.issuer = f"https://127.0.0.1:{self.server.server_address[1]}"
        config = provider_configuration(self.issuer)
        client = client_registration(secret, [callback])
        clients = {client_id: client, "other-app": dict(client, client_secret="other")}
        provider_self = self

        class TestProvider(Provider):
            def _create_signed_id_token(self, client_id, sub, *args, **kwargs):
                audience = provider_self.audience or client_id
                issuer = self.configuration_information["issuer"]
                if provider_self.issuer_override:
                    self.configuration_information["issuer"] = provider_self.issuer_override
                try:
                    return super()._create_signed_id_token(audience, sub, *args, **kwargs)
                finally:
                    self.configuration_information["issuer"] = issuer

        self.provider = TestProvider(
            RSAKey(key=RSA.generate(2048), alg="RS256", kid="sso-test"),
            config,
            AuthorizationState(HashBasedSubjectIdentifierFactory("salt")),
            clients,
            Userinfo(self.users),
            extra_scopes={"groups": ["groups"]},
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # --- what the test controls ---------------------------------------------------------
    def add_user(self, user_id: str, **claims) -> None:
        self.users[user_id] = {"sub": f"sub-{user_id}", **claims}

    def sign_in_as(self, user_id: str) -> None:
        self.signed_in = user_id

    def app_settings(self) -> dict:
        from sgportal.sso_config import oidc_app

        app = oidc_app(
            issuer=self.issuer,
            client_id=self.client_id,
            secret=self.secret,
            name="Acme Okta",
            scopes=["openid", "profile", "email", "groups"],
        )
        return {"openid_connect": {"APPS": [app]}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- HTTP ---------------------------------------------------------------------------
    def _handler(self):
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body, headers=None):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                parts = urlsplit(self.path)
                provider = idp.provider
                if parts.path == "/.well-known/openid-configuration":
                    return self._send(200, provider.provider_configuration.to_dict())
                if parts.path == "/jwks":
                    return self._send(200, provider.jwks)
                if parts.path == "/authorize":
                    request = provider.parse_authentication_request(parts.query)
                    response = provider.authorize(request, idp.signed_in)
                    location = response.request(request["redirect_uri"], False)
                    return self._send(302, b"", {"Location": location})
                if parts.path == "/userinfo":
                    return self._userinfo("")
                return self._send(404, {"error": "not_found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                path = urlsplit(self.path).path
                if path == "/token":
                    try:
                        response = idp.provider.handle_token_request(body, dict(self.headers))
                    except Exception as exc:  # pyop's refusals: invalid_grant, client auth
                        return self._send(400, {"error": "invalid_grant", "detail": str(exc)})
                    return self._send(200, response.to_dict())
                if path == "/userinfo":
                    return self._userinfo(body)
                return self._send(404, {"error": "not_found"})

            def _userinfo(self, body: str):
                try:
                    response = idp.provider.handle_userinfo_request(body, dict(self.headers))
                except Exception as exc:
                    return self._send(401, {"error": "invalid_token", "detail": str(exc)})
                return self._send(200, response.to_dict())

        return Handler


def oidc_sign_in(client, idp: OidcProvider, *, next_url: str = "/"):
    """A browser's round trip: sgportal -> the provider's authorize endpoint -> sgportal's
    callback (which exchanges the code at the provider). Returns the callback's response
    and the callback URL (for replay tests)."""
    import requests

    start = client.post("/accounts/oidc/sso/login/", {"next": next_url})
    assert start.status_code == 302, start
    authorize = start["Location"]
    assert authorize.startswith(f"{idp.issuer}/authorize?")
    at_idp = requests.get(authorize, allow_redirects=False, timeout=10, verify=str(idp.ca_bundle))
    assert at_idp.status_code == 302, at_idp.text
    callback = at_idp.headers["Location"]
    assert callback.startswith(CALLBACK), callback
    path = callback.removeprefix("http://testserver")
    return client.get(path), path


# --- SAML ---------------------------------------------------------------------------------


def make_key_and_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A fresh RSA key and a self-signed certificate (PEM files) for an IdP; valid for
    127.0.0.1 too, so it can serve TLS on loopback."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class SamlIdp:
    """pysaml2's SAML 2.0 identity provider, answering sgportal's AuthnRequests."""

    def __init__(self, directory: Path, *, entity_id: str = "https://idp.acme.test/saml"):
        self.directory = directory
        self.entity_id = entity_id
        self.sso_url = f"{entity_id}/sso"
        self.key, self.cert = make_key_and_cert(directory, entity_id.split("/")[2])
        self.users: dict[str, dict] = {}
        self.server = None

    def add_user(self, user_id: str, **attributes) -> None:
        self.users[user_id] = {k: v if isinstance(v, list) else [v] for k, v in attributes.items()}

    def _config(self, sp_metadata: list[str] | None):
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.config import IdPConfig
        from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT

        conf = {
            "entityid": self.entity_id,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_BASIC,
                        }
                    },
                }
            },
            "key_file": str(self.key),
            "cert_file": str(self.cert),
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": sp_metadata} if sp_metadata else {},
            "allow_unknown_attributes": True,
        }
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata_xml(self) -> str:
        from saml2.metadata import create_metadata_string

        return create_metadata_string(None, config=self._config(None), valid=24).decode()

    def metadata_file(self) -> Path:
        path = self.directory / f"{self.entity_id.split('/')[2]}-metadata.xml"
        path.write_text(self.metadata_xml())
        return path

    def trust_sp(self, sp_metadata: str, *, also_as: str | None = None) -> None:
        """Know sgportal as a service provider (its metadata); ``also_as``: and a second SP
        with that entityID (same endpoints), to issue assertions for another audience."""
        from saml2.server import Server

        documents = [sp_metadata]
        if also_as:
            entity = re.search(r'entityID="([^"]+)"', sp_metadata).group(1)
            documents.append(sp_metadata.replace(entity, also_as))
        self.server = Server(config=self._config(documents))

    def respond(self, saml_request: str, user_id: str, *, audience: str | None = None) -> str:
        """The base64 SAMLResponse (response and assertion signed) for an AuthnRequest."""
        from saml2 import BINDING_HTTP_REDIRECT
        from saml2.saml import AUTHN_PASSWORD, NAMEID_FORMAT_PERSISTENT, NameID
        from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

        request = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message)
        if audience:
            args["sp_entity_id"] = audience
        response = self.server.create_authn_response(
            self.users[user_id],
            userid=user_id,
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=f"saml-{user_id}"),
            authn={"class_ref": AUTHN_PASSWORD},
            sign_response=True,
            sign_assertion=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
            **args,
        )
        return base64.b64encode(str(response).encode()).decode()


# python3-saml refuses single-label hosts (``testserver``) in the SP's URLs.
SAML_HOST = "portal.acme.test"


def browser():
    """A test browser on sgportal's SAML-friendly host name (add it to ALLOWED_HOSTS)."""
    from django.test import Client

    return Client(HTTP_HOST=SAML_HOST)


def saml_app_settings(idp: SamlIdp, *, emails_verified: bool = False) -> dict:
    from sgportal.sso_config import saml_app

    app = saml_app(
        site_url=f"http://{SAML_HOST}",
        entity_id=idp.entity_id,
        metadata_file=str(idp.metadata_file()),
        name="Acme SAML",
        emails_verified=emails_verified,
    )
    return {"saml": {"APPS": [app]}}


def saml_start(client) -> tuple[str, str]:
    """sgportal's redirect to the IdP: (SAMLRequest, RelayState)."""
    start = client.post("/accounts/saml/sso/login/", {"next": "/"})
    assert start.status_code == 302, start
    query = parse_qs(urlsplit(start["Location"]).query)
    return query["SAMLRequest"][0], query.get("RelayState", [""])[0]


def saml_post(client, saml_response: str, relay_state: str):
    """The browser's auto-submitted form to sgportal's ACS, then the redirect it gets."""
    acs = client.post(
        "/accounts/saml/sso/acs/", {"SAMLResponse": saml_response, "RelayState": relay_state}
    )
    assert acs.status_code == 302, acs
    return client.get(acs["Location"])


__all__ = [
    "OidcProvider",
    "SamlIdp",
    "oidc_sign_in",
    "browser",
    "saml_app_settings",
    "saml_post",
    "saml_start",
]

"""Single sign-on configuration from the environment: allauth's ``SOCIALACCOUNT_PROVIDERS``.

One OpenID Connect provider (``SSO_OIDC_*``) and one SAML 2.0 identity provider
(``SSO_SAML_*``), configured in settings (allauth ``APPS``), never as database rows. Read by
``sgportal.settings`` at start-up; tests build the same dict for providers they start.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# URL slugs: /accounts/oidc/sso/login/ and /accounts/saml/sso/login/.
OIDC_PROVIDER_ID = "sso"
SAML_ORGANIZATION = "sso"
SAML_PROVIDER_ID = "saml"
# Where the SAML assertion names the person's groups (first one present wins).
SAML_GROUP_ATTRIBUTES = (
    "groups",
    "http://schemas.xmlsoap.org/claims/Group",
    "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
    "memberOf",
)
SAML_ATTRIBUTE_MAPPING = {
    "uid": [
        "urn:oasis:names:tc:SAML:attribute:subject-id",
        "urn:oid:0.9.2342.19200300.100.1.1",
        "urn:mace:dir:attribute-def:uid",
        "uid",
    ],
    "email": [
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:mace:dir:attribute-def:mail",
        "urn:mace:dir:attribute-def:email",
        "email",
        "mail",
    ],
    "email_verified": ["email_verified", "http://schemas.auth0.com/email_verified"],
    "first_name": [
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
        "urn:oid:2.5.4.42",
        "urn:mace:dir:attribute-def:givenName",
        "givenName",
    ],
    "last_name": ["urn:oid:2.5.4.4", "urn:mace:dir:attribute-def:sn", "sn", "surname"],
    "username": ["preferred_username", "http://schemas.auth0.com/nickname"],
}


def oidc_app(
    *, issuer: str, client_id: str, secret: str, name: str, scopes: list[str] | None = None
) -> dict:
    """allauth's APPS entry for the OpenID Connect provider. The discovered configuration's
    ``issuer`` is pinned to ``issuer``: an id_token from any other issuer is refused."""
    return {
        "provider_id": OIDC_PROVIDER_ID,
        "name": name,
        "client_id": client_id,
        "secret": secret,
        "settings": {
            "server_url": issuer.rstrip("/"),
            "openid_configuration_overrides": {"issuer": issuer},
            "oauth_pkce_enabled": True,
            "fetch_userinfo": True,
            "scope": scopes or ["openid", "profile", "email"],
        },
    }


def saml_idp_from_metadata_xml(xml: str, entity_id: str | None) -> dict:
    """The inline ``idp`` block allauth takes, read from the IdP's metadata document."""
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml, entity_id=entity_id)
    except Exception as exc:  # lxml / parser errors: say which file is wrong
        raise ImproperlyConfigured(f"SAML IdP metadata cannot be read: {exc}") from exc
    idp = parsed.get("idp") or {}
    cert = idp.get("x509cert") or (idp.get("x509certMulti", {}).get("signing") or [None])[0]
    sso = (idp.get("singleSignOnService") or {}).get("url")
    if not (idp.get("entityId") and cert and sso):
        raise ImproperlyConfigured(
            "SAML IdP metadata has no entity (matching SSO_SAML_ENTITY_ID) with a signing "
            "certificate and a single sign-on URL."
        )
    block = {"entity_id": idp["entityId"], "x509cert": cert, "sso_url": sso}
    slo = (idp.get("singleLogoutService") or {}).get("url")
    if slo:
        block["slo_url"] = slo
    return block


def saml_app(
    *,
    site_url: str,
    entity_id: str | None,
    metadata_url: str | None = None,
    metadata_file: str | None = None,
    name: str = "SAML",
    emails_verified: bool = False,
) -> dict:
    """allauth's APPS entry for the SAML identity provider (``entity_id``: the IdP's entityID
    in its metadata). Assertions must be signed; IdP-initiated sign-in is refused."""
    if metadata_url:
        if not entity_id:
            raise ImproperlyConfigured(
                "SSO_SAML_IDP_METADATA_URL needs SSO_SAML_ENTITY_ID (the IdP's entityID)."
            )
        idp = {"entity_id": entity_id, "metadata_url": metadata_url}
    elif metadata_file:
        try:
            xml = Path(metadata_file).read_text()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"SSO_SAML_IDP_METADATA_FILE={metadata_file!r} cannot be read: {exc}"
            ) from exc
        idp = saml_idp_from_metadata_xml(xml, entity_id)
    else:
        raise ImproperlyConfigured("SAML needs SSO_SAML_IDP_METADATA_URL or _FILE.")
    site_url = site_url.rstrip("/")
    return {
        "provider_id": SAML_PROVIDER_ID,
        "name": name,
        "client_id": SAML_ORGANIZATION,
        "settings": {
            "idp": idp,
            "sp": {"entity_id": f"{site_url}/accounts/saml/{SAML_ORGANIZATION}/metadata/"},
            "attribute_mapping": SAML_ATTRIBUTE_MAPPING,
            # sgportal.sso reads it: an assertion's email counts as verified only when the
            # IdP says so (email_verified attribute) or the operator vouches for the IdP.
            "emails_verified": emails_verified,
            "advanced": {
                "strict": True,
                "want_assertion_signed": True,
                "reject_idp_initiated_sso": True,
                "reject_deprecated_algorithm": True,
            },
        },
    }

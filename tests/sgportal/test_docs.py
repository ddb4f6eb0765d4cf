"""The production docs in docs/ name URLs, settings and metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path

from django.urls import resolve

from sgportal.sso_config import SAML_GROUP_ATTRIBUTES, saml_app

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_the_sso_doc_gives_the_urls_sgportal_serves():
    doc = (DOCS / "sso.md").read_text()
    paths = set(re.findall(r"<SITE_URL>(/[\w/.-]*)", doc))
    assert paths == {
        "/accounts/oidc/sso/login/callback/",
        "/accounts/saml/sso/acs/",
        "/accounts/saml/sso/metadata/",
        "/accounts/login/",
    }
    names = {path: resolve(path).url_name for path in paths}
    assert names["/accounts/oidc/sso/login/callback/"] == "openid_connect_callback"
    assert names["/accounts/saml/sso/acs/"] == "saml_acs"
    assert names["/accounts/saml/sso/metadata/"] == "saml_metadata"
    # The SP entityID the doc tells the IdP is the one sgportal's SAML settings use.
    app = saml_app(site_url="https://h", entity_id="e", metadata_url="https://idp/metadata")
    assert app["settings"]["sp"]["entity_id"] == "https://h/accounts/saml/sso/metadata/"


def test_the_sso_doc_names_every_sso_setting_and_group_attribute():
    doc = (DOCS / "sso.md").read_text()
    settings_source = (ROOT / "sgportal" / "settings.py").read_text()
    for name in set(re.findall(r'env_\w+\("(SSO_\w+)"', settings_source)):
        assert f"`{name}" in doc, name
    assert "SGPORTAL_PASSWORD_LOGIN" in doc
    for attribute in SAML_GROUP_ATTRIBUTES:
        assert f"`{attribute}`" in doc, attribute

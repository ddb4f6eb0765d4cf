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


def registered_metrics() -> set[str]:
    from sgportal.metrics import render

    text = render().decode()
    return set(re.findall(r"^# HELP (\w+) ", text, flags=re.M))


def monitoring_section() -> str:
    doc = (DOCS / "deploy.md").read_text()
    start = doc.index("## 8. Monitoring and alerts")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else None]


def test_the_deploy_doc_documents_exactly_the_registered_metrics(db):
    registered = registered_metrics()
    assert len(registered) >= 10
    documented = set(re.findall(r"\bsgportal_[a-z_]+\b", monitoring_section()))
    assert documented - registered == set(), "documented but not in /metrics"
    assert registered - documented == set(), "in /metrics but not in docs/deploy.md"
    table = set(re.findall(r"^\| `(sgportal_\w+)` \|", monitoring_section(), flags=re.M))
    assert table == registered  # each with its own row (labels, when to alert)


def test_the_deploy_doc_alert_rules_parse_and_use_real_metrics(db):
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", monitoring_section(), flags=re.DOTALL)
    rules = next(yaml.safe_load(b) for b in blocks if "groups:" in b)
    registered = registered_metrics() | {"up"}
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert exprs
    for expr in exprs:
        names = set(re.findall(r"\b(sgportal_\w+|up)\b(?=[{\[ ]|$)", expr))
        assert names and names <= registered, expr


def test_the_deploy_doc_lists_every_secret_file_of_the_compose_stack():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    doc = (DOCS / "deploy.md").read_text()
    for secret in compose["secrets"]:
        assert f"| `{secret}` |" in doc, secret
        assert re.search(rf"> {secret}\b", doc), f"no command creates {secret}"
    variables = {
        variable
        for service in compose["services"].values()
        for variable in service.get("environment", {})
        if variable.endswith("_FILE")
    }
    for variable in variables:
        assert f"`{variable}`" in doc, variable

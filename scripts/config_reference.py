#!/usr/bin/env python
"""Write docs/configuration.md from the settings code, so the reference cannot drift.

    python scripts/config_reference.py            # rewrite docs/configuration.md
    python scripts/config_reference.py --check    # exit 1 when the file is out of date
    python scripts/config_reference.py --stdout   # print instead of writing

Reads ``sgportal/settings.py`` with ``ast`` (nothing is imported or executed): every call of
the ``sgportal.env`` readers (``env_str``, ``env_int``, ``env_bool``, ``env_list``) gives a
variable, its type, its default (the literal, or the expression that computes it), its
minimum, the setting it feeds, and the comment lines just above the statement as its
meaning (else a note kept here, else the comment heading its block of statements); the
``# --- Section ---`` comments group them. The variables gunicorn.conf.py reads
are listed too.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "sgportal" / "settings.py"
GUNICORN = ROOT / "gunicorn.conf.py"
OUTPUT = ROOT / "docs" / "configuration.md"
READERS = {"env_str": "string", "env_int": "integer", "env_bool": "boolean", "env_list": "list"}
SECTION = re.compile(r"^#\s*---\s*(.*?)\s*-*\s*$")
SUBSECTION = re.compile(r"^#\s*[a-z]+$")  # "# ingestion", "# remediation": a sub-heading

# Meanings of variables whose statement in settings.py has no comment above it. A comment
# written there wins, and the test then asks for the note here to be removed.
NOTES = {
    "ALLOWED_HOSTS": "Host names this deployment answers to (Django).",
    "CSRF_TRUSTED_ORIGINS": "Origins (`https://host`) trusted for unsafe requests (Django).",
    "DEBUG": "Development mode. Off in production: then `SECRET_KEY` and `AUDIT_HMAC_KEY` "
    "are required and TLS hardening is on.",
    "SECRET_KEY": "Django's signing key (sessions, links); required when `DEBUG` is off.",
    "SITE_URL": "Absolute base URL for links (Slack messages, SSO redirect and ACS URLs).",
    "DATABASE_URL": "The database: `postgres://user:password@host:5432/name` in production.",
    "SSO_OIDC_ISSUER": "The OpenID Connect provider's issuer URL, exactly as its discovery "
    "document says; setting it enables OIDC sign-in (docs/sso.md).",
    "SSO_OIDC_CLIENT_ID": "The client registered at the OIDC provider.",
    "SSO_OIDC_CLIENT_SECRET": "That client's secret (give it as `SSO_OIDC_CLIENT_SECRET_FILE`).",
    "SSO_OIDC_NAME": "The OIDC button's name on the sign-in page.",
    "SSO_OIDC_SCOPES": "Scopes requested; add `groups` where the provider needs it (Okta).",
    "SSO_SAML_IDP_METADATA_URL": "The SAML IdP's metadata URL (fetched, cached 4 h); needs "
    "`SSO_SAML_ENTITY_ID`. Setting it (or the file) enables SAML sign-in.",
    "SSO_SAML_IDP_METADATA_FILE": "The SAML IdP's metadata as a file, read at start-up.",
    "SSO_SAML_ENTITY_ID": "The IdP's entityID in that metadata.",
    "SSO_SAML_NAME": "The SAML button's name on the sign-in page.",
    "SSO_SAML_EMAILS_VERIFIED": "Trust every email address the SAML IdP sends as verified "
    "(only for a directory whose users cannot set their own address).",
    "SECURE_SSL_REDIRECT": "Redirect plain HTTP to HTTPS (`/healthz`, `/metrics` exempt).",
    "SECURE_HSTS_SECONDS": "Strict-Transport-Security max-age.",
    "EMAIL_HOST": "SMTP server.",
    "EMAIL_PORT": "SMTP port.",
    "EMAIL_HOST_USER": "SMTP login.",
    "EMAIL_HOST_PASSWORD": "SMTP password (give it as `EMAIL_HOST_PASSWORD_FILE`).",
    "EMAIL_USE_TLS": "STARTTLS to the SMTP server.",
    "DEFAULT_FROM_EMAIL": "Sender of verification and password-reset mails.",
    "CELERY_BROKER_URL": "The Celery broker (Redis).",
    "CELERY_TASK_ALWAYS_EAGER": "Run tasks in the calling process (tests only).",
    "CACHE_URL": "Shared cache (Redis): login-failure counters, rate limits, EventBridge "
    "rejection counts; defaults to the broker's Redis server, database 1.",
    "SGPORTAL_LOGIN_FAILURE_LIMIT": "Failed passwords per (account, client IP) before that "
    "pair is locked out.",
    "SGPORTAL_LOGIN_COOLOFF_S": "How long such a lockout lasts.",
    "SGPORTAL_POLL_INTERVAL_S": "Beat polls CloudTrail Lake this often, per tenant.",
    "SGPORTAL_POLL_OVERLAP_S": "Each Lake poll reads this far back before the watermark "
    "(late events).",
    "SLACK_API_URL": "Base URL of Slack's Web API (a stand-in in tests and the demo).",
    "SLACK_SIGNING_SECRET": "The Slack app's signing secret, verifying every interaction "
    "(docs/slack.md); unset: `/slack/interactions/` answers 503.",
    "AUDIT_CHECKPOINT_S3_URI": "`s3://bucket/prefix/` where signed audit checkpoints are "
    "also written and read back by `verify_audit` (Object Lock bucket advised).",
    "SGPORTAL_AUDIT_CHECKPOINT_INTERVAL_S": "Beat writes a signed checkpoint of every audit "
    "chain head this often.",
    "SGPORTAL_WEBHOOK_SWEEP_INTERVAL_S": "Beat retries due webhook deliveries this often.",
    "SGPORTAL_WEBHOOKS_ALLOW_PRIVATE": "Allow webhook URLs on private or loopback addresses "
    "and plain http (development and tests only).",
    "LOG_LEVEL": "Root log level.",
    "SGPORTAL_NOTIFY_STALE_AFTER_S": "How overdue a queued Slack post must be before the "
    "sweep sends it again.",
    "SGPORTAL_POLICY_SWEEP_INTERVAL_S": "Beat applies deadline outcomes, expires exceptions "
    "and posts digests this often.",
    "SGPORTAL_REVERT_STALE_AFTER_S": "A revert attempt still running after this long is "
    "resumed by the sweep.",
    "SGPORTAL_REVERT_UNCLAIMED_AFTER_S": "A denial no worker picked up after this long is "
    "enqueued again by the sweep.",
}


@dataclass
class Variable:
    name: str
    kind: str
    default: str
    minimum: str
    setting: str
    meaning: str
    section: str
    commented: bool  # the meaning is the comment above the statement (not a NOTES entry)
    direct: bool  # the call is the statement's own value (not nested in another reader)


def _default_text(reader: str, node: ast.AST | None, constants: dict | None = None) -> str:
    if isinstance(node, ast.Name) and constants and node.id in constants:
        node = constants[node.id]
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return "unset"
    if isinstance(node, ast.Constant):
        if reader == "env_bool":
            return "on" if node.value else "off"
        if node.value == "":
            return "empty"
        return f"`{node.value}`"
    if isinstance(node, ast.List | ast.Tuple) and all(
        isinstance(e, ast.Constant) for e in node.elts
    ):
        if not node.elts:
            return "empty"
        return "`" + ",".join(str(e.value) for e in node.elts) + "`"
    return f"`{ast.unparse(node)}`"


def _comment_above(lines: list[str], first_line: int) -> str:
    """The ``#`` lines right above line ``first_line`` (1-based), section headers left out."""
    found: list[str] = []
    index = first_line - 2
    while index >= 0 and lines[index].lstrip().startswith("#"):
        text = lines[index].strip()
        if SECTION.match(text) or SUBSECTION.match(text):
            break
        found.append(text.lstrip("#").strip())
        index -= 1
    return " ".join(reversed(found))


def _block_comment(lines: list[str], first_line: int) -> str:
    """The comment heading the block of statements (no blank line between) that holds line
    ``first_line``: one comment often describes several variables read one after another."""
    index = first_line - 2
    while index >= 0 and lines[index].strip() and not lines[index].lstrip().startswith("#"):
        index -= 1
    if index < 0 or not lines[index].lstrip().startswith("#"):
        return ""
    return _comment_above(lines, index + 2)


def _sections(lines: list[str]) -> list[tuple[int, str]]:
    sections = []
    for number, line in enumerate(lines, start=1):
        match = SECTION.match(line.strip())
        if match and match.group(1) and not match.group(1).lower().startswith("end"):
            title = re.split(r" \(|:", match.group(1))[0].strip()
            sections.append((number, title[:1].upper() + title[1:]))
    return sections


def _target(statement: ast.stmt) -> str:
    targets = getattr(statement, "targets", None) or [getattr(statement, "target", None)]
    names = [ast.unparse(t) for t in targets if t is not None]
    return names[0] if names else ""


def read_settings(path: Path = SETTINGS) -> list[Variable]:
    source = path.read_text()
    lines = source.splitlines()
    module = ast.parse(source, filename=str(path))
    parents = {
        child: parent for parent in ast.walk(module) for child in ast.iter_child_nodes(parent)
    }
    sections = _sections(lines)
    constants = {
        stmt.targets[0].id: stmt.value
        for stmt in module.body
        if isinstance(stmt, ast.Assign)
        and isinstance(stmt.targets[0], ast.Name)
        and isinstance(stmt.value, ast.Constant)
    }
    found: dict[str, Variable] = {}
    for node in ast.walk(module):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in READERS
        ):
            continue
        if not (node.args and isinstance(node.args[0], ast.Constant)):
            raise ValueError(f"line {node.lineno}: the variable name must be a literal")
        name = node.args[0].value
        statement, parent = node, parents.get(node)
        nested = False
        while not isinstance(statement, ast.stmt):
            if (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id in READERS
            ):
                nested = True
            statement, parent = parent, parents.get(parent)
        default = node.args[1] if len(node.args) > 1 else None
        for keyword in node.keywords:
            if keyword.arg == "default":
                default = keyword.value
        holder = parents.get(node)
        # env_str("X") or <fallback>: an unset or empty value takes the fallback.
        if (
            isinstance(holder, ast.BoolOp)
            and isinstance(holder.op, ast.Or)
            and holder.values[0] is node
        ):
            rest = holder.values[1:]
            default = rest[0] if len(rest) == 1 else ast.BoolOp(op=ast.Or(), values=rest)
        minimum = next((ast.unparse(k.value) for k in node.keywords if k.arg == "minimum"), "")
        section = next((title for line, title in reversed(sections) if line < statement.lineno), "")
        variable = Variable(
            name=name,
            kind=READERS[node.func.id],
            default=_default_text(node.func.id, default, constants),
            minimum=minimum,
            setting=_target(statement),
            meaning=_comment_above(lines, statement.lineno)
            or NOTES.get(name, "")
            or _block_comment(lines, statement.lineno),
            commented=bool(_comment_above(lines, statement.lineno)),
            section=section,
            direct=not nested,
        )
        known = found.get(name)
        if known is None or (variable.direct and not known.direct):
            found[name] = variable
    order = {title: index for index, (_line, title) in enumerate(sections)}
    return sorted(found.values(), key=lambda v: (order.get(v.section, -1), v.name))


def read_gunicorn(path: Path = GUNICORN) -> list[tuple[str, str]]:
    """(variable, default) for each ``os.environ.get("NAME", default)`` in gunicorn.conf.py."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "os.environ.get"
            and isinstance(node.args[0], ast.Constant)
        ):
            default = node.args[1] if len(node.args) > 1 else None
            found.append((node.args[0].value, _default_text("env_str", default)))
    return sorted(found)


def _cell(text: str) -> str:
    """Text for a table cell: pipes escaped, and < > escaped outside `code` spans (markdown
    would take <METRICS_TOKEN> for an HTML tag)."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts) or "—"


def render() -> str:
    variables = read_settings()
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by scripts/config_reference.py from sgportal/settings.py and",
        "     gunicorn.conf.py. Do not edit: change the settings and their comments, then run",
        "     `.venv/bin/python scripts/config_reference.py`. -->",
        "",
        "Every setting comes from the environment, read in `sgportal/settings.py` through the",
        "strict readers of `sgportal/env.py`. Each variable may instead be given as",
        "`<NAME>_FILE`, the path of a file holding the value (surrounding whitespace is",
        "stripped; setting both is an error) — use that for secrets (see",
        "[deploy.md](deploy.md)). A value that cannot be used stops start-up with a message",
        "naming the variable. Booleans are `1`/`0`, `true`/`false`, `yes`/`no` or `on`/`off`",
        "(empty is off); lists are comma-separated. A default written as code is computed by",
        "the settings (e.g. from `DEBUG`).",
        "",
        f"{len(variables)} variables are read by the settings.",
    ]
    section = None
    for variable in variables:
        if variable.section != section:
            section = variable.section
            out += [
                "",
                f"## {section or 'General'}",
                "",
                "| variable | type | default | minimum | setting | meaning |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
        public = variable.setting and not variable.setting.startswith("_")
        setting = f"`{variable.setting}`" if public else ""
        out.append(
            f"| `{variable.name}` | {variable.kind} | {_cell(variable.default)} | "
            f"{_cell(variable.minimum)} | {_cell(setting)} | {_cell(variable.meaning)} |"
        )
    out += [
        "",
        "## Read elsewhere",
        "",
        "| variable | default | read by |",
        "| --- | --- | --- |",
    ]
    for name, default in read_gunicorn():
        out.append(f"| `{name}` | {_cell(default)} | `gunicorn.conf.py` (web server) |")
    out += [
        "| `AWS_ENDPOINT_URL`, `AWS_*` | AWS | boto3 itself (credentials, region; an emulator "
        "in tests and the demo) |",
        "| `DEMO_PORT` | `8000` | `scripts/demo.py` (`make demo` only) |",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    group.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
        return 0
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(
                f"{OUTPUT.relative_to(ROOT)} is out of date: run "
                ".venv/bin/python scripts/config_reference.py",
                file=sys.stderr,
            )
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

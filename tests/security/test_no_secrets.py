"""No secret in git: every tracked (or about-to-be-tracked) file is scanned for credentials.

Secrets belong in the environment (``${VAR:?...}`` in compose, ``env_var()`` in
dbt, ``tasks.settings`` in Python). A secret committed once stays in history
forever, so this runs on every test run, not at release time. The detector is
tested on planted strings too: a scan that finds nothing proves nothing unless
the same scan is shown to find a real-looking secret.

Planted samples below are assembled from pieces (``"AKIA" "..."``, ``{PW}``)
so this file's own text never matches the rules it tests.
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAX_BYTES = 2_000_000

# (path, matched value) -> why it is not a secret. Keep it small; every entry must still match.
ALLOWED: dict[tuple[str, str], str] = {
    ("tests/e2e/test_pipeline.py", "test-only-dummy-key"):
        "PII hash key of the end-to-end test's throwaway warehouse; hashes no real data",
    ("tests/conftest.py", "test-only-dummy-key"):
        "PII hash key of the test session's throwaway warehouse; hashes test data only",
    ("tests/scenarios/test_scenario_dags.py", "test-only-dummy-key"):
        "PII hash key of each scenario's throwaway warehouse; hashes generated data only",
    ("benchmarks/local_stack.py", "benchmark-only-dummy-key"):
        "PII hash key of each benchmark run's throwaway warehouse (a temp dir); hashes generated data only",
    ("tests/test_docker_compose.py", "test-only-dummy-bi-password"):
        "bi_reader password on the local test server, which uses trust auth and ignores it",
    ("tests/security/test_bi_reader.py", "test-only-dummy-bi-password"):
        "bi_reader password on the local test server, which uses trust auth and ignores it",
    ("tests/monitoring/test_operator_records_runs.py", "test-only-dummy-key"):
        "PII hash key of the operator test's throwaway warehouse; hashes no real data",
    ("tests/reporting/test_report_task.py", "test-only-dummy-key"):
        "PII hash key of the report task test's throwaway warehouse; hashes no real data",
    ("tests/e2e/test_scheduler.py", "test-only-dummy-bi-password"):
        "BI role password of the scheduler test's throwaway role; the local server trusts 127.0.0.1",
}

SECRET_NAME = (r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|"
               r"secret_?key|fernet_?key|pii_?key)")
TOKEN_RULES: dict[str, re.Pattern[str]] = {
    "private key block": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"),
    "GCP API key": re.compile(r"AIza[0-9A-Za-z_-]{35}"),
    "GCP OAuth client secret": re.compile(r"GOCSPX-[0-9A-Za-z_-]{28}"),
    "GCP service account key": re.compile(r"\"type\"\s*:\s*\"service_account\""),
    "Slack token": re.compile(r"xox[abposr]-[0-9A-Za-z-]{10,}"),
    "Slack webhook": re.compile(r"https://hooks\.slack\.com/services/T[0-9A-Z]+/B[0-9A-Z]+/[0-9A-Za-z]+"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"),
    # 32 random bytes, url-safe base64: the last character before '=' carries 2 zero bits.
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_=-])[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]=(?![A-Za-z0-9_=-])"),
}
URL_PASSWORD = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]+:([^\s@/'\"]+)@")
# `name: value` (YAML) needs a space after the colon, `"name":` (JSON) a quote before it, so a
# psql variable (`PASSWORD :'var'`) or a slice is not read as an assignment.
ASSIGNMENT = re.compile(rf"(?i)\b({SECRET_NAME})([\"']?)\s*(?:=|:(?=\s|$)|(?<=[\"']):)\s*(.*)$")
SQL_PASSWORD = re.compile(r"(?i)\bPASSWORD\s+'([^']+)'")
SECRET_FILE = re.compile(r"(^|/)(\.env|id_rsa|id_ed25519|id_ecdsa|credentials\.json|service[-_]account[^/]*\.json"
                         r"|[^/]+\.(pem|key|p12|pfx|jks|keystore))$")

ENV_REF = re.compile(r"^\$\{(?P<var>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?=+])(?P<arg>[^}]*))?\}$")
SHELL_VAR = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$")
DBT_ENV_VAR = re.compile(r"^\{\{\s*env_var\(\s*['\"][A-Za-z_][A-Za-z0-9_]*['\"]\s*(?:,\s*(['\"])(.*?)\1\s*)?\)\s*\}\}$")
PLACEHOLDER = re.compile(r"^(?:\{[A-Za-z_][\w.]*\}|%\([A-Za-z_]\w*\)s|<[^<>]+>|\*+)$")
CODE_SUFFIXES = (".py", ".pyi")
ANNOTATED_DEFAULT = re.compile(r"^[\w\[\]|., ]+?=\s*(.*)$")


@dataclass(frozen=True)
class Hit:
    path: str
    line: int
    rule: str
    value: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 8 else f"{self.value[:4]}...{self.value[-2:]}"
        return f"{self.path}:{self.line}: {self.rule} ({shown!r})"


def is_reference(value: str) -> bool:
    """True when ``value`` names where the secret comes from instead of being one.

    ``${VAR}``, ``${VAR:?msg}``, ``$VAR``, dbt ``env_var('VAR')`` and format
    placeholders are references; a non-empty default (``${VAR:-hunter2}``,
    ``env_var('VAR', 'hunter2')``) is a literal secret in disguise.
    """
    value = value.strip()
    env = ENV_REF.match(value)
    if env:
        return env.group("op") in (None, "?", ":?") or not env.group("arg")
    dbt = DBT_ENV_VAR.match(value)
    if dbt:
        return not dbt.group(2)
    return bool(SHELL_VAR.match(value) or PLACEHOLDER.match(value))


def _quoted(value: str) -> str | None:
    """The content of a leading quoted string, or None when ``value`` does not start with one."""
    match = re.match(r"""^[rbuf]{0,2}(["'])(.*?)(?<!\\)\1""", value, re.IGNORECASE)
    return match.group(2) if match else None


def _assigned_literal(path: str, value: str) -> str | None:
    """The literal secret an assignment's right-hand side holds, or None for references/code."""
    value = value.strip().rstrip(",;)").strip()
    if path.endswith(CODE_SUFFIXES):
        annotated = ANNOTATED_DEFAULT.match(value)
        if annotated and _quoted(value) is None:  # an annotated parameter: check its default
            value = annotated.group(1).strip().rstrip(",;)").strip()
        text = _quoted(value)
        if text is None:
            return None  # a variable, call or attribute: where the value comes from, not the value
    else:
        text = _quoted(value)
        if text is None:
            text = re.split(r"\s+#", value, maxsplit=1)[0].strip()  # unquoted YAML/.env/shell value
    if not text.strip() or is_reference(text):
        return None
    return text


def find_secrets(path: str, text: str) -> list[Hit]:
    """Every credential-looking thing in ``text`` (the content of repository file ``path``)."""
    hits: list[Hit] = []
    if SECRET_FILE.search(path) and not path.endswith((".example", ".sample")):
        hits.append(Hit(path, 0, "secret-bearing file name", Path(path).name))
    for number, line in enumerate(text.splitlines(), start=1):
        for rule, pattern in TOKEN_RULES.items():
            for match in pattern.finditer(line):
                value = match.group(match.lastindex or 0)
                if rule == "Fernet key" and len(base64.urlsafe_b64decode(value)) != 32:
                    continue
                hits.append(Hit(path, number, rule, value))
        for match in URL_PASSWORD.finditer(line):
            if not is_reference(match.group(1)):
                hits.append(Hit(path, number, "password in a connection URL", match.group(1)))
        for match in SQL_PASSWORD.finditer(line):
            if not is_reference(match.group(1)):
                hits.append(Hit(path, number, "password literal in SQL", match.group(1)))
        assignment = ASSIGNMENT.search(line)
        if assignment:
            literal = _assigned_literal(path, assignment.group(3))
            if literal is not None:
                hits.append(Hit(path, number, f"literal assigned to {assignment.group(1)}", literal))
    return hits


def repository_files() -> list[str]:
    """Tracked files plus untracked ones git would add (one `git add .` from history)."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True).stdout.decode()
    return sorted({p for p in out.split("\0") if p})


def scan_files(root: Path, paths: list[str]) -> list[Hit]:
    hits: list[Hit] = []
    for rel in paths:
        file = root / rel
        if not file.is_file() or file.stat().st_size > MAX_BYTES:
            continue
        raw = file.read_bytes()
        if b"\0" in raw:
            continue  # binary
        hits += find_secrets(rel, raw.decode("utf-8", errors="replace"))
    return hits


def test_repository_has_no_secrets() -> None:
    paths = repository_files()
    assert len(paths) > 50 and "docker-compose.yml" in paths, "git ls-files did not list the repository"
    hits = [h for h in scan_files(REPO, paths) if (h.path, h.value) not in ALLOWED]
    assert not hits, ("secrets in the repository (move them to the environment, e.g. ${VAR:?set VAR} in "
                      "compose, or add a dummy to ALLOWED with a reason):\n" + "\n".join(map(str, hits)))


def test_every_allow_list_entry_is_still_needed() -> None:
    """A stale entry would silently allow that value again anywhere in its file."""
    found = {(h.path, h.value) for h in scan_files(REPO, sorted({p for p, _ in ALLOWED}))}
    assert set(ALLOWED) <= found, f"remove stale ALLOWED entries: {set(ALLOWED) - found}"


PW = "pass" + "word"
PLANTED = [
    ("deploy/key.txt", "-----BEGIN RSA " "PRIVATE KEY-----", "private key block"),
    ("deploy/id", "-----BEGIN OPENSSH " "PRIVATE KEY-----", "private key block"),
    ("cfg.py", "AWS_ID = 'AKIA" "IOSFODNN7EXAMPLE'", "AWS access key id"),
    ("cfg.ini", "aws_secret_access_key = " "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"),
    ("cfg.js", "key = 'AIza" + "Sy" + "A" * 33 + "'", "GCP API key"),
    ("sa.json", '{"type": "service_' 'account", "project_id": "x"}', "GCP service account key"),
    ("notify.py", "SLACK = 'xoxb-" "1234567890-abcdefghij'", "Slack token"),
    ("notify.py", "url = 'https://hooks.slack.com/" "services/T0001/B0002/abcdefXYZ'", "Slack webhook"),
    ("ci.yml", "token: ghp_" + "a1B2" * 9, "GitHub token"),
    ("airflow.cfg", "fernet_" "key = " + base64.urlsafe_b64encode(b"k" * 32).decode(), "Fernet key"),
    ("settings.py", f'DB = "postgresql://etl:{"hunter" "22"}@db:5432/wh"', "password in a connection URL"),
    ("compose.yml", f"  POSTGRES_{PW.upper()}: s3cr3t-value", f"literal assigned to POSTGRES_{PW.upper()}"),
    ("compose.yml", f"  POSTGRES_{PW.upper()}: ${{POSTGRES_{PW.upper()}:-hunter22}}",
     f"literal assigned to POSTGRES_{PW.upper()}"),
    ("profiles.yml", f"      {PW}: \"{{{{ env_var('PG', 'hunter22') }}}}\"", f"literal assigned to {PW}"),
    ("app.py", f'db_{PW} = "hunter22"', f"literal assigned to db_{PW}"),
    ("app.py", f'{PW}: str = "hunter22"', f"literal assigned to {PW}"),
    (".env", f"API_{'KEY'}=abc123def456", "secret-bearing file name"),
    ("init.sql", f"CREATE ROLE bi LOGIN {PW.upper()} 'hunter22';", "password literal in SQL"),
]


@pytest.mark.parametrize(("path", "line", "rule"), PLANTED, ids=[p[2] + ":" + p[0] for p in PLANTED])
def test_detector_finds_planted_secret(path: str, line: str, rule: str) -> None:
    assert rule in {h.rule for h in find_secrets(path, line)}


REFERENCES = [
    ("docker-compose.yml", f"  ECOMFLOW_PG_{PW.upper()}: ${{POSTGRES_{PW.upper()}:?set it in .env}}"),
    ("docker-compose.yml", "  X: postgresql+psycopg2://ecomflow:" + f"${{POSTGRES_{PW.upper()}}}@postgres:5432/db"),
    ("docker-compose.yml", "  AIRFLOW__CORE__FERNET_" "KEY: ${AIRFLOW_FERNET_" "KEY:-}"),
    ("profiles.yml", f"      {PW}: \"{{{{ env_var('ECOMFLOW_PG_{PW.upper()}', '') }}}}\""),
    ("settings.py", f'    {PW} = os.environ.get("ECOMFLOW_PG_{PW.upper()}", "")'),
    ("settings.py", f'        "ECOMFLOW_PG_{PW.upper()}": parsed.{PW} or "",'),
    ("access.py", f"def ensure(conn, *, {PW}: str | None = None) -> bool:"),
    ("init.sh", f'psql -v bi_{PW}="$ECOMFLOW_BI_READER_{PW.upper()}"'),
    ("init.sql", f"ALTER ROLE bi_reader LOGIN {PW.upper()} :'bi_{PW}';"),
    ("README.md", f"set ECOMFLOW_PG_{PW.upper()}=<your {PW}>"),
    ("env.example", f"POSTGRES_{PW.upper()}="),
    ("url.py", 'url = f"postgresql://{user}:' + f'{{{PW}}}@{{host}}/db"'),
]


@pytest.mark.parametrize(("path", "line"), REFERENCES)
def test_detector_accepts_references_to_the_environment(path: str, line: str) -> None:
    assert find_secrets(path, line) == []


def test_a_planted_file_fails_the_scan(tmp_path: Path) -> None:
    """The file-level scan (what the repository test runs) reports path and line."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "clean.yml").write_text(f"{PW}: ${{DB_{PW.upper()}:?set it}}\n")
    (tmp_path / "conf" / "leaky.yml").write_text(f"user: etl\n{PW}: hunter22\n")
    hits = scan_files(tmp_path, ["conf/clean.yml", "conf/leaky.yml"])
    assert [(h.path, h.line, h.value) for h in hits] == [("conf/leaky.yml", 2, "hunter22")]


def test_dot_env_is_git_ignored() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO).returncode == 0
    assert ignored, "add `.env` to .gitignore: docker-compose.yml reads the stack's secrets from it"

"""The production container set-up: docker/compose.yml, docker/Dockerfile, entrypoint.

No Docker engine is needed: the files are parsed, and compose's variable
interpolation is reproduced closely enough to check what the app would receive.
"""

from __future__ import annotations

import re
import secrets
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import jobs as job_queue
from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
ENTRYPOINT = DOCKER / "entrypoint.sh"
ENV_EXAMPLE = DOCKER / ".env.example"

LONG_RUNNING = ("app", "postgres", "redis", "minio")
SECRETS = (
    "JWT_SECRET",
    "PII_KEY",
    "WECHAT_APPID",
    "WECHAT_SECRET",
    "POSTGRES_PASSWORD",
    "MINIO_ROOT_PASSWORD",
)
# Variables of the app service that Settings does not read: docker/entrypoint.sh hands
# them to uvicorn (worker count, trusted proxies).
COMPOSE_ONLY_APP_ENV = frozenset({"WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS"})

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, ${VAR:+alt},
# $VAR, and $$ (a literal dollar sign).
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    """What `docker compose` reports for a `${VAR:?message}` that is unset or empty."""


def _interpolate_str(text: str, env: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["named"]
        op, arg = match["op"] or "", match["arg"] or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op == ":?":
            if not value:
                raise MissingVariable(f"{name}: {arg}")
            return value
        if op == "?":
            if value is None:
                raise MissingVariable(f"{name}: {arg}")
            return value
        if op == ":+":
            return arg if value else ""
        if op == "+":
            return "" if value is None else arg
        return value or ""

    return _VARIABLE.sub(replace, text)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Substitute variables in every string of a loaded compose file, as compose does."""
    if isinstance(node, str):
        return _interpolate_str(node, env)
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, env) for item in node]
    return node


def all_strings(node: Any) -> list[str]:
    """Every string value of a loaded YAML document (comments are not in it)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in all_strings(value)]
    if isinstance(node, list):
        return [s for item in node for s in all_strings(item)]
    return []


def unescape_dollars(text: str) -> str:
    """A compose string as the container sees it when no compose variable is involved."""
    return text.replace("$$", "$")


def raw_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, Any]:
    found = raw_compose()["services"]
    assert isinstance(found, dict)
    return found


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """The `environment:` of a service, given as a mapping or as a list of NAME=value."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not NAME=value in .env.example: {line!r}"
        values[name.strip()] = value.strip()
    return values


def filled_env() -> dict[str, str]:
    """The .env.example with every secret filled in, as an operator would."""
    env = env_example()
    for name in SECRETS:
        env[name] = secrets.token_urlsafe(48)
    env["WECHAT_APPID"] = "wx0123456789abcdef"
    return env


def interpolated_services(env: dict[str, str]) -> dict[str, Any]:
    resolved = interpolate(services(), env)
    assert isinstance(resolved, dict)
    return resolved


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(test[1:])


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def script_lines(path: Path) -> list[str]:
    """Shell lines without comments and blank lines, continuations joined."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((pending + line).strip())
        pending = ""
    return lines


# --- compose.yml ---------------------------------------------------------------


def test_compose_defines_app_postgres_redis_and_minio() -> None:
    compose = raw_compose()
    assert "version" not in compose, "the compose spec has no `version:` key"
    assert set(LONG_RUNNING) | {"minio-init"} <= set(compose["services"])

    declared_volumes = set(compose.get("volumes") or {})
    for name, target in (("postgres", "/var/lib/postgresql/data"), ("minio", "/data")):
        mounts = [str(m) for m in services()[name].get("volumes", [])]
        named = [m for m in mounts if m.endswith(":" + target) and not m.startswith((".", "/"))]
        assert named, f"{name} keeps {target} in a named volume"
        assert named[0].split(":", 1)[0] in declared_volumes


def test_every_long_running_service_has_a_healthcheck() -> None:
    found = services()
    for name in LONG_RUNNING:
        healthcheck = found[name].get("healthcheck")
        assert healthcheck, f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"
        assert healthcheck["test"] not in (["NONE"], "NONE")

    assert "pg_isready" in healthcheck_command(found["postgres"])
    assert "redis-cli ping" in healthcheck_command(found["redis"])
    minio_check = healthcheck_command(found["minio"])
    assert "mc ready local" in minio_check or "/minio/health/live" in minio_check
    app_check = healthcheck_command(found["app"])
    assert "urllib" in app_check
    assert "127.0.0.1:8000/readyz" in app_check


def test_images_are_pinned_not_latest() -> None:
    for name, service in services().items():
        if "image" not in service:
            assert "build" in service, f"{name} has neither an image nor a build"
            continue
        image = str(service["image"])
        if "@sha256:" in image:
            continue
        last_part = image.rsplit("/", 1)[-1]
        assert ":" in last_part, f"{name}: {image} has no tag"
        tag = last_part.split(":", 1)[1]
        assert tag != "latest", f"{name}: {image} is not pinned"
        assert "$" not in tag, f"{name}: {image} takes its tag from a variable"
        assert re.match(r"(RELEASE\.\d{4}-\d\d-\d\dT|\d+\.\d+)", tag), (
            f"{name}: {image} is not pinned to a minor version or a release"
        )


def test_app_waits_for_healthy_dependencies() -> None:
    depends_on = services()["app"]["depends_on"]
    assert isinstance(depends_on, dict), "depends_on needs the long form to carry conditions"
    for name in ("postgres", "redis", "minio"):
        assert depends_on[name]["condition"] == "service_healthy", name
    assert depends_on["minio-init"]["condition"] == "service_completed_successfully"
    assert services()["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_app_refuses_to_start_without_secrets() -> None:
    text = "\n".join(all_strings(raw_compose()))
    app_env = environment_of(services()["app"])
    for name in SECRETS:
        uses = re.findall(r"(?<!\$)\$\{" + name + r"([^A-Za-z0-9_][^}]*)?\}", text)
        assert uses, f"{name} is not used by compose.yml"
        for rest in uses:
            assert rest.startswith(":?"), f"${{{name}{rest}}} lets compose start without it"
        assert any("${" + name + ":?" in value for value in app_env.values()), (
            f"{name} does not reach the app"
        )

    # What `docker compose up` does when a secret is missing or left empty.
    for name in SECRETS:
        for env in (
            {k: v for k, v in filled_env().items() if k != name},
            {**filled_env(), name: ""},
        ):
            with pytest.raises(MissingVariable, match=name):
                interpolated_services(env)
    interpolated_services(filled_env())


def test_app_environment_names_are_settings_the_app_reads() -> None:
    app_env = environment_of(services()["app"])
    assert app_env, "the app service has no environment"
    unknown = [
        name
        for name in app_env
        if name not in COMPOSE_ONLY_APP_ENV and name.lower() not in Settings.model_fields
    ]
    assert not unknown, f"Settings has no field for {unknown}"
    assert app_env["APP_ENV"] == "prod"


def test_app_environment_builds_valid_production_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Only what compose gives counts: no variables of the test run, no ./.env file.
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    env = filled_env()
    app_env = environment_of(interpolated_services(env)["app"])
    fields = {k.lower(): v for k, v in app_env.items() if k not in COMPOSE_ONLY_APP_ENV}

    settings = Settings.model_validate(fields)

    assert settings.app_env == "prod"
    assert settings.async_database_url.startswith("postgresql+asyncpg://")
    assert settings.storage_backend == "s3"
    assert settings.s3_secure is False
    assert settings.s3_region == "us-east-1"
    assert settings.s3_public_endpoint == "http://localhost:9000"
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.jwt_secret == env["JWT_SECRET"]
    assert settings.pii_key == env["PII_KEY"]
    assert not settings.wechat_dev_stub


def test_app_reaches_postgres_redis_and_minio_with_their_credentials() -> None:
    env = filled_env()
    found = interpolated_services(env)
    app_env = environment_of(found["app"])

    pg = environment_of(found["postgres"])
    url = re.fullmatch(
        r"postgresql://(?P<user>[^:]+):(?P<password>[^@]+)@postgres:5432/(?P<db>\w+)",
        app_env["DATABASE_URL"],
    )
    assert url, app_env["DATABASE_URL"]
    assert url["user"] == pg["POSTGRES_USER"]
    assert url["password"] == pg["POSTGRES_PASSWORD"] == env["POSTGRES_PASSWORD"]
    assert url["db"] == pg["POSTGRES_DB"]
    assert all(arg in healthcheck_command(found["postgres"]) for arg in (url["user"], url["db"]))

    assert app_env["REDIS_URL"].startswith("redis://redis:6379/")

    minio = environment_of(found["minio"])
    assert app_env["S3_ENDPOINT"] == "minio:9000"
    assert app_env["S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert app_env["S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert app_env["S3_BUCKET"] == environment_of(found["minio-init"])["S3_BUCKET"]


def test_minio_serves_s3_and_console() -> None:
    command = services()["minio"]["command"]
    if isinstance(command, list):
        command = " ".join(command)
    assert command.split() == ["server", "/data", "--console-address", ":9001"]


def test_minio_init_creates_the_bucket_the_app_uses() -> None:
    init = services()["minio-init"]
    assert init.get("restart", "no") == "no", "a one-shot service must not be restarted"
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        value = init.get(key) or []
        parts.extend([value] if isinstance(value, str) else value)
    # A `$` that is neither `$$` nor a compose `${...}` would be eaten by compose.
    for part in parts:
        leftover = re.sub(r"\$\$|\$\{[^}]*\}", "", part)
        assert "$" not in leftover, f"unescaped $ in {part!r}: write $$ for the shell"

    script = "\n".join(unescape_dollars(part) for part in parts)
    alias = re.search(r"mc alias set (\S+) http://minio:9000 (\S+) (\S+)", script)
    assert alias, script
    assert alias[2].strip("\"'") == "$MINIO_ROOT_USER"
    assert alias[3].strip("\"'") == "$MINIO_ROOT_PASSWORD"
    make_bucket = re.search(r"mc mb --ignore-existing (\S+)", script)
    assert make_bucket, script
    assert alias.start() < make_bucket.start()
    target = shlex.split(make_bucket[1])[0]
    assert target in (f"{alias[1]}/$S3_BUCKET", f"{alias[1]}/${{S3_BUCKET}}"), target
    assert "set -e" in script, "a failing mc command must fail the service"


def test_app_is_built_from_the_repository_and_published_on_8000() -> None:
    app = services()["app"]
    build = app["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == ROOT
    assert (context / build["dockerfile"]).resolve() == DOCKERFILE
    ports = interpolate(app["ports"], filled_env())
    assert any(str(port).endswith(":8000") and "8000:" in str(port) for port in ports), ports


def test_env_example_lists_every_variable_compose_uses() -> None:
    text = "\n".join(all_strings(raw_compose()))
    used = {m["braced"] or m["named"] for m in _VARIABLE.finditer(text) if not m["escaped"]}
    example = env_example()
    assert used - set(example) == set(), "missing from .env.example"
    assert set(example) - used == set(), "in .env.example but unused by compose.yml"
    for name in SECRETS:
        assert example[name] == "", f"{name} must be left empty so compose refuses to start"
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert i > 0 and lines[i - 1].startswith("#"), f"no comment above {line!r}"


def test_workers_and_the_scheduler_run_the_app_image_with_its_settings() -> None:
    found = services()
    app_env = environment_of(found["app"])
    commands = {
        "worker": ["taskiq", "worker", "app.jobs:worker_broker"],
        "scheduler": ["taskiq", "scheduler", "app.jobs:scheduler"],
    }
    for name, command in commands.items():
        service = found[name]
        assert service["build"] == found["app"]["build"], name
        assert service["command"][: len(command)] == command, name
        # The entrypoint runs any command given instead of migrating and serving.
        assert environment_of(service) == app_env, name
        depends_on = service["depends_on"]
        assert depends_on["app"]["condition"] == "service_healthy", "migrated first"
        assert depends_on["redis"]["condition"] == "service_healthy", name
    assert app_env["REDIS_URL"], "without REDIS_URL the workers have no queue to read"
    # What the commands name exists: taskiq calls these factories.
    assert callable(job_queue.worker_broker) and callable(job_queue.scheduler)


# --- Dockerfile and entrypoint -----------------------------------------------------


def test_dockerfile_runs_as_non_root_and_migrates_before_serving() -> None:
    instructions = dockerfile_instructions()
    stage = final_stage(instructions)

    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the image runs as root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0"), users[-1]

    entrypoint_copy = [
        args.split()
        for keyword, args in stage
        if keyword == "COPY" and "docker/entrypoint.sh" in args.split()
    ]
    assert entrypoint_copy, "docker/entrypoint.sh is not copied into the image"
    destination = entrypoint_copy[-1][-1]
    entrypoints = [args for keyword, args in stage if keyword == "ENTRYPOINT"]
    assert entrypoints and destination in entrypoints[-1]
    assert not [args for keyword, args in stage if keyword == "CMD"], "CMD would be run instead"

    lines = script_lines(ENTRYPOINT)
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh")
    assert "set -eu" in lines
    migrate = lines.index("alembic upgrade head")
    serve = next(i for i, line in enumerate(lines) if line.startswith("exec uvicorn"))
    assert lines.index("set -eu") < migrate < serve
    command = lines[serve]
    assert "--factory app.main:create_app" in command
    for option in (
        "--host 0.0.0.0",
        "--port 8000",
        '--workers "${WEB_CONCURRENCY:-2}"',
        "--proxy-headers",
        '--forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"',
        '--timeout-graceful-shutdown "${SHUTDOWN_DRAIN_SECONDS:-20}"',
    ):
        assert option in command, option

    from app.main import create_app

    assert callable(create_app)


def test_dockerfile_builds_a_slim_pinned_python_311_image() -> None:
    instructions = dockerfile_instructions()
    args = dict(
        arg.split("=", 1) for keyword, arg in instructions if keyword == "ARG" and "=" in arg
    )
    bases = []
    for keyword, arg in instructions:
        if keyword == "FROM":
            image = arg.split()[0]
            match = re.fullmatch(r"\$\{(\w+)\}", image)
            bases.append(args[match[1]] if match else image)
    assert len(bases) >= 2, "a multi-stage build keeps the build tools out of the image"
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base), base

    stage = final_stage(instructions)
    sources: set[str] = set()
    for keyword, arg in stage:
        if keyword == "COPY" and "--from=" not in arg:
            parts = [p for p in arg.split() if not p.startswith("--")]
            sources.update(p.removeprefix("./").rstrip("/") for p in parts[:-1])
    for needed in ("app", "alembic", "alembic.ini", "pyproject.toml", "README.md"):
        assert needed in sources, f"{needed} is not copied into the image"
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the build context"
    assert any(k == "COPY" and "--from=build" in a for k, a in stage), "nothing from the build"

    env_text = " ".join(arg for keyword, arg in stage if keyword == "ENV")
    assert "APP_ENV=prod" in env_text
    assert "PYTHONUNBUFFERED=1" in env_text
    assert ("EXPOSE", "8000") in stage
    healthchecks = [arg for keyword, arg in stage if keyword == "HEALTHCHECK"]
    assert healthchecks and "urllib" in healthchecks[-1]
    assert "http://127.0.0.1:8000/healthz" in healthchecks[-1]
    assert "curl" not in healthchecks[-1], "python:slim has no curl"

    install = " ".join(arg for keyword, arg in instructions if keyword == "RUN")
    assert "pip install" in install and "pyproject.toml" in install


# --- compose.province.yml ------------------------------------------------------------

PROVINCE_FILE = DOCKER / "compose.province.yml"
PROVINCE_COMPOSE_ONLY_ENV = COMPOSE_ONLY_APP_ENV | {"MIGRATE_ON_START"}


def province(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The province's services, interpolated with `env` (default: .env.example filled)."""
    data = yaml.safe_load(PROVINCE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "version" not in data
    resolved = interpolate(data, filled_env() if env is None else env)
    assert isinstance(resolved, dict)
    return resolved


def _arg(command: list[str], name: str) -> int:
    """The value of `-c name=value` in a postgres command line."""
    text = " ".join(command)
    found = re.search(rf"{name}=(\d+)", text)
    assert found, f"{name} is not set in {text!r}"
    return int(found[1])


def test_the_province_has_nodes_behind_nginx_a_pooler_a_replica_and_the_rest() -> None:
    found = province()["services"]
    assert {
        "app", "migrate", "nginx", "pgbouncer", "postgres", "postgres-replica",
        "redis", "minio", "minio-init", "worker", "scheduler",
    } <= set(found)  # fmt: skip
    for name, service in found.items():
        if "image" in service:
            tag = str(service["image"]).rsplit(":", 1)[1]
            assert tag != "latest" and re.match(r"v?\d+\.\d+|RELEASE\.", tag), name
        else:
            assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        if name not in ("migrate", "minio-init", "worker", "scheduler"):
            assert not found[name].get("healthcheck", {}).get("disable"), name
    assert int(found["app"]["deploy"]["replicas"]) >= 2
    assert "ports" not in found["app"], "nodes are reached through nginx only"
    assert found["nginx"]["ports"] == ["8000:8000"]
    for dependency in ("migrate", "minio-init"):
        assert found["app"]["depends_on"][dependency]["condition"] == (
            "service_completed_successfully"
        )

    # nginx: round robin over every node of `app`.
    nginx_conf = province()["configs"]["nginx-conf"]["content"]
    assert "server app:8000" in nginx_conf and "proxy_pass http://app;" in nginx_conf


def test_province_nodes_go_through_pgbouncer_read_the_replica_and_migrate_past_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    found = province()["services"]
    app_env = environment_of(found["app"])
    unknown = [
        n
        for n in app_env
        if n not in PROVINCE_COMPOSE_ONLY_ENV and n.lower() not in Settings.model_fields
    ]
    assert not unknown, f"Settings has no field for {unknown}"
    settings = Settings.model_validate(
        {k.lower(): v for k, v in app_env.items() if k not in PROVINCE_COMPOSE_ONLY_ENV}
    )
    assert settings.app_env == "prod" and settings.database_pooler == "pgbouncer"
    assert "@pgbouncer:6432/" in settings.database_url
    assert "@postgres-replica:5432/" in settings.database_replica_url
    assert app_env["MIGRATE_ON_START"] == "false"
    assert found["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"

    migrate = found["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    migrate_env = environment_of(migrate)
    assert "@postgres:5432/" in migrate_env["DATABASE_URL"]
    assert migrate_env["DATABASE_POOLER"] == "none"
    for jobs in ("worker", "scheduler"):
        assert environment_of(found[jobs])["DATABASE_URL"] == settings.database_url

    # The replica clones the primary and follows it.
    replica = " ".join(found["postgres-replica"]["command"])
    assert "pg_basebackup -h postgres" in replica and " -R " in replica
    assert "hot_standby=on" in replica
    allow = province()["configs"]["allow-replication"]["content"]
    assert "host replication" in allow


def test_province_connections_add_up_nodes_times_pool_within_pooler_within_server() -> None:
    """nodes x workers x pool <= PgBouncer's clients; PgBouncer's server pool (and its
    reserve) <= the primary's max_connections less reserved and replication slots;
    the replica takes the nodes' reading pools directly."""
    found = province()["services"]
    app_env = environment_of(found["app"])
    pool = int(app_env["DATABASE_POOL_SIZE"])
    web = int(app_env["WEB_CONCURRENCY"])
    nodes = int(found["app"]["deploy"]["replicas"])
    workers = int(found["worker"]["deploy"]["replicas"])
    # A taskiq worker runs 2 processes by default; the scheduler one.
    clients = nodes * web * pool + workers * 2 * pool + pool
    bouncer = found["pgbouncer"]["environment"]
    assert clients <= int(bouncer["MAX_CLIENT_CONN"])
    server_side = int(bouncer["DEFAULT_POOL_SIZE"]) + int(bouncer["RESERVE_POOL_SIZE"])
    primary = found["postgres"]["command"]
    reserved = 3 + _arg(primary, "max_wal_senders")
    assert server_side <= _arg(primary, "max_connections") - reserved
    replica = found["postgres-replica"]["command"]
    assert nodes * web * pool <= _arg(replica, "max_connections") - 3


def test_province_refuses_to_start_without_secrets() -> None:
    for name in SECRETS:
        with pytest.raises(MissingVariable, match=name):
            province({k: v for k, v in filled_env().items() if k != name})


def test_every_setting_is_in_the_readme_configuration_table():
    """An operator learns the settings from README's table: a setting added without a
    row there is one nobody deploying knows about."""
    readme = (ROOT / "README.md").read_text()
    rows = "\n".join(line for line in readme.splitlines() if line.startswith("| `"))
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", rows))
    missing = sorted(f.upper() for f in Settings.model_fields if f.upper() not in named)
    assert not missing, f"settings without a row in README's configuration table: {missing}"

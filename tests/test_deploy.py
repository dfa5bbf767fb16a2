"""The docker-compose stack, checked without a Docker engine: ``docker-compose config`` and consistency checks.

``docker-compose config`` (Debian's docker-compose v1, installed by ``make test``) validates the file and
resolves its variables; the checks then hold the stack to what it names: build contexts and Dockerfiles,
images, ports, volumes, variables, the DAG folder, health checks and the tiktrend commands the services run.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tiktrend.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN", "COOKIES", "HEADERS", "WEBHOOK")
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")  # $${X} is the container's own variable


def example_env() -> dict[str, str]:
    """The names and values .env.example assigns, commented-out (optional) ones included."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            found[match.group(1)] = match.group(2)
    return found


def filled_env(tmp_path: Path) -> Path:
    """.env.example with every empty secret filled in, as a person would before `up`."""
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        if re.match(r"^[A-Z][A-Z0-9_]*=$", line):
            line += secrets.token_hex(16)
        lines.append(line)
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def compose_config(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Runs `docker-compose config` on the stack with the given env file and extra arguments."""
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (make test's system-deps installs it)")

    def run(env_file: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, "--env-file", str(env_file), "-f", str(COMPOSE), *extra, "config"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path_factory.mktemp("home"))},
        )

    return run


@pytest.fixture(scope="module")
def resolved(
    compose_config: Callable[..., subprocess.CompletedProcess[str]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The stack as docker-compose resolves it, with the Spark profile."""
    result = compose_config(filled_env(tmp_path_factory.mktemp("env")), "--profile", "spark")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = yaml.safe_load(result.stdout)
    return config


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    """The compose file as written (paths relative to deploy/)."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_the_stack_has_every_service_the_issue_names(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert {
        "timescaledb",
        "airflow-db",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "tiktrend-api",
        "tiktrend-dashboard",
        "spark-master",
        "spark-worker",
    } <= set(services)
    assert services["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert [
        services[s]["command"][:2] for s in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
    ] == [
        ["airflow", "api-server"],
        ["airflow", "scheduler"],
        ["airflow", "dag-processor"],
    ]


def test_spark_is_an_optional_profile(source: dict[str, Any]) -> None:
    profiled = {name for name, s in source["services"].items() if s.get("profiles")}
    assert profiled == {"spark-master", "spark-worker"}
    assert all(source["services"][n]["profiles"] == ["spark"] for n in profiled)


def test_without_secrets_the_stack_refuses_and_names_the_variable(
    compose_config: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    result = compose_config(ENV_EXAMPLE)
    assert result.returncode != 0
    assert re.search(r"set [A-Z_]+ in \.env", result.stderr), result.stderr


def test_every_build_context_and_dockerfile_exists(source: dict[str, Any]) -> None:
    built_images = set()
    for name, service in source["services"].items():
        build = service.get("build")
        if build is None:
            continue
        context = (DEPLOY / build["context"]).resolve()
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
        text = dockerfile.read_text()
        if "target" in build:
            assert re.search(rf"^FROM .+ AS {build['target']}$", text, re.M), f"{name}: no stage {build['target']}"
        for copied in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", text, re.M):
            for part in copied.split():
                assert (context / part).exists(), f"{dockerfile.name} copies {part}, missing from the context"
        built_images.add(service["image"])
    for name, service in source["services"].items():
        if "build" not in service:
            image = service["image"]
            official = re.match(r"^[a-z0-9./_-]+:[A-Za-z0-9.${}_:-]+$", image) and not image.endswith(":latest")
            assert image in built_images or official, f"{name}: image {image} is neither built here nor pinned"


def test_base_images_are_pinned() -> None:
    for dockerfile in DEPLOY.glob("*.Dockerfile"):
        for line in re.findall(r"^FROM (\S+)", dockerfile.read_text(), re.M):
            if line in {"base"}:  # a stage of the same file
                continue
            assert ":" in line and not line.endswith(":latest"), f"{dockerfile.name}: FROM {line} is not pinned"


def test_published_ports_do_not_clash(resolved: dict[str, Any]) -> None:
    published: dict[str, str] = {}
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            host = str(port).rsplit(":", 1)[0] if isinstance(port, str) else f"{port.get('published')}"
            assert host not in published, f"{name} and {published.get(host)} both publish {host}"
            published[host] = name
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is published beyond this host"
    assert len(published) >= 5


def test_named_volumes_are_declared_and_used(source: dict[str, Any]) -> None:
    declared = set(source.get("volumes") or {})
    used = set()
    for service in source["services"].values():
        for volume in service.get("volumes", []):
            name = volume.split(":", 1)[0]
            if not name.startswith((".", "/")):
                used.add(name)
    assert used <= declared, f"volumes used but not declared: {used - declared}"
    assert declared <= used, f"volumes declared but never mounted: {declared - used}"


def test_every_variable_is_in_env_example_and_no_secret_is_filled(source: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    referenced = set(VARIABLE.findall(text))
    for service in source["services"].values():
        environment = service.get("environment") or {}
        if isinstance(environment, dict):
            referenced |= {k for k, v in environment.items() if v is None}  # passed through from .env
    example = example_env()
    assert referenced - set(example) == set(), f"missing from .env.example: {sorted(referenced - set(example))}"
    filled = {k: v for k, v in example.items() if any(w in k for w in SECRET_WORDS) and v}
    assert filled == {}, f".env.example must not hold secrets: {sorted(filled)}"


def test_the_mounted_dag_folder_holds_the_pipeline_dag(source: dict[str, Any]) -> None:
    mounts = [
        v for s in source["services"].values() for v in s.get("volumes", []) if v.endswith(":/opt/airflow/dags:ro")
    ]
    assert mounts, "no service mounts the DAG folder"
    for mount in mounts:
        folder = (DEPLOY / mount.split(":", 1)[0]).resolve()
        assert folder == ROOT / "dags"
        dag = folder / "tiktrend_pipeline.py"
        assert dag.is_file() and "tiktrend_pipeline" in dag.read_text()


def test_long_running_services_have_health_checks(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    one_shot = {
        target
        for service in services.values()
        for target, rule in (service.get("depends_on") or {}).items()
        if rule.get("condition") == "service_completed_successfully"
    }
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target}'s health, which has no check"
        if name in one_shot:
            assert service.get("restart", "no") == "no", f"{name} runs once, it must not restart"
            continue
        assert "healthcheck" in service, f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", f"{name} should come back after a crash"


def test_airflow_keeps_its_metadata_in_its_own_database(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["airflow-scheduler"]["environment"]
    airflow_db = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    tiktrend_db = env["TIKTREND_DATABASE_URL"]
    assert "@airflow-db:" in airflow_db and "@timescaledb:" in tiktrend_db


def test_the_tiktrend_commands_the_services_run_exist(resolved: dict[str, Any]) -> None:
    runner = CliRunner()
    for name in ("tiktrend-migrate", "tiktrend-api", "tiktrend-dashboard"):
        command = resolved["services"][name]["command"]
        words = [w for w in command if not w.startswith("-")][:2] if command[0] == "db" else [command[0]]
        options = [w for w in command if w.startswith("--")]
        result = runner.invoke(app, [*words, "--help"])
        assert result.exit_code == 0, f"{name}: tiktrend {' '.join(words)}: {result.output}"
        for option in options:
            assert option in result.output, f"{name}: tiktrend {' '.join(words)} has no {option}"


def test_every_airflow_setting_is_an_option_airflow_knows(resolved: dict[str, Any]) -> None:
    templates = sorted((ROOT / ".venv-airflow").glob("lib/python*/site-packages/airflow/config_templates/config.yml"))
    if not templates:
        pytest.skip("Airflow's own environment is missing: `make airflow-env` builds it (make test does)")
    known = yaml.safe_load(templates[0].read_text())
    names = {
        n for s in resolved["services"].values() for n in (s.get("environment") or {}) if n.startswith("AIRFLOW__")
    }
    assert names
    for name in sorted(names):
        section, option = name.removeprefix("AIRFLOW__").lower().split("__", 1)
        assert option in known.get(section, {}).get("options", {}), f"{name}: Airflow has no [{section}] {option}"

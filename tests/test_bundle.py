"""The MCP Bundle (mcpb/manifest.json, mcpb/server/main.py, mcpb/stage.py) and the MCP
registry's server.json: the metadata agrees with the package, the user's settings reach the
server under the names it reads, and a staged bundle started as its manifest says serves MCP.

Offline and without npm: the bundle is staged with ``--deps none`` (this package's sources
only; this interpreter has the dependencies). `.ci/mcpb.sh` packs the full bundle with the
pinned `mcpb` CLI and starts it with no site-packages at all.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import ACCOUNT_ID, CACHE_DIR_VARIABLE, SECRET_KEY, STATE_VARIABLE, assert_no_leak
from truto_stripe_mcp import __version__
from truto_stripe_mcp.catalog.toolsets import Selection
from truto_stripe_mcp.config import Settings

ROOT = Path(__file__).resolve().parents[1]
MANIFEST: dict[str, Any] = json.loads((ROOT / "mcpb" / "manifest.json").read_text())
SERVER_JSON: dict[str, Any] = json.loads((ROOT / "server.json").read_text())
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
MCPB_SCHEMAS = ROOT / ".npm-tools" / "node_modules" / "@anthropic-ai" / "mcpb" / "schemas"
USER_CONFIG_REF = re.compile(r"^\$\{user_config\.([A-Za-z0-9_]+)\}$")


def _load_stage() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mcpb_stage", ROOT / "mcpb" / "stage.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stage = _load_stage()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stage.stage(tmp_path_factory.mktemp("bundle"), deps="none")


def env_to_user_config() -> dict[str, str]:
    """mcp_config.env as {environment variable: user_config key} (literal values left out)."""
    mapping = {}
    for name, value in MANIFEST["server"]["mcp_config"]["env"].items():
        match = USER_CONFIG_REF.match(value)
        if match:
            mapping[name] = match.group(1)
    return mapping


def test_versions_agree() -> None:
    versions = {
        "pyproject.toml": PROJECT["version"],
        "truto_stripe_mcp.__version__": __version__,
        "mcpb/manifest.json": MANIFEST["version"],
        "server.json": SERVER_JSON["version"],
        "server.json packages[0]": SERVER_JSON["packages"][0]["version"],
    }
    assert len(set(versions.values())) == 1, versions


def test_user_config_reaches_the_settings_the_server_reads() -> None:
    user_config = MANIFEST["user_config"]
    mapping = env_to_user_config()
    assert mapping["TRUTO_API_KEY"] == "truto_api_key"
    assert mapping["TRUTO_INTEGRATED_ACCOUNT_ID"] == "integrated_account_id"
    key, account = user_config["truto_api_key"], user_config["integrated_account_id"]
    assert key["type"] == "string" and key["sensitive"] is True and key["required"] is True
    assert account["type"] == "string" and account["required"] is True
    assert account.get("sensitive") is not True, "the account id is shown, not hidden"
    # Installs are read-only until the user turns it off.
    assert mapping["TRUTO_MCP_READ_ONLY"] == "read_only"
    assert user_config["read_only"] == {**user_config["read_only"], "type": "boolean", "default": True}
    # Every variable is one the server reads, every setting is used, every value is a reference.
    aliases = {field.validation_alias for field in Settings.model_fields.values()}
    assert set(MANIFEST["server"]["mcp_config"]["env"]) <= aliases
    assert set(mapping) == set(MANIFEST["server"]["mcp_config"]["env"])
    assert sorted(mapping.values()) == sorted(user_config)
    # An optional setting the user leaves alone must still give the server a valid value.
    for name, option in user_config.items():
        if not option.get("required"):
            assert "default" in option, f"optional user_config {name} needs a default"
    defaults = {
        variable: str(user_config[key]["default"]).lower()
        if isinstance(user_config[key]["default"], bool)
        else str(user_config[key]["default"])
        for variable, key in mapping.items()
        if "default" in user_config[key]
    }
    settings = Settings(**{alias: value for alias, value in defaults.items()})
    assert settings.read_only is True and settings.base_url == "https://api.truto.one"


def test_manifest_points_at_the_entry_point() -> None:
    server = MANIFEST["server"]
    assert server["type"] == "python" and server["entry_point"] == "server/main.py"
    assert server["mcp_config"]["args"] == ["${__dirname}/server/main.py"]
    assert (ROOT / "mcpb" / server["entry_point"]).is_file()
    assert MANIFEST["name"] == PROJECT["name"]
    assert MANIFEST["compatibility"]["runtimes"]["python"] == ">=3.11.0"
    assert PROJECT["requires-python"] == ">=3.11"


def test_manifest_matches_the_pinned_mcpb_schema() -> None:
    schema_file = MCPB_SCHEMAS / f"mcpb-manifest-v{MANIFEST['manifest_version']}.schema.json"
    if not schema_file.is_file():
        pytest.skip("the npm tools are not installed (npm ci --prefix .npm-tools); .ci/mcpb.sh validates")
    schema = json.loads(schema_file.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(MANIFEST)


def test_server_json_has_what_the_registry_requires() -> None:
    """The 2025-12-11 server.json schema's constraints, checked by hand (it is not vendored)."""
    assert (
        SERVER_JSON["$schema"]
        == "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json"
    )
    name = SERVER_JSON["name"]
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", name) and 3 <= len(name) <= 200
    namespace, server_name = name.split("/")
    assert namespace.startswith("io.github.") and server_name == PROJECT["name"]
    assert 1 <= len(SERVER_JSON["description"]) <= 100
    assert 1 <= len(SERVER_JSON["title"]) <= 100
    assert SERVER_JSON["repository"]["source"] == "github" and SERVER_JSON["repository"]["url"].startswith(
        "https://github.com/"
    )
    (package,) = SERVER_JSON["packages"]
    assert package["registryType"] == "pypi" and package["registryBaseUrl"] == "https://pypi.org"
    assert package["identifier"] == PROJECT["name"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), "an exact version, never a range"
    assert package["transport"] == {"type": "stdio"}
    variables = {variable["name"]: variable for variable in package["environmentVariables"]}
    assert variables["TRUTO_API_KEY"]["isSecret"] is True and variables["TRUTO_API_KEY"]["isRequired"] is True
    assert variables["TRUTO_INTEGRATED_ACCOUNT_ID"]["isRequired"] is True
    assert not variables["TRUTO_INTEGRATED_ACCOUNT_ID"]["isSecret"]
    for variable in variables.values():
        assert variable["format"] in {"string", "number", "boolean", "filepath"}
        assert isinstance(variable.get("default", ""), str), "Input.default is a string"
    # The same settings, required-ness and defaults as the bundle asks for, except where the
    # bundle deliberately installs read-only (server.json states the server's own default).
    user_config = MANIFEST["user_config"]
    mapping = env_to_user_config()
    assert set(variables) == set(mapping)
    for variable, key in mapping.items():
        option = user_config[key]
        assert variables[variable]["isRequired"] is bool(option.get("required")), variable
        assert variables[variable]["isSecret"] is bool(option.get("sensitive")), variable
        if "default" in option and key != "read_only":
            default = option["default"]
            assert variables[variable]["default"] == (
                str(default).lower() if isinstance(default, bool) else default
            )


def _settings_without(monkeypatch: pytest.MonkeyPatch, **environment: str) -> Settings:
    """The settings the server reads from exactly ``environment`` (no other TRUTO_ variable)."""
    for name in os.environ:
        if name.startswith("TRUTO_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings()


def _effective(settings: Settings, variable: str) -> object:
    """The setting ``variable`` feeds, as it takes effect (no toolset named means ``core``)."""
    (field,) = [name for name, info in Settings.model_fields.items() if info.validation_alias == variable]
    if field == "toolsets":
        return Selection(toolsets=settings.toolsets).base_toolsets
    return getattr(settings, field)


def test_stated_defaults_are_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A default written in server.json or the bundle's manifest is what the server does when the
    variable is absent, and when it is blank (a host app passes an emptied field as "")."""
    unset = _settings_without(monkeypatch)
    for variable in SERVER_JSON["packages"][0]["environmentVariables"]:
        if "default" not in variable:
            continue
        name = variable["name"]
        stated = _settings_without(monkeypatch, **{name: variable["default"]})
        blank = _settings_without(monkeypatch, **{name: ""})
        assert _effective(stated, name) == _effective(unset, name) == _effective(blank, name), name
    for variable, key in env_to_user_config().items():
        option = MANIFEST["user_config"][key]
        if "default" not in option or option["type"] != "string":
            continue  # booleans are checkboxes: never blank; read_only is the bundle's own choice
        stated = _settings_without(monkeypatch, **{variable: option["default"]})
        blank = _settings_without(monkeypatch, **{variable: ""})
        assert _effective(stated, variable) == _effective(unset, variable) == _effective(blank, variable)
    assert MANIFEST["user_config"]["read_only"]["default"] is True, "the bundle installs read-only"


def test_readme_carries_the_registry_ownership_marker() -> None:
    """The registry proves PyPI ownership by finding ``mcp-name: <name>`` in the package README."""
    assert f"mcp-name: {SERVER_JSON['name']}" in (ROOT / "README.md").read_text()


def test_staged_bundle_layout(bundle: Path) -> None:
    assert json.loads((bundle / "manifest.json").read_text()) == MANIFEST, "--deps none keeps the manifest"
    assert (bundle / "server" / "main.py").read_bytes() == (ROOT / "mcpb" / "server" / "main.py").read_bytes()
    assert (bundle / "server" / "lib" / "truto_stripe_mcp" / "cli.py").is_file()
    assert not list(bundle.rglob("__pycache__"))
    target = json.loads((bundle / "server" / "bundle.json").read_text())
    assert target == {
        "python": "{}.{}".format(*sys.version_info[:2]),
        "platform": sys.platform,
        "deps": "none",
    }


def test_entry_point_help(bundle: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(bundle / "server" / "main.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=bundle,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: truto-stripe-mcp")


def test_entry_point_explains_missing_dependencies(bundle: Path) -> None:
    """Started where the vendored packages cannot load (here: no dependencies at all), the
    entry point says which Python the bundle was built for instead of a traceback."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(bundle / "server" / "main.py")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=bundle,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("truto-stripe-mcp bundle: cannot load the server")
    assert "built for Python {}.{} on {}".format(*sys.version_info[:2], sys.platform) in result.stderr
    assert "Traceback" not in result.stderr


def test_stage_check_starts_the_bundle(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What .ci/mcpb.sh runs on the packed bundle (there with -I -S and every dependency)."""
    assert stage.check(bundle) == 0, capsys.readouterr().err
    assert "manifest tools present" in capsys.readouterr().out


@pytest.mark.anyio
async def test_bundle_serves_the_users_account(bundle: Path, sandbox: Any, tmp_path: Path) -> None:
    """The manifest's mcp_config as the host app resolves it, with what the user typed at
    install: the SDK client lists read-only tools and a call reaches the account with the key."""
    command, env = stage.launch_command(
        bundle,
        sys.executable,
        user_config={
            "truto_api_key": SECRET_KEY,
            "integrated_account_id": ACCOUNT_ID,
            "base_url": sandbox.url,
        },
        extra_args=(),
    )
    assert env["TRUTO_API_KEY"] == SECRET_KEY and env["TRUTO_MCP_READ_ONLY"] == "true"
    # The catalog copy and the shared state go to this test's directory.
    env[CACHE_DIR_VARIABLE] = os.environ[CACHE_DIR_VARIABLE]
    env[STATE_VARIABLE] = os.environ[STATE_VARIABLE]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(tmp_path))
    errlog_path = tmp_path / "stderr.log"
    with errlog_path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:  # type: ignore[arg-type]
            assert client.server_info.version == MANIFEST["version"]  # type: ignore[union-attr]
            tools = (await client.list_tools()).tools
            found = await client.call_tool("list_all_stripe_customers", {"email": "jane@example.com"})
    names = [tool.name for tool in tools]
    assert {tool["name"] for tool in MANIFEST["tools"]} <= set(names)
    assert all(tool.annotations.read_only_hint for tool in tools), "read-only by default"
    assert not found.is_error, found.content
    assert [customer["email"] for customer in found.structured_content["result"]] == ["jane@example.com"]  # type: ignore[index]
    assert any(request.path == "/proxy/customers" for request in sandbox.sandbox.requests)
    assert_no_leak(errlog_path.read_text(), json.dumps(found.structured_content))


@pytest.mark.anyio
async def test_emptied_optional_fields_are_the_defaults(bundle: Path, tmp_path: Path) -> None:
    """The user clears the optional text fields: the host app passes "" and the server serves
    with the defaults instead of refusing to start."""
    command, env = stage.launch_command(
        bundle,
        sys.executable,
        user_config={"truto_api_key": "k", "integrated_account_id": "a", "base_url": "", "toolsets": ""},
        extra_args=("--sandbox",),
    )
    assert env["TRUTO_BASE_URL"] == "" and env["TRUTO_MCP_TOOLSETS"] == ""
    env[CACHE_DIR_VARIABLE] = os.environ[CACHE_DIR_VARIABLE]
    env[STATE_VARIABLE] = os.environ[STATE_VARIABLE]
    params = StdioServerParameters(command=command[0], args=command[1:], env=env, cwd=str(tmp_path))
    errlog_path = tmp_path / "stderr.log"
    with errlog_path.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:  # type: ignore[arg-type]
            names = {tool.name for tool in (await client.list_tools()).tools}
    assert {tool["name"] for tool in MANIFEST["tools"]} <= names, errlog_path.read_text()

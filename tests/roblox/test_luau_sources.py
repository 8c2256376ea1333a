"""The Luau sources as Roblox tooling sees them: StyLua finds nothing to change, every file compiles
in the real Luau compiler in strict mode, and the Rojo and Wally manifests point at real files."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pluau
import pytest

from tests.roblox.engine import ROOT, Engine
from tests.tooling import need

CLIENT = ROOT / "clients" / "roblox"
EXAMPLES = ROOT / "examples" / "roblox"
SOURCES = sorted([*CLIENT.rglob("*.luau"), *EXAMPLES.rglob("*.luau")])


def test_stylua_reports_no_diffs():
    if not (ROOT / ".tools" / "node_modules" / ".bin" / "stylua").exists():
        need("npm", "install Node.js (npm fetches the pinned StyLua on first use)")
    result = subprocess.run([str(CLIENT / "check-format")], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_luau_source_compiles_in_strict_mode(path: Path):
    source = path.read_text()
    assert source.startswith("--!strict\n")
    pluau.Lua().load_chunk(source, name=f"={path.name}")  # raises on any syntax error


def _rojo_paths(node: dict, base: Path) -> list[Path]:
    paths = [base / node["$path"]] if "$path" in node else []
    for name, child in node.items():
        if not name.startswith("$") and isinstance(child, dict):
            paths += _rojo_paths(child, base)
    return paths


@pytest.mark.parametrize("project", [CLIENT / "default.project.json", EXAMPLES / "default.project.json"])
def test_rojo_project_maps_existing_files(project: Path):
    paths = _rojo_paths(json.loads(project.read_text())["tree"], project.parent)
    assert paths
    assert all(p.resolve().is_file() for p in paths), paths
    if project.parent == EXAMPLES:
        assert {p.resolve() for p in paths} >= set(EXAMPLES.glob("*.luau"))


def test_wally_manifest_ships_the_module():
    manifest = tomllib.loads((CLIENT / "wally.toml").read_text())
    package = manifest["package"]
    assert package["name"] == "coffer/coffer"
    assert package["realm"] == "server"
    assert "src" in package["include"]
    assert json.loads((CLIENT / "default.project.json").read_text())["name"] == "Coffer"


def test_the_engine_shim_records_roblox_apis_it_lacks_even_inside_pcall():
    engine = Engine()
    try:
        results = engine.run("""
        local okInstance = pcall(function() return Instance.new("Part") end)
        local okService = pcall(function() return game:GetService("DataStoreService") end)
        local okMethod = pcall(function() return game:GetService("HttpService"):PostAsync("https://x", "") end)
        return okInstance, okService, okMethod
        """)
    finally:
        engine.shutdown()
    assert results == [False, False, False]
    assert engine.unimplemented == ["global Instance", "game:GetService('DataStoreService')", "HttpService.PostAsync"]

"""The wheel holds one top-level package, ``temix``, with the schemas inside it.

Building the wheel takes a while (an isolated build environment is created from the package
index); it is run on every test run all the same, because a broken wheel is what users get.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "temix", "server", "client", "conformance", "schemas"]
MAPPED_PACKAGES = ["server", "client", "conformance", "schemas"]

INSTALLED_CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import temix, temix.server, temix.client, temix.conformance, temix.schemas
    from temix.conformance.catalogue import catalogue
    from temix.schemas import DRIVER_XSD, EXAMPLES_VALID, WSDL
    from temix.validation import SchemaSet
    from temix.xmlsafe import parse_bytes

    schemas = SchemaSet.bundled()
    examples = sorted(EXAMPLES_VALID.glob("*.xml"))
    print(json.dumps({
        "modules": [m.__file__ for m in (temix, temix.server, temix.client,
                                          temix.conformance, temix.schemas)],
        "driver": str(DRIVER_XSD) if DRIVER_XSD.is_file() else None,
        "wsdl": str(WSDL) if WSDL.is_file() else None,
        "examples": len(examples),
        "valid": all(schemas.is_valid(parse_bytes(p.read_bytes())) for p in examples),
        "conformance_tests": len(catalogue()),
    }))
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the checkout, so the build leaves nothing in the tree."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        origin = REPO / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / name, ignore=ignore)
        else:
            shutil.copy2(origin, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel_file,) = (work / "dist").glob("temix-*.whl")
    return wheel_file


def test_wheel_has_only_the_temix_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names if "/" in name}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"temix"}
    for package in MAPPED_PACKAGES:
        assert f"temix/{package}/__init__.py" in names
        assert not any(name.startswith(f"{package}/") for name in names)
    assert "temix/schemas/xsd/temix.xsd" in names
    assert any(name.startswith("temix/schemas/wsdl/") for name in names)


def test_installed_wheel_works_without_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-c", INSTALLED_CHECK],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for module_file in report["modules"]:
        assert Path(module_file).is_relative_to(site), module_file
    assert report["driver"] and Path(report["driver"]).is_relative_to(site)
    assert report["wsdl"] and Path(report["wsdl"]).is_relative_to(site)
    assert report["examples"] > 0
    assert report["valid"]
    assert report["conformance_tests"] > 0


def test_editable_install_maps_the_subpackages_to_the_checkout(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import temix.server, temix.schemas; print(temix.server.__file__);"
            " print(temix.schemas.__file__)",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    server_file, schemas_file = done.stdout.split()
    assert Path(server_file) == REPO / "server" / "__init__.py"
    assert Path(schemas_file) == REPO / "schemas" / "__init__.py"

"""The shape of the distribution: what partners install, and what the SDK may import."""

import ast
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def test_core_install_pulls_only_pyjwt_and_cryptography():
    core = {Requirement(r).name.lower() for r in requires("cityid") if "extra ==" not in r}
    assert core == {"pyjwt", "cryptography"}


def test_importing_the_sdk_loads_no_optional_dependency():
    optional = ["flask", "requests", "segno", "zxingcpp", "PIL", "issuer"]
    code = f"import sys, verifier_sdk; print([m for m in {optional!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_verifier_sdk_never_imports_issuer():
    for path in (ROOT / "verifier_sdk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            assert not any(n == "issuer" or n.startswith("issuer.") for n in names), path


def test_both_packages_are_typed():
    assert (ROOT / "verifier_sdk" / "py.typed").exists() and (ROOT / "issuer" / "py.typed").exists()

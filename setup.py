"""Map the top-level core/ and bot/ folders onto the aegis.core and aegis.bot packages.

pyproject.toml cannot add a prefix to discovered packages, so this is the one computation it needs.
"""

from setuptools import find_packages, setup

_ROOTS = {"aegis.core": "core", "aegis.bot": "bot"}

packages = [f"aegis.{name}" for name in find_packages(include=["core", "core.*", "bot", "bot.*"])]
# Data-only folders (no __init__.py) are still packages to setuptools; name them so it ships them quietly.
packages.append("aegis.core.agents.prompts")

setup(
    packages=packages,
    package_dir=_ROOTS,
    package_data={"aegis.core": ["py.typed"], "aegis.core.agents.prompts": ["*.md"], "aegis.bot": ["py.typed"]},
)

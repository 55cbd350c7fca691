"""Map the top-level core/ and bot/ folders onto the aegis.core and aegis.bot packages.

pyproject.toml cannot add a prefix to discovered packages, so this is the one computation it needs.
"""

from setuptools import find_packages, setup

_ROOTS = {"aegis.core": "core", "aegis.bot": "bot"}

packages = [f"aegis.{name}" for name in find_packages(include=["core", "core.*", "bot", "bot.*"])]

setup(
    packages=packages,
    package_dir=_ROOTS,
    package_data={"aegis.core": ["py.typed", "agents/prompts/*.md"], "aegis.bot": ["py.typed"]},
)

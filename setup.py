"""What pyproject.toml cannot say: found packages plus one mapped folder.

The shipped packs stay in `rules/` at the root of the repository, where they are edited, tested and
turned into the Kubernetes ConfigMap; the wheel carries them as the package `switchyard.rules`. A
`[tool.setuptools.packages]` table is either a list or `find`, never both, and a mapped folder has to
be listed: so the list is made here, found and then extended. Editable installs map the same folder.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["switchyard*"]), "switchyard.rules", "switchyard.rules.extra"],
    package_dir={"switchyard.rules": "rules"},
)

"""The wheel carries the project's shipped files (config/, sql/, grafana/provisioning/)
inside the lcm package, at lcm/_data/, where lcm/paths.py finds them when it runs from an
installed copy. Everything else is declared in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("config", "sql", "grafana/provisioning")  # = lcm.paths.SHIPPED


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for folder in SHIPPED:
            target = Path(self.build_lib, "lcm", "_data", folder)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(root / folder, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})

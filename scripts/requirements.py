"""Print the project's requirements from pyproject.toml, one a line, for pip install -r.

The project runs from its source tree (manage.py), so only its dependencies are installed.
Usage: python scripts/requirements.py [EXTRA ...]
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
    "project"
]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(lines))

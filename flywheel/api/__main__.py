"""``python -m flywheel.api [PATH]``: write the OpenAPI document (default
schemas/openapi.json)."""

import sys
from pathlib import Path

from flywheel.api.app import write_openapi

write_openapi(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas/openapi.json"))

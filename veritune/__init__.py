"""veritune core: the CLI and the few pieces every stage shares (manifests, run folders, config, registries)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("veritune")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from veritune.errors import VerituneError  # noqa: E402

__all__ = ["VerituneError", "__version__"]

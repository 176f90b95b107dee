"""Environment for running the official opik Python SDK against the test server in a benchmark."""

import os
import tempfile


def isolate_environment() -> str:
    """Sets the SDK's environment before `opik` is imported, so no user configuration, telemetry or
    proxy gets in: a temporary HOME with an empty `[opik]` config (unless OPIK_CONFIG_PATH is set),
    the default workspace, Sentry and analytics off. Returns the temporary HOME made (or "") for
    the caller to delete."""
    home = ""
    if not os.environ.get("OPIK_CONFIG_PATH"):
        home = tempfile.mkdtemp(prefix="opik-bench-sdk-home-")
        config = os.path.join(home, ".opik.config")
        with open(config, "w") as f:
            f.write("[opik]\n")
        os.environ["HOME"] = home
        os.environ["OPIK_CONFIG_PATH"] = config
    os.environ.setdefault("OPIK_WORKSPACE", "default")
    os.environ.setdefault("OPIK_SENTRY_ENABLE", "false")
    os.environ.setdefault("OPIK_ANALYTICS_ENABLE", "false")
    os.environ.setdefault("OPIK_API_KEY", "dummy-key")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    return home

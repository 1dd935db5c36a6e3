"""The portal tests run against the push tests' live hub (tests/push/conftest.py)."""

from tests.push.conftest import demo_credentials, webhook_secrets

__all__ = ["demo_credentials", "webhook_secrets"]

"""``onematter token mint``: sign a bearer token for the demo (or, with a key, for tests).

With the default HS256 configuration the token is signed with the secret from
``$ONEMATTER_AUTH_SECRET`` (the demo secret when it is unset, demo mode only).
With RS256, pass the private key: ``--private-key key.pem [--kid KID]``.
"""

from __future__ import annotations

import argparse
import sys

from domain.principal import Role


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, choices=[r.value for r in Role], help="the caller's role")
    parser.add_argument("--subject", "--sub", default=None, help="the token's sub (default: demo-<role>)")
    parser.add_argument("--credit-code", help="ENTERPRISE: the enterprise's unified social credit code")
    parser.add_argument("--projects", help="AGENT: comma-separated project codes assigned to the agent")
    parser.add_argument(
        "--ttl", type=int, default=None, help="lifetime in seconds (default [auth] default_ttl_s)"
    )
    parser.add_argument("--config", help="TOML configuration file (its [auth] section)")
    parser.add_argument("--private-key", help="RS256: PEM file of the private key")
    parser.add_argument("--kid", help="RS256: the key id to put in the token header")


def run(args: argparse.Namespace) -> int:
    from domain.errors import ConfigError
    from gateway.auth import AuthenticationError, authenticator_for
    from gateway.config import load_settings

    role = Role(args.role)
    if args.ttl is not None and args.ttl <= 0:
        print("error: --ttl must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.private_key and not args.config:
        # Without a configuration the hub's [auth] is the HS256 default, which would
        # ignore the key and sign with the secret instead: say so rather than do it.
        print(
            "error: --private-key signs RS256 tokens; pass --config with [auth] algorithm = 'RS256' "
            "and its jwks_file",
            file=sys.stderr,
        )
        return 2
    projects = [p.strip() for p in args.projects.split(",") if p.strip()] if args.projects else None
    try:
        settings = load_settings(args.config)
        authenticator = authenticator_for(settings)
        if args.private_key and authenticator.config.algorithm != "RS256":
            raise ConfigError(
                f"--private-key needs [auth] algorithm = 'RS256' (the configuration says "
                f"{authenticator.config.algorithm})"
            )
        if authenticator.uses_demo_secret:
            print(
                "warning: signed with the public DEMO secret; fine for the embedded demo only",
                file=sys.stderr,
            )
        key = None
        if args.private_key:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            with open(args.private_key, "rb") as handle:
                key = load_pem_private_key(handle.read(), password=None)
        token = authenticator.mint(
            subject=args.subject or f"demo-{role.value.lower()}",
            role=role,
            credit_code=args.credit_code,
            projects=projects,
            ttl_s=args.ttl,
            private_key=key,
            kid=args.kid,
        )
        # Check what we minted the way the hub will: a bad credit code or project fails here.
        authenticator.verify(token)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except AuthenticationError as exc:
        print(f"error: the hub would refuse this token: {exc.reason}", file=sys.stderr)
        return 2
    print(token)
    return 0

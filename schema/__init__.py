"""The GraphQL schema: the only package that knows GraphQL.

Each domain module (``schema/<domain>.py``) exposes a ``Query`` class and, if it
writes, a ``Mutation`` class; ``build_schema`` merges them into one Apollo
Federation 2 subgraph.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.tools import merge_types

from schema.errors import HubErrors, HubSchema

DOMAIN_MODULES = ("schema.matter", "schema.ledger", "schema.catalogue", "schema.audit")

# Federation 2 subgraph. 2.9 is the newest version both Apollo Router and Hive
# Gateway's composition (@theguild/federation-composition) accept; we use only @key.
FEDERATION_VERSION = "2.9"


def build_schema(extensions: Sequence[Any] = (), **kwargs: Any) -> strawberry.federation.Schema:
    queries: list[type] = []
    mutations: list[type] = []
    for name in DOMAIN_MODULES:
        module = importlib.import_module(name)
        queries.append(module.Query)
        if hasattr(module, "Mutation"):
            mutations.append(module.Mutation)
    query = merge_types("Query", tuple(queries))
    mutation = merge_types("Mutation", tuple(mutations)) if mutations else None
    # HubErrors first: every schema reports HubError extensions and masks the rest.
    kwargs.setdefault("federation_version", FEDERATION_VERSION)
    from schema.subscriptions import Subscription

    kwargs.setdefault("subscription", Subscription)
    return HubSchema(query=query, mutation=mutation, extensions=[HubErrors, *extensions], **kwargs)

"""Work the sandbox does once per process instead of once per execution or per deployment.

Each item is a pure function of its input, measured as a large share of a sandbox test's time:

- moto's Step Functions interpreter parses the state machine's definition anew for every execution (with
  ANTLR: about 0.2 s for this definition, twice that under coverage, more than the rest of a run's
  interpreting) and each JSONPath anew every time it evaluates one (jsonpath-ng rebuilds its lexer and
  parser tables on every call). Here each text is parsed once: the ANTLR tree is kept and turned into
  fresh evaluation components for every execution, exactly as moto builds them from it, so nothing one
  execution evaluates is shared with another; a parsed JSONPath is only read when it is evaluated.
- moto gives every ``mock_aws`` a new boto3 default session, whose loader reads each service's model
  (megabytes of JSON) again for each client. The sessions here share one loader, so a model is read once.
- moto's KMS generates a 2,048-bit RSA key pair for every key it creates, for asymmetric operations that
  this stack's symmetric keys never perform: one pair per key spec serves them all.
"""

import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import boto3
import botocore.loaders
import botocore.session
from moto.kms import models as kms_models
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import json_path

_parse_definition = AmazonStateLanguageParser.parse
# Definition text -> its ANTLR parse tree (a syntax error is raised by moto's own parse, never kept).
_TREES: dict[str, Any] = {}
_LOADER = botocore.loaders.create_loader()
_private_key = functools.cache(kms_models.generate_private_key)


def _cached_parse(definition: str) -> tuple[Any, Any]:
    tree = _TREES.get(definition)
    if tree is None:
        program, tree = _parse_definition(definition)
        _TREES[definition] = tree
        return program, tree
    return Preprocessor().visit(tree), tree


def _default_session() -> boto3.Session:
    """A new default session (as moto would make one), reading service models through the shared loader."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    session = boto3.Session(botocore_session=core)
    # boto3 adds its own data path to the loader each time: once is enough.
    _LOADER.search_paths[:] = list(dict.fromkeys(_LOADER.search_paths))
    return session


@contextmanager
def cached() -> Iterator[None]:
    """While active (inside moto's mock), the parses, service models and key pairs above are reused."""
    with ExitStack() as patches:
        patches.enter_context(
            mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(_cached_parse))
        )
        for module in (json_path, result_path):
            patches.enter_context(
                mock.patch.object(module, "parse", functools.lru_cache(maxsize=1024)(module.parse))
            )
        patches.enter_context(mock.patch.object(kms_models, "generate_private_key", _private_key))
        patches.enter_context(mock.patch.object(boto3, "DEFAULT_SESSION", _default_session()))
        yield

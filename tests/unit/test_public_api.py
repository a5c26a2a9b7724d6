"""The public API is what it says: ``lifecycle.__all__``, the contracts and the error tree."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import subprocess
import sys
from typing import Any

import pytest

import lifecycle
import lifecycle.contracts
import lifecycle.errors

# What ``from lifecycle.contracts import ...`` gave before the module became a package;
# callers (the CLI, the benchmarks, other projects) keep importing these from there.
CONTRACT_NAMES = (
    "CHANNELS", "COUNTRIES", "CURRENCIES", "DEFAULT_LIMITS", "LOSS_REASONS",
    "REASON_TAXONOMY_VERSION", "ActionKind", "BusinessTime", "Channel", "Inbound", "Limits",
    "LossReason", "Profile", "SalesAction", "Touchpoint", "format_validation_error",
    "inbound_json_schema", "normalized_email", "parse_inbound", "parse_inbound_json",
)


def _own_doc(obj: Any) -> str:
    """The docstring the object itself declares (not one inherited from a base class)."""
    doc = vars(obj).get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return (doc or "").strip()


@pytest.mark.parametrize("name", lifecycle.__all__)
def test_every_public_name_is_importable_from_lifecycle(name: str) -> None:
    namespace: dict[str, Any] = {}
    exec(f"from lifecycle import {name}", namespace)
    assert namespace[name] is getattr(lifecycle, name)
    assert name in dir(lifecycle)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, Any] = {}
    exec("from lifecycle import *", namespace)
    assert sorted(n for n in namespace if n != "__builtins__") == sorted(lifecycle.__all__)
    assert len(set(lifecycle.__all__)) == len(lifecycle.__all__)


@pytest.mark.parametrize("name", [n for n in lifecycle.__all__ if n != "__version__"])
def test_every_public_name_is_documented(name: str) -> None:
    obj = getattr(lifecycle, name)
    assert _own_doc(obj), f"lifecycle.{name} has no docstring of its own"
    # an error is described in the tree of lifecycle.errors; anything else here
    is_error = isinstance(obj, type) and issubclass(obj, lifecycle.LifecycleError)
    assert is_error or f"`{name}`" in (lifecycle.__doc__ or ""), (
        f"the package docstring does not mention {name}")


def test_version_is_the_installed_distributions() -> None:
    assert lifecycle.__version__ == importlib.metadata.version("lead-lifecycle")


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'record'"):
        lifecycle.record  # noqa: B018


def test_import_lifecycle_loads_no_engine() -> None:
    # A program that only needs an error class or the version must not pay for the
    # engine (eventsourcing, the drivers, pydantic): they load on first use of a name.
    code = ("import sys, lifecycle; heavy = [m for m in ('lifecycle.application', "
            "'lifecycle.contracts', 'lifecycle.settings', 'eventsourcing', 'pydantic', "
            "'psycopg', 'sqlite3') if m in sys.modules]; print(heavy); "
            "lifecycle.build_application; print('lifecycle.application' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True"]


def test_the_engine_and_its_cli_load_no_optional_dependency() -> None:
    # The import rules (pyproject.toml, lint-imports) let exactly one module reach
    # streams: the CLI's worker command, lazily. Whether it is lazy they cannot see; this
    # does. Kafka, Faust and matplotlib are optional extras: the engine runs without them.
    code = ("import sys, lifecycle.application, lifecycle.cli; print(sorted(m for m in "
            "('streams', 'faust', 'mode', 'kafka', 'aiokafka', 'matplotlib', 'demo', "
            "'lifecycle.demo') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_names_stay_importable_from_lifecycle_contracts(name: str) -> None:
    assert name in lifecycle.contracts.__all__
    assert getattr(lifecycle.contracts, name) is not None


def test_public_contract_names_are_the_contracts() -> None:
    for name in lifecycle.__all__:
        if name in lifecycle.contracts.__all__:
            assert getattr(lifecycle, name) is getattr(lifecycle.contracts, name)


def test_every_error_class_is_public_and_drawn_in_the_tree() -> None:
    errors = {name: getattr(lifecycle.errors, name) for name in lifecycle.errors.__all__}
    tree = lifecycle.errors.__doc__ or ""
    for name, cls in errors.items():
        assert issubclass(cls, lifecycle.LifecycleError)
        assert name in lifecycle.__all__, f"lifecycle.errors.{name} is not exported"
        assert f"── {name} " in tree or name == "LifecycleError", f"{name} not in the tree"
        assert _own_doc(cls), f"{name} has no docstring"


def test_every_lifecycle_error_of_the_package_is_drawn_in_the_tree() -> None:
    # Whatever subclass of LifecycleError a module of the package defines is an error it
    # raises on purpose: the tree in lifecycle.errors must show it.
    for module in pkgutil.walk_packages(lifecycle.__path__, "lifecycle."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    tree = lifecycle.errors.__doc__ or ""
    found: list[type[lifecycle.LifecycleError]] = []
    pending: list[type[lifecycle.LifecycleError]] = [lifecycle.LifecycleError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    public = [c for c in found if c.__module__.startswith("lifecycle") and
              not c.__name__.startswith("_")]
    assert len(public) >= len(lifecycle.errors.__all__)
    for error in public:
        assert f" {error.__name__} " in tree, f"{error.__module__}.{error.__name__} not in the tree"


def test_input_rejections_carry_the_code_the_tree_shows() -> None:
    tree = lifecycle.errors.__doc__ or ""
    for name in lifecycle.errors.__all__:
        cls = getattr(lifecycle.errors, name)
        if issubclass(cls, lifecycle.InputRejected) and cls is not lifecycle.InputRejected:
            line = next(line for line in tree.splitlines() if f"── {name} " in line)
            assert line.rstrip().endswith(f" {cls.code}"), (name, cls.code)


def test_constructor_context_is_keyword_only() -> None:
    for cls in (lifecycle.IdConflict, lifecycle.IdentityConflict, lifecycle.IllegalTransition,
                lifecycle.UnknownTemplate):
        params = list(inspect.signature(cls).parameters.values())
        context = [p for p in params if p.name not in ("name", "key")]
        assert context
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in context), cls

"""Rules D, L, R (per trace code), S (per sale) and B (per buyer token) as pure functions.

Each takes one code's events (or one sale) plus reference data and returns findings;
nothing here knows of gRPC or SQL, so the rules shard by code and unit tests drive
them without a database.
"""

from reconciler.rules.buyer import BuyerParams, evaluate_buyer
from reconciler.rules.model import (
    CodeEvent,
    CodeFindings,
    Finding,
    Reference,
    ReturnChain,
    Rule,
    Severity,
)
from reconciler.rules.per_code import evaluate_code
from reconciler.rules.substitution import evaluate_sale

__all__ = [
    "BuyerParams",
    "CodeEvent",
    "CodeFindings",
    "Finding",
    "Reference",
    "ReturnChain",
    "Rule",
    "Severity",
    "evaluate_buyer",
    "evaluate_code",
    "evaluate_sale",
]

"""The pricing engine: pure, exact Decimal pricing of every model of API.md.

    terms = parse_price_terms("graduated", {"tiers": [...]}, "EUR")      # validate once
    result = compute_price(terms, "EUR", Decimal("21"))                  # price many times
    result.total, result.unrounded, result.breakdown, result.to_dict()

No I/O, no clock. See docs/pricing.md for the models, the rounding rule and the formula language.
"""

from billow.domain.pricing.engine import compute_price, parse_variable_values
from billow.domain.pricing.formula import Formula, FormulaError, compile_formula
from billow.domain.pricing.results import PriceComputation, TierLine
from billow.domain.pricing.terms import (
    MAX_TIERS,
    MAX_VARIABLES,
    MODEL_FIELDS,
    MODELS,
    FlatTerms,
    FormulaTerms,
    FormulaVariable,
    GraduatedTerms,
    PackageTerms,
    PercentageTerms,
    PerUnitTerms,
    PriceTerms,
    StaircaseTerms,
    Tier,
    VariableValue,
    VolumeTerms,
    parse_price_terms,
)

__all__ = [
    "MAX_TIERS",
    "MAX_VARIABLES",
    "MODELS",
    "MODEL_FIELDS",
    "FlatTerms",
    "Formula",
    "FormulaError",
    "FormulaTerms",
    "FormulaVariable",
    "GraduatedTerms",
    "PackageTerms",
    "PerUnitTerms",
    "PercentageTerms",
    "PriceComputation",
    "PriceTerms",
    "StaircaseTerms",
    "Tier",
    "TierLine",
    "VariableValue",
    "VolumeTerms",
    "compile_formula",
    "compute_price",
    "parse_price_terms",
    "parse_variable_values",
]

"""Pricing engine throughput: compute_price calls per second in-process, per pricing model.

Each model prices a fixed cycle of quantities (decimal ones included) with terms parsed once,
as a billing run does. A round is ROUND_CALLS calls; the figure is the median rate of ROUNDS
rounds after a warm-up, on one core (the engine is single-threaded, pure Python and Decimal).
Targets (issue 3): graduated with 10 tiers >= 50,000/s, formula >= 10,000/s. Volume and package
are held to the graduated target, as they do less work per call.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from billow.domain.pricing import PriceTerms, compute_price, parse_price_terms
from tests.performance.registry import Target, figure, main

ROUNDS = 7
ROUND_CALLS = 20_000
WARMUP_CALLS = 5_000
CURRENCY = "EUR"
QUANTITIES = [Decimal(n) / 4 for n in range(0, 601, 7)]  # 0 to 150 in uneven steps, 87 values

TEN_TIERS = [
    {"up_to": str(10 * (i + 1)), "unit_amount": f"{10 - i}.25", "flat_amount": "1.5"} for i in range(9)
]
TEN_TIERS.append({"up_to": None, "unit_amount": "0.75", "flat_amount": "0"})

CASES: dict[str, tuple[str, dict[str, Any], dict[str, Any], float]] = {
    "graduated_10_tiers": ("graduated", {"tiers": TEN_TIERS}, {}, 50_000),
    "volume_10_tiers": ("volume", {"tiers": TEN_TIERS}, {}, 50_000),
    "package": ("package", {"amount": "100", "package_size": 10, "free_units": "5"}, {}, 50_000),
    "formula": (
        "formula",
        {
            "expression": (
                "base + if(quantity > included, ceil((quantity - included) / step) * step_price, 0)"
                " + if(premium, min(quantity * 0.1, 25), 0)"
            ),
            "variables": [
                {"name": "base", "type": "decimal", "default": "49.00"},
                {"name": "included", "type": "integer", "default": 20},
                {"name": "step", "type": "integer", "default": 5},
                {"name": "step_price", "type": "decimal", "default": "7.5"},
                {"name": "premium", "type": "boolean", "default": False},
            ],
        },
        {"variables": {"premium": True, "included": 25}},
        10_000,
    ),
}


def _rate(call: Callable[[Decimal], object], calls: int) -> float:
    quantities = QUANTITIES
    count = len(quantities)
    started = time.perf_counter()
    for i in range(calls):
        call(quantities[i % count])
    return calls / (time.perf_counter() - started)


def _measure(terms: PriceTerms, inputs: dict[str, Any]) -> dict[str, float]:
    def call(quantity: Decimal) -> object:
        return compute_price(terms, CURRENCY, quantity, **inputs)

    def call_and_serialise(quantity: Decimal) -> object:
        return compute_price(terms, CURRENCY, quantity, **inputs).to_dict()

    _rate(call, WARMUP_CALLS)
    rates = [_rate(call, ROUND_CALLS) for _ in range(ROUNDS)]
    with_json = [_rate(call_and_serialise, ROUND_CALLS // 4) for _ in range(3)]
    return {
        "median": statistics.median(rates),
        "min": min(rates),
        "max": max(rates),
        "with_to_dict": statistics.median(with_json),
    }


def run() -> dict[str, Any]:
    result: dict[str, Any] = {"description": __doc__.strip().splitlines()[0] if __doc__ else ""}
    for name, (model, raw, inputs, target) in CASES.items():
        terms = parse_price_terms(model, raw, CURRENCY)
        lines = [len(compute_price(terms, CURRENCY, q, **inputs).breakdown) for q in QUANTITIES]
        rates = _measure(terms, inputs)
        result[name] = figure(
            rates["median"],
            "computations/s",
            Target(">=", target),
            min_per_s=round(rates["min"]),
            max_per_s=round(rates["max"]),
            mean_breakdown_lines=round(statistics.fmean(lines), 2),
            us_per_computation=round(1e6 / rates["median"], 2),
        )
        result[f"{name}_with_to_dict"] = figure(
            rates["with_to_dict"], "computations/s", note="compute_price(...).to_dict(), the API answer"
        )
    result["rounds"] = ROUNDS
    result["calls_per_round"] = ROUND_CALLS
    return result


if __name__ == "__main__":
    main(run)

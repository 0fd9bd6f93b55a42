"""Tax on invoices as the domain sees it: the taxes of each line, and the breakdown the document
states. Which taxes apply is decided in domain/tax_determination.py (behind the tax port);
here only the arithmetic lives.

**Groups.** A line carries a stack of taxes (:class:`LineTaxes`) in apply order: at most one
VAT, possibly sales taxes, GST, HST. The breakdown groups the lines by (tax type,
jurisdiction, category, rate, compound) and taxes each group once, rounded half-up to the
currency's minor unit (EN 16931 BR-CO-17, API.md "rounding"): a group's tax is
round(taxable amount * rate / 100), its taxable amount the sum of its lines' rounded nets. An
invoice's tax never drifts by summing per-line roundings.

**Compound taxes** (a provincial tax charged on the price plus the federal tax) are charged on
the line's net plus the taxes before it in apply order. With several lines, "the taxes before
it" are computed over the same lines: the lines of a compound group are split by the taxes
they carry before it (their stack's prefix); for each such part the taxes of the prefix are
recomputed over that part's nets, in order, each rounded once (a compound one among them on
that part's net plus the ones before it), and the part contributes its nets plus those taxes.
The compound group's taxable amount is the sum over its parts; its tax is rounded once from
that. When every line carries the same taxes (the usual case) there is one part, so the
compound base is exactly the invoice's net plus the tax amounts printed in the groups before
it: 100.00 net, GST 5 % = 5.00, QST 9.975 % compound on 105.00 = 10.47.

**Tax-included (inclusive) lines.** The line's amount is the gross price; the net is derived.
A tax-included line carries exactly one tax, never a compound one (a price that includes two
taxes cannot be split without fixing how the rounding falls between them; refused with a
conflict). For each group with tax-included lines, the taxable amount T is chosen so that
T + round(T * rate / 100) equals the target: the gross of its tax-included lines plus, for
its other (tax-excluded) lines, their nets plus round(their nets * rate / 100). T minus the
tax-excluded nets is then shared out as the nets of the tax-included lines: each gets
round(gross * 100 / (100 + rate)), and the cents left over go one by one to the lines with
the largest gross. So the nets of a group sum to its taxable amount, its tax follows BR-CO-17,
and the document's total is the sum of the gross prices (119.00 at 19 % gives 100.00 + 19.00).
T + round(T * rate / 100) grows by one or two cents per cent of T, so some targets cannot be
reached: 9.99 at 19 % lies between 8.39 + 1.59 = 9.98 and 8.40 + 1.60 = 10.00. Then the group
comes one cent closer to zero than the target (9.98): the customer is never charged more than
the prices shown. That happens per group, so an invoice is at most one cent off per such group.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from billow.domain.errors import Conflict
from billow.domain.money import Money, minor_units

HUNDRED = Decimal(100)
TAX_TYPES = ("vat", "sales_tax", "gst", "hst")
# What a group of the breakdown is keyed by: tax type, jurisdiction, category, rate, compound.
GroupKey = tuple[str, str | None, str, Decimal, bool]


def format_rate(rate: Decimal) -> str:
    """A percentage without trailing zeros and never in exponent form: 19, 5.5, 9.975."""
    text = format(rate, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class TaxRate:
    """One tax applying to a line: an EN 16931 category code (S standard, Z zero rated,
    E exempt, AE reverse charge, K intra-EU, G export, O outside the scope; taxes that are
    not VAT use S, or Z at 0 %) and a percent, with what the document must say about it."""

    category: str
    rate: Decimal
    exemption_reason: str | None = None
    exemption_reason_code: str | None = None  # VATEX code, e.g. VATEX-EU-AE, VATEX-EU-G
    tax_type: str = "vat"  # vat | sales_tax | gst | hst
    jurisdiction: str | None = None  # "DE", "US-CA", "CA-QC"
    compound: bool = False  # charged on the net plus the taxes before it
    inclusive: bool = False  # the line's amount already includes it
    rule_id: str | None = None  # the tenant's tax rule it came from, if any
    name: str | None = None  # printable, e.g. "VAT 19 %", "QST"

    @property
    def group_key(self) -> GroupKey:
        return (self.tax_type, self.jurisdiction, self.category, self.rate, self.compound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rate": str(self.rate),
            "exemption_reason": self.exemption_reason,
            "exemption_reason_code": self.exemption_reason_code,
            "tax_type": self.tax_type,
            "jurisdiction": self.jurisdiction,
            "compound": self.compound,
            "inclusive": self.inclusive,
            "rule_id": self.rule_id,
            "name": self.name,
        }

    def summary_dict(self) -> dict[str, Any]:
        """The short form documents have always shown as a line's ``tax_rate``."""
        return {"category": self.category, "rate": str(self.rate), "exemption_reason": self.exemption_reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxRate:
        # Records written before several taxes per line only have the first three keys.
        return cls(
            category=data["category"],
            rate=Decimal(data["rate"]),
            exemption_reason=data.get("exemption_reason"),
            exemption_reason_code=data.get("exemption_reason_code"),
            tax_type=data.get("tax_type") or "vat",
            jurisdiction=data.get("jurisdiction"),
            compound=bool(data.get("compound", False)),
            inclusive=bool(data.get("inclusive", False)),
            rule_id=data.get("rule_id"),
            name=data.get("name"),
        )


def stack_problem(rates: Sequence[TaxRate]) -> str | None:
    """Why these taxes cannot apply together to one line, or None."""
    if sum(1 for rate in rates if rate.tax_type == "vat") > 1:
        return "a line can carry only one VAT"
    keys = [rate.group_key for rate in rates]
    if len(set(keys)) != len(keys):
        return "a line cannot carry the same tax twice"
    inclusive = [rate for rate in rates if rate.inclusive]
    if inclusive and any(rate.compound for rate in rates):
        return "a tax-included price cannot be combined with a compound tax"
    if inclusive and len(rates) > 1:
        return "a tax-included price can include one tax only, and carry no other tax"
    return None


@dataclass(frozen=True)
class LineTaxes:
    """What the tax decision gives one line: its taxes in apply order and, when the document
    must say something about them (reverse charge, an unverifiable VAT ID), that sentence."""

    rates: tuple[TaxRate, ...]
    note: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", tuple(self.rates))
        problem = stack_problem(self.rates)
        if problem is not None:
            described = ", ".join(
                rate.name or f"{rate.tax_type} {format_rate(rate.rate)} %" for rate in self.rates
            )
            raise Conflict(detail=f"these taxes cannot apply to one line ({described}): {problem}")

    @classmethod
    def of(cls, *rates: TaxRate, note: str | None = None) -> LineTaxes:
        return cls(tuple(rates), note)

    @property
    def vat(self) -> TaxRate | None:
        return next((rate for rate in self.rates if rate.tax_type == "vat"), None)

    @property
    def inclusive(self) -> bool:
        return any(rate.inclusive for rate in self.rates)


def tax_of(net: Money, rate: Decimal) -> Money:
    return net.times(rate / HUNDRED).rounded()


@dataclass(frozen=True)
class TaxAmount:
    """One group of the breakdown: the lines of one tax type, jurisdiction, category, rate
    and compounding, with their taxable amount and the tax rounded once from it."""

    category: str
    rate: Decimal
    taxable_amount: Money
    amount: Money
    exemption_reason: str | None = None
    exemption_reason_code: str | None = None
    tax_type: str = "vat"
    jurisdiction: str | None = None
    compound: bool = False
    name: str | None = None

    @property
    def group_key(self) -> GroupKey:
        return (self.tax_type, self.jurisdiction, self.category, self.rate, self.compound)

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "rate": str(self.rate),
            "taxable_amount": self.taxable_amount.as_dict(),
            "amount": self.amount.as_dict(),
            "exemption_reason": self.exemption_reason,
            "exemption_reason_code": self.exemption_reason_code,
            "tax_type": self.tax_type,
            "jurisdiction": self.jurisdiction,
            "compound": self.compound,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaxAmount:
        return cls(
            category=data["category"],
            rate=Decimal(data["rate"]),
            taxable_amount=Money(
                Decimal(data["taxable_amount"]["amount"]), data["taxable_amount"]["currency"]
            ),
            amount=Money(Decimal(data["amount"]["amount"]), data["amount"]["currency"]),
            exemption_reason=data.get("exemption_reason"),
            exemption_reason_code=data.get("exemption_reason_code"),
            tax_type=data.get("tax_type") or "vat",
            jurisdiction=data.get("jurisdiction"),
            compound=bool(data.get("compound", False)),
            name=data.get("name"),
        )


@dataclass(frozen=True)
class TaxedLines:
    """The arithmetic's answer: each line's net (derived for tax-included lines) and the
    breakdown."""

    nets: tuple[Money, ...]
    groups: tuple[TaxAmount, ...] = field(default=())


def _group_order(group: TaxAmount) -> tuple[Any, ...]:
    # VAT first, then the other taxes; a compound tax after the plain ones of its jurisdiction.
    return (
        group.tax_type != "vat",
        group.tax_type,
        group.jurisdiction or "",
        group.compound,
        group.category,
        group.rate,
    )


def _stack_taxes(net: Money, rates: Sequence[TaxRate]) -> list[Money]:
    """The taxes of a stack on one net, in order, each rounded once; a compound one is charged
    on the net plus the taxes before it."""
    taxes: list[Money] = []
    for rate in rates:
        base = net
        if rate.compound:
            for earlier in taxes:
                base = base + earlier
        taxes.append(tax_of(base, rate.rate))
    return taxes


def line_tax(net: Money, rates: Sequence[TaxRate]) -> Money:
    """A line's own share of tax (informative; a document taxes each group once)."""
    total = Money.zero(net.currency)
    for tax in _stack_taxes(net.rounded(), rates):
        total = total + tax
    return total


def _grossed(taxable: Money, rate: Decimal) -> Money:
    return taxable + tax_of(taxable, rate)


def _solve_taxable(target: Money, rate: Decimal) -> Money:
    """The largest taxable amount (in magnitude) whose amount plus tax does not pass the
    target: the target itself when reachable, else one cent closer to zero."""
    if target.amount < 0:
        return -_solve_taxable(-target, rate)
    quantum = Money(Decimal(1).scaleb(-minor_units(target.currency)), target.currency)
    taxable = Money(target.amount * HUNDRED / (HUNDRED + rate), target.currency).rounded()
    while taxable.amount > 0 and _grossed(taxable, rate).amount > target.amount:
        taxable = taxable - quantum
    while _grossed(taxable + quantum, rate).amount <= target.amount:
        taxable = taxable + quantum
    return taxable


def _share_out(total: Money, grosses: Sequence[Money], rate: Decimal) -> list[Money]:
    """Nets for tax-included lines that sum to ``total``: each its own gross taken back to net,
    the cents left over handed out one at a time, largest gross first."""
    nets = [Money(gross.amount * HUNDRED / (HUNDRED + rate), gross.currency).rounded() for gross in grosses]
    left = total - sum(nets[1:], nets[0])
    quantum = Decimal(1).scaleb(-minor_units(total.currency))
    step = Money(quantum if left.amount > 0 else -quantum, total.currency)
    order = sorted(range(len(grosses)), key=lambda i: (-abs(grosses[i].amount), i))
    turn = 0
    while left.amount != 0:
        i = order[turn % len(order)]
        nets[i] = nets[i] + step
        left = left - step
        turn += 1
    return nets


def compute_taxes(lines: Sequence[tuple[Money, Sequence[TaxRate]]], currency: str) -> TaxedLines:
    """Nets and breakdown of a document's lines, each given as (amount as priced, its taxes
    in apply order); see the module docstring for the rules."""
    stacks = [tuple(rates) for _, rates in lines]
    for rates in stacks:
        problem = stack_problem(rates)
        if problem is not None:
            raise Conflict(detail=f"these taxes cannot apply to one line: {problem}")
    amounts = [amount.rounded() for amount, _ in lines]
    nets: list[Money] = list(amounts)

    # Tax-included lines first: their nets come from their group's taxable amount.
    included: dict[GroupKey, list[int]] = {}
    for i, rates in enumerate(stacks):
        if rates and rates[0].inclusive:
            included.setdefault(rates[0].group_key, []).append(i)
    for key, members in included.items():
        percent = key[3]
        inside = set(members)
        others = [
            i for i, rates in enumerate(stacks) if i not in inside and key in (r.group_key for r in rates)
        ]
        excluded = sum((amounts[i] for i in others), Money.zero(currency))
        gross = sum((amounts[i] for i in members), Money.zero(currency))
        target = gross + _grossed(excluded, percent)
        share = _solve_taxable(target, percent) - excluded
        for i, net in zip(members, _share_out(share, [amounts[i] for i in members], percent), strict=True):
            nets[i] = net

    first_seen: dict[GroupKey, TaxRate] = {}
    taxable: dict[GroupKey, Money] = {}
    # Compound groups: their lines split by the taxes before the compound one.
    parts: dict[GroupKey, dict[tuple[GroupKey, ...], tuple[Money, tuple[TaxRate, ...]]]] = {}
    for net, rates in zip(nets, stacks, strict=True):
        for position, rate in enumerate(rates):
            key = rate.group_key
            first_seen.setdefault(key, rate)
            if not rate.compound:
                taxable[key] = taxable.get(key, Money.zero(currency)) + net
                continue
            before = rates[:position]
            prefix = tuple(r.group_key for r in before)
            part_net, _ = parts.setdefault(key, {}).get(prefix, (Money.zero(currency), before))
            parts[key][prefix] = (part_net + net, before)
    for key, by_prefix in parts.items():
        base = Money.zero(currency)
        for part_net, before in by_prefix.values():
            base = base + part_net
            for tax in _stack_taxes(part_net, before):
                base = base + tax
        taxable[key] = base

    groups = [
        TaxAmount(
            category=rate.category,
            rate=rate.rate,
            taxable_amount=taxable[key],
            amount=tax_of(taxable[key], rate.rate),
            exemption_reason=rate.exemption_reason,
            exemption_reason_code=rate.exemption_reason_code,
            tax_type=rate.tax_type,
            jurisdiction=rate.jurisdiction,
            compound=rate.compound,
            name=rate.name,
        )
        for key, rate in first_seen.items()
    ]
    return TaxedLines(tuple(nets), tuple(sorted(groups, key=_group_order)))


def breakdown(lines: Iterable[tuple[Money, TaxRate]], currency: str) -> tuple[TaxAmount, ...]:
    """Group rounded net amounts by their one tax each and tax each group once."""
    return compute_taxes([(net, (rate,)) for net, rate in lines], currency).groups


def tax_total_of(groups: Iterable[TaxAmount], currency: str) -> Money:
    """The tax of a document: the sum of its breakdown's groups."""
    total = Money.zero(currency)
    for group in groups:
        total = total + group.amount
    return total


def gross_factor(rates: Sequence[TaxRate]) -> Decimal:
    """What 100 of net comes to with these taxes, unrounded (100 + rate for a single tax)."""
    taxes: list[Decimal] = []
    for rate in rates:
        base = HUNDRED + (sum(taxes, Decimal(0)) if rate.compound else Decimal(0))
        taxes.append(base * rate.rate / HUNDRED)
    return HUNDRED + sum(taxes, Decimal(0))

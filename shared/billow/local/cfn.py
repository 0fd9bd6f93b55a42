"""Read a CloudFormation/SAM template and resolve its intrinsic functions locally.

Public API::

    load_template(path: str | Path) -> dict[str, Any]
        YAML with CloudFormation short tags (!Ref, !Sub, !GetAtt, !If, !Join, !Select, !Split,
        !Equals, !Not, !And, !Or, !Condition, !FindInMap, !Base64, !GetAZs, !ImportValue,
        !Cidr) turned into their long forms ({"Ref": ...}, {"Fn::Sub": ...}, ...).
    references(value: Any) -> set[str]
        Logical ids a value refers to through Ref, Fn::GetAtt and Fn::Sub.
    merge_globals(globals_section: Mapping[str, Any], properties: Mapping[str, Any]) -> dict
        SAM's Globals rules: maps merge, lists concatenate, the resource's scalars win.
    class Resolver:
        Resolver(template: Mapping[str, Any], *, region: str, account_id: str,
                 stack_name: str, parameters: Mapping[str, str] | None = None)
        parameters: dict[str, Any]                    # defaults + overrides
        set_resource(logical_id: str, ref: str, attributes: Mapping[str, str] | None = None)
        resolve(value: Any) -> Any                     # raises UnresolvedReference
        condition(name: str) -> bool
    class UnresolvedReference(LookupError)
    NO_VALUE                                           # AWS::NoValue (dropped by resolve)
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

_TAGS_WITHOUT_FN: Final = {"Ref", "Condition"}


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that also understands CloudFormation's ``!Tag`` short forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in _TAGS_WITHOUT_FN else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Resource.Attribute
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {key: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


class UnresolvedReference(LookupError):
    """A Ref/GetAtt to something that has not been created (yet)."""


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Final = _NoValue()
_SUB_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")


def _sub_names(text: str) -> list[str]:
    return [m for m in _SUB_VARIABLE.findall(text) if not m.startswith("!")]


def references(value: Any) -> set[str]:
    """Logical ids (or parameter names: the caller filters) that ``value`` refers to."""
    found: set[str] = set()
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" and isinstance(arg, str):
                return {arg}
            if key == "Fn::GetAtt":
                name = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                return {name}
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = {n.split(".", 1)[0] for n in _sub_names(text)} - set(variables)
                return names | references(variables)
        for item in value.values():
            found |= references(item)
    elif isinstance(value, list):
        for item in value:
            found |= references(item)
    return found


def merge_globals(globals_section: Mapping[str, Any], properties: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(globals_section)
    for key, value in properties.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = [*base, *value]
        else:
            merged[key] = value
    return merged


class Resolver:
    """Evaluates intrinsic functions against parameters and already created resources."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        region: str,
        account_id: str,
        stack_name: str,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.parameters: dict[str, Any] = {}
        overrides = dict(parameters or {})
        for name, spec in (template.get("Parameters") or {}).items():
            if name in overrides:
                raw: Any = overrides.pop(name)
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                raise ValueError(f"template parameter {name} has no default; pass a value")
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(raw) not in {str(a) for a in allowed}:
                raise ValueError(f"parameter {name}={raw!r} is not one of {allowed}")
            kind = str(spec.get("Type", "String"))
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                self.parameters[name] = raw if isinstance(raw, list) else str(raw).split(",")
            else:
                self.parameters[name] = str(raw)  # CloudFormation hands every value over as text
        if overrides:
            raise ValueError(f"unknown template parameters: {sorted(overrides)}")
        self._refs: dict[str, str] = {}
        self._attributes: dict[str, dict[str, str]] = {}
        self._conditions: dict[str, bool] = {}

    # -------------------------------------------------------------- state

    @property
    def pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }

    def set_resource(self, logical_id: str, ref: str, attributes: Mapping[str, str] | None = None) -> None:
        self._refs[logical_id] = ref
        self._attributes[logical_id] = dict(attributes or {})

    def ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = self.pseudo_parameters
        if name in pseudo:
            return pseudo[name]
        if name in self._refs:
            return self._refs[name]
        raise UnresolvedReference(f"Ref {name}: not a parameter nor a created resource")

    def get_att(self, name: str, attribute: str) -> str:
        if name not in self._attributes:
            raise UnresolvedReference(f"GetAtt {name}.{attribute}: resource not created")
        attributes = self._attributes[name]
        if attribute not in attributes:
            raise UnresolvedReference(f"GetAtt {name}.{attribute}: no such attribute locally")
        return attributes[attribute]

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.template.get("Conditions") or {}
            if name not in conditions:
                raise UnresolvedReference(f"condition {name} is not defined")
            self._conditions[name] = bool(self.resolve(conditions[name]))
        return self._conditions[name]

    # -------------------------------------------------------------- evaluation

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, arg),) = value.items()
                if key == "Ref":
                    return self.ref(arg)
                if key == "Condition" and isinstance(arg, str):
                    return self.condition(arg)
                if key.startswith("Fn::"):
                    return self._function(key[4:], arg)
            resolved = {k: self.resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not NO_VALUE}
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        return value

    def _function(self, name: str, arg: Any) -> Any:
        if name == "GetAtt":
            logical, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(str(logical), str(self.resolve(attribute)))
        if name == "Sub":
            return self._sub(arg)
        if name == "Join":
            separator, items = arg
            return str(separator).join(str(i) for i in self.resolve(items))
        if name == "Select":
            index, items = self.resolve(arg)
            return items[int(index)]
        if name == "Split":
            separator, text = self.resolve(arg)
            return str(text).split(separator)
        if name == "If":
            condition, when_true, when_false = arg
            return self.resolve(when_true if self.condition(condition) else when_false)
        if name == "Equals":
            left, right = self.resolve(arg)
            return str(left) == str(right)
        if name == "Not":
            return not self.resolve(arg[0])
        if name == "And":
            return all(self.resolve(item) for item in arg)
        if name == "Or":
            return any(self.resolve(item) for item in arg)
        if name == "FindInMap":
            mapping, top, second = (self.resolve(a) for a in arg[:3])
            return self.template["Mappings"][mapping][top][second]
        if name == "Base64":
            return base64.b64encode(str(self.resolve(arg)).encode()).decode()
        if name == "GetAZs":
            return [f"{self.region}{zone}" for zone in "abc"]
        raise UnresolvedReference(f"Fn::{name} is not supported by the local stack")

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, str):
            text, variables = arg, {}
        else:
            text, raw_variables = arg
            variables = {k: self.resolve(v) for k, v in raw_variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stands for the text ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return self.get_att(logical, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, str(text))

"""Create, on the embedded emulator, what template.yaml declares: the local stack.

The template is the single source of truth; nothing here names a Billow resource. Resources
are created in dependency order (Ref / GetAtt / Sub / DependsOn), so a function's event source
finds its table's stream and a state machine's substitutions find the functions' ARNs.

Created locally (through boto3, against the emulator):

* ``AWS::DynamoDB::Table``, ``AWS::Serverless::SimpleTable`` - keys, GSIs/LSIs, stream, TTL,
  point-in-time recovery, SSE.
* ``AWS::S3::Bucket`` (versioning, encryption, public access block), ``AWS::SQS::Queue``,
  ``AWS::SecretsManager::Secret`` (a random value from ``GenerateSecretString``),
  ``AWS::Events::EventBus``.
* ``AWS::Events::Rule`` with its SQS targets (moto cannot deliver to Lambda or Step Functions
  targets: ``PutEvents`` fails). A scheduled rule that targets a function becomes a schedule.
* ``AWS::Serverless::StateMachine`` / ``AWS::StepFunctions::StateMachine`` from ``Definition``,
  ``DefinitionUri`` or ``DefinitionString`` with ``DefinitionSubstitutions`` resolved.
* ``AWS::Serverless::Function`` as a moto function (a tiny zip: lambda_hook runs the real code
  from ``CodeUri``/``Handler``), its ``SQS`` and ``DynamoDB`` event-source mappings, and its
  ``Schedule``/``ScheduleV2`` events as :class:`Schedule` entries for the ticker.

Everything else (log groups, layers, HTTP APIs, IAM, policies, alarms) has no local meaning:
it gets a placeholder name so that references to it still resolve, and is listed in
``ProvisionedStack.skipped``. Layers whose ``ContentUri`` holds Python code are put on
``sys.path`` (that is how ``shared/`` - the billow package - reaches the handlers in AWS).

Public API::

    DEFAULT_STACK_NAME = "billow-local"
    DEFAULT_ACCOUNT_ID = "123456789012"      # moto's default account

    provision(template_path: str | Path, *, region: str | None = None,
              stack_name: str = DEFAULT_STACK_NAME, parameters: Mapping[str, str] | None = None,
              endpoint_url: str | None = None, account_id: str = DEFAULT_ACCOUNT_ID,
              register_handlers: bool = True) -> ProvisionedStack
    resolve_dynamic_references(value: str, *, secrets: Any, ssm: Any | None = None) -> str
    state_machine_problems(definition: Mapping[str, Any], where: str = "") -> list[str]
        dangling StartAt/Next/Default/Catch names (moto's ASL parser accepts them);
        provisioning refuses a state machine that has any

    @dataclass(frozen=True) class Schedule:
        function_logical_id: str; function_name: str; event_name: str; expression: str
        rule_arn: str; input: Any = None; enabled: bool = True
    @dataclass(frozen=True) class LocalFunction:
        logical_id: str; function_name: str; function_arn: str; code_dir: Path; handler: str
        environment: dict[str, str]
    @dataclass class ProvisionedStack:
        stack_name: str; region: str; account_id: str; template_path: Path
        environment: dict[str, str]            # Globals.Function env, fully resolved
        schedules: list[Schedule]
        functions: dict[str, LocalFunction]    # by logical id
        physical_ids: dict[str, str]           # logical id -> what Ref returns
        attributes: dict[str, dict[str, str]]  # logical id -> GetAtt values
        outputs: dict[str, str]; skipped: dict[str, str]; warnings: list[str]
        function(logical_id_or_name: str) -> LocalFunction
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import string
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

import boto3
from botocore.exceptions import ClientError

from billow.local import lambda_hook
from billow.local.cfn import Resolver, load_template, merge_globals, references
from billow.local.emulator import DEFAULT_REGION

DEFAULT_STACK_NAME: Final = "billow-local"
DEFAULT_ACCOUNT_ID: Final = "123456789012"

logger = logging.getLogger(__name__)

_LOCAL_HOSTS: Final = {"localhost", "127.0.0.1", "::1"}
_DYNAMIC_REFERENCE: Final = re.compile(r"\{\{resolve:(secretsmanager|ssm|ssm-secure):([^}]*)\}\}")
_SQS_ATTRIBUTES: Final = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)
_SIMPLE_TABLE_TYPES: Final = {"String": "S", "Number": "N", "Binary": "B"}
# A valid deployment package; lambda_hook runs the code from the template's CodeUri instead.
_PLACEHOLDER_ZIP_TEXT: Final = "# Billow local stack: the real handler is run in-process.\n"


@dataclass(frozen=True)
class QueueMapping:
    """An ``SQS`` event of a function: the local stack polls the queue itself (queue_poller.py)
    because moto's own mapping runs the function inside SendMessage and never redelivers."""

    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class Schedule:
    """A ``Schedule``/``ScheduleV2`` event (or scheduled rule) that targets a function."""

    function_logical_id: str
    function_name: str  # the name the lambda_hook registry knows the function by
    event_name: str
    expression: str  # rate(...) or cron(...)
    rule_arn: str
    input: Any = None  # the rule's constant Input (parsed JSON), replacing the event
    enabled: bool = True


@dataclass(frozen=True)
class LocalFunction:
    logical_id: str
    function_name: str
    function_arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]


@dataclass
class ProvisionedStack:
    stack_name: str
    region: str
    account_id: str
    template_path: Path
    environment: dict[str, str] = field(default_factory=dict)
    schedules: list[Schedule] = field(default_factory=list)
    queues: list[QueueMapping] = field(default_factory=list)
    functions: dict[str, LocalFunction] = field(default_factory=dict)
    physical_ids: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def function(self, logical_id_or_name: str) -> LocalFunction:
        if logical_id_or_name in self.functions:
            return self.functions[logical_id_or_name]
        for function in self.functions.values():
            if function.function_name == logical_id_or_name:
                return function
        raise KeyError(f"no function {logical_id_or_name!r} in the local stack")


def provision(
    template_path: str | Path,
    *,
    region: str | None = None,
    stack_name: str = DEFAULT_STACK_NAME,
    parameters: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
    account_id: str = DEFAULT_ACCOUNT_ID,
    register_handlers: bool = True,
) -> ProvisionedStack:
    """Create every resource of ``template_path`` that the local stack needs."""
    region = region or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    # Never create anything in a real account by accident.
    if not endpoint_url or urlparse(endpoint_url).hostname not in _LOCAL_HOSTS:
        raise RuntimeError(f"refusing to provision against {endpoint_url!r}: not a local emulator")
    return _Provisioner(
        Path(template_path).resolve(),
        region=region,
        stack_name=stack_name,
        parameters=parameters,
        endpoint_url=endpoint_url,
        account_id=account_id,
        register_handlers=register_handlers,
    ).run()


def resolve_dynamic_references(value: str, *, secrets: Any, ssm: Any | None = None) -> str:
    """Replace ``{{resolve:secretsmanager:...}}`` (and ``ssm``) references by their values."""

    def replace(match: re.Match[str]) -> str:
        service, reference = match.groups()
        if service == "secretsmanager":
            return _secret_reference(reference, secrets)
        if ssm is None:
            raise ValueError(f"cannot resolve {match.group(0)}: no SSM client")
        name, _, version = reference.partition(":")
        parameter = f"{name}:{version}" if version else name
        found = ssm.get_parameter(Name=parameter, WithDecryption=True)
        return str(found["Parameter"]["Value"])

    return _DYNAMIC_REFERENCE.sub(replace, value)


def _secret_reference(reference: str, secrets_client: Any) -> str:
    # secret-id[:SecretString[:json-key[:version-stage[:version-id]]]]; an ARN has 7 parts.
    parts = reference.split(":")
    cut = 7 if reference.startswith("arn:") else 1
    secret_id, rest = ":".join(parts[:cut]), parts[cut:]
    rest += [""] * (4 - len(rest))
    _, json_key, version_stage, version_id = rest[:4]
    request: dict[str, str] = {"SecretId": secret_id}
    if version_id:
        request["VersionId"] = version_id
    elif version_stage:
        request["VersionStage"] = version_stage
    value = str(secrets_client.get_secret_value(**request)["SecretString"])
    return str(json.loads(value)[json_key]) if json_key else value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _generate_secret(spec: Mapping[str, Any]) -> str:
    alphabet = ""
    if not spec.get("ExcludeLowercase"):
        alphabet += string.ascii_lowercase
    if not spec.get("ExcludeUppercase"):
        alphabet += string.ascii_uppercase
    if not spec.get("ExcludeNumbers"):
        alphabet += string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += string.punctuation
    if spec.get("IncludeSpace"):
        alphabet += " "
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    length = int(spec.get("PasswordLength", 32))
    generated = "".join(secrets.choice(alphabet) for _ in range(length))
    template = spec.get("SecretStringTemplate")
    if template is not None:
        document = json.loads(str(template))
        document[str(spec["GenerateStringKey"])] = generated
        return json.dumps(document)
    return generated


def _already_exists(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in {
        "ResourceInUseException",
        "ResourceAlreadyExistsException",
        "ResourceExistsException",
        "BucketAlreadyOwnedByYou",
        "BucketAlreadyExists",
    }


class _Provisioner:
    def __init__(
        self,
        template_path: Path,
        *,
        region: str,
        stack_name: str,
        parameters: Mapping[str, str] | None,
        endpoint_url: str,
        account_id: str,
        register_handlers: bool,
    ) -> None:
        self.template_path = template_path
        self.base_dir = template_path.parent
        self.template = load_template(template_path)
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.endpoint_url = endpoint_url
        self.register_handlers = register_handlers
        self.resolver = Resolver(
            self.template,
            region=region,
            account_id=account_id,
            stack_name=stack_name,
            parameters=parameters,
        )
        self.result = ProvisionedStack(
            stack_name=stack_name, region=region, account_id=account_id, template_path=template_path
        )
        self.globals_function: dict[str, Any] = (self.template.get("Globals") or {}).get("Function") or {}
        self._session = boto3.session.Session(region_name=region)
        self._clients: dict[str, Any] = {}
        self._creators: dict[str, Callable[[str, dict[str, Any]], None]] = {
            "AWS::DynamoDB::Table": self._table,
            "AWS::Serverless::SimpleTable": self._simple_table,
            "AWS::S3::Bucket": self._bucket,
            "AWS::SQS::Queue": self._queue,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::KMS::Key": self._kms_key,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Rule": self._rule,
            "AWS::Serverless::StateMachine": self._state_machine,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Serverless::Function": self._function,
        }

    # -------------------------------------------------------------- plumbing

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    def warn(self, message: str) -> None:
        logger.warning("local stack: %s", message)
        self.result.warnings.append(message)

    def name_for(self, logical_id: str, limit: int = 64) -> str:
        """The physical name CloudFormation would generate, made deterministic."""
        return f"{self.stack_name}-{logical_id}"[:limit]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{resource}"

    def created(self, logical_id: str, ref: str, attributes: Mapping[str, str] | None = None) -> None:
        self.resolver.set_resource(logical_id, ref, attributes)
        self.result.physical_ids[logical_id] = ref
        self.result.attributes[logical_id] = dict(attributes or {})

    def resolve_text(self, value: Any) -> str:
        text = _as_text(self.resolver.resolve(value))
        if "{{resolve:" not in text:
            return text
        return resolve_dynamic_references(text, secrets=self.client("secretsmanager"), ssm=self.client("ssm"))

    def resolve_environment(self, environment: Any) -> dict[str, str]:
        variables = (environment or {}).get("Variables") or {}
        return {name: self.resolve_text(value) for name, value in variables.items()}

    @cached_property
    def execution_role_arn(self) -> str:
        # moto checks that a function's role exists; one role serves every local resource.
        name = self.name_for("local-execution-role")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam = self.client("iam")
        try:
            return str(
                iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "EntityAlreadyExists":
                raise
            return str(iam.get_role(RoleName=name)["Role"]["Arn"])

    @cached_property
    def placeholder_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("local_stack_placeholder.py", _PLACEHOLDER_ZIP_TEXT)
        return buffer.getvalue()

    # -------------------------------------------------------------- the run

    def run(self) -> ProvisionedStack:
        resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in (self.template.get("Resources") or {}).items()
            if "Condition" not in resource or self.resolver.condition(resource["Condition"])
        }
        for logical_id in self._creation_order(resources):
            resource = resources[logical_id]
            creator = self._creators.get(resource["Type"])
            if creator is None:
                self._placeholder(logical_id, resource)
            else:
                creator(logical_id, resource.get("Properties") or {})
        env = (self.globals_function.get("Environment") or {}) if self.globals_function else {}
        self.result.environment = self.resolve_environment(env)
        self._outputs()
        return self.result

    def _creation_order(self, resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
        depends: dict[str, set[str]] = {}
        for logical_id, resource in resources.items():
            needed = references(resource.get("Properties") or {})
            if resource["Type"] == "AWS::Serverless::Function":
                needed |= references(self.globals_function)
            depends_on = resource.get("DependsOn") or []
            needed |= {depends_on} if isinstance(depends_on, str) else set(depends_on)
            depends[logical_id] = (needed & resources.keys()) - {logical_id}
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(resources):
            ready = [r for r in resources if r not in done and depends[r] <= done]
            if not ready:
                cycle = sorted(set(resources) - done)
                raise ValueError(f"circular references between resources: {cycle}")
            order.extend(ready)
            done.update(ready)
        return order

    def _placeholder(self, logical_id: str, resource: Mapping[str, Any]) -> None:
        kind = str(resource["Type"])
        self.result.skipped[logical_id] = kind
        if kind in {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}:
            self._layer_on_path(resource.get("Properties") or {})
        name = self.name_for(logical_id)
        service = kind.split("::")[1].lower()
        # Attribute values nobody can use locally, but references to them must still resolve.
        generic = self.arn(service, name)
        self.created(logical_id, name, {"Arn": generic, "Name": name, "Id": name})

    def _layer_on_path(self, properties: Mapping[str, Any]) -> None:
        content = properties.get("ContentUri") or properties.get("Content")
        if not isinstance(content, str):
            return
        directory = (self.base_dir / content).resolve()
        has_code = directory.is_dir() and any(
            p.suffix == ".py" or (p / "__init__.py").is_file() for p in directory.iterdir()
        )
        if has_code and str(directory) not in sys.path:
            sys.path.insert(0, str(directory))

    def _outputs(self) -> None:
        for name, output in (self.template.get("Outputs") or {}).items():
            if "Condition" in output and not self.resolver.condition(output["Condition"]):
                continue
            try:
                self.result.outputs[name] = _as_text(self.resolver.resolve(output["Value"]))
            except LookupError as error:
                self.warn(f"output {name} not resolved locally: {error}")

    # -------------------------------------------------------------- data

    def _table(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        name = str(p.get("TableName") or self.name_for(logical_id, 255))
        billing = str(p.get("BillingMode", "PROVISIONED"))
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": p["KeySchema"],
            "AttributeDefinitions": p["AttributeDefinitions"],
            "BillingMode": billing,
        }
        throughput = _throughput(p.get("ProvisionedThroughput"), billing)
        if throughput:
            request["ProvisionedThroughput"] = throughput
        for section in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if p.get(section):
                request[section] = [_index(i, billing) for i in p[section]]
        stream = p.get("StreamSpecification")
        if stream and stream.get("StreamViewType"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = p.get("SSESpecification")
        if sse and sse.get("SSEEnabled"):
            request["SSESpecification"] = {"Enabled": True}
        self._create_table(logical_id, request, p)

    def _simple_table(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        key = p.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        request: dict[str, Any] = {
            "TableName": str(p.get("TableName") or self.name_for(logical_id, 255)),
            "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
            "AttributeDefinitions": [
                {"AttributeName": key["Name"], "AttributeType": _SIMPLE_TABLE_TYPES[key["Type"]]}
            ],
        }
        throughput = _throughput(p.get("ProvisionedThroughput"), "PROVISIONED")
        if throughput:
            request["ProvisionedThroughput"] = throughput
        else:
            request["BillingMode"] = "PAY_PER_REQUEST"
        self._create_table(logical_id, request, p)

    def _create_table(self, logical_id: str, request: dict[str, Any], p: Mapping[str, Any]) -> None:
        dynamodb = self.client("dynamodb")
        name = request["TableName"]
        try:
            dynamodb.create_table(**request)
        except ClientError as error:
            if not _already_exists(error):
                raise
            logger.info("local stack: table %s exists, reusing it", name)
        ttl = p.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            # Stored but never enforced by moto: expired items stay readable.
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        pitr = p.get("PointInTimeRecoverySpecification")
        if pitr and pitr.get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        table = dynamodb.describe_table(TableName=name)["Table"]
        attributes = {"Arn": str(table["TableArn"])}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = str(table["LatestStreamArn"])
        self.created(logical_id, name, attributes)

    def _bucket(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        generated = re.sub(r"[^a-z0-9-]", "-", self.name_for(logical_id, 63).lower()).strip("-")
        name = str(p.get("BucketName") or generated)
        s3 = self.client("s3")
        request: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            s3.create_bucket(**request)
        except ClientError as error:
            if not _already_exists(error):
                raise
        if (p.get("VersioningConfiguration") or {}).get("Status"):
            s3.put_bucket_versioning(
                Bucket=name,
                VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]},
            )
        encryption = (p.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            rules = [
                {
                    "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                    **({"BucketKeyEnabled": rule["BucketKeyEnabled"]} if "BucketKeyEnabled" in rule else {}),
                }
                for rule in encryption
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if p.get("PublicAccessBlockConfiguration"):
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"]
            )
        self.created(
            logical_id,
            name,
            {
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self.region}.amazonaws.com",
            },
        )

    def _queue(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        fifo = str(p.get("FifoQueue", "")).lower() == "true"
        name = str(p.get("QueueName") or (self.name_for(logical_id, 75) + (".fifo" if fifo else "")))
        attributes = {key: _as_text(p[key]) for key in _SQS_ATTRIBUTES if key in p}
        url = str(self.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        self.created(
            logical_id,
            url,
            {"Arn": self.arn("sqs", name), "QueueName": name, "QueueUrl": url},
        )

    def _secret(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        name = str(p.get("Name") or self.name_for(logical_id, 512))
        value = (
            str(p["SecretString"])
            if "SecretString" in p
            else _generate_secret(p.get("GenerateSecretString") or {})
        )
        client = self.client("secretsmanager")
        try:
            arn = str(
                client.create_secret(
                    Name=name, SecretString=value, Description=str(p.get("Description", ""))
                )["ARN"]
            )
        except ClientError as error:
            if not _already_exists(error):
                raise
            arn = str(client.describe_secret(SecretId=name)["ARN"])
        self.created(logical_id, arn, {"Id": arn, "Arn": arn})

    def _kms_key(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        kms = self.client("kms")
        # Found again by its description on a second provisioning into the same emulator.
        description = str(p.get("Description") or self.name_for(logical_id))
        for page in kms.get_paginator("list_keys").paginate():
            for key in page["Keys"]:
                found = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
                if found.get("Description") == description and found.get("KeyState") == "Enabled":
                    self.created(logical_id, found["KeyId"], {"Arn": found["Arn"], "KeyId": found["KeyId"]})
                    return
        created = kms.create_key(Description=description)["KeyMetadata"]
        self.created(logical_id, created["KeyId"], {"Arn": created["Arn"], "KeyId": created["KeyId"]})

    def _event_bus(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        name = str(p["Name"])
        events = self.client("events")
        try:
            arn = str(events.create_event_bus(Name=name)["EventBusArn"])
        except ClientError as error:
            if not _already_exists(error):
                raise
            arn = str(events.describe_event_bus(Name=name)["Arn"])
        self.created(logical_id, name, {"Arn": arn, "Name": name})

    def _rule(self, logical_id: str, properties: dict[str, Any]) -> None:
        p = self.resolver.resolve(properties)
        name = str(p.get("Name") or self.name_for(logical_id))
        bus = str(p.get("EventBusName") or "default").rsplit("/", 1)[-1]
        request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": p.get("State", "ENABLED")}
        for key in ("ScheduleExpression", "Description"):
            if key in p:
                request[key] = str(p[key])
        if "EventPattern" in p:
            pattern = p["EventPattern"]
            request["EventPattern"] = pattern if isinstance(pattern, str) else json.dumps(pattern)
        events = self.client("events")
        arn = str(events.put_rule(**request)["RuleArn"])
        self.created(logical_id, name, {"Arn": arn})
        for target in p.get("Targets") or []:
            self._rule_target(logical_id, request, arn, target)

    def _rule_target(
        self, logical_id: str, rule: Mapping[str, Any], rule_arn: str, target: Mapping[str, Any]
    ) -> None:
        target_arn = str(target["Arn"])
        service = target_arn.split(":")[2]
        if service == "sqs":
            allowed = ("Id", "Arn", "Input", "InputPath", "InputTransformer", "SqsParameters")
            self.client("events").put_targets(
                Rule=rule["Name"],
                EventBusName=rule["EventBusName"],
                Targets=[{k: target[k] for k in allowed if k in target}],
            )
        elif service == "lambda" and "ScheduleExpression" in rule:
            function = self._function_by_arn(target_arn)
            self.result.schedules.append(
                Schedule(
                    function_logical_id=function.logical_id if function else "",
                    function_name=target_arn.split(":")[6],
                    event_name=logical_id,
                    expression=str(rule["ScheduleExpression"]),
                    rule_arn=rule_arn,
                    input=json.loads(target["Input"]) if "Input" in target else None,
                    enabled=rule.get("State", "ENABLED") == "ENABLED",
                )
            )
        else:
            self.warn(f"rule {logical_id}: target {target_arn} cannot be delivered by the emulator")

    def _function_by_arn(self, arn: str) -> LocalFunction | None:
        name = arn.split(":")[6]
        return next((f for f in self.result.functions.values() if f.function_name == name), None)

    # -------------------------------------------------------------- compute

    def _state_machine(self, logical_id: str, properties: dict[str, Any]) -> None:
        definition = self._definition(logical_id, properties)
        name = str(
            self.resolver.resolve(properties.get("Name") or properties.get("StateMachineName") or "")
            or self.name_for(logical_id, 80)
        )
        role = properties.get("Role") or properties.get("RoleArn")
        request: dict[str, Any] = {
            "name": name,
            "definition": definition,
            "roleArn": str(self.resolver.resolve(role)) if role else self.execution_role_arn,
        }
        problems = state_machine_problems(json.loads(definition))
        if problems:
            raise ValueError(f"state machine {logical_id}: " + "; ".join(problems))
        kind = properties.get("Type") or properties.get("StateMachineType")
        if kind:
            request["type"] = str(kind)
        arn = str(self.client("stepfunctions").create_state_machine(**request)["stateMachineArn"])
        self.created(logical_id, arn, {"Arn": arn, "Name": name})
        for event_name, event in (properties.get("Events") or {}).items():
            self.warn(
                f"state machine {logical_id}: event {event_name} ({event.get('Type')}) is not run locally"
            )

    def _definition(self, logical_id: str, properties: Mapping[str, Any]) -> str:
        if "Definition" in properties:
            text = json.dumps(self.resolver.resolve(properties["Definition"]))
        elif isinstance(properties.get("DefinitionUri"), str):
            text = (self.base_dir / properties["DefinitionUri"]).read_text(encoding="utf-8")
        elif "DefinitionString" in properties:
            text = _as_text(self.resolver.resolve(properties["DefinitionString"]))
        else:
            raise ValueError(f"state machine {logical_id}: only local definitions are supported")
        substitutions = self.resolver.resolve(properties.get("DefinitionSubstitutions") or {})
        for key, value in substitutions.items():
            text = text.replace("${" + key + "}", _as_text(value))
        return text

    def _function(self, logical_id: str, own_properties: dict[str, Any]) -> None:
        merged = merge_globals(self.globals_function, own_properties)
        resolve = self.resolver.resolve
        code_uri = resolve(merged.get("CodeUri"))
        if merged.get("PackageType") == "Image" or not isinstance(code_uri, str):
            self.warn(f"function {logical_id}: only local CodeUri directories run locally")
            self._placeholder(logical_id, {"Type": "AWS::Serverless::Function"})
            return
        name = str(resolve(merged.get("FunctionName") or "") or self.name_for(logical_id))
        handler = str(resolve(merged["Handler"]))
        code_dir = (self.base_dir / code_uri).resolve()
        environment = self.resolve_environment(merged.get("Environment"))
        timeout = int(resolve(merged.get("Timeout", 3)))
        memory_size = int(resolve(merged.get("MemorySize", 128)))
        created = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=str(resolve(merged.get("Runtime", "python3.11"))),
            Role=self.execution_role_arn,
            Handler=handler,
            Code={"ZipFile": self.placeholder_zip},
            Timeout=timeout,
            MemorySize=memory_size,
            Environment={"Variables": environment},
        )
        arn = str(created["FunctionArn"])
        if self.register_handlers:
            lambda_hook.register(
                name, code_dir, handler, timeout=timeout, memory_size=memory_size, function_arn=arn
            )
        function = LocalFunction(logical_id, name, arn, code_dir, handler, environment)
        self.result.functions[logical_id] = function
        self.created(logical_id, name, {"Arn": arn})
        for event_name, event in (merged.get("Events") or {}).items():
            self._function_event(function, event_name, event)

    def _function_event(self, function: LocalFunction, event_name: str, event: Mapping[str, Any]) -> None:
        kind = event.get("Type")
        p = self.resolver.resolve(event.get("Properties") or {})
        if kind == "SQS":
            queue_arn = str(p["Queue"])
            queue_name = queue_arn.rsplit(":", 1)[-1]
            url = str(self.client("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"])
            self.result.queues.append(
                QueueMapping(
                    function_name=function.function_name,
                    queue_arn=queue_arn,
                    queue_url=url,
                    batch_size=int(p.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in list(p.get("FunctionResponseTypes") or ()),
                )
            )
        elif kind == "DynamoDB":
            request: dict[str, Any] = {
                "FunctionName": function.function_name,
                "EventSourceArn": str(p["Stream"]),
                "Enabled": bool(p.get("Enabled", True)),
            }
            for key in ("BatchSize", "MaximumBatchingWindowInSeconds"):
                if key in p:
                    request[key] = int(p[key])
            request["StartingPosition"] = str(p.get("StartingPosition", "LATEST"))
            if p.get("FunctionResponseTypes"):
                request["FunctionResponseTypes"] = list(p["FunctionResponseTypes"])
            if p.get("FilterCriteria"):
                request["FilterCriteria"] = {
                    "Filters": [
                        {"Pattern": _as_text(f["Pattern"])} for f in p["FilterCriteria"].get("Filters", [])
                    ]
                }
            self.client("lambda").create_event_source_mapping(**request)
        elif kind in {"Schedule", "ScheduleV2"}:
            expression = p.get("Schedule") if kind == "Schedule" else p.get("ScheduleExpression")
            enabled = bool(p.get("Enabled", True)) and str(p.get("State", "ENABLED")) == "ENABLED"
            self.result.schedules.append(
                Schedule(
                    function_logical_id=function.logical_id,
                    function_name=function.function_name,
                    event_name=event_name,
                    expression=str(expression),
                    rule_arn=self.arn("events", f"rule/{self.name_for(function.logical_id + event_name)}"),
                    input=json.loads(p["Input"]) if "Input" in p else None,
                    enabled=enabled,
                )
            )
        elif kind in {"HttpApi", "Api"}:
            pass  # served over HTTP by the local API server (uvicorn), not through the emulator
        else:
            self.warn(f"function {function.logical_id}: event {event_name} ({kind}) is not run locally")


def state_machine_problems(definition: Mapping[str, Any], where: str = "") -> list[str]:
    """Dangling state names in an ASL definition (moto's parser accepts them; AWS does not)."""
    states: Mapping[str, Any] = definition.get("States") or {}
    problems: list[str] = []

    def check(owner: str, label: str, target: Any) -> None:
        if target is not None and target not in states:
            problems.append(f"{where}{owner}{label} {target!r} is not a state")

    check("", "StartAt", definition.get("StartAt"))
    for name, state in states.items():
        check(f"{name}: ", "Next", state.get("Next"))
        check(f"{name}: ", "Default", state.get("Default"))
        for choice in state.get("Choices") or []:
            check(f"{name}: ", "Choice Next", choice.get("Next"))
        for catcher in state.get("Catch") or []:
            check(f"{name}: ", "Catch Next", catcher.get("Next"))
        for branch in state.get("Branches") or []:
            problems += state_machine_problems(branch, f"{where}{name} branch: ")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            problems += state_machine_problems(processor, f"{where}{name} iterator: ")
    return problems


def _throughput(value: Any, billing: str) -> dict[str, int] | None:
    if billing == "PAY_PER_REQUEST" or not value:
        return None
    return {
        "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
    }


def _index(index: Mapping[str, Any], billing: str) -> dict[str, Any]:
    result: dict[str, Any] = {
        "IndexName": index["IndexName"],
        "KeySchema": index["KeySchema"],
        "Projection": index["Projection"],
    }
    throughput = _throughput(index.get("ProvisionedThroughput"), billing)
    if throughput:
        result["ProvisionedThroughput"] = throughput
    return result

"""The local stack's partition lookup for moto's Query (billow/local/dynamodb_query_index.py)
must answer exactly as a full pass over the table does. Random writes of every kind (puts that
add, move or drop index keys, updates, deletes, transactions that commit and transactions that
are cancelled and undone) are checked against a Scan filtered by hand, page by page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.support.aws import TABLE, local_aws

PARTITIONS = [f"P{n}" for n in range(12)]
INDEX_VALUES = [f"V{n}" for n in range(4)]


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with local_aws(monkeypatch):
        yield boto3.client("dynamodb")


def random_item(rng: random.Random) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": rng.choice(PARTITIONS)},
        "sk": {"S": f"S{rng.randrange(8)}"},
        "n": {"N": str(rng.randrange(1000))},
    }
    if rng.random() < 0.7:
        item["gsi1pk"] = {"S": rng.choice(INDEX_VALUES)}
        item["gsi1sk"] = {"S": f"{rng.randrange(50):03}"}
    if rng.random() < 0.3:
        item["gsi2pk"] = {"S": rng.choice(INDEX_VALUES)}
        item["gsi2sk"] = {"S": f"{rng.randrange(50):03}"}
    if rng.random() < 0.3:
        item["gsi3pk"] = {"S": rng.choice(INDEX_VALUES)}
        item["gsi3sk"] = {"S": f"{rng.randrange(50):03}"}
    return item


def key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"pk": item["pk"], "sk": item["sk"]}


def write_randomly(dynamodb: Any, rng: random.Random, known: list[dict[str, Any]]) -> None:
    choice = rng.random()
    if choice < 0.4 or not known:
        item = random_item(rng)
        dynamodb.put_item(TableName=TABLE, Item=item)
        known.append(key_of(item))
    elif choice < 0.6:
        value = rng.choice(INDEX_VALUES)
        dynamodb.update_item(
            TableName=TABLE,
            Key=rng.choice(known),
            UpdateExpression="SET gsi1pk = :v, gsi1sk = :s",
            ExpressionAttributeValues={":v": {"S": value}, ":s": {"S": f"{rng.randrange(50):03}"}},
        )
    elif choice < 0.7:
        dynamodb.update_item(TableName=TABLE, Key=rng.choice(known), UpdateExpression="REMOVE gsi1pk")
    elif choice < 0.8:
        dynamodb.delete_item(TableName=TABLE, Key=rng.choice(known))
    else:
        first, second = random_item(rng), random_item(rng)
        if key_of(first) == key_of(second):
            second["sk"] = {"S": "S8"}  # one transaction touches an item once
        operations: list[dict[str, Any]] = [
            {"Put": {"TableName": TABLE, "Item": first}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": key_of(second),
                    "UpdateExpression": "SET gsi1pk = :v, gsi1sk = :s",
                    "ExpressionAttributeValues": {":v": {"S": rng.choice(INDEX_VALUES)}, ":s": {"S": "000"}},
                }
            },
        ]
        cancelled = rng.random() < 0.5
        if cancelled:
            operations.append(
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "never"}, "sk": {"S": "there"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                }
            )
        if cancelled:
            with pytest.raises(ClientError, match="TransactionCanceled"):
                dynamodb.transact_write_items(TransactItems=operations)
            return
        dynamodb.transact_write_items(TransactItems=operations)
        known += [key_of(first), key_of(second)]


def query_all(dynamodb: Any, **request: Any) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    while True:
        page = dynamodb.query(TableName=TABLE, Limit=3, **request)
        keys += [(i["pk"]["S"], i["sk"]["S"]) for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return keys
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scanned(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=TABLE):
        items += page["Items"]
    return items


def expected_keys(
    items: list[dict[str, Any]], attribute: str, value: str, order: str, below: str = "~"
) -> list[tuple[str, str]]:
    matching = [
        i for i in items if i.get(attribute, {}).get("S") == value and order in i and i[order]["S"] < below
    ]
    return [(i["pk"]["S"], i["sk"]["S"]) for i in sorted(matching, key=lambda i: i[order]["S"])]


def test_queries_answer_as_a_full_pass_after_every_kind_of_write(dynamodb: Any) -> None:
    rng = random.Random(20261121)
    known: list[dict[str, Any]] = []
    for rounds in range(12):
        for _ in range(40):
            write_randomly(dynamodb, rng, known)
        items = scanned(dynamodb)
        for partition in PARTITIONS:
            got = query_all(
                dynamodb, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": partition}}
            )
            assert got == expected_keys(items, "pk", partition, "sk"), (rounds, partition)
        for index in ("gsi1", "gsi2", "gsi3"):
            for value in INDEX_VALUES:
                got = query_all(
                    dynamodb,
                    IndexName=index,
                    KeyConditionExpression=f"{index}pk = :v",
                    ExpressionAttributeValues={":v": {"S": value}},
                )
                want = expected_keys(items, f"{index}pk", value, f"{index}sk")
                # Items with equal index sort keys come in an order DynamoDB leaves open.
                assert sorted(got) == sorted(want), (rounds, index, value)
                ranged = query_all(
                    dynamodb,
                    IndexName=index,
                    KeyConditionExpression=f"{index}pk = :v AND {index}sk < :s",
                    ExpressionAttributeValues={":v": {"S": value}, ":s": {"S": "025"}},
                )
                below = expected_keys(items, f"{index}pk", value, f"{index}sk", below="025")
                assert sorted(ranged) == sorted(below), (rounds, index, value)


def test_an_unknown_partition_is_empty(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE,
        Item={"pk": {"S": "P1"}, "sk": {"S": "S1"}, "gsi1pk": {"S": "V1"}, "gsi1sk": {"S": "1"}},
    )
    assert (
        query_all(dynamodb, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "P9"}})
        == []
    )
    assert (
        query_all(
            dynamodb,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :v",
            ExpressionAttributeValues={":v": {"S": "V9"}},
        )
        == []
    )

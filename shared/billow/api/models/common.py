"""Types shared by request models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(max_length=50, description="Up to 50 string keys (≤ 40 chars) with string values (≤ 500 chars)."),
]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9a-f-]+$")]


class StrictModel(BaseModel):
    """Unknown fields are errors and nothing is coerced: "1" is not 1, 1 is not "1"."""

    # defer_build: validators are built on a route's first use, not at cold start.
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

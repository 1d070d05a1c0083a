"""The v1 Secrets Gatekey reads from manifests: user pools and pre-set keys."""

import base64
import binascii
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gatekey.operator.model.common import ObjectMeta


class Secret(BaseModel):
    """A v1 Secret; ``stringData`` is merged over ``data`` as the API server does."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    api_version: Literal["v1"] = Field(alias="apiVersion")
    kind: Literal["Secret"]
    metadata: ObjectMeta
    data: dict[str, str] = Field(default_factory=dict)
    string_data: dict[str, str] = Field(default_factory=dict, alias="stringData")
    type: str = "Opaque"

    @model_validator(mode="after")
    def _data_is_base64(self) -> "Secret":
        for key, value in self.data.items():
            try:
                base64.b64decode(value, validate=True).decode()
            except binascii.Error as exc:
                raise ValueError(f"data.{key} is not valid base64") from exc
            except UnicodeDecodeError as exc:
                raise ValueError(f"data.{key} is not UTF-8 text") from exc
        return self

    def values(self) -> dict[str, str]:
        """Decoded values by key (UTF-8)."""
        decoded = {k: base64.b64decode(v).decode() for k, v in self.data.items()}
        return decoded | dict(self.string_data)

"""akko.yaml's `ci:` section (one field of ProjectConfig): where the project's pipeline tests are."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tests: list[str] = Field(
        default_factory=lambda: ["tests"],
        description="Folders or files of the project's pipeline tests (pytest), relative to the project folder; "
        "`akko ci` runs them and skips the step when none exists.",
    )
    pytest_args: list[str] = Field(
        default_factory=list, description="Extra pytest arguments for them, e.g. `[-m, 'not slow']`."
    )

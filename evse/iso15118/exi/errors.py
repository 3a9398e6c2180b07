"""The one error type of the EXI codec."""

from __future__ import annotations


class ExiError(ValueError):
    """A stream that cannot be decoded, or a document that cannot be encoded.

    Decoding errors carry the bit offset where the problem was found and the grammar
    state the decoder was in; encoding errors carry the path of the offending value in
    the document (`DC_ChargeLoopReq/EVPresentVoltage/Value`).
    """

    def __init__(
        self,
        reason: str,
        *,
        bit_offset: int | None = None,
        state: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = reason
        self.bit_offset = bit_offset
        self.state = state
        self.path = path
        super().__init__(reason)

    def __str__(self) -> str:
        parts = [self.reason]
        if self.path is not None:
            parts.append(f"at {self.path}")
        if self.bit_offset is not None:
            parts.append(f"at bit {self.bit_offset}")
        if self.state is not None:
            parts.append(f"in {self.state}")
        return " ".join(parts)

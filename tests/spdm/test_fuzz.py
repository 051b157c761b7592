"""Arbitrary bytes fed to every decoder raise only the project's SpdmError.

A parser crash (IndexError, struct.error, ValueError from an enum) would take
a daemon thread down on a hostile device; these properties rule that out.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.spdm.vectors import MISSING_REASON, all_vector_paths, load

from spdmd.errors import SpdmError
from spdmd.spdm import messages as m
from spdmd.spdm.constants import SUPPORTED_VERSIONS, Code
from spdmd.spdm.requester import Requester

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

_SIZES = {"hash_size": 48, "signature_size": 96, "summary_hash_size": 48}
_PARAMS: dict[type[m.Message], dict[str, int]] = {
    m.Digests: {"hash_size": 48},
    m.ChallengeAuth: _SIZES,
    m.Measurements: {"signature_size": 96},
}
_CLASSES = sorted(
    set(m.RESPONSE_CLASSES.values()) | set(m.REQUEST_CLASSES.values()),
    key=lambda c: c.__name__,
)


def _framed(cls: type[m.Message]) -> st.SearchStrategy[bytes]:
    """Bytes that at least pass the header check, so the body parser runs."""
    head = st.tuples(
        st.sampled_from([int(v) for v in SUPPORTED_VERSIONS]),
        st.binary(min_size=2, max_size=2),
    )
    return st.builds(
        lambda h, body: bytes((h[0], cls.CODE)) + h[1] + body,
        head,
        st.binary(max_size=300),
    )


@pytest.mark.parametrize("cls", _CLASSES, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_decoder_raises_only_spdm_errors(
    cls: type[m.Message], data: st.DataObject
) -> None:
    blob = data.draw(st.one_of(st.binary(max_size=64), _framed(cls)))
    try:
        msg = cls.decode(blob, **_PARAMS.get(cls, {}))  # type: ignore[attr-defined]
    except SpdmError:
        return
    # Whatever decodes re-encodes to the bytes it came from, apart from
    # reserved fields, and never claims more bytes than it was given.
    assert msg.raw == blob
    assert len(msg.encode()) == len(blob)


@FUZZ
@given(
    request=st.sampled_from(sorted(m.REQUEST_CLASSES)),
    blob=st.binary(max_size=200),
    version=st.sampled_from([int(v) for v in SUPPORTED_VERSIONS]),
)
def test_response_validator_raises_only_spdm_errors(
    request: Code, blob: bytes, version: int
) -> None:
    try:
        m.decode_response(request, blob, version=version, **_SIZES_FOR[request])
    except SpdmError:
        pass


_SIZES_FOR: dict[int, dict[str, int]] = {
    Code.GET_DIGESTS: {"hash_size": 32},
    Code.CHALLENGE: {"hash_size": 32, "signature_size": 64, "summary_hash_size": 0},
    Code.GET_MEASUREMENTS: {"signature_size": 64},
}
_SIZES_FOR = {code: _SIZES_FOR.get(code, {}) for code in m.REQUEST_CLASSES}


@FUZZ
@given(blob=st.binary(max_size=120))
def test_request_dispatcher_raises_only_spdm_errors(blob: bytes) -> None:
    try:
        m.decode_request(blob)
    except SpdmError:
        pass


# --- the requester fed mutated recordings -----------------------------------

_VECTORS = [load(p) for p in all_vector_paths()]


@pytest.mark.skipif(not _VECTORS, reason=MISSING_REASON)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_requester_fed_mutated_responses_raises_only_spdm_errors(
    data: st.DataObject,
) -> None:
    """Replay a recording up to a random exchange, then feed that exchange's
    response flipped, cut short or extended: the requester either accepts it
    or raises an SpdmError, never anything else."""
    vector = data.draw(st.sampled_from(_VECTORS))
    stop = data.draw(st.integers(0, len(vector.exchanges) - 1))
    r = Requester()
    for e in vector.exchanges[:stop]:
        r.send_bytes(e.request)
        r.receive(e.response)
    target = vector.exchanges[stop]
    response = bytearray(target.response)
    kind = data.draw(st.sampled_from(["flip", "cut", "extend", "replace"]))
    if kind == "flip":
        at = data.draw(st.integers(0, len(response) - 1))
        response[at] ^= data.draw(st.integers(1, 255))
    elif kind == "cut":
        response = response[: data.draw(st.integers(0, len(response) - 1))]
    elif kind == "extend":
        response += data.draw(st.binary(min_size=1, max_size=8))
    else:
        at = data.draw(st.integers(0, len(response)))
        response[at:] = data.draw(st.binary(max_size=40))
    r.send_bytes(target.request)
    try:
        r.receive(bytes(response))
    except SpdmError:
        pass

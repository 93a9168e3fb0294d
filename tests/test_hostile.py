"""Hostile and broken inputs (issue 16): each test is a crafted file or table that once crashed, leaked a secret,
or asked for memory from a lying field; each checks the clear error, the flagged row or the bounded cost instead.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import webrtcpcap
from webrtcpcap import sdp
from webrtcpcap.errors import DecodeError

from test_streams import one_stream


# --- streams.gaps ------------------------------------------------------------------------------------------------


def test_gaps_of_a_stream_whose_first_packets_arrive_reordered_and_no_hole():
    # 99 comes late, below the first packet: no hole anywhere, and no IndexError from the empty hole list.
    g = webrtcpcap.streams.gaps(one_stream([100, 101, 99, 102]))
    assert len(g) == 0 and list(g.columns) == list(webrtcpcap.streams.GAPS_SCHEMA)


def test_gaps_late_packets_outside_every_hole_are_not_counted():
    g = webrtcpcap.streams.gaps(one_stream([100, 101, 99, 102, 105, 103]))
    assert g[["first_missing", "count", "late"]].values.tolist() == [[103, 2, 1]]


# --- SDP errors never echo the line ------------------------------------------------------------------------------

SECRET = "s3cretPassw0rdValue1234567"


@pytest.mark.parametrize("text", [
    # a line-wrapped a=ice-pwd: the continuation line is not <type>=<value>
    f"v=0\na=ice-ufrag:abcd\na=ice-pwd:\n{SECRET}\n",
    f"v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 {SECRET}\n",
    f"v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:{SECRET} opus/48000\n",
    f"v=0\na=fingerprint:sha-256 {SECRET}\n",
    f"v=0\na=candidate:{SECRET}\n",
    f"v=0\nm=audio {SECRET} RTP/AVP 0\n",
    f"{SECRET}=0\n",
])
def test_sdp_errors_name_line_and_attribute_never_the_value(text):
    with pytest.raises(DecodeError) as info:
        sdp.parse(text)
    message = str(info.value)
    for k in range(0, len(SECRET) - 4):
        assert SECRET[k:k + 5] not in message, message
    assert re.search(r"line \d+", message), message


def test_sdp_error_after_a_wrapped_password_names_the_attribute_before():
    with pytest.raises(DecodeError) as info:
        sdp.parse(f"v=0\na=ice-ufrag:abcd\na=ice-pwd:\n{SECRET}\n")
    assert "line 4" in str(info.value) and "a=ice-pwd" in str(info.value)


def test_sdp_error_names_the_attribute_of_the_bad_line():
    with pytest.raises(DecodeError, match=r"SDP rtpmap clock rate is not a number \(line 3, a=rtpmap\)"):
        sdp.parse("v=0\nm=audio 9 RTP/AVP 96\na=rtpmap:96 opus/fast/2\n")

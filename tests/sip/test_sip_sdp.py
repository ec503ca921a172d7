"""SDP and RFC 3264 offer/answer (faxcore.sip.sdp): the fact sheet's T.38 offer, quirky
variants of it from the field, audio answers, port-0 rejects, o= versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxcore.sip.sdp import (
    AudioParams,
    LocalMedia,
    SdpOriginator,
    SdpParseError,
    T38Params,
    answer,
    audio_media,
    image_media,
    negotiate_t38,
    parse_sdp,
    peer_max_datagram,
)

FACT_SHEET_OFFER = """v=0
o=peer 100 200 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=image 4000 udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxBuffer:2000
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
"""

LOCAL = LocalMedia("192.0.2.99", audio_port=5000, image_port=5002,
                   t38=T38Params(version=3, max_bit_rate=14400, max_buffer=4000,
                                 max_datagram=1400, fill_bit_removal=True,
                                 transcoding_mmr=True))


def _image_attrs(sd):
    (m,) = [m for m in sd.media if m.is_t38]
    return {n: v for n, v in m.attributes}, m


def test_the_fact_sheet_offer_is_answered_as_the_fact_sheet_says():
    ans = answer(parse_sdp(FACT_SHEET_OFFER), LOCAL)
    text = ans.to_bytes().decode()
    attrs, m = _image_attrs(parse_sdp(text))
    assert m.port == 5002 and m.proto == "udptl" and m.fmts == ["t38"]
    assert attrs["T38FaxVersion"] == "0"                      # min(0, ours 3)
    assert attrs["T38MaxBitRate"] == "14400"
    assert attrs["T38FaxRateManagement"] == "transferredTCF"  # copied
    assert attrs["T38FaxMaxBuffer"] == "4000"                 # ours: what we receive
    assert attrs["T38FaxMaxDatagram"] == "1400"
    assert attrs["T38FaxUdpEC"] == "t38UDPRedundancy"
    # the offer claimed no boolean: the answer claims none, though we support two
    assert not any("FillBit" in n or "Transcoding" in n for n in attrs)
    assert "c=IN IP4 192.0.2.99" in text


def test_quirky_offer_spellings():
    """Names in any case, T38FaxMaxRate for T38MaxBitRate, booleans as :1/:0, localTCF,
    version 3 above ours, FEC: mirrored as far as we support them."""
    offer = FACT_SHEET_OFFER.replace("T38FaxVersion:0", "t38faxversion:3").replace(
        "a=T38MaxBitRate:14400", "a=T38FaxMaxRate:9600").replace(
        "transferredTCF", "localTCF").replace("t38UDPRedundancy", "t38UDPFEC")
    offer += "a=T38FaxFillBitRemoval:1\na=T38FAXTRANSCODINGMMR:0\na=T38FaxTranscodingJBIG\n"
    ours = T38Params(version=2, fill_bit_removal=True, transcoding_mmr=True,
                     transcoding_jbig=False)
    ans = answer(parse_sdp(offer), LocalMedia("192.0.2.99", None, 5002, ours))
    attrs, _ = _image_attrs(ans)
    assert attrs["T38FaxVersion"] == "2"
    assert attrs["T38MaxBitRate"] == "9600"
    assert attrs["T38FaxRateManagement"] == "localTCF"
    assert attrs["T38FaxUdpEC"] == "t38UDPRedundancy"        # no FEC here: redundancy
    assert attrs["T38FaxFillBitRemoval"] == "1"              # offered :1, we do it: :1
    assert "T38FaxTranscodingMMR" not in attrs               # offered :0: not claimed
    assert "T38FaxTranscodingJBIG" not in attrs              # offered, we don't


def test_flag_spelling_is_mirrored():
    offer = FACT_SHEET_OFFER + "a=T38FaxFillBitRemoval\n"
    ans = answer(parse_sdp(offer), LOCAL)
    attrs, m = _image_attrs(ans)
    assert ("T38FaxFillBitRemoval", None) in m.attributes


def test_a_missing_version_counts_as_zero_and_absent_fields_stay_absent():
    offer = "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=image 4000 udptl t38\n"
    p = T38Params.from_media(parse_sdp(offer).media[0])
    assert p.version == 0 and p.max_datagram is None and p.udp_ec is None
    attrs, _ = _image_attrs(answer(parse_sdp(offer), LOCAL))
    assert attrs["T38FaxVersion"] == "0" and "T38FaxUdpEC" not in attrs


def test_peer_max_datagram_is_honoured_with_the_asterisk_fallback():
    assert peer_max_datagram(T38Params(max_datagram=272)) == 272
    assert peer_max_datagram(T38Params(max_datagram=None)) == 400
    assert peer_max_datagram(T38Params(max_datagram=65000)) == 400


def test_refused_t38_rejects_the_stream_with_port_0_in_its_position():
    offer = parse_sdp(FACT_SHEET_OFFER.replace("m=image 4000", "m=audio 4002 RTP/AVP 0\n"
                                               "m=image 4000"))
    ans = answer(offer, LocalMedia("192.0.2.99", audio_port=5000, image_port=None))
    assert [(m.media, m.port) for m in ans.media] == [("audio", 5000), ("image", 0)]


def test_offered_port_0_and_unknown_media_are_rejected_keeping_positions():
    offer = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                      "m=video 6000 RTP/AVP 96\nm=audio 0 RTP/AVP 0\n"
                      "m=audio 4000 RTP/AVP 18 8 0 96\na=rtpmap:96 telephone-event/8000\n"
                      "a=sendonly\n")
    ans = answer(offer, LOCAL)
    assert [(m.media, m.port) for m in ans.media] == [("video", 0), ("audio", 0),
                                                      ("audio", 5000)]
    audio = ans.media[2]
    assert audio.fmts == ["8", "0", "96"]             # G.711 in the offer's order, then DTMF
    assert ("fmtp", "96 0-15") in audio.attributes
    assert audio.direction == "recvonly"


def test_audio_without_g711_is_rejected():
    offer = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                      "m=audio 4000 RTP/AVP 18 9\n")
    assert answer(offer, LOCAL).media[0].port == 0


def test_our_audio_offer_is_the_fact_sheet_one():
    text = SdpOriginator("192.0.2.99", 7).describe([audio_media(5000)]).to_bytes().decode()
    assert "m=audio 5000 RTP/AVP 0 8 101\r\n" in text
    for line in ("a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20"):
        assert line in text
    assert "CN" not in text and " 13" not in text


def test_o_version_goes_up_on_change_only():
    o = SdpOriginator("192.0.2.99", 1000)
    a = o.describe([audio_media(5000)])
    same = o.describe([audio_media(5000)])
    t38 = o.describe([image_media(5002)])
    again = o.describe([image_media(5002)])
    assert (a.version, same.version, t38.version, again.version) == (1000, 1000, 1001, 1001)
    assert a.session_id == t38.session_id


def test_negotiate_never_raises_the_offered_rate():
    assert negotiate_t38(T38Params(max_bit_rate=9600), T38Params(max_bit_rate=14400)) \
        .max_bit_rate == 9600


def test_audio_params_read_the_telephone_event_number():
    sd = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                   "m=audio 4000 RTP/AVP 0 100\na=rtpmap:100 TELEPHONE-EVENT/8000\n"
                   "a=ptime:30\n")
    assert AudioParams.from_media(sd.media[0]) == AudioParams((0,), 100, 30)


@pytest.mark.parametrize("bad", [
    "", "v=1\no=- 1 1 IN IP4 h\n", "o=- 1 1 IN IP4 h\n",          # no v=
    "v=0\no=- x 1 IN IP4 h\n", "v=0\no=- 1 1 IN IP4 h\nm=audio 4000 RTP/AVP 0\n",  # no c=
    "v=0\no=- 1 1 IN IP4 h\nc=IN IP4 h\nm=audio 99999 RTP/AVP 0\n", "v=0\nxyz\n",
    "v=0\no=- 1 1 IN IP4 h\nc=bogus\n",
])
def test_malformed_sdp_raises_sdp_parse_error(bad):
    with pytest.raises(SdpParseError):
        parse_sdp(bad)


@given(st.binary(max_size=400))
def test_random_sdp_bytes_raise_only_sdp_parse_error(data):
    try:
        sd = parse_sdp(data)
    except SdpParseError:
        return
    answer(sd, LOCAL)


@given(st.lists(st.sampled_from(["a=T38FaxVersion:", "a=T38FaxMaxDatagram:", "9", "0",
                                 "a=T38FaxUdpEC:", "a=t38faxfillbitremoval", ":", "\n",
                                 "m=image 4000 udptl t38\n", "m=audio 1 RTP/AVP 0 101\n",
                                 "a=rtpmap:101 telephone-event/8000\n", "-1", " "]),
                max_size=60))
def test_t38_attribute_soup_is_answered_or_refused_cleanly(parts):
    text = "v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n" + "".join(parts)
    try:
        sd = parse_sdp(text)
    except SdpParseError:
        return
    ans = answer(sd, LOCAL)
    assert len(ans.media) == len(sd.media)
    parse_sdp(ans.to_bytes())


def test_repeated_payload_types_are_answered_once():
    """Fuzz finding: ``m=audio 4000 RTP/AVP 0 8 0 8 ...`` (each PT repeated) was answered
    with an rtpmap per repetition: an answer ten times the offer, too big to parse back."""
    offer = parse_sdp("v=0\no=- 1 1 IN IP4 h\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\n"
                      "m=audio 4000 RTP/AVP " + "0 8 " * 2000 + "\n")
    ans = answer(offer, LOCAL)
    assert ans.media[0].fmts == ["0", "8"]
    assert len(ans.to_bytes()) < 400
    parse_sdp(ans.to_bytes())

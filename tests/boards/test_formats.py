"""CLEFIA (RFC 6114 vector), its CMAC, the .spk container and the IMX500 .rpk parser."""
import pytest
from construct import ChecksumError

from hostlink.protocols import clefia, imx500_rpk as rpk, spresense_spk as spk


def test_clefia128_rfc6114_vector():
    key = bytes.fromhex("ffeeddccbbaa99887766554433221100")
    plain = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    assert clefia.Clefia128(key).encrypt_block(plain).hex() == "de2bf2fd9b74aacdf1298555459494fd"


def test_clefia_tables_and_constants_match_the_specification():
    assert clefia.S0[:8].hex() == "5749d1c62f3374fb"  # RFC 6114 Table 1, first row
    assert sorted(clefia.S0) == list(range(256))
    assert clefia.CON128[:2] == [0xF56B7AEB, 0x994A8A42]
    assert len(clefia.CON128) == 60


def _mkspk_style_mac(key: bytes, data: bytes) -> bytes:
    """The loop Sony's mkspk runs (whole blocks only): chain every block, then encrypt the last
    chaining input XOR K1. Written independently of clefia_cmac to cross-check it."""
    c = clefia.Clefia128(key)
    l_block = int.from_bytes(c.encrypt_block(bytes(16)), "big")
    k1 = ((l_block << 1) ^ (0x87 if l_block >> 127 else 0)) & ((1 << 128) - 1)
    vector = bytes(16)
    m = bytes(16)
    for i in range(0, len(data), 16):
        m = bytes(a ^ b for a, b in zip(vector, data[i:i + 16]))
        vector = c.encrypt_block(m)
    return c.encrypt_block((int.from_bytes(m, "big") ^ k1).to_bytes(16, "big"))


@pytest.mark.parametrize("n", [16, 32, 160])
def test_cmac_equals_mkspk_loop_on_whole_blocks(n):
    data = bytes((i * 31 + 7) & 0xFF for i in range(n))
    assert clefia.clefia_cmac(spk.VMK, data) == _mkspk_style_mac(spk.VMK, data)


def test_cmac_partial_block_and_sensitivity():
    a = clefia.clefia_cmac(spk.VMK, b"abc")
    assert len(a) == 16 and a != clefia.clefia_cmac(spk.VMK, b"abd") != clefia.clefia_cmac(spk.VMK, b"")


def test_spk_round_trip_and_cmac_check():
    data = spk.build_spk(core=2, savename="nuttx", entry=0x0D0000A1, stack=0x0D0F0000,
                         segments=[(0x0D000000, b"\xAA" * 33, 64)])
    img = spk.parse_spk(data)
    assert img.programs[0].size == 48 and img.segments == b"\xAA" * 33 + bytes(15)
    assert data[:4] == b"\xefMOD" and data[-16:] == b"MKSPK_BN_HOOTER\0"
    assert data[-32:-16] == clefia.clefia_cmac(spk.VMK, data[:-32])
    assert spk.spk_size(data + b"\x1a" * 500) == len(data)
    tampered = bytearray(data)
    tampered[40] ^= 1
    with pytest.raises(ChecksumError):
        spk.parse_spk(bytes(tampered))
    with pytest.raises(ValueError):
        spk.build_spk(core=2, savename="x" * 64, entry=0, stack=0, segments=[])


def _network(device_lock=False):
    info = {"networkID": "00000042", "apParamSize": "1024", "networkNum": "1", "networkOrdinal": "0",
            "inputTensorWidth": "320", "inputTensorHeight": "240", "inputTensorFormat": "RGB",
            "inputTensorNorm_K00": "0x1000", "inputTensorNorm_K03": "-128"}
    intr = {"task": "object detection", "inference_rate": 15, "cpu": {"bbox_order": "yx"},
            "classes": {"labels": ["person", "cat"]}}
    return rpk.build_rpk([b"\x01" * 1000, b"\x02" * 33], info, intr, device_lock=device_lock)


@pytest.mark.parametrize("lock", [False, True])
def test_rpk_parse(lock):
    p = rpk.parse_rpk(_network(lock))
    assert [b.size for b in p.blocks] == [1000, 33]
    assert all(b.device_lock == lock for b in p.blocks)
    assert p.blocks[1].offset == 1000 + 64 + (32 if lock else 0)
    assert p.network_info.input_width == 320 and p.network_info.input_height == 240
    assert p.network_info.input_format == "RGB" and p.network_info.norm == {"K00": 0x1000, "K03": -128}
    assert p.task == "object detection" and p.inference_rate == 15 and p.labels == ["person", "cat"]


def test_rpk_errors():
    data = bytearray(_network())
    data[1000 + 60] = ord("X")  # first block's footer magic
    with pytest.raises(rpk.RpkError, match="footer"):
        rpk.parse_rpk(bytes(data))
    with pytest.raises(rpk.RpkError, match="not an IMX500"):
        rpk.parse_rpk(b"PK\x03\x04 a zip file")
    with pytest.raises(rpk.RpkError, match="truncated|past the end"):
        rpk.parse_rpk(_network()[:-150])


def test_cpio_matches_the_cpio_tool(tmp_path):
    import shutil
    import subprocess

    if shutil.which("cpio") is None:
        pytest.skip("cpio(1) not installed")
    archive = rpk.build_cpio({"network_info.txt": b"a=1\n", "network_intrinsics": b"{}"})
    listing = subprocess.run(["cpio", "-it"], input=archive, capture_output=True, check=True).stdout.decode()
    assert listing.split() == ["network_info.txt", "network_intrinsics"]

"""CLEFIA-128 (RFC 6114) and CMAC over it: the MAC that seals a Spresense ``.spk`` package.

No maintained Python package provides CLEFIA, so this follows the published specification:
S0 is built from its four 4-bit S-boxes (RFC 6114 section 3.2.6), S1 is the specification's
Table 2, the round constants are generated from IV = 0x428a (section 3.3.4), and the key schedule
uses GFN_{4,12} plus the DoubleSwap function. ``tests/boards/test_clefia.py`` checks the RFC's
128-bit test vector. Speed does not matter here: a package is sealed once per build.

CMAC is the generic construction (NIST SP 800-38B) with CLEFIA as the block cipher. Sony's
``mkspk`` computes it over whole 16-byte blocks, where the two coincide.
"""

# --- S-boxes ------------------------------------------------------------------------------------

_SS = (
    (0xE, 0x6, 0xC, 0xA, 0x8, 0x7, 0x2, 0xF, 0xB, 0x1, 0x4, 0x0, 0x5, 0x9, 0xD, 0x3),
    (0x6, 0x4, 0x0, 0xD, 0x2, 0xB, 0xA, 0x3, 0x9, 0xC, 0xE, 0xF, 0x8, 0x7, 0x5, 0x1),
    (0xB, 0x8, 0x5, 0xE, 0xA, 0x6, 0x4, 0xC, 0xF, 0x7, 0x2, 0x3, 0x1, 0x0, 0xD, 0x9),
    (0xA, 0x2, 0x6, 0xD, 0x3, 0x4, 0x5, 0xE, 0x0, 0x7, 0x8, 0x9, 0xB, 0xF, 0xC, 0x1),
)


def _mul2_gf16(x: int) -> int:
    """x * 2 in GF(2^4) with the polynomial z^4 + z + 1."""
    x <<= 1
    return x ^ 0x13 if x & 0x10 else x


def _make_s0() -> bytes:
    out = bytearray(256)
    for x in range(256):
        t0, t1 = _SS[0][x >> 4], _SS[1][x & 0xF]
        u0 = t0 ^ _mul2_gf16(t1)
        u1 = _mul2_gf16(t0) ^ t1
        out[x] = (_SS[2][u0] << 4) | _SS[3][u1]
    return bytes(out)


S0 = _make_s0()

# RFC 6114, Table 2 (S1 is g(f(x)^-1) over GF(2^8); the specification publishes it as a table).
S1 = bytes.fromhex(
    "6cdac3e94e9d0a3db836b43813340cd9"
    "bf74948fb79ce5dc9e07494f982cb093"
    "12ebcdb392e74160e321273be619d20e"
    "9111c73f2a8ea1bc2bc8c50f5bf3878b"
    "fbf5de20c6a784ced86551c9a4ef4353"
    "255d9b31e83e0dd780ff698aba0b735c"
    "6e541562f6353052a316d32832faaa5e"
    "cfeaed783358097b63c0c1461edfa999"
    "5504c486397782ec4018909759dd831f"
    "9a370624647ca556480885d06126ca6f"
    "7e6ab671a07005d1458c231cf0ee89ad"
    "7a4bc22fdb5a4d7667172df4cbb14aa8"
    "b522473ad5104c72cc00f9e0fde2feae"
    "f85fabf11b4281d6be4429a657b9aff2"
    "d47566bb689f5002013c7f8d1a88bdac"
    "f7e47996a2fc6db26b03e12e7d14951d"
)
assert len(S1) == 256 and len(set(S1)) == 256

# --- diffusion ----------------------------------------------------------------------------------


def _mul2(x: int) -> int:
    """x * 2 in GF(2^8) with the polynomial z^8 + z^4 + z^3 + z^2 + 1 (0x11d)."""
    x <<= 1
    return (x ^ 0x11D) if x & 0x100 else x


def _mul_table(k: int) -> tuple[int, ...]:
    table = []
    for x in range(256):
        acc, p, m = 0, x, k
        while m:
            if m & 1:
                acc ^= p
            p = _mul2(p)
            m >>= 1
        table.append(acc)
    return tuple(table)


_M2, _M4, _M6, _M8, _MA = (_mul_table(k) for k in (2, 4, 6, 8, 10))


def _f0(rk: int, x: int) -> int:
    t = rk ^ x
    z0, z1, z2, z3 = S0[t >> 24], S1[(t >> 16) & 0xFF], S0[(t >> 8) & 0xFF], S1[t & 0xFF]
    y0 = z0 ^ _M2[z1] ^ _M4[z2] ^ _M6[z3]
    y1 = _M2[z0] ^ z1 ^ _M6[z2] ^ _M4[z3]
    y2 = _M4[z0] ^ _M6[z1] ^ z2 ^ _M2[z3]
    y3 = _M6[z0] ^ _M4[z1] ^ _M2[z2] ^ z3
    return (y0 << 24) | (y1 << 16) | (y2 << 8) | y3


def _f1(rk: int, x: int) -> int:
    t = rk ^ x
    z0, z1, z2, z3 = S1[t >> 24], S0[(t >> 16) & 0xFF], S1[(t >> 8) & 0xFF], S0[t & 0xFF]
    y0 = z0 ^ _M8[z1] ^ _M2[z2] ^ _MA[z3]
    y1 = _M8[z0] ^ z1 ^ _MA[z2] ^ _M2[z3]
    y2 = _M2[z0] ^ _MA[z1] ^ z2 ^ _M8[z3]
    y3 = _MA[z0] ^ _M2[z1] ^ _M8[z2] ^ z3
    return (y0 << 24) | (y1 << 16) | (y2 << 8) | y3


def _gfn4(rk: list[int], x: tuple[int, int, int, int], rounds: int) -> tuple[int, int, int, int]:
    """The 4-branch generalised Feistel network GFN_{4,r}."""
    t0, t1, t2, t3 = x
    for i in range(rounds):
        t1 ^= _f0(rk[2 * i], t0)
        t3 ^= _f1(rk[2 * i + 1], t2)
        if i < rounds - 1:
            t0, t1, t2, t3 = t1, t2, t3, t0
    return t0, t1, t2, t3


# --- key schedule -------------------------------------------------------------------------------

_P16, _Q16 = 0xB7E1, 0x243F
_IV128 = 0x428A  # first 16 bits of the cubic root of 2
_POLY16 = 0x1A831  # z^16 + z^15 + z^13 + z^11 + z^5 + z^4 + 1


def _constants(iv: int, pairs: int) -> list[int]:
    out = []
    t = iv
    for _ in range(pairs):
        rot1 = ((~t << 1) | ((~t & 0xFFFF) >> 15)) & 0xFFFF
        out.append(((t ^ _P16) << 16) | rot1)
        out.append((((~t & 0xFFFF) ^ _Q16) << 16) | (((t << 8) | (t >> 8)) & 0xFFFF))
        t = (t ^ _POLY16) >> 1 if t & 1 else t >> 1  # T * x^-1 in GF(2^16)
    return out


CON128 = _constants(_IV128, 30)


def _double_swap(lk: int) -> int:
    """Sigma: X[7-63] | X[121-127] | X[0-6] | X[64-120], bit 0 being the most significant."""
    return (
        (((lk >> 64) & ((1 << 57) - 1)) << 71)
        | ((lk & 0x7F) << 64)
        | ((lk >> 121) << 57)
        | ((lk >> 7) & ((1 << 57) - 1))
    )


def _words(b: bytes) -> tuple[int, int, int, int]:
    return tuple(int.from_bytes(b[i : i + 4], "big") for i in (0, 4, 8, 12))  # type: ignore[return-value]


class Clefia128:
    """CLEFIA with a 128-bit key: 18 rounds, 36 round keys, 4 whitening keys."""

    block_size = 16
    rounds = 18

    def __init__(self, key: bytes):
        if len(key) != 16:
            raise ValueError(f"CLEFIA-128 needs a 16-byte key, got {len(key)} bytes")
        k = _words(key)
        lw = _gfn4(CON128[:24], k, 12)
        lk = int.from_bytes(b"".join(w.to_bytes(4, "big") for w in lw), "big")
        kint = int.from_bytes(key, "big")
        rk: list[int] = []
        for i in range(9):
            t = lk ^ int.from_bytes(b"".join(c.to_bytes(4, "big") for c in CON128[24 + 4 * i : 28 + 4 * i]), "big")
            if i % 2:
                t ^= kint
            rk.extend(_words(t.to_bytes(16, "big")))
            lk = _double_swap(lk)
        self._rk = rk
        self._wk = k

    def encrypt_block(self, block: bytes) -> bytes:
        if len(block) != 16:
            raise ValueError("CLEFIA encrypts 16-byte blocks")
        p0, p1, p2, p3 = _words(block)
        wk = self._wk
        c0, c1, c2, c3 = _gfn4(self._rk, (p0, p1 ^ wk[0], p2, p3 ^ wk[1]), self.rounds)
        return b"".join(w.to_bytes(4, "big") for w in (c0, c1 ^ wk[2], c2, c3 ^ wk[3]))


# --- CMAC ---------------------------------------------------------------------------------------


def _dbl(block: bytes) -> bytes:
    v = int.from_bytes(block, "big") << 1
    if v >> 128:
        v ^= 0x87
    return (v & ((1 << 128) - 1)).to_bytes(16, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(16, "big")


def clefia_cmac(key: bytes, data: bytes) -> bytes:
    """CMAC (SP 800-38B / RFC 4493 structure) with CLEFIA-128 as the block cipher."""
    cipher = Clefia128(key)
    k1 = _dbl(cipher.encrypt_block(bytes(16)))
    k2 = _dbl(k1)
    n = max(1, -(-len(data) // 16))
    complete = len(data) > 0 and len(data) % 16 == 0
    last = data[16 * (n - 1) :]
    last = _xor(last, k1) if complete else _xor(last + b"\x80" + bytes(15 - len(last)), k2)
    x = bytes(16)
    for i in range(n - 1):
        x = cipher.encrypt_block(_xor(x, data[16 * i : 16 * i + 16]))
    return cipher.encrypt_block(_xor(x, last))

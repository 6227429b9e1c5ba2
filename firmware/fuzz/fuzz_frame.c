/* fuzz_frame.c: libFuzzer target for the frame receiver (hl_frame.c).
 *
 * The input is fed in pieces whose size comes from its first byte, so one input exercises a frame
 * split across many reads. Checked on every run, beyond what ASan/UBSan catch:
 *  - every frame handed out has a valid header CRC, reserved byte 0, a length within the limit,
 *    a payload inside the buffer and a trailer CRC that matches;
 *  - feeding never stalls (after draining, the receiver always takes more bytes);
 *  - every input byte is accounted for exactly once: skipped, inside a frame, or still pending. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hl_crc.h"
#include "hl_frame.h"
#include "hl_wire.h"

#define MAX_PAYLOAD 512u /* small, so oversize headers and full buffers are common */

#define REQUIRE(c)      \
    do {                \
        if (!(c)) {     \
            abort();    \
        }               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t buf[MAX_PAYLOAD + HL_OVERHEAD];
    hl_rx_t rx;
    REQUIRE(hl_rx_init(&rx, buf, sizeof buf, MAX_PAYLOAD));
    size_t step = size > 0 ? (size_t)(data[0] % 61u) + 1u : 1u;
    size_t off = 0;
    uint64_t in_frames = 0;
    while (off < size) {
        size_t n = size - off < step ? size - off : step;
        size_t took = hl_rx_feed(&rx, data + off, n);
        REQUIRE(took > 0); /* a drained receiver always has room */
        off += took;
        hl_frame_t f;
        while (hl_rx_next(&rx, &f)) {
            const uint8_t *hdr = f.payload - HL_HEADER_SIZE;
            REQUIRE(hdr >= buf && f.payload + f.length + HL_TRAILER_SIZE <= buf + sizeof buf);
            REQUIRE(hdr[0] == HL_MAGIC_0 && hdr[1] == HL_MAGIC_1 && hdr[HL_HDR_RESERVED_OFF] == 0u);
            REQUIRE(f.length <= MAX_PAYLOAD && f.length == hl_le32(hdr + HL_HDR_LENGTH_OFF));
            REQUIRE(hl_crc16(HL_CRC16_INIT, hdr, HL_HEADER_FIELDS_SIZE) == hl_le16(hdr + HL_HDR_HCRC_OFF));
            REQUIRE(hl_crc32(HL_CRC32_INIT, hdr, HL_HEADER_SIZE + f.length) == f.crc);
            REQUIRE(f.crc == hl_le32(f.payload + f.length));
            in_frames += HL_HEADER_SIZE + f.length + HL_TRAILER_SIZE;
        }
    }
    REQUIRE(rx.stats.skipped_bytes + in_frames + (rx.tail - rx.head) == size);
    return 0;
}

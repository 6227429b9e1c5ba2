/* hl_crc.h: the two CRCs of protocol v1, table-driven, incremental.
 *
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) guards the header; CRC-32/ISO-HDLC (zlib) guards
 * header + payload and whole model images. The tables are const (flash on a Cortex-M); tests check
 * both against HL_CRC16_CHECK / HL_CRC32_CHECK, which the header generator computes in Python. */
#ifndef HL_CRC_H
#define HL_CRC_H

#include <stddef.h>
#include <stdint.h>

#define HL_CRC16_INIT 0xFFFFu
#define HL_CRC32_INIT 0u

/* Continue a CRC-16/CCITT-FALSE; start with HL_CRC16_INIT. */
uint16_t hl_crc16(uint16_t crc, const uint8_t *data, size_t len);

/* Continue a CRC-32 exactly like zlib's crc32(crc, data, len); start with HL_CRC32_INIT. */
uint32_t hl_crc32(uint32_t crc, const uint8_t *data, size_t len);

#endif /* HL_CRC_H */

/*
 * lib/sg_crc32c.h - CRC-32C (Castagnoli, iSCSI polynomial 0x1EDC6F41,
 * reflected 0x82F63B78), the checksum of store records (store/FORMAT.md).
 *
 * CRC-32C rather than zlib's CRC-32: better error detection for the record
 * sizes we keep, and the same checksum ext4, iSCSI and LevelDB use, so the
 * test vectors are easy to cross-check ("123456789" -> 0xE3069283).
 */
#ifndef SG_CRC32C_H
#define SG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Extend `crc` (0 to start) over `n` bytes of `p`.  Chaining is exact:
 * sg_crc32c(sg_crc32c(0, a, na), b, nb) == CRC of a||b.
 */
uint32_t sg_crc32c(uint32_t crc, const void *p, size_t n);

#endif

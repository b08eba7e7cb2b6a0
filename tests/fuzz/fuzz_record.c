/*
 * tests/fuzz/fuzz_record.c - records read back from disk
 * (store/store_record.h) and bare envelopes (proto/proto_msg.h).
 *
 * A record is checksummed, so random bytes rarely reach the field checks;
 * the target therefore also re-seals the input's CRC before a second
 * decode, so every field check behind the checksum is exercised.  What
 * decodes must re-encode to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sg_crc32c.h"
#include "proto/proto_msg.h"
#include "store/store_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_check(const uint8_t *b, size_t n)
{
    store_record r;
    uint8_t *again;

    if (store_record_decode(b, n, &r) != NULL)
        return;
    again = malloc(n);
    if (again == NULL || store_record_encode(&r, again, n) != n ||
        memcmp(again, b, n) != 0)
        abort();
    free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    proto_msg m;
    uint8_t *copy;

    s_check(data, size);
    if (proto_msg_decode(data, size, &m) == NULL) {
        size_t n;
        uint8_t *b = proto_msg_encode_new(&m, &n);
        if (b == NULL || n != size || memcmp(b, data, n) != 0)
            abort();
        free(b);
    }
    if (size >= STORE_RECORD_HDR) {
        copy = malloc(size);
        if (copy == NULL)
            abort();
        memcpy(copy, data, size);
        /* Length and CRC fixed up: the field checks behind them. */
        proto_put_u32(copy + 8, (uint32_t)size);
        proto_put_u32(copy + 12, sg_crc32c(sg_crc32c(0, copy, 12), copy + 16,
                                           size - 16));
        s_check(copy, size);
        free(copy);
    }
    return 0;
}

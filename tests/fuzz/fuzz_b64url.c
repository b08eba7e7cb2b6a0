/*
 * tests/fuzz/fuzz_b64url.c - libFuzzer target for proto_b64.h: base64url
 * and standard base64, decoding and encoding.
 *
 * The decoders are strict, so every accepted text is the unique encoding
 * of what it decodes to: re-encoding must give the input back.  Encoding
 * the raw input and decoding it must give the input back too.
 */
#include "proto/proto_b64.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    /* Decoding the input needs dec_max(size), decoding its encoding size. */
    uint8_t *dec = sg_malloc(proto_b64_dec_max(size) + size + 1);
    char *enc = sg_malloc(proto_b64_enc_len(size) + 4);
    size_t n, e;

    if (proto_b64url_decode(in, size, dec, &n) == SG_OK) {
        if (n > proto_b64_dec_max(size))
            abort();
        e = proto_b64url_encode(dec, n, enc);
        if (e != size || memcmp(enc, in, size) != 0)
            abort();
    }
    for (int unpadded = 0; unpadded < 2; unpadded++) {
        if (proto_b64_decode(in, size, unpadded, dec, &n) != SG_OK)
            continue;
        e = proto_b64_encode(dec, n, enc);
        if (size % 4 == 0 && (e != size || memcmp(enc, in, size) != 0))
            abort();
        if (size % 4 != 0 && (!unpadded || e < size ||
                              memcmp(enc, in, size) != 0 ||
                              strspn(enc + size, "=") != e - size))
            abort();
    }

    e = proto_b64url_encode(data, size, enc);
    if (e != proto_b64url_enc_len(size) ||
        proto_b64url_decode(enc, e, dec, &n) != SG_OK || n != size ||
        memcmp(dec, data, size) != 0)
        abort();
    e = proto_b64_encode(data, size, enc);
    if (e != proto_b64_enc_len(size) ||
        proto_b64_decode(enc, e, 0, dec, &n) != SG_OK || n != size ||
        memcmp(dec, data, size) != 0)
        abort();

    sg_free(dec);
    sg_free(enc);
    return 0;
}

/*
 * proto/proto_b64.c - base64url (no padding) and standard base64.
 *
 * Both decoders share one strict core: every character must be in the
 * alphabet, the length must be one an encoder can produce, and the unused
 * low bits of the last character must be zero.  The last rule matters: it
 * makes the encoding of a given octet string unique, so two different
 * segments never decode to the same bytes (a JWS is verified over the text,
 * a replay key is computed over the text).
 */
#include "proto/proto_b64.h"

#include <string.h>

static const char s_url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char s_std_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The reverse mappings: 0..63, or -1 for a byte outside the alphabet.  A
 * table is one load per character where range tests were five compares
 * and as many branches, which showed once the rest of a PASSporT parse
 * got cheap.  They are filled from the alphabets above, so they cannot
 * drift, before main (a constructor: no thread can race the filling).
 */
static int8_t s_url_rev[256], s_std_rev[256];

__attribute__((constructor)) static void
s_rev_init(void)
{
    memset(s_url_rev, -1, sizeof(s_url_rev));
    memset(s_std_rev, -1, sizeof(s_std_rev));
    for (int i = 0; i < 64; i++) {
        s_url_rev[(unsigned char)s_url_alpha[i]] = (int8_t)i;
        s_std_rev[(unsigned char)s_std_alpha[i]] = (int8_t)i;
    }
}

size_t
proto_b64url_enc_len(size_t n)
{
    size_t full;

    /* Callers pass lengths of buffers they hold, bounded far below this. */
    if (!sg_mul_ok(n / 3, 4, &full))
        sg_panic("proto_b64url_enc_len: %zu octets overflow", n);
    return full + (n % 3 ? n % 3 + 1 : 0);
}

size_t
proto_b64_enc_len(size_t n)
{
    size_t groups = n / 3 + (n % 3 ? 1 : 0), out;

    if (!sg_mul_ok(groups, 4, &out))
        sg_panic("proto_b64_enc_len: %zu octets overflow", n);
    return out;
}

size_t
proto_b64_dec_max(size_t n)
{
    /* 4 characters give 3 octets; a partial group of r gives r - 1 < r. */
    return n / 4 * 3 + n % 4;
}

static size_t
s_encode(const uint8_t *in, size_t n, char *out, const char *alpha, int pad)
{
    size_t i, o = 0;

    for (i = 0; i + 3 <= n; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        out[o++] = alpha[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alpha[v >> 18 & 63];
        out[o++] = alpha[v >> 12 & 63];
        out[o++] = alpha[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t
proto_b64url_encode(const uint8_t *in, size_t n, char *out)
{
    return s_encode(in, n, out, s_url_alpha, 0);
}

size_t
proto_b64_encode(const uint8_t *in, size_t n, char *out)
{
    return s_encode(in, n, out, s_std_alpha, 1);
}

/*
 * Decode `n` characters with no padding among them.  A trailing group of 1
 * character cannot come from an encoder; groups of 2 and 3 carry 4 and 2
 * unused bits that must be zero.
 */
static sg_rc
s_decode(const char *in, size_t n, int url, uint8_t *out, size_t *outlen)
{
    const int8_t *rev = url ? s_url_rev : s_std_rev;
    size_t i, o = 0;
    int v[4];

    if (n % 4 == 1)
        return SG_REFUSED;
    for (i = 0; i + 4 <= n; i += 4) {
        for (int k = 0; k < 4; k++)
            if ((v[k] = rev[(unsigned char)in[i + k]]) < 0)
                return SG_REFUSED;
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
        out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
    }
    if (n - i >= 2) {
        size_t r = n - i;

        for (size_t k = 0; k < r; k++)
            if ((v[k] = rev[(unsigned char)in[i + k]]) < 0)
                return SG_REFUSED;
        out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
        if (r == 2) {
            if (v[1] & 15)
                return SG_REFUSED;
        } else {
            out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
            if (v[2] & 3)
                return SG_REFUSED;
        }
    }
    *outlen = o;
    return SG_OK;
}

sg_rc
proto_b64url_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    return s_decode(in, n, 1, out, outlen);
}

/*
 * Padding, when present, must be exactly what the encoder writes: one '='
 * after 3 characters of a final group, two after 2.  '=' anywhere else, or a
 * third one, is refused.
 */
sg_rc
proto_b64_decode(const char *in, size_t n, int allow_unpadded, uint8_t *out,
                 size_t *outlen)
{
    size_t pad = 0;

    if (n % 4 != 0 && !allow_unpadded)
        return SG_REFUSED;
    if (n % 4 == 0) {
        while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
            pad++;
        if (pad > 0 && (n - pad) % 4 != 4 - pad)
            return SG_REFUSED;
    }
    return s_decode(in, n - pad, 0, out, outlen);
}

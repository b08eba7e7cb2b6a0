/* Unit tests: base64url and standard base64 (proto/proto_b64.h). */
#include "proto/proto_b64.h"
#include "tests/unit/tu.h"

#include <string.h>

/* RFC 4648 section 10 test vectors. */
static const struct {
    const char *in, *std, *url;
} s_rfc4648[] = {
    {"", "", ""},
    {"f", "Zg==", "Zg"},
    {"fo", "Zm8=", "Zm8"},
    {"foo", "Zm9v", "Zm9v"},
    {"foob", "Zm9vYg==", "Zm9vYg"},
    {"fooba", "Zm9vYmE=", "Zm9vYmE"},
    {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};

static int
s_url_ok(const char *s)
{
    uint8_t out[256];
    size_t n;

    return proto_b64url_decode(s, strlen(s), out, &n) == SG_OK;
}

static int
s_std_ok(const char *s, int allow_unpadded)
{
    uint8_t out[256];
    size_t n;

    return proto_b64_decode(s, strlen(s), allow_unpadded, out, &n) == SG_OK;
}

TU_TEST(b64_rfc4648_vectors)
{
    for (size_t i = 0; i < SG_NELEM(s_rfc4648); i++) {
        const char *in = s_rfc4648[i].in;
        size_t n = strlen(in), outlen = 99;
        char enc[32];
        uint8_t dec[32];

        TU_INTEQ(proto_b64_enc_len(n), strlen(s_rfc4648[i].std));
        TU_INTEQ(proto_b64url_enc_len(n), strlen(s_rfc4648[i].url));
        TU_INTEQ(proto_b64_encode((const uint8_t *)in, n, enc),
                 strlen(s_rfc4648[i].std));
        TU_STREQ(enc, s_rfc4648[i].std);
        TU_INTEQ(proto_b64url_encode((const uint8_t *)in, n, enc),
                 strlen(s_rfc4648[i].url));
        TU_STREQ(enc, s_rfc4648[i].url);

        TU_REQUIRE(proto_b64_decode(s_rfc4648[i].std, strlen(s_rfc4648[i].std),
                                    0, dec, &outlen) == SG_OK);
        TU_INTEQ(outlen, n);
        TU_CHECK(memcmp(dec, in, n) == 0);
        TU_REQUIRE(proto_b64url_decode(s_rfc4648[i].url,
                                       strlen(s_rfc4648[i].url), dec,
                                       &outlen) == SG_OK);
        TU_INTEQ(outlen, n);
        TU_CHECK(memcmp(dec, in, n) == 0);
        /* Unpadded standard base64 only when asked for. */
        TU_CHECK(s_std_ok(s_rfc4648[i].url, 1));
        TU_CHECK(s_std_ok(s_rfc4648[i].url, 0) == (n % 3 == 0));
    }
}

TU_TEST(b64_alphabets_differ)
{
    static const uint8_t in[] = {0xfb, 0xff, 0xbf};
    char enc[8];
    uint8_t dec[8];
    size_t n;

    proto_b64_encode(in, 3, enc);
    TU_STREQ(enc, "+/+/");
    proto_b64url_encode(in, 3, enc);
    TU_STREQ(enc, "-_-_");
    TU_CHECK(!s_url_ok("+/+/"));
    TU_CHECK(!s_std_ok("-_-_", 1));
    TU_REQUIRE(proto_b64url_decode("-_-_", 4, dec, &n) == SG_OK);
    TU_INTEQ(n, 3);
    TU_CHECK(memcmp(dec, in, 3) == 0);
}

TU_TEST(b64url_rejects_malformed)
{
    TU_CHECK(s_url_ok(""));
    TU_CHECK(s_url_ok("Zg"));
    TU_CHECK(!s_url_ok("Zg==")); /* padding: JWS forbids it */
    TU_CHECK(!s_url_ok("Zm8="));
    TU_CHECK(!s_url_ok("Z")); /* n % 4 == 1 */
    TU_CHECK(!s_url_ok("Zm9vY"));
    TU_CHECK(!s_url_ok("Zh"));  /* non-zero unused bits */
    TU_CHECK(!s_url_ok("Zm9")); /* 9 = 61: low 2 bits set */
    TU_CHECK(!s_url_ok("Zm9v "));
    TU_CHECK(!s_url_ok(" Zm9v"));
    TU_CHECK(!s_url_ok("Zm\n9v"));
    TU_CHECK(!s_url_ok("Zm9.v"));
    TU_CHECK(!s_url_ok("Zm9\xc3\xa9"));
}

TU_TEST(b64_std_padding_rules)
{
    TU_CHECK(s_std_ok("Zg==", 0));
    TU_CHECK(!s_std_ok("Zg", 0));
    TU_CHECK(s_std_ok("Zg", 1));
    TU_CHECK(!s_std_ok("Zg=", 0));
    TU_CHECK(!s_std_ok("Zg=", 1));   /* half padding */
    TU_CHECK(!s_std_ok("Zm8==", 1)); /* too much padding */
    TU_CHECK(!s_std_ok("Zm9v=", 1));
    TU_CHECK(!s_std_ok("Z===", 0));
    TU_CHECK(!s_std_ok("====", 0));
    TU_CHECK(!s_std_ok("Zm9v====", 0));
    TU_CHECK(!s_std_ok("Zg==Zg==", 0)); /* padding in the middle */
    TU_CHECK(!s_std_ok("Zh==", 0));     /* non-zero unused bits */
    TU_CHECK(!s_std_ok("Zm9=", 0));
    TU_CHECK(!s_std_ok("Zm9v\r\n", 1)); /* no whitespace */
    TU_CHECK(!s_std_ok("Zm 9v", 1));
    TU_CHECK(!s_std_ok("Zm9", 0));
}

TU_TEST(b64_round_trip_all_lengths)
{
    uint8_t in[200], dec[200];
    char enc[300];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 151 + 7);
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t e, d = 0;

        e = proto_b64url_encode(in, n, enc);
        TU_INTEQ(e, proto_b64url_enc_len(n));
        TU_CHECK(proto_b64_dec_max(e) >= n);
        TU_REQUIRE(proto_b64url_decode(enc, e, dec, &d) == SG_OK);
        TU_INTEQ(d, n);
        TU_CHECK(memcmp(in, dec, n) == 0);

        e = proto_b64_encode(in, n, enc);
        TU_INTEQ(e, proto_b64_enc_len(n));
        TU_CHECK(proto_b64_dec_max(e) >= n);
        TU_REQUIRE(proto_b64_decode(enc, e, 0, dec, &d) == SG_OK);
        TU_INTEQ(d, n);
        TU_CHECK(memcmp(in, dec, n) == 0);
    }
}

/* Unique encodings: flipping any unused bit of the last char is refused. */
TU_TEST(b64url_canonical_only)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char s[4];
    int accepted2 = 0, accepted3 = 0;

    for (int k = 0; k < 64; k++) {
        s[0] = 'A';
        s[1] = alpha[k];
        s[2] = '\0';
        accepted2 += s_url_ok(s);
        s[1] = 'A';
        s[2] = alpha[k];
        s[3] = '\0';
        accepted3 += s_url_ok(s);
    }
    TU_INTEQ(accepted2, 4);  /* 2 significant bits in the 2nd char */
    TU_INTEQ(accepted3, 16); /* 4 significant bits in the 3rd char */
}

/* The decoders' reverse tables against the alphabets, all 256 bytes: in
 * every position of a group, a byte decodes to its index or is refused. */
TU_TEST(b64_decode_every_byte)
{
    static const char url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static const char std[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (int c = 0; c < 256; c++) {
        const char *pu = c ? memchr(url, c, 64) : NULL;
        const char *ps = c ? memchr(std, c, 64) : NULL;

        for (int pos = 0; pos < 4; pos++) {
            char in[4] = {'A', 'A', 'A', 'A'};
            uint8_t out[3];
            size_t n;
            sg_rc ru, rs;
            uint32_t want;

            in[pos] = (char)c;
            ru = proto_b64url_decode(in, 4, out, &n);
            TU_INTEQ(ru, pu ? SG_OK : SG_REFUSED);
            if (pu != NULL) {
                want = (uint32_t)(pu - url) << (6 * (3 - pos));
                TU_INTEQ((uint32_t)out[0] << 16 | out[1] << 8 | out[2], want);
            }
            rs = proto_b64_decode(in, 4, 0, out, &n);
            /* '=' is padding in the standard form, not an alphabet byte. */
            if (c == '=')
                continue;
            TU_INTEQ(rs, ps ? SG_OK : SG_REFUSED);
            if (ps != NULL) {
                want = (uint32_t)(ps - std) << (6 * (3 - pos));
                TU_INTEQ((uint32_t)out[0] << 16 | out[1] << 8 | out[2], want);
            }
        }
    }
}

/* lib/sg_crc32c.c - CRC-32C: the SSE4.2 crc32 instruction where the CPU
 * has it, else table-driven, slicing by 8. */
#include "lib/sg_crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define S_HW 1
#endif

/*
 * The tables are computed once on first use.  The store is single-threaded
 * and a racing second initialisation writes the same values, so no lock.
 */
static uint32_t s_tab[8][256];
static int s_ready;

static void
s_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        s_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            s_tab[t][i] = (s_tab[t - 1][i] >> 8) ^
                          s_tab[0][s_tab[t - 1][i] & 0xff];
    s_ready = 1;
}

#ifdef S_HW
/*
 * The store checks a CRC over every record it reads and writes several
 * per message (STORE, lease, DONE): the tables cost about 5% of the
 * store's CPU at full load, the instruction (8 bytes per cycle or so)
 * a tenth of that.  Same polynomial, same results (the unit test's known
 * vector runs on whichever path the machine takes).
 */
__attribute__((target("sse4.2"))) static uint32_t
s_hw(uint32_t crc, const uint8_t *b, size_t n)
{
    uint64_t c = ~crc;

    while (n >= 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        c = _mm_crc32_u64(c, v);
        b += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *b++);
    return ~(uint32_t)c;
}

static int s_hw_state; /* 0 unknown, 1 yes, -1 no */
#endif

uint32_t
sg_crc32c(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;

#ifdef S_HW
    if (s_hw_state == 0)
        s_hw_state = __builtin_cpu_supports("sse4.2") ? 1 : -1;
    if (s_hw_state > 0)
        return s_hw(crc, b, n);
#endif
    if (!s_ready)
        s_init();
    crc = ~crc;
    /* Eight bytes at a time; memcpy keeps unaligned reads defined. */
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, b, 4);
        memcpy(&hi, b + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= crc;
        crc = s_tab[7][lo & 0xff] ^ s_tab[6][(lo >> 8) & 0xff] ^
              s_tab[5][(lo >> 16) & 0xff] ^ s_tab[4][lo >> 24] ^
              s_tab[3][hi & 0xff] ^ s_tab[2][(hi >> 8) & 0xff] ^
              s_tab[1][(hi >> 16) & 0xff] ^ s_tab[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = (crc >> 8) ^ s_tab[0][(crc ^ *b++) & 0xff];
    return ~crc;
}

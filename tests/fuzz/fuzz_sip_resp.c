/* libFuzzer target: SIP responses as deliver reads them from the network
 * (deliver/deliver_sip.h), as a datagram and as the front of a stream. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "deliver/deliver_sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    deliver_sip_resp_t r;
    const char *why;

    for (int stream = 0; stream < 2; stream++) {
        int k = deliver_sip_resp_parse(data, size, stream, &r, &why);
        if (k == 1) {
            /* Every slice lies inside the input; the length is sane. */
            if (r.total_len > size || r.code < 100 || r.code > 699)
                __builtin_trap();
            if (r.branch.p < (const char *)data ||
                r.branch.p + r.branch.n > (const char *)data + size)
                __builtin_trap();
            if (r.call_id.p < (const char *)data ||
                r.call_id.p + r.call_id.n > (const char *)data + size)
                __builtin_trap();
        } else if (k == -1 && why == NULL) {
            __builtin_trap();
        }
    }
    return 0;
}

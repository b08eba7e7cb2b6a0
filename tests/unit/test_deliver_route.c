/* Unit tests: routes and dead destinations (deliver/deliver_route.h). */
#include "deliver/deliver_route.h"
#include "tests/unit/tu.h"

static long
s_m(const deliver_route_t *r, size_t n, const char *to)
{
    return deliver_route_match(r, n, to, strlen(to));
}

TU_TEST(route_dest_parts)
{
    char tn[32], host[64];

    deliver_route_dest("+1 202", 6, tn, sizeof(tn), host, sizeof(host));
    TU_STREQ(tn, ""); /* a space: not a number */
    deliver_route_dest("+1-202-555-0111", 15, tn, sizeof(tn), host,
                       sizeof(host));
    TU_STREQ(tn, "12025550111");
    TU_STREQ(host, "");
    deliver_route_dest("sip:+12025550111@Carrier.Example;user=phone", 43, tn,
                       sizeof(tn), host, sizeof(host));
    TU_STREQ(tn, "12025550111");
    TU_STREQ(host, "Carrier.Example");
    deliver_route_dest("tel:+4420;phone-context=x", 25, tn, sizeof(tn), host,
                       sizeof(host));
    TU_STREQ(tn, "4420");
    deliver_route_dest("<sip:alice@b.example:5070>", 26, tn, sizeof(tn), host,
                       sizeof(host));
    TU_STREQ(tn, "");
    TU_STREQ(host, "b.example");
}

TU_TEST(route_match_order_prefix_domain_default)
{
    deliver_route_t r[4];

    memset(r, 0, sizeof(r));
    r[0].match_prefix = "+44";
    r[1].match_domain = "b.example";
    r[2].match_prefix = "1202";
    r[2].match_domain = "c.example";
    /* r[3]: the default */
    TU_INTEQ(s_m(r, 4, "+447700900123"), 0);
    TU_INTEQ(s_m(r, 4, "sip:bob@B.EXAMPLE"), 1);
    TU_INTEQ(s_m(r, 4, "sip:+12025550111@c.example"), 2);
    TU_INTEQ(s_m(r, 4, "sip:+13035550111@c.example"), 3);
    TU_INTEQ(s_m(r, 4, "+12025550111"), 3);
    /* Order: the first match wins, even over a more specific later one. */
    TU_INTEQ(s_m(r, 4, "sip:+4420@b.example"), 0);
    /* No default: none matches. */
    TU_INTEQ(s_m(r, 3, "+12025550111"), -1);
    TU_INTEQ(s_m(r, 0, "+12025550111"), -1);
}

TU_TEST(route_parse_sip_hop)
{
    deliver_route_t r;

    memset(&r, 0, sizeof(r));
    TU_CHECK(deliver_route_parse_sip("udp:127.0.0.1:5060", &r) == NULL);
    TU_INTEQ(r.kind, DELIVER_HOP_UDP);
    TU_STREQ(r.host, "127.0.0.1");
    TU_INTEQ(r.port, 5060);
    TU_CHECK(deliver_route_parse_sip("tcp:[::1]:5061", &r) == NULL);
    TU_INTEQ(r.kind, DELIVER_HOP_TCP);
    TU_STREQ(r.host, "::1");
    TU_CHECK(deliver_route_parse_sip("tls:a:1", &r) != NULL);
    TU_CHECK(deliver_route_parse_sip("udp:a", &r) != NULL);
    TU_CHECK(deliver_route_parse_sip("udp:a:0", &r) != NULL);
    TU_CHECK(deliver_route_parse_sip("udp:a:65536", &r) != NULL);
    TU_CHECK(deliver_route_parse_sip("udp:a b:5060", &r) != NULL);
    TU_CHECK(deliver_route_parse_sip("udp::5060", &r) != NULL);
}

TU_TEST(route_down_probe_recovery)
{
    deliver_route_policy p = {.down_after = 3, .probe_interval_ms = 1000};
    deliver_route_t r;
    uint64_t wait;

    memset(&r, 0, sizeof(r));
    TU_INTEQ(deliver_route_admit(&r, 0, &p, &wait), DELIVER_GATE_SEND);
    TU_INTEQ(deliver_route_report(&r, SG_AGAIN, 0, 10, &p), DELIVER_ROUTE_SAME);
    TU_INTEQ(deliver_route_report(&r, SG_AGAIN, 0, 20, &p), DELIVER_ROUTE_SAME);
    /* A success in between resets the count. */
    TU_INTEQ(deliver_route_report(&r, SG_OK, 0, 25, &p), DELIVER_ROUTE_SAME);
    TU_INTEQ(r.failures, 0);
    deliver_route_report(&r, SG_AGAIN, 0, 30, &p);
    deliver_route_report(&r, SG_AGAIN, 0, 40, &p);
    TU_INTEQ(deliver_route_report(&r, SG_AGAIN, 0, 50, &p),
             DELIVER_ROUTE_WENT_DOWN);
    TU_CHECK(r.down);
    /* Down: everything waits until the probe time ... */
    TU_INTEQ(deliver_route_admit(&r, 100, &p, &wait), DELIVER_GATE_WAIT);
    TU_INTEQ(wait, 950);
    /* ... then exactly one probe at a time. */
    TU_INTEQ(deliver_route_admit(&r, 1050, &p, &wait), DELIVER_GATE_PROBE);
    TU_INTEQ(deliver_route_admit(&r, 1060, &p, &wait), DELIVER_GATE_WAIT);
    TU_INTEQ(wait, 1000);
    /* The probe fails: the next one is an interval later. */
    TU_INTEQ(deliver_route_report(&r, SG_AGAIN, 1, 1100, &p),
             DELIVER_ROUTE_SAME);
    TU_INTEQ(deliver_route_admit(&r, 1200, &p, &wait), DELIVER_GATE_WAIT);
    TU_INTEQ(wait, 900);
    TU_INTEQ(deliver_route_admit(&r, 2100, &p, &wait), DELIVER_GATE_PROBE);
    /* A permanent refusal proves the peer alive: up again. */
    TU_INTEQ(deliver_route_report(&r, SG_REFUSED, 1, 2150, &p),
             DELIVER_ROUTE_CAME_UP);
    TU_CHECK(!r.down && !r.probing && r.failures == 0);
    TU_INTEQ(deliver_route_admit(&r, 2200, &p, &wait), DELIVER_GATE_SEND);
}

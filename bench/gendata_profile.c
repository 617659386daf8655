/* gendata_profile.c -- a profile's fixed attributes (organisation, industry,
 * device, currency, marketing preferences, phone, first message time) and
 * the traits of its identify messages, all drawn from dataset_hash3 so any
 * profile can be recomputed at any time. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "gendata.h"

static const struct {
    const char *name, *website;
} organisations[] = {
    {"Acme Ltd", "www.acme.example"},
    {"Globex Corporation", "www.globex.example"},
    {"Initech", "www.initech.example"},
    {"Smith & Sons", "www.smithandsons.example"},
    {"Northwind Traders", "www.northwind.example"},
    {"Umbrella Holdings", "www.umbrella.example"},
    {"Blue Harbour Travel", "www.blueharbour.example"},
    {"Café \"Le Coin\"", "www.lecoin.example"},
    {"Stark Industries", "www.stark.example"},
    {"Hooli", "www.hooli.example"},
    {"Vandelay Imports", "www.vandelay.example"},
    {"Wayne Enterprises", "www.wayne.example"},
};

static const char *const industries[] = {
    "Retail", "Travel", "Finance", "Media", "Education", "Healthcare", "Technology", "Hospitality", "Other",
};

static const char *const user_agents[] = {
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_4) AppleWebKit/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.111 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:82.0) Gecko/20100101 Firefox/82.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 14_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/14.0 Mobile/15E148 "
    "Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; SM-G973F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.110 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.75 Safari/537.36 "
    "Edg/86.0.622.38",
};

static const char *const currencies[] = {"GBP", "EUR", "USD"};

static const char *const channels[] = {"email", "sms", "whatsapp", "facebook", "push"};

void
profile_make(profile_t *p, uint64_t seed, uint64_t i, int64_t start_ms)
{
    memset(p, 0, sizeof(*p));
    p->index = i;
    dataset_user_id(i, p->user_id, sizeof(p->user_id));
    dataset_email(seed, i, p->email, sizeof(p->email));
    if (i == 0) {
        /* Joe Bloggs, as in the Profile API spec's traits example. */
        p->first_name = "Joe";
        p->last_name = "Bloggs";
        p->organisation = "Intilery";
        p->website = "www.intilery.com";
        p->industry = "Other";
        p->user_agent = user_agents[0];
        p->currency = "GBP";
        p->marketing = 0x3; /* email, sms */
        p->first_ms = start_ms + 9 * 3600 * 1000;
        snprintf(p->phone, sizeof(p->phone), "+44111222333444");
        snprintf(p->ip, sizeof(p->ip), "217.42.6.253");
        return;
    }
    const dataset_name_t *first, *last;
    dataset_names(seed, i, &first, &last);
    p->first_name = first->display;
    p->last_name = last->display;

    size_t org = dataset_hash3(seed, i, DATASET_SALT_ORG) % COUNT(organisations);
    p->organisation = organisations[org].name;
    p->website = organisations[org].website;
    p->industry = industries[dataset_hash3(seed, i, DATASET_SALT_INDUSTRY) % COUNT(industries)];

    uint64_t h = dataset_hash3(seed, i, DATASET_SALT_DEVICE);
    static const unsigned first_octets[] = {31, 62, 81, 86, 92, 109, 145, 176, 185, 212, 217};
    snprintf(p->ip, sizeof(p->ip), "%u.%u.%u.%u", first_octets[h % COUNT(first_octets)], (unsigned)(h >> 8) & 0xff,
             (unsigned)(h >> 16) & 0xff, 1 + (unsigned)((h >> 24) % 254));
    p->user_agent = user_agents[(h >> 40) % COUNT(user_agents)];

    h = dataset_hash3(seed, i, DATASET_SALT_CURRENCY) % 10;
    p->currency = currencies[h < 7 ? 0 : h < 9 ? 1 : 2];

    /* Subscription odds per channel: email 80%, sms 40%, whatsapp 20%,
     * facebook 15%, push 30%. */
    static const unsigned odds[] = {80, 40, 20, 15, 30};
    uint64_t ms = dataset_hash3(seed, i, DATASET_SALT_MARKETING);
    for (size_t c = 0; c < COUNT(channels); c++) {
        if ((ms >> (c * 8)) % 100 < odds[c])
            p->marketing |= 1u << c;
    }

    snprintf(p->phone, sizeof(p->phone), "+447%09" PRIu64, dataset_hash3(seed, i, DATASET_SALT_PHONE) % UINT64_C(1000000000));
    p->anon_start = dataset_hash3(seed, i, DATASET_SALT_ANON) % 5 == 0;
    if (p->anon_start)
        snprintf(p->anon_id, sizeof(p->anon_id), "anon-%06" PRIu64, i);
    p->second_identify = dataset_hash3(seed, i, DATASET_SALT_SECOND) % 4 == 0;
    p->first_ms = start_ms + (int64_t)(dataset_hash3(seed, i, DATASET_SALT_START) % (uint64_t)FIRST_START_MS);
}

void
put_traits(line_t *o, const profile_t *p, unsigned change, uint64_t *rng)
{
    const char *last = p->last_name, *org = p->organisation, *industry = p->industry;
    char phone[24];
    snprintf(phone, sizeof(phone), "%s", p->phone);
    unsigned marketing = p->marketing;
    switch (change) {
    case 1:
        snprintf(phone, sizeof(phone), "+447%09" PRIu64, rng_below(rng, 1000000000ULL));
        break;
    case 2: {
        const char *o2 = organisations[rng_below(rng, COUNT(organisations))].name;
        org = o2 != org ? o2 : organisations[0].name != org ? organisations[0].name : organisations[1].name;
        break;
    }
    case 3: {
        const char *i2 = industries[rng_below(rng, COUNT(industries))];
        industry = i2 != industry ? i2 : industries[0] != industry ? industries[0] : industries[1];
        break;
    }
    case 4: {
        const char *l2 = dataset_last_names[rng_below(rng, DATASET_LAST_NAMES)].display;
        last = l2 != last                              ? l2
               : dataset_last_names[0].display != last ? dataset_last_names[0].display
                                                       : dataset_last_names[1].display;
        break;
    }
    case 5:
        marketing ^= 1u << rng_below(rng, COUNT(channels));
        break;
    }
    PUT_LIT(o, ",\"traits\":{\"firstName\":");
    put_str(o, p->first_name);
    PUT_LIT(o, ",\"lastName\":");
    put_str(o, last);
    PUT_LIT(o, ",\"email\":");
    put_str(o, p->email);
    PUT_LIT(o, ",\"phone\":");
    put_str(o, phone);
    PUT_LIT(o, ",\"website\":");
    put_str(o, p->website);
    PUT_LIT(o, ",\"organisation\":");
    put_str(o, org);
    PUT_LIT(o, ",\"industry\":");
    put_str(o, industry);
    PUT_LIT(o, ",\"marketingPreferences\":{\"channels\":[");
    for (size_t c = 0; c < COUNT(channels); c++) {
        if (c)
            put_char(o, ',');
        if (marketing & (1u << c))
            PUT_LIT(o, "{\"subscribed\":true,\"channel\":");
        else
            PUT_LIT(o, "{\"subscribed\":false,\"channel\":");
        put_str(o, channels[c]);
        put_char(o, '}');
    }
    PUT_LIT(o, "]}}");
}

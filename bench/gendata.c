/* gendata.c -- profiled-gendata: deterministic generator of Segment-spec NDJSON
 * (identify, track, page, screen messages) for benchmarks, tests and the demo
 * data in deploy/demo/sample.ndjson. Same arguments, same bytes: an own PRNG
 * (splitmix64) seeded per profile, no clock. Profile 0 is Joe Bloggs from the
 * Profile API spec. Usage: see usage() below. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
#define SPAN_MS (60 * DAY_MS)        /* profiles' activity spreads over ~60 days */
#define FIRST_START_MS (40 * DAY_MS) /* a profile's first message: start + [0, 40 days) */
#define LINE_CAP (64 * 1024)         /* one message; real ones stay under 2 KB */

/* ---- PRNG ------------------------------------------------------------------
 * splitmix64 (Steele, Lea, Flood 2014). Each profile has two independent
 * streams derived from (seed, profile index): its fixed attributes (names,
 * email, phone, ...) come from hash3(seed, i, SALT_*), its messages from a
 * sequential stream. So a profile's messages are the same bytes whether or not
 * the output is shuffled, and any profile's attributes (e.g. the one whose
 * email another shares) can be recomputed at any time. */
static uint64_t
mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
rng_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return mix64(*state);
}

/* Uniform in [0, n); n > 0. The modulo bias is below 2^-40 for our n. */
static uint64_t
rng_below(uint64_t *state, uint64_t n)
{
    return rng_next(state) % n;
}

/* Uniform in [lo, hi]. */
static int64_t
rng_range(uint64_t *state, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(state, (uint64_t)(hi - lo + 1));
}

enum {
    SALT_NAME = 1,
    SALT_SHARE,
    SALT_PLUS,
    SALT_PHONE,
    SALT_ORG,
    SALT_INDUSTRY,
    SALT_MARKETING,
    SALT_DEVICE,
    SALT_CURRENCY,
    SALT_ANON,
    SALT_SECOND,
    SALT_START,
    SALT_MESSAGES,
};

static uint64_t
hash3(uint64_t seed, uint64_t index, uint64_t salt)
{
    return mix64(mix64(mix64(seed ^ 0x5851f42d4c957f2dULL) ^ (index * 0x9e3779b97f4a7c15ULL)) ^ (salt * 0xd1b54a32d192ed03ULL));
}

/* ---- fixed vocabularies ----------------------------------------------------
 * Display names carry quotes and non-ASCII UTF-8 so JSON escaping and byte
 * handling get exercised; the slug is what goes into the email address. */
typedef struct {
    const char *display;
    const char *slug;
} name_t;

static const name_t first_names[] = {
    {"Alice", "alice"}, {"Ben", "ben"},         {"Chloé", "chloe"},       {"Dmitri", "dmitri"}, {"Emma", "emma"},
    {"Farah", "farah"}, {"George", "george"},   {"Hannah", "hannah"},     {"Ian", "ian"},       {"Jasmine", "jasmine"},
    {"Kofi", "kofi"},   {"Laura", "laura"},     {"Mohammed", "mohammed"}, {"Niamh", "niamh"},   {"Oliver", "oliver"},
    {"Priya", "priya"}, {"Quentin", "quentin"}, {"Rosa", "rosa"},         {"Sam", "sam"},       {"Tomás", "tomas"},
    {"Uma", "uma"},     {"Victor", "victor"},   {"Wei", "wei"},           {"Xavier", "xavier"}, {"Yasmin", "yasmin"},
    {"Zoë", "zoe"},     {"Aoife", "aoife"},     {"Björn", "bjorn"},
};

static const name_t last_names[] = {
    {"Smith", "smith"},         {"Jones", "jones"},   {"O'Brien", "obrien"}, {"Müller", "muller"},
    {"Patel", "patel"},         {"Nguyen", "nguyen"}, {"García", "garcia"},  {"Kowalski", "kowalski"},
    {"Taylor", "taylor"},       {"Brown", "brown"},   {"Wilson", "wilson"},  {"Okafor", "okafor"},
    {"Rossi", "rossi"},         {"Dubois", "dubois"}, {"Khan", "khan"},      {"Murphy", "murphy"},
    {"Evans", "evans"},         {"Silva", "silva"},   {"Novak", "novak"},    {"Yamamoto", "yamamoto"},
    {"Andersson", "andersson"}, {"Walker", "walker"}, {"Hughes", "hughes"},  {"Fernández", "fernandez"},
};

typedef struct {
    const char *name;
    const char *website;
} org_t;

static const org_t organisations[] = {
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

/* Mobile app user agent for screen messages. */
static const char app_user_agent[] = "ExampleShop/3.2.1 (iPhone; iOS 14.2; Scale/3.00)";

static const char *const currencies[] = {"GBP", "EUR", "USD"};

static const char *const channels[] = {"email", "sms", "whatsapp", "facebook", "push"};

/* Subject and campaign of a marketing email; index 0 is the spec's example. */
typedef struct {
    const char *subject;
    const char *campaign;
} mail_t;

static const mail_t mails[] = {
    {"Thanks for requesting an Intilery trial", "TRIAL_WELCOME"},
    {"Your weekly digest", "WEEKLY_DIGEST"},
    {"Don't miss our \"Black Friday\" deals", "BLACK_FRIDAY"},
    {"Welcome aboard \xe2\x80\x93 let\xe2\x80\x99s get started", "ONBOARDING_1"},
    {"Your basket is waiting", "ABANDONED_BASKET"},
    {"20% off everything this weekend", "WEEKEND_SALE"},
    {"New arrivals: the autumn collection", "NEW_ARRIVALS"},
    {"We miss you \xf0\x9f\x91\x8b", "WINBACK"},
};

typedef struct {
    const char *name;
    const char *category;
} product_t;

static const product_t products[] = {
    {"Wool Scarf", "Accessories"}, {"Leather Boots", "Footwear"},
    {"Rain Jacket", "Outerwear"},  {"Cotton T-Shirt", "Tops"},
    {"Slim Jeans", "Bottoms"},     {"Canvas Tote", "Bags"},
    {"Running Shoes", "Footwear"}, {"Beanie Hat", "Accessories"},
    {"Linen Shirt", "Tops"},       {"Puffer Coat", "Outerwear"},
    {"Chino Shorts", "Bottoms"},   {"Backpack 20\"", "Bags"},
    {"Silk Tie", "Accessories"},   {"Hoodie", "Tops"},
    {"Trail Sandals", "Footwear"}, {"Denim Jacket", "Outerwear"},
};
#define PRODUCT_IDS 2000

typedef struct {
    const char *name;
    const char *path;
    const char *title;
} page_t;

static const page_t pages[] = {
    {"Home", "/", "Example Shop"},
    {"Pricing", "/pricing", "Pricing | Example Shop"},
    {"New Arrivals", "/new", "New arrivals | Example Shop"},
    {"Sale", "/sale", "Sale \xe2\x80\x93 up to 50% off | Example Shop"},
    {"Basket", "/basket", "Your basket | Example Shop"},
    {"Account", "/account", "My account | Example Shop"},
    {"Search", "/search?q=boots&sort=price", "Search results for \"boots\" | Example Shop"},
    {"Help", "/help/delivery", "Delivery & returns | Example Shop"},
};
static const char site[] = "https://shop.example.com";

static const char *const screens[] = {"Home", "Product Detail", "Basket", "Checkout", "Order History", "Settings"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- a profile's fixed attributes -------------------------------------------
 * Email sharing: profile i (i >= 2) shares its email with profile i - 1 when
 * hash3(seed, i, SALT_SHARE) % 10 == 0 (about 1 in 10): a second account of
 * the same person, with the same first/last name and email but its own userId,
 * phone and events. Runs are allowed (i - 2, i - 1, i may all share), the
 * email is always that of the first profile of the run (email_base). Profiles
 * 0 (Joe Bloggs) and 1 never share. Emails are
 * first.last<base>@example.com, and about 1 in 25 bases get a "+" tag
 * (first.last<base>+news@example.com) to exercise '+' in email lookups. */
typedef struct {
    uint64_t index;
    const char *first_name;
    const char *last_name;
    const char *organisation;
    const char *website;
    const char *industry;
    const char *user_agent;
    const char *currency;
    unsigned marketing; /* bit c: subscribed to channels[c] */
    bool anon_start;    /* first message is anonymous, then identify links */
    bool second_identify;
    int64_t first_ms; /* timestamp of the first message */
    char user_id[32];
    char anon_id[32];
    char email[96];
    char phone[24];
    char ip[16];
} profile_t;

static bool
shares_email(uint64_t seed, uint64_t i)
{
    return i >= 2 && hash3(seed, i, SALT_SHARE) % 10 == 0;
}

static uint64_t
email_base(uint64_t seed, uint64_t i)
{
    while (shares_email(seed, i))
        i--;
    return i;
}

static void
profile_make(profile_t *p, uint64_t seed, uint64_t i, int64_t start_ms)
{
    memset(p, 0, sizeof(*p));
    p->index = i;
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
        snprintf(p->user_id, sizeof(p->user_id), "joe.bloggs");
        snprintf(p->email, sizeof(p->email), "joe.bloggs@intilery.com");
        snprintf(p->phone, sizeof(p->phone), "+44111222333444");
        snprintf(p->ip, sizeof(p->ip), "217.42.6.253");
        return;
    }
    uint64_t base = email_base(seed, i);
    uint64_t h = hash3(seed, base, SALT_NAME);
    const name_t *first = &first_names[h % COUNT(first_names)];
    const name_t *last = &last_names[(h >> 32) % COUNT(last_names)];
    p->first_name = first->display;
    p->last_name = last->display;
    if (hash3(seed, base, SALT_PLUS) % 25 == 0)
        snprintf(p->email, sizeof(p->email), "%s.%s%" PRIu64 "+news@example.com", first->slug, last->slug, base);
    else
        snprintf(p->email, sizeof(p->email), "%s.%s%" PRIu64 "@example.com", first->slug, last->slug, base);

    const org_t *org = &organisations[hash3(seed, i, SALT_ORG) % COUNT(organisations)];
    p->organisation = org->name;
    p->website = org->website;
    p->industry = industries[hash3(seed, i, SALT_INDUSTRY) % COUNT(industries)];

    h = hash3(seed, i, SALT_DEVICE);
    static const unsigned first_octets[] = {31, 62, 81, 86, 92, 109, 145, 176, 185, 212, 217};
    snprintf(p->ip, sizeof(p->ip), "%u.%u.%u.%u", first_octets[h % COUNT(first_octets)], (unsigned)(h >> 8) & 0xff,
             (unsigned)(h >> 16) & 0xff, 1 + (unsigned)((h >> 24) % 254));
    p->user_agent = user_agents[(h >> 40) % COUNT(user_agents)];

    h = hash3(seed, i, SALT_CURRENCY) % 10;
    p->currency = currencies[h < 7 ? 0 : h < 9 ? 1 : 2];

    /* Subscription odds per channel: email 80%, sms 40%, whatsapp 20%,
     * facebook 15%, push 30%. */
    static const unsigned odds[] = {80, 40, 20, 15, 30};
    uint64_t ms = hash3(seed, i, SALT_MARKETING);
    for (size_t c = 0; c < COUNT(channels); c++) {
        if ((ms >> (c * 8)) % 100 < odds[c])
            p->marketing |= 1u << c;
    }

    snprintf(p->phone, sizeof(p->phone), "+447%09" PRIu64, hash3(seed, i, SALT_PHONE) % UINT64_C(1000000000));
    snprintf(p->user_id, sizeof(p->user_id), "user-%06" PRIu64, i);
    p->anon_start = hash3(seed, i, SALT_ANON) % 5 == 0;
    if (p->anon_start)
        snprintf(p->anon_id, sizeof(p->anon_id), "anon-%06" PRIu64, i);
    p->second_identify = hash3(seed, i, SALT_SECOND) % 4 == 0;
    p->first_ms = start_ms + (int64_t)(hash3(seed, i, SALT_START) % (uint64_t)FIRST_START_MS);
}

/* ---- output buffer and JSON pieces ----------------------------------------- */
typedef struct {
    char buf[LINE_CAP];
    size_t len;
} line_t;

static void
put_raw(line_t *o, const char *s, size_t n)
{
    if (o->len + n > sizeof(o->buf)) {
        fprintf(stderr, "profiled-gendata: message longer than %d bytes\n", LINE_CAP);
        exit(2);
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

#define PUT_LIT(o, s) put_raw((o), (s), sizeof(s) - 1)

static void
put_char(line_t *o, char c)
{
    put_raw(o, &c, 1);
}

/* A JSON string: quotes, backslash and control characters escaped; UTF-8
 * passes through. */
static void
put_str(line_t *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put_char(o, '"');
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put_raw(o, run, (size_t)(s - run));
        run = s + 1;
        switch (c) {
        case '"':
            PUT_LIT(o, "\\\"");
            break;
        case '\\':
            PUT_LIT(o, "\\\\");
            break;
        case '\n':
            PUT_LIT(o, "\\n");
            break;
        case '\r':
            PUT_LIT(o, "\\r");
            break;
        case '\t':
            PUT_LIT(o, "\\t");
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            put_raw(o, esc, sizeof(esc));
        }
        }
    }
    put_raw(o, run, (size_t)(s - run));
    put_char(o, '"');
}

static void
put_u64(line_t *o, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_raw(o, tmp + n, sizeof(tmp) - n);
}

/* A money amount in minor units as a JSON number: 1999 -> 19.99. */
static void
put_cents(line_t *o, uint64_t cents)
{
    put_u64(o, cents / 100);
    char frac[3] = {'.', (char)('0' + cents % 100 / 10), (char)('0' + cents % 10)};
    put_raw(o, frac, sizeof(frac));
}

static void
put_digits(line_t *o, unsigned v, int width)
{
    char tmp[8];
    for (int k = width - 1; k >= 0; k--) {
        tmp[k] = (char)('0' + v % 10);
        v /= 10;
    }
    put_raw(o, tmp, (size_t)width);
}

/* Howard Hinnant's civil-from-days / days-from-civil (proleptic Gregorian). */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" (quoted); ms >= 0, year <= 9999. */
static void
put_time(line_t *o, int64_t ms)
{
    int64_t days = ms / DAY_MS, rem = ms % DAY_MS, y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    put_char(o, '"');
    put_digits(o, (unsigned)y, 4);
    put_char(o, '-');
    put_digits(o, m, 2);
    put_char(o, '-');
    put_digits(o, d, 2);
    put_char(o, 'T');
    put_digits(o, (unsigned)(rem / 3600000), 2);
    put_char(o, ':');
    put_digits(o, (unsigned)(rem / 60000 % 60), 2);
    put_char(o, ':');
    put_digits(o, (unsigned)(rem / 1000 % 60), 2);
    put_char(o, '.');
    put_digits(o, (unsigned)(rem % 1000), 3);
    PUT_LIT(o, "Z\"");
}

/* A version-4-shaped UUID (quoted) from 128 PRNG bits. */
static void
put_uuid(line_t *o, uint64_t hi, uint64_t lo)
{
    static const char hex[] = "0123456789abcdef";
    hi = (hi & ~0xf000ULL) | 0x4000ULL;
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    char s[38];
    size_t n = 0;
    s[n++] = '"';
    for (int k = 15; k >= 0; k--) {
        s[n++] = hex[(hi >> (k * 4)) & 0xf];
        if (k == 8 || k == 4)
            s[n++] = '-';
    }
    s[n++] = '-';
    for (int k = 15; k >= 0; k--) {
        s[n++] = hex[(lo >> (k * 4)) & 0xf];
        if (k == 12)
            s[n++] = '-';
    }
    s[n++] = '"';
    put_raw(o, s, n);
}

static void
put_rng_uuid(line_t *o, uint64_t *rng)
{
    uint64_t hi = rng_next(rng);
    put_uuid(o, hi, rng_next(rng));
}

/* ---- a profile's message stream --------------------------------------------
 * Steps 0 .. total-1: [anonymous page/track] identify, then events with, for
 * some profiles, a second identify among them (changing one trait). The state
 * is small so --shuffle can keep one per profile and resume any of them. */
enum {
    KIND_NONE = 0,
    KIND_EMAIL_SENT,
    KIND_EMAIL_OPENED,
    KIND_EMAIL_CLICKED,
    KIND_PRODUCT_VIEWED,
    KIND_ORDER_COMPLETED,
    KIND_PAGE,
    KIND_SCREEN,
    KIND_IDENTIFY,
};

typedef struct {
    uint64_t rng;
    int64_t next_ms;  /* timestamp of step `step` */
    int64_t gap_ms;   /* mean gap between messages */
    uint64_t mail_hi; /* email_id of the last email sent */
    uint64_t mail_lo;
    uint32_t index;
    uint32_t step;
    uint32_t total;
    uint32_t identify_step;
    uint32_t second_step; /* UINT32_MAX: none */
    uint32_t product;     /* last product viewed */
    uint8_t mail;         /* mails[] index of the last email */
    uint8_t follow;       /* KIND_* the next event follows up with, or 0 */
    uint8_t anon_start;
} gen_t;

typedef struct {
    uint64_t seed;
    uint64_t profiles;
    uint32_t events;
    int64_t start_ms;
    bool shuffle;
} config_t;

static void
gen_init(gen_t *g, const config_t *cfg, const profile_t *p)
{
    memset(g, 0, sizeof(*g));
    g->index = (uint32_t)p->index;
    g->rng = hash3(cfg->seed, p->index, SALT_MESSAGES);
    g->anon_start = p->anon_start;
    g->identify_step = p->anon_start ? 1 : 0;
    g->total = g->identify_step + 1 + cfg->events + (p->second_identify ? 1 : 0);
    g->second_step = UINT32_MAX;
    if (p->second_identify)
        g->second_step = cfg->events ? g->identify_step + 2 + (uint32_t)rng_below(&g->rng, cfg->events) : g->identify_step + 1;
    g->next_ms = p->first_ms;
    int64_t left = cfg->start_ms + SPAN_MS - p->first_ms;
    g->gap_ms = left / ((int64_t)g->total + 1);
    if (g->gap_ms < 1000)
        g->gap_ms = 1000;
}

static void
put_head(line_t *o, const char *type, uint64_t *rng, const profile_t *p, bool user, bool anon)
{
    PUT_LIT(o, "{\"type\":");
    put_str(o, type);
    PUT_LIT(o, ",\"messageId\":");
    put_rng_uuid(o, rng);
    if (user) {
        PUT_LIT(o, ",\"userId\":");
        put_str(o, p->user_id);
    }
    if (anon) {
        PUT_LIT(o, ",\"anonymousId\":");
        put_str(o, p->anon_id);
    }
}

static void
put_context(line_t *o, const profile_t *p, bool email, bool app)
{
    PUT_LIT(o, ",\"context\":{\"ip\":");
    put_str(o, p->ip);
    PUT_LIT(o, ",\"user_agent\":");
    put_str(o, app ? app_user_agent : p->user_agent);
    if (email) {
        PUT_LIT(o, ",\"traits\":{\"email\":");
        put_str(o, p->email);
        put_char(o, '}');
    }
    put_char(o, '}');
}

/* Traits of an identify; `change` (0: none) picks the one trait a second
 * identify changes: 1 phone, 2 organisation, 3 industry, 4 lastName, 5 one
 * marketing channel flipped. */
static void
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
        const char *l2 = last_names[rng_below(rng, COUNT(last_names))].display;
        last = l2 != last ? l2 : last_names[0].display != last ? last_names[0].display : last_names[1].display;
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

static uint64_t
product_price(uint32_t product)
{
    return 499 + mix64(product + 1) % 19500; /* 4.99 .. 199.98, fixed per product */
}

static void
put_product_id(line_t *o, uint32_t product)
{
    char id[16];
    snprintf(id, sizeof(id), "SKU-%05u", product);
    put_str(o, id);
}

static void
put_mail_props(line_t *o, const gen_t *g)
{
    PUT_LIT(o, ",\"properties\":{\"email_id\":");
    put_uuid(o, g->mail_hi, g->mail_lo);
    PUT_LIT(o, ",\"email_subject\":");
    put_str(o, mails[g->mail].subject);
    PUT_LIT(o, ",\"campaign_id\":");
    put_str(o, mails[g->mail].campaign);
}

/* Picks the kind of a free (not follow-up) event: track 70% (Email Sent 25,
 * Product Viewed 28, Order Completed 7, Email Opened 7, Email Clicked 3),
 * page 20%, screen 10%. */
static int
pick_kind(uint64_t *rng)
{
    unsigned r = (unsigned)rng_below(rng, 100);
    if (r < 25)
        return KIND_EMAIL_SENT;
    if (r < 53)
        return KIND_PRODUCT_VIEWED;
    if (r < 60)
        return KIND_ORDER_COMPLETED;
    if (r < 67)
        return KIND_EMAIL_OPENED;
    if (r < 70)
        return KIND_EMAIL_CLICKED;
    if (r < 90)
        return KIND_PAGE;
    return KIND_SCREEN;
}

/* Writes the event message of kind into o. anon_only: the anonymous first
 * message (no userId, no email). */
static void
put_event(line_t *o, gen_t *g, const profile_t *p, int kind, bool anon_only)
{
    bool user = !anon_only, anon = g->anon_start;
    bool fresh_mail = (kind == KIND_EMAIL_SENT) || ((kind == KIND_EMAIL_OPENED || kind == KIND_EMAIL_CLICKED) && !g->follow);
    if (fresh_mail) {
        g->mail = p->index == 0 && kind == KIND_EMAIL_SENT && g->follow ? 0 : (uint8_t)rng_below(&g->rng, COUNT(mails));
        g->mail_hi = rng_next(&g->rng);
        g->mail_lo = rng_next(&g->rng);
    }
    switch (kind) {
    case KIND_PAGE: {
        const page_t *pg = &pages[rng_below(&g->rng, COUNT(pages))];
        put_head(o, "page", &g->rng, p, user, anon);
        PUT_LIT(o, ",\"name\":");
        put_str(o, pg->name);
        PUT_LIT(o, ",\"properties\":{\"url\":\"");
        put_raw(o, site, sizeof(site) - 1);
        put_raw(o, pg->path, strlen(pg->path));
        PUT_LIT(o, "\",\"path\":");
        put_str(o, pg->path);
        PUT_LIT(o, ",\"title\":");
        put_str(o, pg->title);
        put_char(o, '}');
        put_context(o, p, false, false);
        return;
    }
    case KIND_SCREEN:
        put_head(o, "screen", &g->rng, p, user, anon);
        PUT_LIT(o, ",\"name\":");
        put_str(o, screens[rng_below(&g->rng, COUNT(screens))]);
        PUT_LIT(o, ",\"properties\":{\"app_version\":\"3.2.1\"}");
        put_context(o, p, false, true);
        return;
    default:
        break;
    }
    put_head(o, "track", &g->rng, p, user, anon);
    switch (kind) {
    case KIND_EMAIL_SENT:
        PUT_LIT(o, ",\"event\":\"Email Sent\"");
        put_mail_props(o, g);
        put_char(o, '}');
        PUT_LIT(o, ",\"sendType\":\"email\"");
        break;
    case KIND_EMAIL_OPENED:
        PUT_LIT(o, ",\"event\":\"Email Opened\"");
        put_mail_props(o, g);
        put_char(o, '}');
        PUT_LIT(o, ",\"sendType\":\"email\"");
        break;
    case KIND_EMAIL_CLICKED:
        PUT_LIT(o, ",\"event\":\"Email Clicked\"");
        put_mail_props(o, g);
        PUT_LIT(o, ",\"url\":\"");
        put_raw(o, site, sizeof(site) - 1);
        PUT_LIT(o, "/sale?utm_source=email&utm_campaign=");
        put_raw(o, mails[g->mail].campaign, strlen(mails[g->mail].campaign));
        PUT_LIT(o, "\"}");
        PUT_LIT(o, ",\"sendType\":\"email\"");
        break;
    case KIND_PRODUCT_VIEWED: {
        g->product = (uint32_t)rng_below(&g->rng, PRODUCT_IDS);
        const product_t *pr = &products[g->product % COUNT(products)];
        PUT_LIT(o, ",\"event\":\"Product Viewed\",\"properties\":{\"product_id\":");
        put_product_id(o, g->product);
        PUT_LIT(o, ",\"name\":");
        put_str(o, pr->name);
        PUT_LIT(o, ",\"category\":");
        put_str(o, pr->category);
        PUT_LIT(o, ",\"price\":");
        put_cents(o, product_price(g->product));
        PUT_LIT(o, ",\"currency\":");
        put_str(o, p->currency);
        put_char(o, '}');
        break;
    }
    case KIND_ORDER_COMPLETED: {
        /* 1-3 lines; a follow-up order contains the product last viewed. */
        uint32_t items[3];
        unsigned quantity[3], n = 1 + (unsigned)rng_below(&g->rng, 3);
        uint64_t revenue = 0;
        for (unsigned k = 0; k < n; k++) {
            items[k] = k == 0 && g->follow ? g->product : (uint32_t)rng_below(&g->rng, PRODUCT_IDS);
            quantity[k] = 1 + (unsigned)rng_below(&g->rng, 3);
            revenue += product_price(items[k]) * quantity[k];
        }
        char order_id[24];
        snprintf(order_id, sizeof(order_id), "ORD-%012" PRIX64, rng_next(&g->rng) >> 16);
        PUT_LIT(o, ",\"event\":\"Order Completed\",\"properties\":{\"order_id\":");
        put_str(o, order_id);
        PUT_LIT(o, ",\"revenue\":");
        put_cents(o, revenue);
        PUT_LIT(o, ",\"currency\":");
        put_str(o, p->currency);
        PUT_LIT(o, ",\"products\":[");
        for (unsigned k = 0; k < n; k++) {
            if (k)
                put_char(o, ',');
            PUT_LIT(o, "{\"product_id\":");
            put_product_id(o, items[k]);
            PUT_LIT(o, ",\"price\":");
            put_cents(o, product_price(items[k]));
            PUT_LIT(o, ",\"quantity\":");
            put_u64(o, quantity[k]);
            put_char(o, '}');
        }
        PUT_LIT(o, "]}");
        break;
    }
    }
    put_context(o, p, !anon_only, false);
}

/* Writes step g->step of profile p as one NDJSON line into o (replacing its
 * content) and advances g to the next step. */
static void
gen_emit(gen_t *g, const profile_t *p, line_t *o)
{
    o->len = 0;
    int kind;
    if (g->step == g->identify_step || g->step == g->second_step) {
        kind = KIND_IDENTIFY;
        put_head(o, "identify", &g->rng, p, true, g->anon_start);
        unsigned change = g->step == g->second_step ? 1 + (unsigned)rng_below(&g->rng, 5) : 0;
        put_traits(o, p, change, &g->rng);
        put_context(o, p, false, false);
    } else if (g->anon_start && g->step == 0) {
        kind = rng_below(&g->rng, 10) < 7 ? KIND_PAGE : KIND_PRODUCT_VIEWED;
        put_event(o, g, p, kind, true);
    } else {
        kind = g->follow ? g->follow : pick_kind(&g->rng);
        put_event(o, g, p, kind, false);
    }
    PUT_LIT(o, ",\"timestamp\":");
    put_time(o, g->next_ms);
    PUT_LIT(o, ",\"sentAt\":");
    put_time(o, g->next_ms + rng_range(&g->rng, 20, 3000));
    PUT_LIT(o, "}\n");

    /* The next step: does it follow this event up (an open after a send, a
     * click after an open, an order after a view), and when is it. */
    g->step++;
    g->follow = KIND_NONE;
    if (g->step >= g->total)
        return;
    bool next_event = g->step != g->identify_step && g->step != g->second_step;
    unsigned r = (unsigned)rng_below(&g->rng, 100);
    if (next_event) {
        if (p->index == 0 && g->step == g->identify_step + 1)
            g->follow = KIND_EMAIL_SENT; /* Joe's first event: the trial welcome email, then opened */
        else if (kind == KIND_EMAIL_SENT && (r < 60 || p->index == 0))
            g->follow = KIND_EMAIL_OPENED;
        else if (kind == KIND_EMAIL_OPENED && r < 35)
            g->follow = KIND_EMAIL_CLICKED;
        else if (kind == KIND_PRODUCT_VIEWED && r < 25)
            g->follow = KIND_ORDER_COMPLETED;
    }
    if (g->follow == KIND_EMAIL_OPENED)
        g->next_ms += rng_range(&g->rng, 20 * 1000, 3 * 3600 * 1000);
    else if (g->follow)
        g->next_ms += rng_range(&g->rng, 5 * 1000, 30 * 60 * 1000);
    else if (g->step == g->identify_step)
        g->next_ms += rng_range(&g->rng, 30 * 1000, 30 * 60 * 1000); /* anonymous visit, then sign-up */
    else
        g->next_ms += rng_range(&g->rng, 1000, 2 * g->gap_ms);
}

/* ---- output ------------------------------------------------------------------ */
static void
write_line(const line_t *o)
{
    if (fwrite(o->buf, 1, o->len, stdout) != o->len) {
        fprintf(stderr, "profiled-gendata: write: %s\n", strerror(errno));
        exit(1);
    }
}

static void
run_grouped(const config_t *cfg)
{
    static line_t line;
    profile_t p;
    gen_t g;
    for (uint64_t i = 0; i < cfg->profiles; i++) {
        profile_make(&p, cfg->seed, i, cfg->start_ms);
        gen_init(&g, cfg, &p);
        while (g.step < g.total) {
            gen_emit(&g, &p, &line);
            write_line(&line);
        }
    }
}

/* Min-heap of profile streams by (next timestamp, profile index). */
static bool
heap_less(const gen_t *a, const gen_t *b)
{
    return a->next_ms != b->next_ms ? a->next_ms < b->next_ms : a->index < b->index;
}

static void
heap_down(gen_t *gens, uint32_t *heap, size_t n, size_t k)
{
    uint32_t v = heap[k];
    for (;;) {
        size_t c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&gens[heap[c + 1]], &gens[heap[c]]))
            c++;
        if (!heap_less(&gens[heap[c]], &gens[v]))
            break;
        heap[k] = heap[c];
        k = c;
    }
    heap[k] = v;
}

/* Every message in global timestamp order (ties by profile index). A
 * profile's attributes are recomputed when its stream changes (cheap). */
static void
run_shuffled(const config_t *cfg)
{
    static line_t line;
    size_t n = (size_t)cfg->profiles;
    if (n == 0)
        return;
    gen_t *gens = calloc(n, sizeof(*gens));
    uint32_t *heap = calloc(n, sizeof(*heap));
    if (gens == NULL || heap == NULL) {
        fprintf(stderr, "profiled-gendata: out of memory for %zu profiles\n", n);
        exit(1);
    }
    profile_t p;
    for (size_t i = 0; i < n; i++) {
        profile_make(&p, cfg->seed, i, cfg->start_ms);
        gen_init(&gens[i], cfg, &p);
        heap[i] = (uint32_t)i;
    }
    for (size_t k = n / 2; k-- > 0;)
        heap_down(gens, heap, n, k);
    uint64_t current = UINT64_MAX;
    while (n > 0) {
        gen_t *g = &gens[heap[0]];
        if (g->index != current) {
            current = g->index;
            profile_make(&p, cfg->seed, current, cfg->start_ms);
        }
        gen_emit(g, &p, &line);
        write_line(&line);
        if (g->step >= g->total)
            heap[0] = heap[--n];
        if (n > 0)
            heap_down(gens, heap, n, 0);
    }
    free(heap);
    free(gens);
}

/* ---- arguments ---------------------------------------------------------------- */
static void
usage(FILE *f)
{
    fprintf(f, "usage: profiled-gendata [--profiles N] [--events M] [--seed S] [--start ISO-DATE] [--shuffle]\n"
               "Writes Segment-spec NDJSON (identify, track, page, screen; one message a line) to stdout.\n"
               "  --profiles N   profiles (default 300); profile 0 is Joe Bloggs\n"
               "  --events M     track/page/screen events per profile (default 10), plus 1-3 identify/anonymous\n"
               "  --seed S       PRNG seed (default 1); same arguments give the same bytes\n"
               "  --start DATE   first day, YYYY-MM-DD[THH:MM:SS[.mmm]Z] (default 2020-10-01T00:00:00Z);\n"
               "                 messages spread over ~60 days from it\n"
               "  --shuffle      interleave profiles in global timestamp order (default: grouped by profile)\n");
}

static bool
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* YYYY-MM-DD, optionally followed by THH:MM:SS, optional .mmm, optional Z. */
static bool
parse_start(const char *s, int64_t *ms)
{
    unsigned y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    int n = 0;
    if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3 || n != 10)
        return false;
    s += n;
    if (*s == 'T' || *s == ' ') {
        if (sscanf(s + 1, "%2u:%2u:%2u%n", &h, &mi, &sec, &n) != 3 || n != 8)
            return false;
        s += 1 + n;
        if (*s == '.') {
            if (sscanf(s + 1, "%3u%n", &frac, &n) != 1 || n != 3)
                return false;
            s += 1 + n;
        }
        if (*s == 'Z')
            s++;
    }
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (*s || (mo == 2 && d == 29 && !leap) || y < 1970 || y > 9000 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 ||
        mi > 59 || sec > 59)
        return false;
    *ms = days_from_civil(y, mo, d) * DAY_MS + ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;
    return true;
}

int
main(int argc, char **argv)
{
    config_t cfg = {.seed = 1, .profiles = 300, .events = 10, .start_ms = 0, .shuffle = false};
    parse_start("2020-10-01T00:00:00Z", &cfg.start_ms);
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        const char *v = k + 1 < argc ? argv[k + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--shuffle") == 0) {
            cfg.shuffle = true;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--profiles") == 0 && parse_u64(v, UINT32_MAX - 1, &n))
            cfg.profiles = n;
        else if (strcmp(a, "--events") == 0 && parse_u64(v, 1000000, &n))
            cfg.events = (uint32_t)n;
        else if (strcmp(a, "--seed") == 0 && parse_u64(v, UINT64_MAX, &n))
            cfg.seed = n;
        else if (strcmp(a, "--start") == 0 && v != NULL && parse_start(v, &cfg.start_ms))
            ;
        else {
            bool known =
                strcmp(a, "--profiles") == 0 || strcmp(a, "--events") == 0 || strcmp(a, "--seed") == 0 || strcmp(a, "--start") == 0;
            if (!known)
                fprintf(stderr, "profiled-gendata: unknown argument: %s\n", a);
            else if (v == NULL)
                fprintf(stderr, "profiled-gendata: %s needs a value\n", a);
            else
                fprintf(stderr, "profiled-gendata: bad value for %s: %s\n", a, v);
            usage(stderr);
            return 2;
        }
        k++;
    }

    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if (cfg.shuffle)
        run_shuffled(&cfg);
    else
        run_grouped(&cfg);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "profiled-gendata: write: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

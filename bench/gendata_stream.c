/* gendata_stream.c -- a profile's message stream: identify, track (emails,
 * product views, orders), page and screen messages, with follow-ups (an
 * open after a send, a click after an open, an order after a view) and a
 * second identify for some profiles. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "gendata.h"

/* Mobile app user agent for screen messages. */
static const char app_user_agent[] = "ExampleShop/3.2.1 (iPhone; iOS 14.2; Scale/3.00)";

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

void
gen_init(gen_t *g, const config_t *cfg, const profile_t *p)
{
    memset(g, 0, sizeof(*g));
    g->index = (uint32_t)p->index;
    g->rng = dataset_hash3(cfg->seed, p->index, DATASET_SALT_MESSAGES);
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

static uint64_t
product_price(uint32_t product)
{
    return 499 + dataset_mix64(product + 1) % 19500; /* 4.99 .. 199.98, fixed per product */
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
    static const struct {
        unsigned below; /* percent, cumulative */
        int kind;
    } odds[] = {{25, KIND_EMAIL_SENT},   {53, KIND_PRODUCT_VIEWED}, {60, KIND_ORDER_COMPLETED},
                {67, KIND_EMAIL_OPENED}, {70, KIND_EMAIL_CLICKED},  {90, KIND_PAGE}};
    unsigned r = (unsigned)rng_below(rng, 100);
    for (size_t k = 0; k < COUNT(odds); k++)
        if (r < odds[k].below)
            return odds[k].kind;
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
        g->mail_hi = dataset_rng_next(&g->rng);
        g->mail_lo = dataset_rng_next(&g->rng);
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
        snprintf(order_id, sizeof(order_id), "ORD-%012" PRIX64, dataset_rng_next(&g->rng) >> 16);
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

void
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

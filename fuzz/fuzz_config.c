/* fuzz_config.c -- the config file of `profiled serve` (server/config.c):
 * the input is the file (read through --config), then, as a comma-
 * separated list, the trusted-proxy parser (config_parse_cidr_list, which
 * X-Forwarded-For entries also go through one by one). */
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "config/config.h"

static int fd = -1;
static char path[64];
static FILE *devnull;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz-config", 0);
        FUZZ_ASSERT(fd >= 0);
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        devnull = fopen("/dev/null", "w");
        FUZZ_ASSERT(devnull != NULL);
        /* only the file speaks: no PROFILED_* from the environment */
        extern char **environ;
        for (char **e = environ; *e != NULL;)
            if (strncmp(*e, "PROFILED_", 9) == 0) {
                char name[128];
                size_t n = strcspn(*e, "=");
                snprintf(name, sizeof(name), "%.*s", (int)n, *e);
                unsetenv(name);
            } else {
                e++;
            }
    }
    FUZZ_ASSERT(ftruncate(fd, 0) == 0);
    FUZZ_ASSERT(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
    char arg[80];
    snprintf(arg, sizeof(arg), "--config=%s", path);
    char *argv[] = {arg, NULL};
    config_t cfg;
    int rc = config_load(&cfg, 1, argv, devnull, devnull);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc == 0)
        FUZZ_ASSERT(cfg.threads >= 1 && cfg.workers >= 1 && cfg.max_body >= 1);
    config_dispose(&cfg);

    char *list = fuzz_copy(data, size, 1);
    config_cidr_t *cidrs = NULL;
    size_t n = 0;
    if (config_parse_cidr_list(list, "trusted-proxy", &cidrs, &n, devnull) == 0)
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(cidrs[i].prefix >= 0 && cidrs[i].prefix <= (cidrs[i].family == 2 ? 32 : 128));
    free(cidrs);
    free(list);
    return 0;
}

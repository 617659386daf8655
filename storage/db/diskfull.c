/* diskfull.c -- for tests: a shim over SQLite's default file layer (VFS)
 * whose writes fail as a full disk does (SQLITE_FULL) while a flag file
 * exists, so the disk-full path is tested where no small filesystem can be
 * mounted (not root). Installed as the default VFS of the process at the
 * first storage_open, and only when PROFILED_DEBUG_DISK_FULL_FILE names
 * the flag file. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "../db/db.h"

typedef struct {
    sqlite3_file base;  /* pMethods: shim_io, or NULL when the open failed */
    sqlite3_file *real; /* the default VFS's file, just after this struct */
} shim_file_t;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static char flag_path[4096];

#define REAL(f) (((shim_file_t *)(f))->real)

static int
shim_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int
shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int
shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
    if (access(flag_path, F_OK) == 0)
        return SQLITE_FULL;
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int
shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
shim_sync(sqlite3_file *f, int flags)
{
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
shim_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
shim_lock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int
shim_unlock(sqlite3_file *f, int level)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int
shim_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
shim_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
shim_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
shim_device(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
shim_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), region, size, extend, p);
}

static int
shim_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}

static void
shim_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
shim_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete_flag);
}

static int
shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int
shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
    3,
    shim_close,
    shim_read,
    shim_write,
    shim_truncate,
    shim_sync,
    shim_file_size,
    shim_lock,
    shim_unlock,
    shim_check_reserved,
    shim_file_control,
    shim_sector_size,
    shim_device,
    shim_shm_map,
    shim_shm_lock,
    shim_shm_barrier,
    shim_shm_unmap,
    shim_fetch,
    shim_unfetch,
};

static int
shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags)
{
    (void)vfs;
    shim_file_t *f = (shim_file_t *)file;
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
    /* SQLite closes what has methods, also after a failed open */
    f->base.pMethods = f->real->pMethods != NULL ? &shim_io : NULL;
    return rc;
}

void
stg_disk_full_shim_install(void)
{
    const char *path = getenv("PROFILED_DEBUG_DISK_FULL_FILE");
    if (path == NULL || path[0] == '\0' || (real_vfs = sqlite3_vfs_find(NULL)) == NULL)
        return;
    /* the unix VFS's methods need only its own pAppData, copied too */
    if (real_vfs->iVersion < 3 || (size_t)snprintf(flag_path, sizeof(flag_path), "%s", path) >= sizeof(flag_path))
        abort();
    shim_vfs = *real_vfs;
    shim_vfs.zName = "profiled-disk-full";
    shim_vfs.szOsFile = (int)sizeof(shim_file_t) + real_vfs->szOsFile;
    shim_vfs.xOpen = shim_open;
    shim_vfs.pNext = NULL;
    sqlite3_vfs_register(&shim_vfs, 1);
}

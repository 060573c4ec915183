/* vault.c: per-person keys in a file of fixed slots, overwritten in place to destroy (vault.h). */
#include "vault.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

#define VAULT_MAGIC   "PARCOURS-VAULT\0\0" /* 16 bytes */
#define VAULT_VERSION 1

struct vault {
    int fd;
    bool durable;
    uint8_t *map;    /* the file and room to grow, read-only; writes go through pwrite */
    size_t map_len;  /* VAULT_MAP_RESERVE, or the file's length when it is longer */
    size_t file_len; /* the file's length: the header and the slots generated */
    uint32_t slots;  /* read by other threads: atomic loads and stores */
    uint8_t store_key[VAULT_KEY_SIZE];
    uint8_t hash_key[crypto_shorthash_siphashx24_KEYBYTES]; /* derived from the store key */
    bool aes;            /* AES-256-GCM (AES-NI), else XChaCha20-Poly1305 */
    uint8_t rng_key[32]; /* the nonces' ChaCha20 stream, keyed at open */
    uint64_t rng_block;  /* its next block */
    uint8_t rng[1024];   /* drawn, not yet used */
    size_t rng_used;
};

/* The mapping is made once, at open, this long: the file grows under it and is never mapped
 * again, so a thread unsealing a record never reads a mapping another thread is replacing.
 * 4 GiB is 134 million slots, far more people than a territory's store ever holds. */
#define VAULT_MAP_RESERVE (sizeof(size_t) > 4 ? (size_t)1 << 32 : (size_t)1 << 28)

#define VAULT_ALG_AES     1
#define VAULT_ALG_XCHACHA 2

static int vault_errno(int e)
{
    return e == EACCES || e == EPERM    ? STORE_EACCESS
           : e == ENOSPC || e == EDQUOT ? STORE_EFULL
           : e == ENOMEM                ? STORE_ENOMEM
                                        : STORE_EIO;
}

static int vault_sync(const vault_t *v)
{
    return !v->durable || fdatasync(v->fd) == 0 ? STORE_OK : vault_errno(errno);
}

static int vault_write_all(int fd, const void *buf, size_t len, off_t at)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vault_errno(n < 0 ? errno : ENOSPC);
        p += n;
        len -= (size_t)n;
        at += n;
    }
    return STORE_OK;
}

/* Maps the file and the room it may grow into (VAULT_MAP_RESERVE), once, at open. */
static int vault_map(vault_t *v)
{
    struct stat st;
    if (fstat(v->fd, &st) != 0)
        return vault_errno(errno);
    if (st.st_size < VAULT_HEADER_SIZE || (st.st_size - VAULT_HEADER_SIZE) % VAULT_KEY_SIZE != 0 ||
        (uint64_t)(st.st_size - VAULT_HEADER_SIZE) / VAULT_KEY_SIZE > UINT32_MAX)
        return STORE_ECORRUPT;
    size_t len = (size_t)st.st_size > VAULT_MAP_RESERVE ? (size_t)st.st_size : VAULT_MAP_RESERVE;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, v->fd, 0);
    if (map == MAP_FAILED)
        return vault_errno(errno);
    v->map = map;
    v->map_len = len;
    v->file_len = (size_t)st.st_size;
    v->slots = (uint32_t)((v->file_len - VAULT_HEADER_SIZE) / VAULT_KEY_SIZE);
    return STORE_OK;
}

/* Writes a new vault's header at fd and syncs it. */
static int vault_create(int fd)
{
    uint8_t header[VAULT_HEADER_SIZE] = {0};
    memcpy(header, VAULT_MAGIC, 16);
    header[16] = VAULT_VERSION;
    header[20] = VAULT_KEY_SIZE;
    randombytes_buf(header + 32, VAULT_KEY_SIZE);
    int rc = vault_write_all(fd, header, sizeof header, 0);
    sodium_memzero(header, sizeof header);
    if (rc == STORE_OK && fsync(fd) != 0)
        rc = vault_errno(errno);
    return rc;
}

int vault_open(const char *dir, bool create, bool durable, vault_t **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return STORE_EIO;
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/keys.vault", dir) >= sizeof path)
        return STORE_EINVAL;
    bool created = false;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        if (!create)
            return STORE_ENOTFOUND;
        fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_CREAT | O_EXCL, 0600);
        created = fd >= 0;
    }
    if (fd < 0)
        return vault_errno(errno);
    vault_t *v = calloc(1, sizeof *v);
    if (v == NULL) {
        close(fd);
        return STORE_ENOMEM;
    }
    v->fd = fd;
    v->durable = durable;
    int rc = STORE_OK;
    if (created) {
        rc = vault_create(fd);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rc == STORE_OK && (dfd < 0 || fsync(dfd) != 0))
            rc = vault_errno(errno);
        if (dfd >= 0)
            close(dfd);
    }
    if (rc == STORE_OK)
        rc = vault_map(v);
    if (rc == STORE_OK && (memcmp(v->map, VAULT_MAGIC, 16) != 0 || v->map[16] != VAULT_VERSION ||
                           v->map[20] != VAULT_KEY_SIZE))
        rc = STORE_ECORRUPT;
    if (rc != STORE_OK) {
        if (created)
            unlink(path);
        vault_close(&v);
        return rc;
    }
    memcpy(v->store_key, v->map + 32, VAULT_KEY_SIZE);
    static const char label[] = "parcours id hash";
    crypto_generichash(v->hash_key, sizeof v->hash_key, (const uint8_t *)label, sizeof label - 1,
                       v->store_key, sizeof v->store_key);
    v->aes = crypto_aead_aes256gcm_is_available() != 0;
    randombytes_buf(v->rng_key, sizeof v->rng_key);
    v->rng_used = sizeof v->rng;
    *out = v;
    return STORE_OK;
}

void vault_close(vault_t **v)
{
    if (v == NULL || *v == NULL)
        return;
    if ((*v)->map != NULL)
        munmap((*v)->map, (*v)->map_len);
    if ((*v)->fd >= 0)
        close((*v)->fd);
    sodium_memzero(*v, sizeof **v);
    free(*v);
    *v = NULL;
}

uint32_t vault_slots(const vault_t *v)
{
    return __atomic_load_n(&v->slots, __ATOMIC_ACQUIRE);
}

int vault_reserve(vault_t *v, uint32_t slot)
{
    if (slot == 0)
        return STORE_EINVAL;
    if (slot <= v->slots)
        return STORE_OK;
    uint32_t chunks = (slot - v->slots + VAULT_CHUNK - 1) / VAULT_CHUNK;
    size_t len = (size_t)chunks * VAULT_CHUNK * VAULT_KEY_SIZE;
    if (len > v->map_len - v->file_len)
        return STORE_EFULL; /* past the mapping made at open */
    uint8_t *keys = malloc(len);
    if (keys == NULL)
        return STORE_ENOMEM;
    randombytes_buf(keys, len);
    int rc = vault_write_all(v->fd, keys, len, (off_t)v->file_len);
    sodium_memzero(keys, len);
    free(keys);
    if (rc == STORE_OK)
        rc = vault_sync(v);
    if (rc != STORE_OK) {
        if (ftruncate(v->fd, (off_t)v->file_len) != 0)
            rc = STORE_EIO; /* a half-written chunk is taken back; the slots stay as they were */
        return rc;
    }
    /* The new slots are in the file, under the mapping already there: readers on other threads
     * see them once the count says so. */
    v->file_len += len;
    __atomic_store_n(&v->slots, (uint32_t)((v->file_len - VAULT_HEADER_SIZE) / VAULT_KEY_SIZE),
                     __ATOMIC_RELEASE);
    return STORE_OK;
}

static const uint8_t *vault_slot(const vault_t *v, uint32_t slot)
{
    if (slot == 0 || slot > vault_slots(v))
        return NULL;
    return v->map + VAULT_HEADER_SIZE + (size_t)(slot - 1) * VAULT_KEY_SIZE;
}

int vault_destroy(vault_t *v, const uint32_t *slots, size_t n)
{
    static const uint8_t zeros[VAULT_KEY_SIZE];
    bool wrote = false;
    for (size_t i = 0; i < n; i++) {
        if (vault_slot(v, slots[i]) == NULL)
            continue;
        off_t at = VAULT_HEADER_SIZE + (off_t)(slots[i] - 1) * VAULT_KEY_SIZE;
        int rc = vault_write_all(v->fd, zeros, sizeof zeros, at);
        if (rc != STORE_OK)
            return rc;
        wrote = true;
    }
    /* Synced even when not durable: a destruction must not wait for the kernel's writeback. */
    return wrote && fdatasync(v->fd) != 0 ? vault_errno(errno) : STORE_OK;
}

void vault_hash(const vault_t *v, const void *id, size_t len, uint8_t out[VAULT_HASH_SIZE])
{
    crypto_shorthash_siphashx24(out, id, len, v->hash_key);
}

/* n random bytes for a nonce: 96 or 192 bits drawn at random never repeat under one key in the
 * few thousand seals a person's key sees. */
static void vault_nonce(vault_t *v, uint8_t *out, size_t n)
{
    if (v->rng_used + n > sizeof v->rng) {
        uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
        memcpy(nonce, &v->rng_block,
               sizeof v->rng_block < sizeof nonce ? sizeof v->rng_block : sizeof nonce);
        v->rng_block++;
        crypto_stream_chacha20(v->rng, sizeof v->rng, nonce, v->rng_key);
        v->rng_used = 0;
    }
    memcpy(out, v->rng + v->rng_used, n);
    v->rng_used += n;
}

size_t vault_sealed_len(const vault_t *v, size_t len)
{
    return 1 +
           (v->aes ? crypto_aead_aes256gcm_NPUBBYTES
                   : crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) +
           len + 16;
}

int vault_seal(vault_t *v, uint32_t slot, const void *ad, size_t ad_len, const uint8_t *plain,
               size_t len, uint8_t *out)
{
    const uint8_t *key = vault_slot(v, slot);
    if (key == NULL)
        return STORE_ENOTFOUND;
    if (v->aes) {
        out[0] = VAULT_ALG_AES;
        uint8_t *nonce = out + 1;
        vault_nonce(v, nonce, crypto_aead_aes256gcm_NPUBBYTES);
        crypto_aead_aes256gcm_encrypt(nonce + crypto_aead_aes256gcm_NPUBBYTES, NULL, plain, len, ad,
                                      ad_len, NULL, nonce, key);
    } else {
        out[0] = VAULT_ALG_XCHACHA;
        uint8_t *nonce = out + 1;
        vault_nonce(v, nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        crypto_aead_xchacha20poly1305_ietf_encrypt(nonce +
                                                       crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
                                                   NULL, plain, len, ad, ad_len, NULL, nonce, key);
    }
    return STORE_OK;
}

int vault_unseal(const vault_t *v, uint32_t slot, const void *ad, size_t ad_len,
                 const uint8_t *sealed, size_t sealed_len, uint8_t *out, size_t *len)
{
    const uint8_t *key = vault_slot(v, slot);
    if (key == NULL)
        return STORE_ENOTFOUND;
    size_t nonce_len = sealed_len > 0 && sealed[0] == VAULT_ALG_AES
                           ? crypto_aead_aes256gcm_NPUBBYTES
                       : sealed_len > 0 && sealed[0] == VAULT_ALG_XCHACHA
                           ? crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
                           : 0;
    if (nonce_len == 0 || sealed_len < 1 + nonce_len + 16)
        return STORE_ECORRUPT;
    if (sealed[0] == VAULT_ALG_AES && !v->aes)
        return STORE_EIO; /* sealed where AES-NI was: this processor cannot open it */
    const uint8_t *nonce = sealed + 1, *cipher = nonce + nonce_len;
    size_t cipher_len = sealed_len - 1 - nonce_len;
    int rc = sealed[0] == VAULT_ALG_AES
                 ? crypto_aead_aes256gcm_decrypt(out, NULL, NULL, cipher, cipher_len, ad, ad_len,
                                                 nonce, key)
                 : crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, cipher, cipher_len,
                                                              ad, ad_len, nonce, key);
    if (rc != 0)
        /* A zeroed key opens nothing: destroyed, not corrupt. */
        return sodium_is_zero(key, VAULT_KEY_SIZE) ? STORE_ENOTFOUND : STORE_ECORRUPT;
    *len = cipher_len - 16;
    return STORE_OK;
}

int vault_fd(const vault_t *v)
{
    return v->fd;
}

uint64_t vault_size(const vault_t *v)
{
    return v->file_len;
}

/* tls: certificate and key, current and reloaded. See tls.h. */
#include "server/tls.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "base/log.h"

enum { CHAIN_MAX = 16, FILE_MAX = 1024 * 1024, PATH_MAX_LEN = 4096 };

struct tls_creds {
	atomic_uint refs;
	gnutls_pcert_st chain[CHAIN_MAX];
	unsigned nchain;
	gnutls_privkey_t key;
};

static struct {
	pthread_mutex_t lock; /* guards current */
	struct tls_creds *current;
	tls_slot_fn *slot_of;
	char cert_file[PATH_MAX_LEN], key_file[PATH_MAX_LEN];
} g_tls = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void creds_free(struct tls_creds *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nchain; i++)
		gnutls_pcert_deinit(&c->chain[i]);
	if (c->key)
		gnutls_privkey_deinit(c->key);
	free(c);
}

/* Reads a whole file (at most FILE_MAX bytes) into d (gnutls_free() it). */
static bool read_file(const char *what, const char *path, gnutls_datum_t *d, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return false;
	}
	buf = gnutls_malloc(FILE_MAX + 1);
	if (!buf) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		goto close_file;
	}
	n = fread(buf, 1, FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno ? errno : EIO));
		goto free_buf;
	}
	if (n > FILE_MAX) {
		snprintf(err, errlen, "%s %s: larger than %d bytes", what, path, FILE_MAX);
		goto free_buf;
	}
	fclose(f);
	buf[n] = '\0';
	d->data = buf;
	d->size = (unsigned)n;
	return true;
free_buf:
	gnutls_free(buf);
close_file:
	fclose(f);
	return false;
}

/* The SHA-256 key id of a public key, for comparing a key with a certificate. */
static bool key_id(gnutls_pubkey_t pub, unsigned char id[32])
{
	size_t len = 32;
	return gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &len) == 0 && len == 32;
}

static bool key_matches(const struct tls_creds *c)
{
	gnutls_pubkey_t pub = NULL;
	unsigned char a[32], b[32];
	bool same = false;

	if (gnutls_pubkey_init(&pub) < 0)
		return false;
	if (gnutls_pubkey_import_privkey(pub, c->key, 0, 0) == 0 && key_id(pub, a) && key_id(c->chain[0].pubkey, b))
		same = memcmp(a, b, sizeof a) == 0;
	gnutls_pubkey_deinit(pub);
	return same;
}

/* Logs the leaf certificate's subject, serial and validity; warns when it
 * is outside its validity period now. */
static void describe(const struct tls_creds *c, const char *cert_file, const char *verb)
{
	gnutls_x509_crt_t crt = NULL;
	gnutls_datum_t dn = {0};
	unsigned char serial[40];
	char hex[2 * sizeof serial + 1] = "";
	size_t slen = sizeof serial;
	time_t from, until, now = time(NULL);
	char until_text[32] = "?";
	struct tm tm;

	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &c->chain[0].cert, GNUTLS_X509_FMT_DER) < 0) {
		gnutls_x509_crt_deinit(crt);
		return;
	}
	if (gnutls_x509_crt_get_serial(crt, serial, &slen) == 0)
		for (size_t i = 0; i < slen; i++)
			snprintf(hex + 2 * i, 3, "%02x", serial[i]);
	from = gnutls_x509_crt_get_activation_time(crt);
	until = gnutls_x509_crt_get_expiration_time(crt);
	if (until != (time_t)-1 && gmtime_r(&until, &tm))
		strftime(until_text, sizeof until_text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	(void)gnutls_x509_crt_get_dn3(crt, &dn, 0);
	log_msg(LOG_INFO,
	        "TLS certificate %s from %s: subject '%s', serial %s, %u certificate(s) in the chain, valid until %s",
	        verb, cert_file, dn.data ? (const char *)dn.data : "?", hex[0] ? hex : "?", c->nchain, until_text);
	if (until != (time_t)-1 && until < now)
		log_msg(LOG_WARN, "TLS certificate from %s expired at %s: clients will refuse it", cert_file,
		        until_text);
	else if (from != (time_t)-1 && from > now)
		log_msg(LOG_WARN, "TLS certificate from %s is not valid yet: clients will refuse it", cert_file);
	gnutls_free(dn.data);
	gnutls_x509_crt_deinit(crt);
}

/* Builds credentials from the two files; NULL with a reason in err. */
static struct tls_creds *creds_load(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	struct tls_creds *c = calloc(1, sizeof *c);
	gnutls_datum_t cert = {0}, key = {0};
	unsigned n = CHAIN_MAX;
	int rc;

	if (!c) {
		snprintf(err, errlen, "out of memory loading the TLS certificate");
		return NULL;
	}
	atomic_init(&c->refs, 1);
	if (!read_file("--tls-cert", cert_file, &cert, err, errlen) ||
	    !read_file("--tls-key", key_file, &key, err, errlen))
		goto fail;
	rc = gnutls_pcert_list_import_x509_raw(c->chain, &n, &cert, GNUTLS_X509_FMT_PEM,
	                                       GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED |
	                                           GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
	if (rc < 0) {
		snprintf(err, errlen,
		         "--tls-cert %s: not a PEM certificate chain (server certificate first, at most %d): %s",
		         cert_file, CHAIN_MAX, gnutls_strerror(rc));
		goto fail;
	}
	c->nchain = n;
	if (n == 0) {
		snprintf(err, errlen, "--tls-cert %s: no certificate in the file", cert_file);
		goto fail;
	}
	rc = gnutls_privkey_init(&c->key);
	if (rc == 0)
		rc = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		snprintf(err, errlen, "--tls-key %s: not an unencrypted PEM private key: %s", key_file,
		         gnutls_strerror(rc));
		goto fail;
	}
	if (!key_matches(c)) {
		snprintf(err, errlen, "--tls-key %s: the key does not belong to the certificate in %s", key_file,
		         cert_file);
		goto fail;
	}
	gnutls_free(cert.data);
	if (key.data)
		gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	return c;
fail:
	gnutls_free(cert.data);
	if (key.data)
		gnutls_memset(key.data, 0, key.size);
	gnutls_free(key.data);
	creds_free(c);
	return NULL;
}

/* Makes c current and gives back the reference to the previous set. */
static void make_current(struct tls_creds *c)
{
	struct tls_creds *old;

	pthread_mutex_lock(&g_tls.lock);
	old = g_tls.current;
	g_tls.current = c;
	pthread_mutex_unlock(&g_tls.lock);
	tls_creds_put(old);
}

bool tls_init(const char *cert_file, const char *key_file, tls_slot_fn *slot_of, char *err, size_t errlen)
{
	struct tls_creds *c;

	if (strlen(cert_file) >= sizeof g_tls.cert_file || strlen(key_file) >= sizeof g_tls.key_file) {
		snprintf(err, errlen, "--tls-cert/--tls-key: the file name is too long");
		return false;
	}
	c = creds_load(cert_file, key_file, err, errlen);
	if (!c)
		return false;
	snprintf(g_tls.cert_file, sizeof g_tls.cert_file, "%s", cert_file);
	snprintf(g_tls.key_file, sizeof g_tls.key_file, "%s", key_file);
	g_tls.slot_of = slot_of;
	describe(c, cert_file, "loaded");
	make_current(c);
	return true;
}

bool tls_reload(char *err, size_t errlen)
{
	struct tls_creds *c;

	if (!g_tls.cert_file[0]) {
		snprintf(err, errlen, "TLS is not enabled");
		return false;
	}
	c = creds_load(g_tls.cert_file, g_tls.key_file, err, errlen);
	if (!c)
		return false;
	describe(c, g_tls.cert_file, "reloaded");
	make_current(c);
	return true;
}

void tls_shutdown(void)
{
	make_current(NULL);
}

/* A new reference to the current credentials, or NULL. */
static struct tls_creds *creds_get(void)
{
	struct tls_creds *c;

	pthread_mutex_lock(&g_tls.lock);
	c = g_tls.current;
	if (c)
		atomic_fetch_add(&c->refs, 1);
	pthread_mutex_unlock(&g_tls.lock);
	return c;
}

void tls_creds_put(struct tls_creds *c)
{
	if (c && atomic_fetch_sub(&c->refs, 1) == 1)
		creds_free(c);
}

/* GnuTLS does not copy or free what this returns: the connection's
 * reference keeps it alive until the connection closes. */
static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                    unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
	struct tls_creds **slot = g_tls.slot_of ? g_tls.slot_of(gnutls_session_get_ptr(session), session) : NULL;

	(void)req_ca_rdn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	if (!slot)
		return -1;
	if (!*slot)
		*slot = creds_get();
	if (!*slot)
		return -1;
	*pcert = (*slot)->chain;
	*pcert_length = (*slot)->nchain;
	*pkey = (*slot)->key;
	return 0;
}

void *tls_cert_callback(void)
{
	gnutls_certificate_retrieve_function2 *fn = retrieve;
	return (void *)fn;
}

long tls_send(void *session, const void *buf, size_t n)
{
	return (long)gnutls_record_send(session, buf, n);
}
